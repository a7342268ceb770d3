"""One linear-regression GWAS per UDIP dimension, every dimension in one pass over the genotypes.

For each variant and dimension d: ``udip_d ~ 1 + covariates + dosage`` by least squares (Hail's
``linear_regression_rows`` with the phenotype list ``y=[...]``: the UDIPs of one subject come from the
same images, so all dimensions share their missingness and one pass reads the genotypes once).
``-log10 p`` is computed from the t statistic in log space, so it stays finite where ``p`` underflows.

Output Hail Table (``gwas.ht``), keyed by ``locus, alleles``; array fields are indexed like the global
``dimensions``: ``rsid, variant_id, n, effect_allele_frequency, call_rate, mac, info, hwe_p, qc_fail,
beta[], standard_error[], t_stat[], p_value[], neg_log_10_p_value[]``; globals ``dimensions,
covariates, n_samples, dof``.
"""

from __future__ import annotations

import logging

import numpy as np

from udip_gwas.genetics.genotypes import QC_FIELDS, annotate_variant_qc
from udip_gwas.genetics.phenotypes import AnalysisSet

log = logging.getLogger(__name__)


def neg_log10_p_expr(t, dof):
    """Two-sided ``-log10 p`` of a t statistic with ``dof`` degrees of freedom, without underflow."""
    import hail as hl

    return -(hl.log(2.0) + hl.pT(-hl.abs(t), dof, lower_tail=True, log_p=True)) / hl.log(10.0)


def gwas_all_dimensions(mt, analysis: AnalysisSet, *, qc: dict, block_size: int = 64):
    """Run the association of every phenotype in ``analysis`` on the MatrixTable ``mt``.

    Parameters
    ----------
    mt
        From :func:`udip_gwas.genetics.genotypes.import_genotypes` (entry field ``dosage``).
    analysis
        The joined samples (:func:`udip_gwas.genetics.phenotypes.build_analysis_set`).
    qc
        Keyword arguments of :func:`udip_gwas.genetics.genotypes.annotate_variant_qc`.

    Returns
    -------
    hail.Table
        See the module docstring. Variants failing QC are kept with ``qc_fail`` set.
    """
    import hail as hl

    # the phenotypes and covariates travel as one ndarray literal plus a sample -> row lookup:
    # hl.Table.from_pandas converts value by value in Python (28 s for 5,000 x 135 values)
    columns = [*analysis.phenotypes, *analysis.covariates]
    values = hl.nd.array(analysis.table[columns].to_numpy(dtype=np.float64))
    row_of = hl.literal({s: i for i, s in enumerate(analysis.table["IID"].astype(str))},
                        dtype=hl.tdict(hl.tstr, hl.tint32))
    mt = mt.annotate_cols(_sample_index=row_of.get(mt.s))
    mt = mt.filter_cols(hl.is_defined(mt._sample_index))
    mt = mt.annotate_cols(_values=values[mt._sample_index, :])
    mt = annotate_variant_qc(mt, **qc)
    ys = [mt._values[j] for j in range(len(analysis.phenotypes))]
    covs = [1.0] + [mt._values[len(analysis.phenotypes) + j] for j in range(len(analysis.covariates))]
    res = hl.linear_regression_rows(y=ys, x=mt.dosage, covariates=covs, block_size=block_size,
                                    pass_through=["rsid", "variant_id", *QC_FIELDS])
    dof = len(analysis.table) - len(covs) - 1
    res = res.annotate(neg_log_10_p_value=res.t_stat.map(lambda t: neg_log10_p_expr(t, dof)))
    res = res.drop("y_transpose_x", "sum_x")
    return res.annotate_globals(dimensions=list(analysis.phenotypes), covariates=list(analysis.covariates),
                                n_samples=len(analysis.table), dof=dof)


def lambda_gc(ht):
    """Genomic inflation per dimension: median chi-square (1 df, from p) over 0.4549, on QC-passing variants.

    Returns
    -------
    list of float
        One value per dimension, in the order of ``ht.dimensions``.
    """
    import hail as hl

    ht = ht.filter(hl.is_missing(ht.qc_fail))
    med = ht.aggregate(hl.agg.array_agg(
        lambda p: hl.agg.approx_median(hl.qchisqtail(hl.max(p, 1e-300), 1)), ht.p_value))
    return [float(m) / 0.454936423119572 if m is not None else float("nan") for m in med]

"""From summary statistics to independent loci: significance, PLINK-style clumping and FUMA-style
genomic risk loci.

Multi-dimension rule: a variant's p for clumping is its smallest p over the dimensions (its
``neg_log_10_p_value`` in the combined table); a variant is significant when that p is below the
Bonferroni threshold ``p_threshold / n_dimensions`` (5e-8 / 128 = 3.9e-10 by default).

PLINK-style clumping (``clump``): variants in order of increasing p; each variant with p < p1 not yet in a
clump becomes an index variant and takes every not-yet-clumped variant within ``kb`` with p < p2 and
r² >= ``r2``. This reproduces PLINK 1.9 ``--clump`` index variants.

FUMA-style genomic risk loci (``risk_loci``): independent significant SNPs are the index variants of a
clumping of the significant variants at r² 0.6; lead SNPs a clumping of those at r² 0.1; each independent
SNP spans itself and the candidate variants (p < p2) in LD with it at r² >= 0.6; spans closer than
``merge_kb`` (250 kb) on a chromosome merge into one locus. Loci overlapping the MHC are flagged.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import numpy as np
import pandas as pd

from udip_gwas import columns
from udip_gwas.genome import MHC, chromosome_key, chromosome_order, contig_name

log = logging.getLogger(__name__)


def _neighbours(ld: pd.DataFrame, min_r2: float) -> dict[str, dict[str, float]]:
    nb: dict[str, dict[str, float]] = defaultdict(dict)
    for a, b, r2 in zip(ld["variant_id_a"], ld["variant_id_b"], ld["r2"]):
        if r2 >= min_r2:
            nb[a][b] = r2
            nb[b][a] = r2
    return nb


def clump(variants: pd.DataFrame, ld: pd.DataFrame, *, p1: float, p2: float, r2: float, kb: int) -> pd.DataFrame:
    """PLINK-style clumping.

    Parameters
    ----------
    variants
        ``variant_id, chromosome, base_pair_location, neg_log_10_p_value``.
    ld
        ``variant_id_a, variant_id_b, r2`` pairs (missing pairs mean r² below every threshold).

    Returns
    -------
    DataFrame
        One row per clump: ``index_variant, chromosome, base_pair_location, neg_log_10_p_value,
        n_members, members`` (comma-separated, excluding the index), ordered by p.
    """
    v = variants.sort_values(["neg_log_10_p_value", "chromosome", "base_pair_location"],
                             ascending=[False, True, True]).reset_index(drop=True)
    nlp = dict(zip(v["variant_id"], v["neg_log_10_p_value"]))
    where = dict(zip(v["variant_id"], zip(v["chromosome"].astype(str), v["base_pair_location"])))
    nb = _neighbours(ld, r2)
    nlp1, nlp2 = -np.log10(p1), -np.log10(p2)
    clumped: set[str] = set()
    rows = []
    for vid, score in zip(v["variant_id"], v["neg_log_10_p_value"]):
        if score <= nlp1:
            break
        if vid in clumped:
            continue
        chrom, pos = where[vid]
        members = sorted(
            (m for m, _ in nb.get(vid, {}).items()
             if m in nlp and m not in clumped and nlp[m] > nlp2 and where[m][0] == chrom
             and abs(where[m][1] - pos) <= kb * 1000),
            key=lambda m: where[m][1])
        clumped.add(vid)
        clumped.update(members)
        rows.append((vid, chrom, pos, score, len(members), ",".join(members)))
    return pd.DataFrame(rows, columns=["index_variant", "chromosome", "base_pair_location", "neg_log_10_p_value",
                                       "n_members", "members"])


def risk_loci(variants: pd.DataFrame, ld: pd.DataFrame, *, threshold: float, candidate_p: float,
              independent_r2: float = 0.6, lead_r2: float = 0.1, merge_kb: int = 250, window_kb: int = 1000,
              mhc: tuple[str, int, int] = MHC["GRCh37"]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """FUMA-style genomic risk loci.

    Parameters
    ----------
    variants
        Candidate variants (p < ``candidate_p``) with ``variant_id, chromosome, base_pair_location,
        neg_log_10_p_value``; the significant ones are those with p < ``threshold``.

    Returns
    -------
    loci, independent
        ``loci``: ``locus_id, chromosome, start, end, lead_variant, n_independent, n_leads, lead_variants,
        independent_variants, mhc``; ``independent``: ``variant_id, locus_id, is_lead`` and the LD span.
    """
    sig = variants[variants["neg_log_10_p_value"] > -np.log10(threshold)]
    if sig.empty:
        return (pd.DataFrame(columns=["locus_id", "chromosome", "start", "end", "lead_variant", "n_independent",
                                      "n_leads", "lead_variants", "independent_variants", "mhc"]),
                pd.DataFrame(columns=["variant_id", "locus_id", "is_lead", "span_start", "span_end"]))
    iss = clump(sig, ld, p1=threshold, p2=threshold, r2=independent_r2, kb=window_kb)
    iss_ids = set(iss["index_variant"])
    leads = clump(sig[sig["variant_id"].isin(iss_ids)], ld, p1=threshold, p2=threshold, r2=lead_r2, kb=window_kb)
    lead_ids = set(leads["index_variant"])
    nb = _neighbours(ld, independent_r2)
    cand = variants[variants["neg_log_10_p_value"] > -np.log10(candidate_p)]
    pos = dict(zip(cand["variant_id"], cand["base_pair_location"]))
    chrom_of = dict(zip(cand["variant_id"], cand["chromosome"].astype(str)))
    spans = []
    for row in iss.itertuples():
        members = [m for m in nb.get(row.index_variant, {}) if m in pos and chrom_of[m] == row.chromosome
                   and abs(pos[m] - row.base_pair_location) <= window_kb * 1000]
        ps = [row.base_pair_location] + [pos[m] for m in members]
        spans.append((row.index_variant, row.chromosome, min(ps), max(ps), row.neg_log_10_p_value))
    spans_df = pd.DataFrame(spans, columns=["variant_id", "chromosome", "span_start", "span_end", "nlp"])
    loci = []
    assignment = {}
    for chrom, grp in spans_df.groupby("chromosome", sort=False):
        grp = grp.sort_values("span_start")
        current: list = []
        end = -np.inf
        for r in grp.itertuples():
            if current and r.span_start - end > merge_kb * 1000:
                loci.append((chrom, current))
                current, end = [], -np.inf
            current.append(r)
            end = max(end, r.span_end)
        if current:
            loci.append((chrom, current))
    rows = []
    for chrom, members in loci:
        top = max(members, key=lambda r: r.nlp)
        rows.append([chrom, min(m.span_start for m in members), max(m.span_end for m in members), top.variant_id,
                     top.nlp, [m.variant_id for m in members]])
    span_nlp = dict(zip(spans_df["variant_id"], spans_df["nlp"]))
    out = []
    in_order = sorted(rows, key=lambda r: (chromosome_order(r[0]), r[1]))
    for i, (chrom, start, end, lead, _, members) in enumerate(in_order):
        locus_id = f"L{i + 1:03d}"
        for m in members:
            assignment[m] = locus_id
        in_mhc = chromosome_key(chrom) == chromosome_key(mhc[0]) and start <= mhc[2] and end >= mhc[1]
        ordered = sorted(members, key=lambda m: -span_nlp[m])
        out.append((locus_id, chrom, start, end, lead, len(members), sum(m in lead_ids for m in members),
                    ",".join(m for m in ordered if m in lead_ids), ",".join(ordered), bool(in_mhc)))
    loci_df = pd.DataFrame(out, columns=["locus_id", "chromosome", "start", "end", "lead_variant", "n_independent",
                                         "n_leads", "lead_variants", "independent_variants", "mhc"])
    ind = spans_df.drop(columns="nlp").assign(locus_id=lambda d: d["variant_id"].map(assignment),
                                              is_lead=lambda d: d["variant_id"].isin(lead_ids))
    return loci_df, ind[["variant_id", "locus_id", "is_lead", "chromosome", "span_start", "span_end"]]


# --- from the gwas table to loci --------------------------------------------------------------------


def collect_candidates(ht, *, p2: float, thresholds: dict[str, float]) -> pd.DataFrame:
    """Variants of a gwas table (QC-passing) whose smallest p over dimensions is below ``p2``.

    Returns
    -------
    DataFrame
        ``variant_id, rsid, chromosome, base_pair_location, other_allele, effect_allele,
        effect_allele_frequency, n, neg_log_10_p_value`` (the smallest p's), ``best_index`` (its dimension's
        index), ``beta, standard_error, p_value`` there, per threshold name ``sig_<name>`` (the indices of
        the dimensions below it) and ``lead_dimension`` (the name of ``best_index``).
    """
    import hail as hl

    ht = ht.filter(hl.is_missing(ht.qc_fail)).key_by()
    ht = ht.annotate(_nlp=hl.max(ht.neg_log_10_p_value), _best=hl.argmax(ht.neg_log_10_p_value))
    ht = ht.filter(ht._nlp > -np.log10(p2))
    nlp = ht.neg_log_10_p_value
    fields = dict(
        variant_id=ht.variant_id, rsid=ht.rsid, chromosome=contig_name(ht.locus),
        base_pair_location=ht.locus.position, other_allele=ht.alleles[0], effect_allele=ht.alleles[1],
        effect_allele_frequency=ht.effect_allele_frequency, n=ht.n, neg_log_10_p_value=ht._nlp,
        best_index=ht._best, beta=ht.beta[ht._best], standard_error=ht.standard_error[ht._best],
        p_value=ht.p_value[ht._best],
    )
    for name, p in thresholds.items():
        fields[f"sig_{name}"] = hl.range(hl.len(nlp)).filter(lambda i: nlp[i] > -np.log10(p))
    dims = list(hl.eval(ht.dimensions))
    cand = ht.select(**fields).to_pandas()
    cand["lead_dimension"] = [dims[i] for i in cand["best_index"]]
    return cand


def near_significant(cand: pd.DataFrame, *, threshold: float, kb: int) -> pd.DataFrame:
    """The candidates within ``kb`` of a variant below ``threshold`` (the only ones clumping can use)."""
    sig = cand[cand["neg_log_10_p_value"] > -np.log10(threshold)]
    near = np.zeros(len(cand), dtype=bool)
    for chrom, grp in sig.groupby("chromosome"):
        pos = np.sort(grp["base_pair_location"].to_numpy())
        on = (cand["chromosome"] == chrom).to_numpy()
        x = cand.loc[on, "base_pair_location"].to_numpy()
        k = np.searchsorted(pos, x)
        d = np.minimum(np.abs(x - pos[np.clip(k, 0, len(pos) - 1)]), np.abs(x - pos[np.clip(k - 1, 0, len(pos) - 1)]))
        near[np.flatnonzero(on)[d <= kb * 1000]] = True
    return cand[near].reset_index(drop=True)


def candidates_table(cand: pd.DataFrame, dims: list[str], thresholds: dict[str, float]) -> pd.DataFrame:
    """``candidate_variants.tsv``: the candidates with their lead dimension and, per threshold, the names of
    the dimensions below it (``dimensions_<name>``)."""
    out = cand.drop(columns=["best_index"]).copy()
    for name in thresholds:
        out[f"dimensions_{name}"] = [",".join(dims[i] for i in s) for s in cand[f"sig_{name}"]]
    return out.drop(columns=[f"sig_{n}" for n in thresholds])


def describe_loci(loci: pd.DataFrame, cand: pd.DataFrame, dims: list[str], name: str, thr: float) -> pd.DataFrame:
    """The ``loci.tsv`` table (:data:`udip_gwas.columns.LOCI`) of :func:`risk_loci`'s loci: each locus's lead
    statistics and the dimensions significant inside it at threshold ``name`` (p ``thr``)."""
    by_id = cand.set_index("variant_id")
    rows = []
    for r in loci.itertuples():
        lead = by_id.loc[r.lead_variant]
        inside = cand[(cand["chromosome"] == r.chromosome) & cand["base_pair_location"].between(r.start, r.end)]
        significant = inside[inside["neg_log_10_p_value"] > -np.log10(thr)]
        sig_dims = sorted({dims[i] for s in significant[f"sig_{name}"] for i in s})
        rows.append(dict(
            locus_id=r.locus_id, chromosome=r.chromosome, start=r.start, end=r.end, lead_variant=r.lead_variant,
            lead_rsid=lead["rsid"], lead_position=int(lead["base_pair_location"]),
            lead_effect_allele=lead["effect_allele"], lead_other_allele=lead["other_allele"],
            lead_effect_allele_frequency=lead["effect_allele_frequency"], lead_dimension=lead["lead_dimension"],
            lead_beta=lead["beta"], lead_standard_error=lead["standard_error"],
            lead_p_value=columns.p_text(lead["neg_log_10_p_value"]),
            lead_neg_log_10_p_value=lead["neg_log_10_p_value"],
            n_significant_variants=len(significant), n_independent_snps=r.n_independent, n_lead_snps=r.n_leads,
            n_dimensions=len(sig_dims), dimensions=",".join(sig_dims), mhc=r.mhc, threshold_p=thr,
        ))
    return pd.DataFrame(rows, columns=columns.names(columns.LOCI))


def call_loci(cand: pd.DataFrame, ld: pd.DataFrame, dims: list[str], *, thresholds: dict[str, float], p2: float,
              settings, mhc: tuple[str, int, int]) -> dict[str, tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]]:
    """Per threshold name: ``(loci, clumps, independent SNPs)`` by :func:`clump` and :func:`risk_loci`, the loci
    described by :func:`describe_loci`. ``settings``: the ``[loci]`` settings (``clump_r2, clump_kb,
    independent_r2, lead_r2, merge_kb``)."""
    s = settings
    out = {}
    for name, thr in thresholds.items():
        clumps = clump(cand, ld, p1=thr, p2=p2, r2=s.clump_r2, kb=s.clump_kb)
        loci, independent = risk_loci(cand, ld, threshold=thr, candidate_p=p2, independent_r2=s.independent_r2,
                                      lead_r2=s.lead_r2, merge_kb=s.merge_kb, window_kb=s.clump_kb, mhc=mhc)
        loci = describe_loci(loci, cand, dims, name, thr)
        log.info("loci at p < %.3g (%s): %d significant variants, %d clumps, %d loci (%d in the MHC)", thr, name,
                 int((cand["neg_log_10_p_value"] > -np.log10(thr)).sum()), len(clumps), len(loci),
                 int(loci["mhc"].sum()) if len(loci) else 0)
        out[name] = (loci, clumps, independent)
    return out

"""Summary statistics files: GWAS-SSF TSVs per dimension, the combined per-variant table, and the
``.tsv-meta.yaml`` sidecars.

GWAS-SSF columns, in order: ``chromosome, base_pair_location, effect_allele, other_allele, beta,
standard_error, effect_allele_frequency, p_value``, then ``neg_log_10_p_value, variant_id, rsid, n``.
Missing values are ``#NA``. ``p_value`` below 1e-300 is written from ``-log10 p`` as text
(e.g. ``3.1623e-412``), so it never underflows to 0. Files are bgzipped and sorted by chromosome and
position.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import shutil
from pathlib import Path

import numpy as np
from scipy import special

from udip_gwas import __version__

log = logging.getLogger(__name__)

SSF_COLUMNS = ["chromosome", "base_pair_location", "effect_allele", "other_allele", "beta", "standard_error",
               "effect_allele_frequency", "p_value", "neg_log_10_p_value", "variant_id", "rsid", "n"]
COMBINED_EXTRA = ["dimension", "n_dimensions_p_lt_5e-8"]


def neg_log10_p_from_t(t: np.ndarray, dof: float) -> np.ndarray:
    """Two-sided ``-log10 p`` of t statistics, exact in the far tail (no underflow).

    Uses ``p = I_x(dof/2, 1/2)`` with ``x = dof / (dof + t^2)`` and, where that underflows, the series
    ``I_x(a, b) = x^a (1-x)^b / (a B(a, b)) * 2F1(a+b, 1; a+1; x)`` in log space.
    """
    t = np.abs(np.asarray(t, dtype=float))
    a, b = dof / 2.0, 0.5
    x = dof / (dof + t**2)
    with np.errstate(divide="ignore"):
        p = special.betainc(a, b, x)
        out = -np.log10(p)
    tail = ~np.isfinite(out) | (p < 1e-280)
    if np.any(tail):
        xt = x[tail] if x.ndim else x
        log_i = (a * np.log(xt) + b * np.log1p(-xt) - np.log(a) - special.betaln(a, b)
                 + np.log(special.hyp2f1(a + b, 1.0, a + 1.0, xt)))
        if out.ndim:
            out[tail] = -log_i / np.log(10)
        else:
            out = -log_i / np.log(10)
    return out


def _fmt(x, spec="%.6g"):
    import hail as hl

    return hl.or_else(hl.format(spec, x), "#NA")


def _p_text(p, nlp):
    import hail as hl

    e = hl.int(hl.floor(nlp))
    tiny = hl.format("%.4fe-%d", 10.0 ** (hl.float64(e) - nlp + 1.0), e + 1)
    return hl.or_else(hl.if_else(p > 1e-300, hl.format("%.4e", p), tiny), "#NA")


def _variant_fields(ht):
    """The GWAS-SSF columns that do not depend on the dimension (the first four, then three trailing)."""
    import hail as hl

    lead = dict(chromosome=ht.locus.contig.replace("^chr", ""), base_pair_location=ht.locus.position,
                effect_allele=ht.alleles[1], other_allele=ht.alleles[0])
    return lead, dict(variant_id=ht.variant_id, rsid=hl.or_else(ht.rsid, "#NA"), n=ht.n)


def _ssf_row(ht, beta, se, p, nlp):
    lead, trail = _variant_fields(ht)
    return dict(**lead, beta=_fmt(beta), standard_error=_fmt(se),
                effect_allele_frequency=_fmt(ht.effect_allele_frequency, "%.5g"), p_value=_p_text(p, nlp),
                neg_log_10_p_value=_fmt(nlp, "%.5f"), **trail)


def _export(ht, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp.tsv.bgz")
    ht.export(str(tmp))
    os.replace(tmp, path)


def write_dimension_tsvs(ht, indices: list[int], names: list[str], folder: Path, *, meta: dict) -> None:
    """Write each chosen dimension's GWAS-SSF file (QC-passing variants) and its metadata sidecar, as
    ``folder/<name>.tsv.gz``, all in one pass over the table.

    The table becomes a matrix of variants by dimensions and Hail's ``export_entries_by_col`` writes every
    dimension's file from that one pass (128 separate exports re-read the table 128 times).
    """
    import hail as hl

    if not names:
        return
    folder.mkdir(parents=True, exist_ok=True)
    ht = ht.filter(hl.is_missing(ht.qc_fail)).key_by()
    lead, _ = _variant_fields(ht)
    # export_entries_by_col writes row fields first, then entry fields: the leading four columns are row
    # fields, the rest (from beta on, in GWAS-SSF order) entry fields
    entries = hl.literal(indices).map(lambda i: hl.struct(**{
        c: v for c, v in _ssf_row(ht, ht.beta[i], ht.standard_error[i], ht.p_value[i],
                                  ht.neg_log_10_p_value[i]).items() if c not in lead}))
    ht = ht.select(**lead, _entries=entries)
    ht = ht.select_globals(_cols=hl.literal([hl.Struct(dimension=n) for n in names]))
    mt = ht._unlocalize_entries("_entries", "_cols", ["dimension"])
    tmp = folder / ".export.partial"
    hl.experimental.export_entries_by_col(mt, str(tmp), bgzip=True, header_json_in_file=False,
                                          use_string_key_as_file_name=True)
    for name in names:
        path = folder / f"{name}.tsv.gz"
        os.replace(tmp / f"{name}.tsv.bgz", path)
        write_meta(path, trait=name, **meta)
    shutil.rmtree(tmp)


def write_combined_tsv(ht, path: Path, *, meta: dict) -> None:
    """Per variant, the dimension with the smallest p and its statistics, plus the number of dimensions
    with p < 5e-8."""
    import hail as hl

    ht = ht.filter(hl.is_missing(ht.qc_fail)).key_by()
    ht = ht.annotate(_best=hl.argmax(ht.neg_log_10_p_value))
    row = _ssf_row(ht, ht.beta[ht._best], ht.standard_error[ht._best], ht.p_value[ht._best],
                   ht.neg_log_10_p_value[ht._best])
    row["dimension"] = hl.literal(hl.eval(ht.dimensions))[ht._best]
    row["n_dimensions_p_lt_5e-8"] = hl.len(ht.neg_log_10_p_value.filter(lambda x: x > -np.log10(5e-8)))
    out = ht.select(**row).select(*SSF_COLUMNS, *COMBINED_EXTRA)
    _export(out, path)
    write_meta(path, trait="minimum p over UDIP dimensions", **meta)


def write_meta(path: Path, *, trait: str, n_samples: int, genome_assembly: str, covariates: list[str],
               transform: str, software_note: str = "") -> None:
    """GWAS-SSF ``.tsv-meta.yaml`` sidecar (the keys a GWAS Catalog submission expects)."""
    checksum = md5sum(path)
    lines = [
        f"date_metadata_last_modified: {_dt.date.today().isoformat()}",
        f"data_file_name: {path.name}",
        "file_type: GWAS-SSF v1.0",
        f"data_file_md5sum: {checksum}",
        "is_harmonised: false",
        "is_sorted: true",
        f"genome_assembly: {genome_assembly}",
        "coordinate_system: 1-based",
        f"trait_description: [\"{trait}\"]",
        f"sample_size: {n_samples}",
        "analysis_software: udip-gwas " + __version__ + " (Hail, least squares per dimension)" + software_note,
        "adjusted_covariates: [" + ", ".join(f'"{c}"' for c in covariates) + "]",
        f"phenotype_transform: {transform}",
        "effect_statistic: beta",
        "pvalue_statistic: two-sided t test",
    ]
    Path(str(path).replace(".tsv.gz", ".tsv-meta.yaml")).write_text("\n".join(lines) + "\n")


def md5sum(path: Path) -> str:
    """The MD5 hex digest of a file, read in 1 MiB chunks."""
    import hashlib

    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()

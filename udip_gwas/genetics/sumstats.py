"""Summary statistics files: GWAS-SSF TSVs per dimension, the combined per-variant table, and the
``.tsv-meta.yaml`` sidecars.

GWAS-SSF columns, in order: ``chromosome, base_pair_location, effect_allele, other_allele, beta,
standard_error, effect_allele_frequency, p_value``, then ``neg_log_10_p_value, variant_id, rsid, n``.
Missing values are ``#NA``. Numbers: ``beta`` and ``standard_error`` with 6 significant digits in
scientific notation (``-1.13730e-03``), ``p_value`` with 5 (``9.5560e-01``), ``neg_log_10_p_value`` with 5
decimals, ``effect_allele_frequency`` as ``%.5g``. ``p_value`` below 1e-300 is written from ``-log10 p``
as text (e.g. ``3.1623e-412``), so it never underflows to 0. Files are bgzipped and sorted by chromosome
and position.
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
from udip_gwas.columns import COMBINED, JOINT, JOINT_LAMBDA_GC, SUMSTATS, names
from udip_gwas.genome import GENOME_WIDE_P, contig_name

log = logging.getLogger(__name__)

SSF_COLUMNS = names(SUMSTATS)
COMBINED_EXTRA = names(COMBINED)[len(SSF_COLUMNS):]


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


def _sci(x, digits: int):
    """``x`` in scientific notation with ``digits`` significant digits, as C's ``%.{digits-1}e`` writes it
    (``-1.13730e-03``), built from integer arithmetic; ``#NA`` where missing.

    Hail's ``hl.format`` calls Java's ``String.format``, about 1 microsecond a number: the 128 per-dimension
    files' four numbers per line took most of the gwas stage's time after the association. The mantissa's
    last digit is rounded half up from ``|x| * 10^k`` in floating point, so at an exact tie it may differ
    from C's (which rounds the exact binary value). Non-finite values and magnitudes outside
    1e-300..1e300 go through ``hl.format``.
    """
    import hail as hl

    lo, hi = 10 ** (digits - 1), 10 ** digits

    def text(scaled, e):
        m = hl.int64(hl.floor(scaled + 0.5))        # digits-digit integer mantissa
        ae = hl.abs(e)
        return (hl.str(m // lo) + "." + hl.str(m % lo + lo)[1:] + hl.if_else(e < 0, "e-", "e+")
                + hl.if_else(ae < 10, "0", "") + hl.str(ae))

    def positive(a):
        e = hl.int32(hl.floor(hl.log10(a)))
        # log10 can land one off near powers of ten, and rounding can carry into a new digit
        return hl.rbind(e, a * hl.float64(10.0) ** (digits - 1 - e), lambda e, s: hl.if_else(
            s + 0.5 >= hi, text(s / 10.0, e + 1), hl.if_else(s + 0.5 < lo, text(s * 10.0, e - 1), text(s, e))))

    def fast(v):
        a = hl.abs(v)
        zero = "0." + "0" * (digits - 1) + "e+00"
        return hl.if_else(a == 0.0, zero, hl.if_else(
            hl.is_finite(a) & (a >= 1e-300) & (a <= 1e300),
            hl.if_else(v < 0, "-", "") + positive(a), hl.format(f"%.{digits - 1}e", v)))

    return hl.or_else(hl.rbind(x, fast), "#NA")


def _fixed(x, decimals: int):
    """``x`` with ``decimals`` digits after the point, as C's ``%.{decimals}f`` writes it (``12.34560``),
    from integer arithmetic (see :func:`_sci`); ``#NA`` where missing; beyond 1e12 through ``hl.format``."""
    import hail as hl

    scale = 10 ** decimals

    def fast(v):
        q = hl.int64(hl.floor(hl.abs(v) * scale + 0.5))
        body = hl.str(q // scale) + "." + hl.str(q % scale + scale)[1:]
        return hl.if_else(hl.is_finite(v) & (hl.abs(v) < 1e12), hl.if_else(v < 0, "-", "") + body,
                          hl.format(f"%.{decimals}f", v))

    return hl.or_else(hl.rbind(x, fast), "#NA")


def _p_text(p, nlp):
    """``p`` with 5 significant digits; below 1e-300 written from ``-log10 p`` (no underflow): the Hail
    expression of :func:`udip_gwas.columns.p_text`, which a test holds it equal to."""
    import hail as hl

    # p = m * 10^-k with m = 10^(k - nlp) in [1, 10); a mantissa that rounds up to 10 moves to the next power
    k = hl.int(hl.ceil(nlp))
    m = 10.0 ** (hl.float64(k) - nlp)
    tiny = hl.if_else(hl.format("%.4f", m).startswith("10"), hl.format("%.4fe-%d", m / 10.0, k - 1),
                      hl.format("%.4fe-%d", m, k))
    return hl.or_else(hl.if_else(p > 1e-300, _sci(p, 5), tiny), "#NA")


def _lead_fields(ht):
    """The four leading GWAS-SSF columns (chromosome, position, alleles)."""
    return dict(chromosome=contig_name(ht.locus), base_pair_location=ht.locus.position,
                effect_allele=ht.alleles[1], other_allele=ht.alleles[0])


def _variant_fields(ht):
    """The GWAS-SSF columns that do not depend on the dimension: the leading four, the allele frequency,
    and the trailing three."""
    import hail as hl

    return _lead_fields(ht), _fmt(ht.effect_allele_frequency, "%.5g"), dict(
        variant_id=ht.variant_id, rsid=hl.or_else(ht.rsid, "#NA"), n=ht.n)


def _ssf_row(beta, se, p, nlp, *, lead, eaf, trail):
    """One GWAS-SSF line's fields, in order (``lead``, ``eaf`` and ``trail`` from :func:`_variant_fields`)."""
    return dict(**lead, beta=_sci(beta, 6), standard_error=_sci(se, 6), effect_allele_frequency=eaf,
                p_value=_p_text(p, nlp), neg_log_10_p_value=_fixed(nlp, 5), **trail)


def _export(ht, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp.tsv.bgz")
    ht.export(str(tmp))
    os.replace(tmp, path)


def write_dimension_tsvs(ht, indices: list[int], names: list[str], folder: Path, *, meta: dict) -> None:
    """Write each chosen dimension's GWAS-SSF file (QC-passing variants) and its metadata sidecar, as
    ``folder/<name>.tsv.gz``, all in one pass over the table.

    The table becomes a matrix of variants by dimensions and Hail's ``export_entries_by_col`` writes every
    dimension's file from that one pass (128 separate exports re-read the table 128 times). The columns
    shared by all dimensions are formatted once per variant, as row fields, before the per-dimension
    ones: used inside the per-dimension map they would be formatted again for every dimension.
    """
    import hail as hl

    if not names:
        return
    folder.mkdir(parents=True, exist_ok=True)
    ht = ht.filter(hl.is_missing(ht.qc_fail)).key_by()
    _, eaf, trail = _variant_fields(ht)
    ht = ht.annotate(_eaf=eaf, **{f"_{k}": v for k, v in trail.items()})
    lead = _lead_fields(ht)  # of the annotated table
    trail = {k: ht[f"_{k}"] for k in trail}
    # export_entries_by_col writes row fields first, then entry fields: the leading four columns are row
    # fields, the rest (from beta on, in GWAS-SSF order) entry fields
    entries = hl.literal(indices).map(lambda i: hl.struct(**{
        c: v for c, v in _ssf_row(ht.beta[i], ht.standard_error[i], ht.p_value[i], ht.neg_log_10_p_value[i],
                                  lead=lead, eaf=ht._eaf, trail=trail).items() if c not in lead}))
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
    lead, eaf, trail = _variant_fields(ht)
    row = _ssf_row(ht.beta[ht._best], ht.standard_error[ht._best], ht.p_value[ht._best],
                   ht.neg_log_10_p_value[ht._best], lead=lead, eaf=eaf, trail=trail)
    row["dimension"] = hl.literal(hl.eval(ht.dimensions))[ht._best]
    row["n_dimensions_p_lt_5e-8"] = hl.len(ht.neg_log_10_p_value.filter(lambda x: x > -np.log10(GENOME_WIDE_P)))
    out = ht.select(**row).select(*SSF_COLUMNS, *COMBINED_EXTRA)
    _export(out, path)
    write_meta(path, trait="minimum p over UDIP dimensions", **meta)


def write_sumstats(ht, files, *, dimensions: list[str], selection: str, best_nlp: list | None, meta: dict) -> int:
    """The gwas stage's text outputs into ``files`` (:class:`udip_gwas.layout.GwasFiles`): ``combined.tsv.gz`` and
    the per-dimension GWAS-SSF files of ``selection`` (``all``; ``significant``: the dimensions whose
    ``best_nlp`` passes 5e-8; ``none``). Returns the number of per-dimension files written."""
    write_combined_tsv(ht, files.combined, meta=meta)
    chosen = {"all": list(dimensions), "none": [],
              "significant": [d for d, b in zip(dimensions, best_nlp or [])
                              if b is not None and b > -np.log10(GENOME_WIDE_P)]}[selection]
    write_dimension_tsvs(ht, [dimensions.index(d) for d in chosen], chosen, files.dimensions, meta=meta)
    if selection != "none":
        log.info("wrote %d per-dimension GWAS-SSF files", len(chosen))
    return len(chosen)


def write_joint(ht, files, *, sets: list, lambdas: list[float], meta: dict) -> None:
    """Per joint set, ``joint/<set>.tsv.gz`` (:data:`udip_gwas.columns.JOINT`, QC-passing variants, all sets in
    one pass over the table) with its sidecar, and ``joint/lambda_gc.tsv``. Nothing without the joint test."""
    import hail as hl
    import pandas as pd

    if not sets:
        return
    folder = files.joint
    folder.mkdir(parents=True, exist_ok=True)
    ht = ht.filter(hl.is_missing(ht.qc_fail)).key_by()
    ht = ht.annotate(_eaf=_fmt(ht.effect_allele_frequency, "%.5g"), _rsid=hl.or_else(ht.rsid, "#NA"))
    lead = _lead_fields(ht)
    dfs = hl.literal([(s.df1, s.df2) for s in sets])
    entries = hl.range(len(sets)).map(lambda j: hl.struct(
        effect_allele_frequency=ht._eaf, n=ht.n, statistic=_sci(ht.joint_statistic[j], 6), df1=dfs[j][0],
        df2=dfs[j][1], p_value=_p_text(ht.joint_p_value[j], ht.joint_neg_log_10_p_value[j]),
        neg_log_10_p_value=_fixed(ht.joint_neg_log_10_p_value[j], 5), variant_id=ht.variant_id, rsid=ht._rsid))
    ht = ht.select(**lead, _entries=entries)
    ht = ht.select_globals(_cols=hl.literal([hl.Struct(set=s.name) for s in sets]))
    mt = ht._unlocalize_entries("_entries", "_cols", ["set"])
    assert list(mt.row) + list(mt.entry) == names(JOINT)
    tmp = folder / ".export.partial"
    hl.experimental.export_entries_by_col(mt, str(tmp), bgzip=True, header_json_in_file=False,
                                          use_string_key_as_file_name=True)
    for s in sets:
        path = files.joint_set(s.name)
        os.replace(tmp / f"{s.name}.tsv.bgz", path)
        write_meta(path, trait=f"joint test of the {len(s.dimensions)} dimensions of {s.name}", **meta,
                   statistics=("F", f"upper-tail F test on ({s.df1}, {s.df2}) df"))
    shutil.rmtree(tmp)
    pd.DataFrame({"set": [s.name for s in sets], "df1": [s.df1 for s in sets], "df2": [s.df2 for s in sets],
                  "lambda_gc": lambdas}, columns=names(JOINT_LAMBDA_GC)).to_csv(
        files.joint_lambda_gc, sep="\t", index=False, float_format="%.4f")
    log.info("wrote the joint test of %d set(s) to %s", len(sets), folder)


def write_meta(path: Path, *, trait: str, n_samples: int, genome_assembly: str, covariates: list[str],
               transform: str, software_note: str = "",
               statistics: tuple[str, str] = ("beta", "two-sided t test")) -> None:
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
        f"effect_statistic: {statistics[0]}",
        f"pvalue_statistic: {statistics[1]}",
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

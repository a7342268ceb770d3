"""Replication of discovery loci in an independent cohort.

For each locus, the lead variant is tested on its lead dimension in the replication cohort (same UDIP
model, same covariates). The locus replicates when the effect has the same sign and
``p < alpha / number of loci`` (Bonferroni over the loci tested); the nominal tier asks ``p < alpha``.

The replication statistics come from a replication GWAS run by this package (its ``gwas.ht``) or from
summary statistics in GWAS-SSF form (:func:`read_replication_sumstats`), e.g. a collaborator's cohort.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from udip_gwas.columns import REPLICATION, names
from udip_gwas.exceptions import InputError
from udip_gwas.genome import chromosome_key, contig_name

log = logging.getLogger(__name__)

#: columns a replication summary-statistics file needs (plus ``p_value`` or ``neg_log_10_p_value``)
SUMSTATS_REQUIRED = ("chromosome", "base_pair_location", "effect_allele", "other_allele", "beta", "standard_error")
#: file names tried, in order, for dimension ``d`` in a folder of per-dimension files
SUMSTATS_SUFFIXES = (".tsv.gz", ".tsv.bgz", ".tsv")

REPLICATION_COLUMNS = names(REPLICATION)


def replicate(loci: pd.DataFrame, replication: pd.DataFrame, *, alpha: float = 0.05) -> pd.DataFrame:
    """Add replication columns to ``loci``.

    Parameters
    ----------
    loci
        Needs ``lead_variant, lead_dimension, lead_beta``.
    replication
        Statistics of the replication cohort for (variant, dimension) pairs: ``variant_id, dimension, beta,
        standard_error, neg_log_10_p_value, n`` (``n`` may be missing), with ``beta`` for the discovery
        lead's effect allele.

    Returns
    -------
    DataFrame
        ``loci`` plus :data:`REPLICATION_COLUMNS`; ``replication_status`` is ``replicated``, ``nominal``,
        ``not replicated`` or ``not tested`` (lead variant absent from the replication data).
    """
    out = loci.copy()
    rep = replication.set_index(["variant_id", "dimension"])
    n_tested = 0
    rows = []
    for r in out.itertuples():
        key = (r.lead_variant, r.lead_dimension)
        if key in rep.index:
            x = rep.loc[key]
            rows.append((float(x["beta"]), float(x["standard_error"]), float(x["neg_log_10_p_value"]),
                         x["n"] if pd.notna(x["n"]) else pd.NA))
            n_tested += 1
        else:
            rows.append((np.nan, np.nan, np.nan, pd.NA))
    cols = pd.DataFrame(rows, columns=REPLICATION_COLUMNS[:4], index=out.index)
    cols["replication_n"] = cols["replication_n"].astype("Int64")  # NA: not tested, or no n in the sumstats
    out = pd.concat([out, cols], axis=1)
    threshold = -np.log10(alpha / max(n_tested, 1))
    tested = out["replication_beta"].notna()
    same = tested & (np.sign(out["replication_beta"]) == np.sign(out["lead_beta"]))
    out["replication_same_sign"] = same.where(tested, other=pd.NA)
    out["replicated"] = same & (out["replication_neg_log_10_p_value"] > threshold)
    out["replicated_nominal"] = same & (out["replication_neg_log_10_p_value"] > -np.log10(alpha))
    out["replication_status"] = np.select(
        [~tested, out["replicated"], out["replicated_nominal"]], ["not tested", "replicated", "nominal"],
        default="not replicated")
    out.attrs["replication_threshold_p"] = alpha / max(n_tested, 1)
    return out


def neg_log10_p_from_text(text: str) -> float:
    """``-log10 p`` of a p-value written as text, also below the smallest double (``3.1623e-412``, as the
    gwas stage writes them); NaN when the text is not a number."""
    text = str(text).strip()
    try:
        p = float(text)
    except ValueError:
        return math.nan
    if p > 0:
        return -math.log10(p)
    if p < 0 or math.isnan(p):
        return math.nan
    mantissa, _, exponent = text.lower().partition("e")
    try:  # p underflowed a double: log10 of the mantissa plus the exponent
        m, e = float(mantissa), int(exponent)
    except ValueError:
        return math.inf
    return -(math.log10(m) + e) if m > 0 else math.inf


#: columns of the matched lead statistics (:func:`match_leads`), the table :func:`replicate` reads
MATCHED_COLUMNS = ["variant_id", "dimension", "beta", "standard_error", "neg_log_10_p_value", "n", "alleles_swapped"]


def _lead_keys(loci: pd.DataFrame) -> pd.DataFrame:
    """``loci`` with the keys :func:`match_leads` compares: canonical chromosome, upper-case alleles."""
    return loci.assign(chrom_key=loci["chromosome"].map(chromosome_key),
                       ea_key=loci["lead_effect_allele"].astype(str).str.upper(),
                       oa_key=loci["lead_other_allele"].astype(str).str.upper())


def match_leads(leads: pd.DataFrame, hits: pd.DataFrame, *, source, by_dimension: bool) -> list[tuple]:
    """The one rule for finding a discovery lead among another cohort's variants: same chromosome (by
    :func:`udip_gwas.genome.chromosome_key`), same position, and the same two alleles in either order; where the
    order is swapped (PLINK 1.9 makes each file's minor allele A1) beta changes sign. Alleles on the other
    strand are not matched.

    ``leads``: from :func:`_lead_keys`. ``hits``: candidate rows with ``_chrom, _pos, _ea, _oa, _beta, _se, _nlp,
    _n`` and, with ``by_dimension``, a ``dimension`` column matched against each lead's dimension. Returns
    rows of :data:`MATCHED_COLUMNS`; a lead matched twice is an error naming ``source``.
    """
    rows = []
    for r in leads.itertuples():
        at = hits[(hits["_pos"] == int(r.lead_position)) & (hits["_chrom"] == r.chrom_key)]
        if by_dimension:
            at = at[at["dimension"] == r.lead_dimension]
        same = at[(at["_ea"] == r.ea_key) & (at["_oa"] == r.oa_key)]
        swapped = at[(at["_ea"] == r.oa_key) & (at["_oa"] == r.ea_key)]
        if len(same) + len(swapped) > 1:
            raise InputError(f"{source}: {len(same) + len(swapped)} rows for {r.lead_variant} on "
                             f"{r.lead_dimension} (chromosome {r.chromosome}, position {r.lead_position}); "
                             "expected one")
        if len(same) + len(swapped) == 0:
            continue
        x, sign = (same.iloc[0], 1.0) if len(same) else (swapped.iloc[0], -1.0)
        rows.append((r.lead_variant, r.lead_dimension, sign * x["_beta"], x["_se"], x["_nlp"], x["_n"], sign < 0))
    return rows


def read_replication_gwas(loci: pd.DataFrame, table: str | Path) -> pd.DataFrame:
    """The loci's leads on their lead dimensions from a replication cohort's ``gwas.ht`` (QC-passing variants),
    found by :func:`match_leads`. Returns the table :func:`replicate` reads (:data:`MATCHED_COLUMNS`)."""
    import hail as hl

    ht = hl.read_table(str(table))
    dims = list(hl.eval(ht.dimensions))
    leads = _lead_keys(loci)
    wanted = hl.literal({(str(c), int(p)) for c, p in zip(leads["chrom_key"], leads["lead_position"])})
    ht = ht.filter(wanted.contains((contig_name(ht.locus), ht.locus.position)) & hl.is_missing(ht.qc_fail))
    ht = ht.key_by()
    rows = ht.select(chromosome=contig_name(ht.locus), position=ht.locus.position, other=ht.alleles[0],
                     effect=ht.alleles[1], n=ht.n, beta=ht.beta, standard_error=ht.standard_error,
                     neg_log_10_p_value=ht.neg_log_10_p_value).to_pandas()
    long = [(x.chromosome, x.position, x.effect, x.other, d, x.beta[i], x.standard_error[i],
             x.neg_log_10_p_value[i], x.n) for x in rows.itertuples() for i, d in enumerate(dims)]
    hits = pd.DataFrame(long, columns=["chromosome", "_pos", "_ea", "_oa", "dimension", "_beta", "_se", "_nlp", "_n"])
    hits = hits.assign(_chrom=hits["chromosome"].map(chromosome_key), _ea=hits["_ea"].str.upper(),
                       _oa=hits["_oa"].str.upper())
    out = pd.DataFrame(match_leads(leads, hits, source=table, by_dimension=True), columns=MATCHED_COLUMNS)
    if out["alleles_swapped"].any():
        log.info("replication: %d lead variant(s) have their alleles in the other order in %s; their betas are "
                 "turned to the discovery's effect allele", int(out["alleles_swapped"].sum()), table)
    return out


def log_replication(source, out: pd.DataFrame) -> None:
    log.info("replication (%s): %d of %d loci replicated at p < %.3g, %d nominally, %d not tested", source,
             int(out["replicated"].sum()), len(out), out.attrs.get("replication_threshold_p", np.nan),
             int(out["replicated_nominal"].sum()), int((out["replication_status"] == "not tested").sum()))


def read_replication_sumstats(path: str | Path, loci: pd.DataFrame, *, chunksize: int = 1_000_000) -> pd.DataFrame:
    """The loci's lead variants on their lead dimensions, from replication summary statistics.

    ``path`` is a folder of GWAS-SSF files, one per dimension, named ``<dimension>.tsv.gz`` (or
    ``.tsv.bgz``, ``.tsv``: what the gwas stage writes under ``dimensions/``), of which only the lead
    dimensions' files are read; or one TSV with a ``dimension`` column. Columns: :data:`SUMSTATS_REQUIRED`,
    ``neg_log_10_p_value`` or ``p_value`` (text below 1e-308 is read exactly), optional ``n``; ``#NA`` or
    ``NA`` for missing. A lead is found by chromosome (``chr`` prefix or not), position and its two alleles,
    in either order: where the file's effect allele is the lead's other allele, ``beta`` changes sign.
    Alleles on the other strand are not matched. Files are read in chunks and only rows at a lead's position
    are kept, so 10-million-variant files need little memory.

    ``loci`` needs ``lead_variant, lead_dimension, chromosome, lead_position, lead_effect_allele,
    lead_other_allele``. Returns the table :func:`replicate` reads; leads absent from the files are absent
    from it (``not tested``), and a lead dimension without a file in the folder is logged.
    """
    if "://" in str(path):
        raise InputError(f"replication summary statistics {path}: give a local path (copy the files from cloud "
                         "storage first); only the lead dimensions' files are read")
    path = Path(path)
    leads = _lead_keys(loci)
    if path.is_dir():
        sources = []
        for dim in sorted(set(leads["lead_dimension"])):
            found = [path / f"{dim}{suffix}" for suffix in SUMSTATS_SUFFIXES if (path / f"{dim}{suffix}").exists()]
            if found:
                sources.append((found[0], dim))
            else:
                log.warning("replication summary statistics: no file for dimension %s in %s (looked for %s); its "
                            "loci are not tested", dim, path, ", ".join(dim + s for s in SUMSTATS_SUFFIXES))
    elif path.exists():
        sources = [(path, None)]
    else:
        raise InputError(f"replication summary statistics not found: {path}")
    rows = []
    for file, dim in sources:
        mine = leads if dim is None else leads[leads["lead_dimension"] == dim]
        hits = _rows_at_positions(file, set(mine["lead_position"].astype(int)), long=dim is None,
                                  chunksize=chunksize)
        rows += match_leads(mine, hits, source=file, by_dimension=dim is None)
    out = pd.DataFrame(rows, columns=MATCHED_COLUMNS)
    log.info("replication summary statistics %s: %d of %d lead variants found (%d with the alleles swapped)", path,
             len(out), len(loci), int(out["alleles_swapped"].sum()))
    return out


def _rows_at_positions(file: Path, positions: set[int], *, long: bool, chunksize: int) -> pd.DataFrame:
    """The rows of a summary-statistics file at ``positions``, parsed (helper of read_replication_sumstats)."""
    header = pd.read_csv(file, sep="\t", nrows=0).columns
    p_column = "neg_log_10_p_value" if "neg_log_10_p_value" in header else "p_value"
    needed = [*SUMSTATS_REQUIRED, p_column, *(["dimension"] if long else [])]
    missing = [c if c != "p_value" else "p_value (or neg_log_10_p_value)" for c in needed if c not in header]
    if missing:
        raise InputError(f"{file}: replication summary statistics without the column(s) {', '.join(missing)} "
                         f"(found: {', '.join(header)})")
    usecols = needed + (["n"] if "n" in header else [])
    parts = []
    for chunk in pd.read_csv(file, sep="\t", usecols=usecols, dtype=str, na_values=["#NA", "NA"],
                             keep_default_na=False, chunksize=chunksize):
        pos = pd.to_numeric(chunk["base_pair_location"], errors="coerce")
        if pos.isna().any():
            bad = chunk["base_pair_location"][pos.isna()].iloc[0]
            raise InputError(f"{file}: base_pair_location {bad!r} is not a position")
        parts.append(chunk[pos.isin(positions)].assign(_pos=pos[pos.isin(positions)].astype(int)))
    hits = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[*usecols, "_pos"])
    if not len(hits):
        return hits.assign(_chrom=[], _ea=[], _oa=[], _beta=[], _se=[], _nlp=[], _n=[])
    nlp = (pd.to_numeric(hits[p_column], errors="coerce") if p_column == "neg_log_10_p_value"
           else hits[p_column].map(lambda v: neg_log10_p_from_text(v) if isinstance(v, str) else math.nan))
    beta = pd.to_numeric(hits["beta"], errors="coerce")
    se = pd.to_numeric(hits["standard_error"], errors="coerce")
    # a value that does not parse (a missing one may), or a p above 1
    invalid = {"beta": beta.isna() & hits["beta"].notna(),
               "standard_error": se.isna() & hits["standard_error"].notna(),
               p_column: (nlp.isna() & hits[p_column].notna()) | (nlp < -1e-6)}
    for name, bad in invalid.items():
        if bad.any():
            row = hits[bad].iloc[0]
            raise InputError(f"{file}: {name} {row[name]!r} at chromosome {row['chromosome']} position "
                             f"{row['_pos']} is not a valid value")
    n = pd.to_numeric(hits["n"], errors="coerce") if "n" in hits else pd.Series(np.nan, index=hits.index)
    return hits.assign(_chrom=hits["chromosome"].map(chromosome_key), _ea=hits["effect_allele"].str.upper(),
                       _oa=hits["other_allele"].str.upper(), _beta=beta, _se=se, _nlp=nlp, _n=n)


# --- the joint test's replication ---------------------------------------------------------------------------

#: columns of the joint replication table (:func:`replicate_joint` reads it)
JOINT_MATCHED_COLUMNS = ["variant_id", "joint_statistic", "joint_neg_log_10_p_value", "effect_correlation"]
#: the summary-statistics joint form: a variant whose largest |z| over the dimensions is below this is a null
#: variant for the dimensions' z correlation (with 128 null dimensions 99 % of null variants pass)
NULL_Z_MAX = 4.0
#: eigenvalues of the z correlation at most this fraction of the largest are dropped (and reported)
Z_CORRELATION_RTOL = 1e-6


def replicate_joint(loci: pd.DataFrame, joint: pd.DataFrame, *, alpha: float = 0.05) -> pd.DataFrame:
    """Add the joint replication columns to ``loci`` (after :func:`replicate`): the lead's joint test in the
    replication cohort (``joint``: :data:`JOINT_MATCHED_COLUMNS`), replicated at ``p < alpha / number of loci
    tested``, and the correlation of the discovery and replication betas over the joint set's dimensions. A locus
    the joint test alone found takes its ``replicated`` and ``replication_status`` from the joint test."""
    out = loci.copy()
    by = joint.set_index("variant_id") if len(joint) else pd.DataFrame(columns=JOINT_MATCHED_COLUMNS[1:])
    got = [by.loc[v] if v in by.index else None for v in out["lead_variant"]]
    out["replication_joint_statistic"] = [float(g["joint_statistic"]) if g is not None else np.nan for g in got]
    out["replication_joint_neg_log_10_p_value"] = [float(g["joint_neg_log_10_p_value"]) if g is not None else np.nan
                                                   for g in got]
    out["replication_effect_correlation"] = [float(g["effect_correlation"]) if g is not None else np.nan for g in got]
    tested = out["replication_joint_neg_log_10_p_value"].notna()
    threshold = -np.log10(alpha / max(int(tested.sum()), 1))
    out["replication_joint_replicated"] = (out["replication_joint_neg_log_10_p_value"] > threshold).where(
        tested, other=pd.NA)
    if "replicated" in out:
        joint_only = (out.get("test", pd.Series("", index=out.index)) == "joint").to_numpy()
        ok = tested & (out["replication_joint_neg_log_10_p_value"] > threshold)
        nominal = out["replication_joint_neg_log_10_p_value"] > -np.log10(alpha)
        out.loc[joint_only, "replicated"] = ok[joint_only]
        out.loc[joint_only, "replicated_nominal"] = nominal[joint_only]
        out.loc[joint_only, "replication_status"] = np.select(
            [~tested[joint_only], ok[joint_only], nominal[joint_only]], ["not tested", "replicated", "nominal"],
            default="not replicated")
    out.attrs["replication_joint_threshold_p"] = alpha / max(int(tested.sum()), 1)
    return out


def _effect_correlation(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
        return float("nan")
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def _rows_at_leads(table, leads: pd.DataFrame, fields: dict) -> dict:
    """``{lead_variant: (row, sign)}`` of a gwas table's QC-passing rows at the leads (alleles in either order;
    ``sign`` -1 where swapped)."""
    import hail as hl

    ht = hl.read_table(str(table))
    wanted = hl.literal({(str(c), int(p)) for c, p in zip(leads["chrom_key"], leads["lead_position"])})
    ht = ht.filter(wanted.contains((contig_name(ht.locus), ht.locus.position)) & hl.is_missing(ht.qc_fail)).key_by()
    rows = ht.select(_chrom=contig_name(ht.locus), _pos=ht.locus.position, _oa=ht.alleles[0], _ea=ht.alleles[1],
                     **{k: ht[v] for k, v in fields.items()}).collect()
    out = {}
    for r in leads.itertuples():
        for x in rows:
            if chromosome_key(x._chrom) != r.chrom_key or x._pos != int(r.lead_position):
                continue
            if (x._ea.upper(), x._oa.upper()) == (r.ea_key, r.oa_key):
                out[r.lead_variant] = (x, 1.0)
            elif (x._ea.upper(), x._oa.upper()) == (r.oa_key, r.ea_key):
                out[r.lead_variant] = (x, -1.0)
    return out


def read_replication_joint_gwas(loci: pd.DataFrame, discovery_table, replication_table, *,
                                discovery_betas: dict) -> pd.DataFrame:
    """The leads' joint test in a replication cohort's ``gwas.ht`` (the discovery locus's set, by name) and the
    correlation of the two cohorts' betas over that set's dimensions. Returns :data:`JOINT_MATCHED_COLUMNS`."""
    import hail as hl

    from udip_gwas.genetics.association import joint_sets_of

    rep_ht = hl.read_table(str(replication_table))
    rep_sets = {s.name: i for i, s in enumerate(joint_sets_of(rep_ht))}
    rep_dims = list(hl.eval(rep_ht.dimensions))
    leads = _lead_keys(loci[loci["joint_set"].notna()]) if "joint_set" in loci else loci.iloc[0:0]
    if leads.empty or not rep_sets:
        if not leads.empty:
            log.warning("replication: %s has no joint test; the joint replication is not run", replication_table)
        return pd.DataFrame(columns=JOINT_MATCHED_COLUMNS)
    rep = _rows_at_leads(replication_table, leads, {"beta": "beta", "jstat": "joint_statistic",
                                                    "jnlp": "joint_neg_log_10_p_value"})
    sets = {s.name: list(s.dimensions) for s in joint_sets_of(hl.read_table(str(discovery_table)))}
    rows = []
    for r in leads.itertuples():
        if r.lead_variant not in rep or r.joint_set not in rep_sets:
            continue
        x, sign = rep[r.lead_variant]
        j = rep_sets[r.joint_set]
        dims = [d for d in sets.get(r.joint_set, []) if d in rep_dims]
        own = discovery_betas.get(r.lead_variant, {})
        d_beta = [own.get(d, np.nan) for d in dims]
        r_beta = [None if x.beta is None else x.beta[rep_dims.index(d)] for d in dims]
        r_beta = [sign * b if b is not None else np.nan for b in r_beta]
        if x.jnlp is None or x.jnlp[j] is None:
            continue
        rows.append((r.lead_variant, x.jstat[j], x.jnlp[j], _effect_correlation(d_beta, r_beta)))
    return pd.DataFrame(rows, columns=JOINT_MATCHED_COLUMNS)


def z_from_t(t, dof):
    """The score-form z of a t statistic, ``t / sqrt(1 + t²/dof)``: ``sqrt(dof)`` times the partial correlation
    of the dosage and the dimension. With z in this form, ``z'C^-1 z / dof`` is the joint test's R² when C is
    the dimensions' residual correlation, so the sum stays valid for strong signals, where plain t overstates."""
    t = np.asarray(t, dtype=float)
    return t / np.sqrt(1.0 + t * t / dof)


def joint_chi2(z: np.ndarray, corr: np.ndarray, dof: float | None = None) -> tuple[float, int, float, int]:
    """JAGWAS's ``T = z'C^-1 z`` with near-singular C handled by its eigenvectors: directions with eigenvalue at
    most :data:`Z_CORRELATION_RTOL` of the largest are dropped. Returns ``(T, df, -log10 p, dropped)``.

    With score-form z (:func:`z_from_t`) and their ``dof``, ``T / dof`` is the joint test's R², and p is the exact
    test's F p of that R² on (df, dof + 1 - df) degrees of freedom; without ``dof``, JAGWAS's chi-square on df,
    which overstates strong signals at small n."""
    from scipy import stats

    vals, vecs = np.linalg.eigh(corr)
    keep = vals > Z_CORRELATION_RTOL * vals.max()
    proj = vecs[:, keep].T @ z
    t = float((proj ** 2 / vals[keep]).sum())
    df = int(keep.sum())
    if dof is None or not np.isfinite(dof):
        return t, df, float(-stats.chi2.logsf(t, df) / np.log(10)), int((~keep).sum())
    r2 = min(t / dof, 1.0 - 1e-15)
    df2 = dof + 1 - df
    f = (r2 / df) / ((1 - r2) / df2)
    return t, df, float(-stats.f.logsf(f, df, df2) / np.log(10)), int((~keep).sum())


def read_z_correlation(path, dims: list[str]) -> np.ndarray:
    """A supplied z correlation (``replication.z_correlation``): ``dimension`` column plus one column per
    dimension; every one of ``dims`` must be there, and the matrix must be symmetric with a unit diagonal."""
    df = pd.read_csv(path, sep="\t")
    if "dimension" not in df:
        raise InputError(f"{path}: expected a 'dimension' column and one column per dimension")
    missing = [d for d in dims if d not in set(df["dimension"]) or d not in df.columns]
    if missing:
        raise InputError(f"{path}: dimension(s) {missing[:5]} missing from the z correlation")
    c = df.set_index("dimension").loc[dims, dims].to_numpy(dtype=float)
    if not np.allclose(c, c.T, atol=1e-6) or not np.allclose(np.diag(c), 1.0, atol=1e-6):
        raise InputError(f"{path}: the z correlation must be symmetric with ones on its diagonal")
    return c


def read_replication_joint_sumstats(path, loci: pd.DataFrame, sets: dict[str, list[str]], *,
                                    discovery_betas: dict | None = None, z_correlation=None, n_null: int = 20000,
                                    chunksize: int = 1_000_000):
    """The leads' joint test from replication summary statistics alone, in JAGWAS's form ``T = z'C^-1 z`` on
    ``df`` = the kept rank of C (:func:`joint_chi2`). z from t by :func:`z_from_t` (dof = n - 2 where the files
    give n, t itself without n; with n, p is the exact test's F p of R² = T / dof). C is supplied
    (``z_correlation``) or the correlation of z over null variants (:data:`NULL_Z_MAX`) at up to ``n_null``
    positions spread over the first rows of the first dimension's file. ``path``: a folder of per-dimension
    files. Returns (:data:`JOINT_MATCHED_COLUMNS` table, info per set)."""
    path = Path(path)
    leads = _lead_keys(loci[loci["joint_set"].notna()]) if "joint_set" in loci else loci.iloc[0:0]
    if leads.empty:
        return pd.DataFrame(columns=JOINT_MATCHED_COLUMNS), {}
    if not path.is_dir():
        log.warning("replication: the joint test from summary statistics needs a folder of per-dimension files; "
                    "%s is one file, so the joint replication is not run", path)
        return pd.DataFrame(columns=JOINT_MATCHED_COLUMNS), {}
    want = sorted({d for s in leads["joint_set"] for d in sets.get(s, [])})
    files = {d: next((path / f"{d}{s}" for s in SUMSTATS_SUFFIXES if (path / f"{d}{s}").exists()), None) for d in want}
    absent = [d for d, f in files.items() if f is None]
    if absent:
        log.warning("replication: no summary statistics for %d dimension(s) of the joint sets (%s); the joint "
                    "replication is not run", len(absent), ", ".join(absent[:5]))
        return pd.DataFrame(columns=JOINT_MATCHED_COLUMNS), {}
    null_pos = set()
    if z_correlation is None:
        first = pd.read_csv(files[want[0]], sep="\t", usecols=["base_pair_location"], nrows=20 * n_null)
        null_pos = set(first["base_pair_location"].iloc[::max(1, len(first) // n_null)].astype(int))
    positions = null_pos | set(leads["lead_position"].astype(int))
    per_dim = {}
    for d in want:
        hits = _rows_at_positions(files[d], positions, long=False, chunksize=chunksize)
        hits = hits.assign(_key=hits["_chrom"] + ":" + hits["_pos"].astype(str) + ":" + hits["_oa"] + ":" + hits["_ea"])
        dof = hits["_n"] - 2
        t = hits["_beta"] / hits["_se"]
        hits["_z"] = np.where(dof.notna(), z_from_t(t, dof.fillna(1.0)), t)
        per_dim[d] = hits.drop_duplicates("_key").set_index("_key")
    info = {}
    rows = []
    by_set = {}
    for name in sorted(set(leads["joint_set"])):
        dims = sets[name]
        if z_correlation is not None:
            corr = read_z_correlation(z_correlation, dims)
            source = str(z_correlation)
        else:
            keys = set.intersection(*(set(per_dim[d].index[per_dim[d]["_pos"].isin(null_pos)]) for d in dims))
            z = np.column_stack([per_dim[d].loc[sorted(keys), "_z"].to_numpy(dtype=float) for d in dims])
            z = z[np.all(np.isfinite(z), axis=1) & (np.abs(z).max(axis=1) < NULL_Z_MAX)]
            if len(z) < 2 * len(dims):
                log.warning("replication: %d null variants for the z correlation of %s (%d dimensions); the joint "
                            "replication is not run; supply replication.z_correlation", len(z), name, len(dims))
                continue
            corr = np.corrcoef(z, rowvar=False)
            source = f"{len(z)} null variants"
        by_set[name] = (dims, corr)
        info[name] = {"z_correlation": source}
    for r in leads.itertuples():
        if r.joint_set not in by_set:
            continue
        dims, corr = by_set[r.joint_set]
        z, beta, dofs = [], [], []
        for d in dims:
            h = per_dim[d]
            at = h[(h["_pos"] == int(r.lead_position)) & (h["_chrom"] == r.chrom_key)]
            same = at[(at["_ea"] == r.ea_key) & (at["_oa"] == r.oa_key)]
            swapped = at[(at["_ea"] == r.oa_key) & (at["_oa"] == r.ea_key)]
            x, sign = (same.iloc[0], 1.0) if len(same) else ((swapped.iloc[0], -1.0) if len(swapped) else (None, 0))
            z.append(sign * x["_z"] if x is not None else np.nan)
            beta.append(sign * x["_beta"] if x is not None else np.nan)
            dofs.append(x["_n"] - 2 if x is not None else np.nan)
        z = np.asarray(z)
        if not np.all(np.isfinite(z)):
            continue
        t, df, nlp, dropped = joint_chi2(z, corr, dof=float(np.nanmin(dofs)) if np.isfinite(dofs).any() else None)
        info[r.joint_set].update(df=df, dropped_directions=dropped)
        if dropped:
            log.warning("replication: the z correlation of %s is near-singular; %d direction(s) left out (df %d)",
                        r.joint_set, dropped, df)
        own = (discovery_betas or {}).get(r.lead_variant, {})
        rows.append((r.lead_variant, t, nlp, _effect_correlation([own.get(d, np.nan) for d in dims], beta)))
    return pd.DataFrame(rows, columns=JOINT_MATCHED_COLUMNS), info


def discovery_betas(discovery_table, loci: pd.DataFrame) -> dict[str, dict[str, float]]:
    """``{lead_variant: {dimension: beta}}`` of the loci's leads in the discovery gwas table."""
    import hail as hl

    if loci.empty:
        return {}
    dims = list(hl.eval(hl.read_table(str(discovery_table)).dimensions))
    got = _rows_at_leads(discovery_table, _lead_keys(loci), {"beta": "beta"})
    return {v: {d: (sign * b if b is not None else np.nan) for d, b in zip(dims, x.beta or [])}
            for v, (x, sign) in got.items()}

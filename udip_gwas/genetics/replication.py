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

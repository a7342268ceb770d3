"""Phenotype and covariate tables for the GWAS, and the sample join.

The join is reported, never silent: the counts of subjects with UDIPs, genotypes, covariates and all
three are logged, and every subject dropped is returned with its reason (the stage writes them to
``excluded_subjects.tsv``).

Tables
------
UDIP table: ``IID`` then one column per dimension (``T1_001`` ...). Several tables (T1, T2) are joined on
``IID``; a subject needs every table to be analysed (one pass over the genotypes needs shared missingness).
Covariate table: ``FID IID`` then covariates, whitespace- or tab-separated, ``NA`` for missing (PLINK and
REGENIE style). Keep/remove files: one IID per line, or ``FID IID`` per line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from udip_gwas.exceptions import InputError

log = logging.getLogger(__name__)

ID_COLUMNS = ("FID", "IID")
TRANSFORMS = ("none", "standardize", "inverse_normal")


def _first_text_value(df: pd.DataFrame, column: str, prefix: str) -> str:
    """``prefix`` and the first value of ``column`` that is not a number, with its subject and how many such
    values there are; empty when every value parses (e.g. numbers stored as text in a parquet file)."""
    text = df[pd.to_numeric(df[column], errors="coerce").isna() & df[column].notna()]
    if not len(text):
        return ""
    return (prefix.format(column=column) + f"{text[column].iloc[0]!r} for subject {text['IID'].iloc[0]} "
            f"({len(text)} such value(s))")


def read_udip_tables(paths: list[str | Path]) -> pd.DataFrame:
    """Read and join UDIP tables on ``IID`` (outer join: a subject missing from one table has missing values
    there, and the sample join excludes it with that reason; dimension names must be unique)."""
    if not paths:
        raise InputError("gwas: no phenotype table given (key 'gwas.phenotypes')")
    merged: pd.DataFrame | None = None
    for p in paths:
        p = Path(p)
        if not p.is_file():
            raise InputError(f"UDIP table not found: {p}")
        df = pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(
            p, sep="\t", dtype={"IID": str}, encoding="utf-8-sig")
        if "IID" not in df.columns:
            raise InputError(f"{p}: expected an 'IID' column, found {list(df.columns)[:6]}")
        if df.empty:
            raise InputError(f"{p}: the UDIP table has a header but no subject")
        df["IID"] = df["IID"].astype(str)
        dup = df["IID"][df["IID"].duplicated()].tolist()
        if dup:
            raise InputError(f"{p}: subject(s) listed twice: {dup[:5]}")
        df = df.drop(columns=[c for c in ("FID",) if c in df.columns])
        bad = [c for c in df.columns if c != "IID" and not pd.api.types.is_numeric_dtype(df[c])]
        if bad:
            raise InputError(f"{p}: non-numeric phenotype column(s) {bad[:5]}"
                             + _first_text_value(df, bad[0], "; in {column}: ")
                             + "; NA or an empty field marks a missing value")
        if merged is not None:
            clash = (set(merged.columns) & set(df.columns)) - {"IID"}
            if clash:
                raise InputError(f"{p}: dimension name(s) already used by another table: {sorted(clash)[:5]}")
            merged = merged.merge(df, on="IID", how="outer")
        else:
                merged = df
        _warn_minus_nine(df, p)
    assert merged is not None
    return merged


def joint_sets(paths: list[str | Path], tested: list[str]) -> list[tuple[str, list[str]]]:
    """The joint test's sets: one per UDIP table (named by its dimensions' common prefix, ``T1`` for ``T1_001``
    ..., else by the file's name) with its tested dimensions and, when two or more tables have any, ``all`` of
    them together."""
    tested_set = set(tested)
    sets: list[tuple[str, list[str]]] = []
    for p in paths:
        p = Path(p)
        cols = [c for c in (pd.read_parquet(p).columns if p.suffix == ".parquet"
                            else pd.read_csv(p, sep="\t", nrows=0, encoding="utf-8-sig").columns)
                if c not in ID_COLUMNS]
        prefixes = {c.split("_")[0] for c in cols}
        name = prefixes.pop() if len(prefixes) == 1 and all("_" in c for c in cols) else p.name.split(".")[0]
        taken = {n for n, _ in sets} | {"all"}
        base, k = name, 2
        while name in taken:
            name, k = f"{base}_{k}", k + 1
        dims = [c for c in cols if c in tested_set]
        if dims:
            sets.append((name, dims))
    if len(sets) > 1:
        sets.append(("all", [d for _, dims in sets for d in dims]))
    return sets


def _warn_minus_nine(df: pd.DataFrame, source) -> None:
    """PLINK writes -9 for a missing phenotype; here -9 is a number (a latent value or a covariate can be -9),
    so columns holding it are named in a warning: write NA for a missing value."""
    numeric = [c for c in df.columns if c not in ID_COLUMNS and pd.api.types.is_numeric_dtype(df[c])]
    counts = {c: int((df[c] == -9).sum()) for c in numeric}
    counts = {c: n for c, n in counts.items() if n}
    if counts:
        log.warning("%s: -9 in column(s) %s is read as the number -9, not as missing (PLINK's missing code); write NA "
                    "for a missing value", source, ", ".join(f"{c} ({n} subject(s))" for c, n in counts.items()))


def read_covariates(path: str | Path) -> pd.DataFrame:
    """Read a ``FID IID ...`` covariate table; ``NA`` (and empty) are missing."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"covariate table not found: {path}")
    df = pd.read_csv(path, sep=r"\s+|\t", engine="python", na_values=["NA", "nan", ""], keep_default_na=False,
                     dtype={"FID": str, "IID": str}, encoding="utf-8-sig")
    if "IID" not in df.columns:
        raise InputError(f"{path}: expected 'FID IID' header columns, found {list(df.columns)[:6]}")
    dup = df["IID"][df["IID"].duplicated()].tolist()
    if dup:
        raise InputError(f"{path}: subject(s) listed twice: {dup[:5]}")
    _warn_minus_nine(df, path)
    return df


def read_id_list(path: str | Path) -> set[str]:
    """One IID per line, or ``FID IID`` per line (the IID is used); ``#`` comments and headers ignored."""
    ids = set()
    for line in Path(path).read_text(encoding="utf-8-sig").splitlines():
        parts = line.split()
        if not parts or parts[0].startswith("#") or parts[-1] == "IID":
            continue
        ids.add(parts[-1])
    return ids


def inverse_normal(x: np.ndarray) -> np.ndarray:
    """Rank-based inverse normal transform (Blom offset 3/8; ties get their average rank)."""
    ranks = stats.rankdata(x)
    return stats.norm.ppf((ranks - 0.375) / (len(x) + 0.25))


def transform_phenotypes(df: pd.DataFrame, columns: list[str], how: str) -> pd.DataFrame:
    if how not in TRANSFORMS:
        raise ValueError(f"transform_phenotypes: how must be one of {TRANSFORMS}, found {how!r}")
    out = df.copy()
    for c in columns:
        v = out[c].to_numpy(dtype=float)
        if how == "standardize":
            sd = v.std(ddof=1)
            out[c] = (v - v.mean()) / sd if sd > 0 else 0.0
        elif how == "inverse_normal":
            out[c] = inverse_normal(v)
    return out


@dataclass
class AnalysisSet:
    """The joined samples, ready for association.

    Attributes
    ----------
    table
        ``IID``, the phenotype columns, then the design covariate columns (indicators expanded); no missing.
    phenotypes, covariates
        Column names in ``table`` (``covariates`` excludes the intercept).
    excluded
        ``IID, reason`` for every subject dropped in the join.
    counts
        Subjects with UDIPs, genotypes, covariates, and all three.
    """

    table: pd.DataFrame
    phenotypes: list[str]
    covariates: list[str]
    excluded: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)
    #: design columns left out because they were constant over the analysed subjects
    dropped_covariates: list[str] = field(default_factory=list)


def build_analysis_set(
    udips: pd.DataFrame,
    covariates: pd.DataFrame | None,
    genotyped: list[str],
    *,
    covariate_columns: list[str] | None = None,
    categorical: list[str] | None = None,
    keep: set[str] | None = None,
    remove: set[str] | None = None,
    transform: str = "inverse_normal",
    source: str = "covariates",
) -> AnalysisSet:
    """Join UDIPs, covariates and genotyped samples; expand categorical covariates; transform.

    Every subject seen in any input and not analysed is returned in ``excluded`` with the first reason
    that applies, in this order: removed, not kept, no genotypes, no UDIPs, missing UDIP values, non-finite
    UDIP values, no covariate row, missing covariate value(s), non-finite covariate value(s) (named).
    """
    phen_cols = [c for c in udips.columns if c != "IID"]
    categorical = list(categorical or [])
    cov_cols = _covariate_columns(covariates, covariate_columns, categorical, source)
    cov = covariates.set_index("IID") if covariates is not None else None
    kept, excluded = _join(udips.set_index("IID"), phen_cols, cov, cov_cols, set(map(str, genotyped)),
                           keep=keep, remove=remove)
    counts = {
        "with_udips": len(udips), "with_genotypes": len(set(map(str, genotyped))),
        "with_covariates": len(cov.index) if cov is not None else len(udips),
        "analysed": len(kept),
    }
    log.info("sample join: %d with UDIPs, %d with genotypes, %d with covariates, %d with all three (analysed)",
             counts["with_udips"], counts["with_genotypes"], counts["with_covariates"], counts["analysed"])
    table = udips.set_index("IID").loc[kept, phen_cols].reset_index()
    design_cols = _add_design(table, cov.loc[kept, cov_cols].reset_index() if cov is not None else None, cov_cols,
                              categorical)
    constant = [c for c in design_cols if table[c].nunique() <= 1]
    if constant:
        log.warning("dropping covariate column(s) constant over the analysed subjects: %s", constant)
        design_cols = [c for c in design_cols if c not in constant]
        table = table.drop(columns=constant)
    table = transform_phenotypes(table, phen_cols, transform)
    return AnalysisSet(table=table, phenotypes=phen_cols, covariates=design_cols,
                       excluded=pd.DataFrame(excluded, columns=["IID", "reason"]), counts=counts,
                       dropped_covariates=constant)


def _covariate_columns(covariates: pd.DataFrame | None, chosen: list[str] | None, categorical: list[str],
                       source: str) -> list[str]:
    """The covariate columns used, checked: present, and numeric unless categorical."""
    if covariates is None:
        return []
    cols = list(chosen) if chosen else [c for c in covariates.columns if c not in ID_COLUMNS]
    missing = [c for c in cols + categorical if c not in covariates.columns]
    if missing:
        raise InputError(f"{source}: covariate column(s) {missing} not found; columns are {list(covariates.columns)}")
    for c in cols:
        if c not in categorical and not pd.api.types.is_numeric_dtype(covariates[c]):
            raise InputError(f"{source}: covariate '{c}' is not numeric" + _first_text_value(covariates, c, ": ")
                             + "; list it in 'gwas.categorical_covariates' to turn it into indicators, or fix "
                               "the value(s)")
    return cols


def _join(udips: pd.DataFrame, phen_cols: list[str], cov: pd.DataFrame | None, cov_cols: list[str], geno: set[str],
          *, keep: set[str] | None, remove: set[str] | None) -> tuple[list[str], list[dict]]:
    """The analysed subjects (sorted) and every other subject with its first reason (see build_analysis_set)."""
    values = udips[phen_cols].apply(pd.to_numeric)
    udip_na = set(udips.index[values.isna().any(axis=1)])
    udip_inf = set(udips.index[np.isinf(values.to_numpy(dtype=float)).any(axis=1)])
    cov_na: dict[str, list[str]] = {}
    cov_inf: dict[str, list[str]] = {}
    if cov is not None:
        numeric = [c for c in cov_cols if pd.api.types.is_numeric_dtype(cov[c])]
        na = cov[cov_cols].isna()
        inf = pd.DataFrame(np.isinf(cov[numeric].to_numpy(dtype=float)), index=cov.index, columns=numeric)
        for iid in cov.index[na.any(axis=1)]:
            cov_na[iid] = [c for c in cov_cols if na.at[iid, c]]
        for iid in inf.index[inf.any(axis=1)]:
            cov_inf[iid] = [c for c in numeric if inf.at[iid, c]]
    all_ids = sorted(set(udips.index) | geno | (set(cov.index) if cov is not None else set()))
    kept, excluded = [], []
    for iid in all_ids:
        if remove and iid in remove:
            reason = "in the remove list"
        elif keep is not None and iid not in keep:
            reason = "not in the keep list"
        elif iid not in geno:
            reason = "no genotypes"
        elif iid not in udips.index:
            reason = "no UDIPs (no usable image)"
        elif iid in udip_na:
            reason = "missing UDIP values (an image of one modality is missing or was excluded)"
        elif iid in udip_inf:
            reason = "non-finite UDIP value(s): " + ", ".join(c for c in phen_cols if np.isinf(values.at[iid, c]))
        elif cov is not None and iid not in cov.index:
            reason = "no covariate row"
        elif iid in cov_na:
            reason = f"missing covariate value(s): {', '.join(cov_na[iid])}"
        elif iid in cov_inf:
            reason = f"non-finite covariate value(s): {', '.join(cov_inf[iid])}"
        else:
            kept.append(iid)
            continue
        excluded.append({"IID": iid, "reason": reason})
    return kept, excluded


def _add_design(table: pd.DataFrame, cov: pd.DataFrame | None, cov_cols: list[str],
                categorical: list[str]) -> list[str]:
    """Add the design columns to ``table`` (categorical covariates as indicators of all levels but the first);
    returns their names."""
    design_cols: list[str] = []
    if cov is None:
        return design_cols
    for col in cov_cols:
        if col in categorical:
            levels = sorted(cov[col].astype(str).unique())
            for lev in levels[1:]:
                name = f"{col}_{lev}"
                table[name] = (cov[col].astype(str) == lev).astype(float).to_numpy()
                design_cols.append(name)
            log.info("covariate %s: %d levels, reference %s", col, len(levels), levels[0] if levels else "-")
        else:
            table[col] = cov[col].astype(float).to_numpy()
            design_cols.append(col)
    return design_cols


def without_dimensions(analysis: AnalysisSet, names: list[str]) -> AnalysisSet:
    """``analysis`` with the phenotype columns ``names`` left out."""
    drop = set(names)
    keep = [c for c in analysis.phenotypes if c not in drop]
    return AnalysisSet(table=analysis.table.drop(columns=list(drop)), phenotypes=keep,
                       covariates=analysis.covariates, excluded=analysis.excluded, counts=analysis.counts,
                       dropped_covariates=analysis.dropped_covariates)

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

log = logging.getLogger(__name__)

#: default MHC bounds per build (1-based, inclusive)
MHC = {"GRCh37": ("6", 28_477_797, 33_448_354), "GRCh38": ("chr6", 28_510_120, 33_480_577)}


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
    for i, (chrom, start, end, lead, _, members) in enumerate(sorted(rows, key=lambda r: (_chrom_order(r[0]), r[1]))):
        locus_id = f"L{i + 1:03d}"
        for m in members:
            assignment[m] = locus_id
        in_mhc = str(chrom).replace("chr", "") == str(mhc[0]).replace("chr", "") and start <= mhc[2] and end >= mhc[1]
        ordered = sorted(members, key=lambda m: -span_nlp[m])
        out.append((locus_id, chrom, start, end, lead, len(members), sum(m in lead_ids for m in members),
                    ",".join(m for m in ordered if m in lead_ids), ",".join(ordered), bool(in_mhc)))
    loci_df = pd.DataFrame(out, columns=["locus_id", "chromosome", "start", "end", "lead_variant", "n_independent",
                                         "n_leads", "lead_variants", "independent_variants", "mhc"])
    ind = spans_df.drop(columns="nlp").assign(locus_id=lambda d: d["variant_id"].map(assignment),
                                              is_lead=lambda d: d["variant_id"].isin(lead_ids))
    return loci_df, ind[["variant_id", "locus_id", "is_lead", "chromosome", "span_start", "span_end"]]


def _chrom_order(c: str) -> tuple[int, str]:
    c = str(c).replace("chr", "")
    return (int(c), "") if c.isdigit() else (100, c)

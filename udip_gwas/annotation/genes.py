"""Genes near and inside loci, with pyranges.

Gene annotations are read by :func:`udip_gwas.fileformats.read_genes`. Every interval is held as pyranges'
0-based half-open ``[Start, End)``; 1-based inclusive coordinates are converted in exactly one place,
:func:`udip_gwas.fileformats.one_based_to_half_open`.

Distances are in base pairs between a variant and the nearest base of a gene (0 when the variant lies in
the gene; 1 when it is the base just before or after it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyranges as pr

from udip_gwas.fileformats import one_based_to_half_open
from udip_gwas.genome import chromosome_key


def _chromosomes(c: pd.Series) -> pd.Series:
    return c.map(chromosome_key)


def _as_pyranges(df: pd.DataFrame) -> pr.PyRanges:
    return pr.PyRanges(df)


def nearest_genes(variants: pd.DataFrame, genes: pd.DataFrame) -> pd.DataFrame:
    """Nearest gene(s) of each variant.

    Parameters
    ----------
    variants
        ``variant_id, chromosome, base_pair_location`` (1-based).

    Returns
    -------
    DataFrame
        ``variant_id, nearest_genes, nearest_gene_distance``: every gene containing the variant
        (distance 0), or else the nearest gene; genes are comma-separated.
    """
    start, end = one_based_to_half_open(variants["base_pair_location"], variants["base_pair_location"])
    v = pd.DataFrame({"Chromosome": _chromosomes(variants["chromosome"]).to_numpy(), "Start": start, "End": end,
                      "variant_id": variants["variant_id"].to_numpy()})
    g = _as_pyranges(genes)
    vr = _as_pyranges(v)
    # the genes' strand comes along as a data column (Strand_b) rather than making the variants stranded;
    # saying so also keeps pyranges from printing a notice per call
    inside = vr.join(g, apply_strand_suffix=True).df
    near = vr.nearest(g, apply_strand_suffix=True).df
    rows = []
    for vid in v["variant_id"]:
        hit = inside[inside["variant_id"] == vid] if len(inside) else inside
        if len(hit):
            rows.append((vid, ",".join(sorted(hit["gene_name"].unique())), 0))
            continue
        n = near[near["variant_id"] == vid] if len(near) else near
        if len(n):
            rows.append((vid, ",".join(sorted(n["gene_name"].unique())), int(n["Distance"].min())))
        else:
            rows.append((vid, "", np.nan))
    return pd.DataFrame(rows, columns=["variant_id", "nearest_genes", "nearest_gene_distance"])


def overlapping_genes(loci: pd.DataFrame, genes: pd.DataFrame) -> pd.DataFrame:
    """Genes overlapping each locus ``[start, end]`` (1-based inclusive).

    Returns
    -------
    DataFrame
        ``locus_id, overlapping_genes`` (comma-separated, by position).
    """
    start, end = one_based_to_half_open(loci["start"], loci["end"])
    lr = _as_pyranges(pd.DataFrame({"Chromosome": _chromosomes(loci["chromosome"]).to_numpy(), "Start": start,
                                    "End": end, "locus_id": loci["locus_id"].to_numpy()}))
    joined = lr.join(_as_pyranges(genes), apply_strand_suffix=True).df
    out = []
    for lid in loci["locus_id"]:
        hit = joined[joined["locus_id"] == lid].sort_values("Start_b") if len(joined) else joined
        out.append((lid, ",".join(dict.fromkeys(hit["gene_name"])) if len(hit) else ""))
    return pd.DataFrame(out, columns=["locus_id", "overlapping_genes"])

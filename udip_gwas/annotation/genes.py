"""Genes near and inside loci, with pyranges.

Gene annotations: GENCODE/Ensembl GTF (``gene`` features), BED (0-based half-open, name in column 4) or
a PLINK-style gene list (``chromosome start end name``, 1-based inclusive). Every interval is held as
pyranges' 0-based half-open ``[Start, End)``; 1-based inclusive coordinates are converted in exactly one
place, :func:`one_based_to_half_open`.

Distances are in base pairs between a variant and the nearest base of a gene (0 when the variant lies in
the gene; 1 when it is the base just before or after it).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyranges as pr

from udip_gwas.exceptions import InputError
from udip_gwas.simulation.genotypes import open_text

log = logging.getLogger(__name__)

_BUILD_ALIASES = {"grch37": "GRCh37", "hg19": "GRCh37", "grch38": "GRCh38", "hg38": "GRCh38"}


def one_based_to_half_open(start: np.ndarray | pd.Series, end: np.ndarray | pd.Series):
    """1-based inclusive ``[start, end]`` to 0-based half-open ``[start - 1, end)``: the only place this
    conversion is made."""
    return np.asarray(start, dtype=np.int64) - 1, np.asarray(end, dtype=np.int64)


def _norm_chrom(c: pd.Series) -> pd.Series:
    return c.astype(str).str.replace("^chr", "", regex=True)


def read_genes(path: str | Path, *, fmt: str = "auto") -> tuple[pd.DataFrame, str | None]:
    """Read a gene annotation.

    Returns
    -------
    genes, build
        ``Chromosome, Start, End, gene_name, gene_id, Strand`` (0-based half-open, chromosome without
        ``chr``) and the genome build named in the file header, if any.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"gene annotation not found: {path}")
    name = path.name.lower().removesuffix(".gz")
    if fmt == "auto":
        fmt = "gtf" if name.endswith((".gtf", ".gff")) else "bed" if name.endswith(".bed") else "plink"
    build = None
    with open_text(path) as fh:
        head = [next(fh, "") for _ in range(20)]
    for line in head:
        m = re.search(r"(genome-build|assembly|build)\W+(GRCh3[78]|hg19|hg38)", line, re.IGNORECASE)
        if m and line.startswith("#"):
            build = _BUILD_ALIASES[m.group(2).lower()]
            break
    if fmt == "gtf":
        df = pd.read_csv(path, sep="\t", comment="#", header=None, dtype={0: str},
                         names=["seqname", "source", "feature", "start", "end", "score", "strand", "frame", "attr"])
        df = df[df["feature"] == "gene"]
        if df.empty:
            raise InputError(f"{path}: no 'gene' features in this GTF")
        attr = df["attr"]
        gene_id = attr.str.extract(r'gene_id "([^"]+)"')[0]
        gene_name = attr.str.extract(r'gene_name "([^"]+)"')[0].fillna(gene_id)
        start, end = one_based_to_half_open(df["start"], df["end"])
        genes = pd.DataFrame({"Chromosome": _norm_chrom(df["seqname"]).to_numpy(), "Start": start, "End": end,
                              "gene_name": gene_name.to_numpy(), "gene_id": gene_id.to_numpy(),
                              "Strand": df["strand"].to_numpy()})
    elif fmt == "bed":
        df = pd.read_csv(path, sep="\t", comment="#", header=None, dtype={0: str})
        if df.shape[1] < 4:
            raise InputError(f"{path}: BED needs at least 4 columns (chrom, start, end, name), found {df.shape[1]}")
        genes = pd.DataFrame({"Chromosome": _norm_chrom(df[0]).to_numpy(), "Start": df[1].astype(np.int64).to_numpy(),
                              "End": df[2].astype(np.int64).to_numpy(), "gene_name": df[3].astype(str).to_numpy(),
                              "gene_id": df[3].astype(str).to_numpy(),
                              "Strand": df[5].to_numpy() if df.shape[1] > 5 else "."})
    elif fmt == "plink":
        df = pd.read_csv(path, sep=r"\s+", comment="#", header=None, dtype={0: str})
        if df.shape[1] < 4:
            raise InputError(f"{path}: a PLINK gene list needs 4 columns (chromosome start end name)")
        start, end = one_based_to_half_open(df[1], df[2])
        genes = pd.DataFrame({"Chromosome": _norm_chrom(df[0]).to_numpy(), "Start": start, "End": end,
                              "gene_name": df[3].astype(str).to_numpy(), "gene_id": df[3].astype(str).to_numpy(),
                              "Strand": "."})
    else:
        raise InputError(f"unknown gene annotation format {fmt!r} (gtf, bed or plink)")
    bad = genes[genes["End"] <= genes["Start"]]
    if len(bad):
        raise InputError(f"{path}: {len(bad)} gene(s) with end before start, e.g. {bad['gene_name'].iloc[0]}")
    return genes.reset_index(drop=True), build


def check_build(annotation_build: str | None, reference_genome: str, *, source: str) -> None:
    if annotation_build is None:
        log.warning("%s: the genome build is not stated in the file; assuming %s", source, reference_genome)
    elif annotation_build != reference_genome:
        raise InputError(f"{source}: gene annotation is {annotation_build} but the genotypes are {reference_genome}")


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
    v = pd.DataFrame({"Chromosome": _norm_chrom(variants["chromosome"]).to_numpy(), "Start": start, "End": end,
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
    lr = _as_pyranges(pd.DataFrame({"Chromosome": _norm_chrom(loci["chromosome"]).to_numpy(), "Start": start,
                                    "End": end, "locus_id": loci["locus_id"].to_numpy()}))
    joined = lr.join(_as_pyranges(genes), apply_strand_suffix=True).df
    out = []
    for lid in loci["locus_id"]:
        hit = joined[joined["locus_id"] == lid].sort_values("Start_b") if len(joined) else joined
        out.append((lid, ",".join(dict.fromkeys(hit["gene_name"])) if len(hit) else ""))
    return pd.DataFrame(out, columns=["locus_id", "overlapping_genes"])

"""Linkage disequilibrium between chosen variants, computed in Hail only around them.

LD comes from the study's own genotypes (restricted to the analysed samples) or from a reference panel
in PLINK format. Only the variants asked for are kept and only pairs within ``radius_bp`` are computed
(``hl.ld_matrix`` with a banded block matrix); there is never a genome-wide matrix.
"""

from __future__ import annotations

import logging

import pandas as pd

from udip_gwas.genome import chromosome_key

log = logging.getLogger(__name__)


def variants_table(df: pd.DataFrame, reference_genome: str):
    """Hail Table keyed by ``locus, alleles`` from ``chromosome, base_pair_location, other_allele,
    effect_allele`` columns (1-based positions, as in the summary statistics)."""
    import hail as hl

    ht = hl.Table.from_pandas(df[["chromosome", "base_pair_location", "other_allele", "effect_allele"]]
                              .astype({"chromosome": str, "base_pair_location": int}))
    contig = ht.chromosome if reference_genome == "GRCh37" else hl.if_else(
        ht.chromosome.startswith("chr"), ht.chromosome, "chr" + ht.chromosome)
    ht = ht.annotate(locus=hl.locus(contig, ht.base_pair_location, reference_genome=reference_genome),
                     alleles=[ht.other_allele, ht.effect_allele])
    return ht.key_by("locus", "alleles").select().distinct()


def ld_pairs(mt, variants: pd.DataFrame, *, radius_bp: int, min_r2: float, reference_genome: str) -> pd.DataFrame:
    """r² between the given variants, for pairs within ``radius_bp`` and r² >= ``min_r2``.

    Parameters
    ----------
    mt
        MatrixTable with a ``dosage`` entry field (see genotypes.import_genotypes), already restricted to
        the samples whose LD is wanted.
    variants
        ``variant_id, chromosome, base_pair_location, other_allele, effect_allele``.

    Returns
    -------
    DataFrame
        ``variant_id_a, variant_id_b, r2`` with each unordered pair once (a before b in position).
        Variants absent from ``mt`` are absent here (and logged).
    """
    import hail as hl

    if variants.empty:
        return pd.DataFrame(columns=["variant_id_a", "variant_id_b", "r2"])
    # a reference panel may name a variant's two alleles the other way round (PLINK 1.9 makes each file's
    # minor allele A1); r2 does not depend on which allele is counted, so both orders are looked for
    swapped = variants.rename(columns={"other_allele": "effect_allele", "effect_allele": "other_allele"})
    wanted = variants_table(variants, reference_genome).union(variants_table(swapped, reference_genome)).distinct()
    sub = mt.semi_join_rows(wanted)
    sub = sub.add_row_index("_idx")
    rows = sub.rows().select("_idx", "variant_id").to_pandas()
    if rows.empty:
        log.warning("LD: none of the %d variants is in the LD genotypes", len(variants))
        return pd.DataFrame(columns=["variant_id_a", "variant_id_b", "r2"])
    # the LD genotypes' rows named by the variants' own ids, whichever order their alleles come in there
    study_id = {(chromosome_key(c), int(p), frozenset((str(o), str(e)))): v for v, c, p, o, e in zip(
        variants["variant_id"], variants["chromosome"], variants["base_pair_location"], variants["other_allele"],
        variants["effect_allele"])}
    idx_to_id = {i: study_id.get((chromosome_key(loc.contig), int(loc.position), frozenset(al)), v)
                 for i, v, loc, al in zip(rows["_idx"], rows["variant_id"], rows["locus"], rows["alleles"])}
    pos = dict(zip(rows["_idx"], [(str(loc.contig), loc.position) for loc in rows["locus"]]))
    if len(rows) < len(variants):
        log.info("LD: %d of %d variants found in the LD genotypes", len(rows), len(variants))
    bm = hl.ld_matrix(sub.dosage, sub.locus, radius=radius_bp)
    ent = bm.entries()
    ent = ent.filter((ent.i < ent.j) & (ent.entry * ent.entry >= min_r2))
    pairs = ent.to_pandas()
    out = []
    for i, j, r in zip(pairs["i"], pairs["j"], pairs["entry"]):
        (ci, pi), (cj, pj) = pos[i], pos[j]
        if ci == cj and abs(pi - pj) <= radius_bp:
            out.append((idx_to_id[i], idx_to_id[j], float(r) ** 2))
    return pd.DataFrame(out, columns=["variant_id_a", "variant_id_b", "r2"])


def restrict_to_samples(mt, samples: list[str]):
    import hail as hl

    keep = hl.literal(set(samples))
    return mt.filter_cols(keep.contains(mt.s))

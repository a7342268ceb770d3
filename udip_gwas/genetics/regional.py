"""Regional association data per locus (LocusZoom style): the variants around the lead, their -log10 p, and
their r² with the lead from the LD genotypes.

The r² is one row per locus, not a matrix: the lead's dosages (mean-imputed, standardised, as Hail's
``ld_matrix`` does) travel to the window's variants, and one pass over the windows' genotype rows gives each
variant's correlation with its lead. Nothing genome-wide is collected.

Output per locus, ``loci/regional/<locus_id>.tsv`` (:data:`REGIONAL_COLUMNS`): the QC-passing variants in the
window (the locus plus ``loci.regional_margin_kb`` each side), their r² with the lead and the plotted -log10 p.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from udip_gwas.genome import contig_name

log = logging.getLogger(__name__)

REGIONAL_COLUMNS = ["variant_id", "rsid", "position", "r2_with_lead", "neg_log_10_p_value"]


def windows(loci: pd.DataFrame, *, margin_kb: int) -> pd.DataFrame:
    """``locus_id, chromosome, start, end`` of each locus's plotted window (1-based, inclusive)."""
    return pd.DataFrame({"locus_id": loci["locus_id"], "chromosome": loci["chromosome"].astype(str),
                         "start": np.maximum(loci["start"].astype(int) - margin_kb * 1000, 1),
                         "end": loci["end"].astype(int) + margin_kb * 1000})


def _intervals(win: pd.DataFrame, reference_genome: str):
    import hail as hl

    from udip_gwas.genetics.contigs import reference_contig

    return [hl.parse_locus_interval(f"{reference_contig(c, reference_genome)}:{s}-{e}", reference_genome)
            for c, s, e in zip(win["chromosome"], win["start"], win["end"])]


def window_statistics(ht, loci: pd.DataFrame, win: pd.DataFrame, dims: list[str], *,
                      reference_genome: str) -> pd.DataFrame:
    """The QC-passing variants of the gwas table ``ht`` in each window with the -log10 p of the locus's lead
    dimension: ``locus_id, variant_id, rsid, position, alleles, neg_log_10_p_value``."""
    import hail as hl

    sub = hl.filter_intervals(ht, _intervals(win, reference_genome))
    sub = sub.filter(hl.is_missing(sub.qc_fail))
    spans = hl.literal([hl.Struct(locus_id=r.locus_id, chromosome=r.chromosome, start=int(r.start), end=int(r.end),
                                  dim=dims.index(d)) for r, d in zip(win.itertuples(), loci["lead_dimension"])])
    chrom, pos = contig_name(sub.locus), sub.locus.position
    sub = sub.annotate(_in=spans.filter(lambda w: (w.chromosome == chrom) & (w.start <= pos) & (pos <= w.end)))
    sub = sub.explode("_in").key_by()
    rows = sub.select(locus_id=sub._in.locus_id, variant_id=sub.variant_id, rsid=sub.rsid, position=sub.locus.position,
                      alleles=hl.delimit(hl.sorted(sub.alleles), "/"),
                      neg_log_10_p_value=sub.neg_log_10_p_value[sub._in.dim]).to_pandas()
    return rows


def regional_table(stats: pd.DataFrame, r2: pd.DataFrame) -> pd.DataFrame:
    """Each window's variants (:func:`window_statistics`) with their r² with the lead (:func:`r2_with_leads`;
    missing where the LD genotypes lack the variant or the lead), sorted by position."""
    out = stats.merge(r2, on=["locus_id", "position", "alleles"], how="left")
    return out.sort_values(["locus_id", "position"]).reset_index(drop=True)


def r2_with_leads(mt, loci: pd.DataFrame, win: pd.DataFrame, *, reference_genome: str) -> pd.DataFrame:
    """r² of every variant of each window with the window's lead, from the LD genotypes ``mt`` (already on the
    samples whose LD is wanted): ``locus_id, position, alleles, r2_with_lead``, where ``alleles`` is the sorted
    allele pair (a reference panel may name them the other way round). A lead absent from ``mt`` gives no rows
    (its window is drawn grey)."""
    import hail as hl

    sub = hl.filter_intervals(mt, _intervals(win, reference_genome))
    lead_keys = {variant_key(v): lid for v, lid in zip(loci["lead_variant"], loci["locus_id"])}
    lead_keys.update({variant_key(v, swap=True): lid for v, lid in zip(loci["lead_variant"], loci["locus_id"])})
    leads = sub.filter_rows(hl.literal(set(lead_keys)).contains(
        (contig_name(sub.locus), sub.locus.position, sub.alleles[0], sub.alleles[1])))
    leads = leads.select_entries("dosage")._localize_entries("_e", "_c")  # entries in column order
    leads = leads.select(chromosome=contig_name(leads.locus), position=leads.locus.position,
                         a0=leads.alleles[0], a1=leads.alleles[1], d=leads._e.map(lambda e: e.dosage)).collect()
    z = {}
    for r in leads:
        x = np.array([np.nan if v is None else v for v in r.d], dtype=float)
        x = np.where(np.isnan(x), np.nanmean(x), x)
        sd = x.std()
        if sd > 0:
            z[lead_keys[(r.chromosome, r.position, r.a0, r.a1)]] = (x - x.mean()) / sd
    order = [lid for lid in win["locus_id"] if lid in z]
    if not order:
        return pd.DataFrame(columns=["locus_id", "position", "alleles", "r2_with_lead"])
    spans = hl.literal([hl.Struct(k=i, chromosome=r.chromosome, start=int(r.start), end=int(r.end))
                        for i, r in enumerate(win.set_index("locus_id").loc[order].reset_index().itertuples())])
    zs = hl.literal([z[lid].tolist() for lid in order])
    chrom, pos = contig_name(sub.locus), sub.locus.position
    sub = sub.annotate_rows(_w=spans.filter(lambda w: (w.chromosome == chrom) & (w.start <= pos) & (pos <= w.end))
                            .map(lambda w: w.k))
    sub = sub.filter_rows(hl.len(sub._w) > 0).add_col_index("_j")
    x = sub.dosage
    sub = sub.annotate_rows(_s=hl.struct(
        n=hl.agg.count_where(hl.is_defined(x)), sx=hl.agg.sum(x), sxx=hl.agg.sum(x * x),
        sxz=hl.agg.array_sum(sub._w.map(lambda k: hl.or_else(x * zs[k][hl.int32(sub._j)], 0.0))),
        smz=hl.agg.array_sum(sub._w.map(lambda k: hl.if_else(hl.is_defined(x), 0.0, zs[k][hl.int32(sub._j)])))))
    rows = sub.rows().key_by()
    rows = rows.select(position=rows.locus.position, pair=hl.sorted(rows.alleles), w=rows._w, s=rows._s).collect()
    n = int(sub.count_cols())
    out = []
    for r in rows:
        if not r.s.n:
            continue
        mean = r.s.sx / r.s.n
        ss = r.s.sxx - r.s.n * mean * mean
        for k, sxz, smz in zip(r.w, r.s.sxz, r.s.smz):
            corr = (sxz + mean * smz) / np.sqrt(ss * n) if ss > 0 else np.nan
            out.append((order[k], r.position, "/".join(r.pair), min(float(corr) ** 2, 1.0)))
    return pd.DataFrame(out, columns=["locus_id", "position", "alleles", "r2_with_lead"])


def write_table(part: pd.DataFrame, path) -> None:
    """One locus's rows as ``regional/<locus_id>.tsv``: r² with 6 decimals, -log10 p with 5 (as the GWAS-SSF
    files write it), ``NA`` where the LD genotypes gave no r²."""
    out = part[REGIONAL_COLUMNS].copy()
    out["r2_with_lead"] = out["r2_with_lead"].map(lambda v: "NA" if pd.isna(v) else f"{v:.6f}")
    out["neg_log_10_p_value"] = out["neg_log_10_p_value"].map(lambda v: "NA" if pd.isna(v) else f"{v:.5f}")
    out.to_csv(path, sep="\t", index=False, na_rep="NA")


def lead_strips(ht, loci: pd.DataFrame, dims: list[str]) -> dict[str, pd.DataFrame]:
    """Per locus, the lead variant's -log10 p in every dimension and whether the dimension is significant at
    the locus: ``dimension, neg_log_10_p_value, significant``."""
    import hail as hl

    leads = ht.filter(hl.literal(set(loci["lead_variant"])).contains(ht.variant_id))
    nlp = {r.variant_id: r.neg_log_10_p_value for r in leads.select("variant_id", "neg_log_10_p_value").collect()}
    out = {}
    for r in loci.itertuples():
        significant = set(str(r.dimensions).split(","))
        values = [np.nan if v is None else v for v in nlp.get(r.lead_variant, [None] * len(dims))]
        out[r.locus_id] = pd.DataFrame({"dimension": dims, "neg_log_10_p_value": values,
                                        "significant": [d in significant for d in dims]})
    return out


def variant_key(variant_id: str, *, swap: bool = False) -> tuple:
    """(chromosome without chr, position, first allele, second allele) of a ``chrom:pos:other:effect`` id."""
    c, p, a, b = variant_id.split(":")
    c = c[3:] if c.startswith("chr") else c
    return (c, int(p), b, a) if swap else (c, int(p), a, b)

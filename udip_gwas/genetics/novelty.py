"""Novelty of loci against prior imaging-GWAS hits (e.g. Smith 2021 BIG40, Elliott 2018).

A locus is ``known`` when a prior hit lies inside it, within ``window_kb`` of it, or (when LD is given) in
LD with its lead variant at r² >= ``ld_r2``; ``novel`` otherwise. The nearest prior hit and its distance
are reported either way.

Prior-hit table: ``chromosome, base_pair_location, rsid, trait, study`` and optionally ``build``, which
must match the genotypes' reference genome.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from udip_gwas.columns import NOVELTY, names
from udip_gwas.exceptions import InputError
from udip_gwas.genome import chromosome_key, contig_name

log = logging.getLogger(__name__)

PRIOR_COLUMNS = ("chromosome", "base_pair_location", "rsid", "trait", "study")
NOVELTY_COLUMNS = names(NOVELTY)


def read_prior_hits(path, *, reference_genome: str) -> pd.DataFrame:
    df = pd.read_csv(path, sep="\t", dtype={"chromosome": str, "rsid": str}, encoding="utf-8-sig")
    missing = [c for c in PRIOR_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"{path}: prior-hit table lacks column(s) {missing}; found {list(df.columns)}")
    if "build" in df.columns:
        builds = set(df["build"].dropna().astype(str))
        alias = {"hg19": "GRCh37", "hg38": "GRCh38", "GRCh37": "GRCh37", "GRCh38": "GRCh38"}
        other = {b for b in builds if alias.get(b, b) != reference_genome}
        if other:
            raise InputError(f"{path}: prior hits on build(s) {sorted(other)}, but the genotypes are "
                             f"{reference_genome}; lift them over first")
    df["chromosome"] = df["chromosome"].map(chromosome_key)
    return df


def annotate_novelty(loci: pd.DataFrame, prior: pd.DataFrame, *, window_kb: int = 500,
                     ld_with_lead: dict[str, set[str]] | None = None) -> pd.DataFrame:
    """Add :data:`NOVELTY_COLUMNS` to ``loci`` (needs ``chromosome, start, end, lead_variant,
    lead_position``). ``ld_with_lead`` maps a lead variant to the prior-hit rsids in LD with it."""
    out = loci.copy()
    rows = []
    for r in out.itertuples():
        same = prior[prior["chromosome"] == chromosome_key(r.chromosome)]
        if same.empty:
            rows.append(("novel", "no prior hit on this chromosome", None, None, None, np.nan))
            continue
        pos = same["base_pair_location"].to_numpy()
        # distance to the locus interval (0 inside it)
        dist = np.where(pos < r.start, r.start - pos, np.where(pos > r.end, pos - r.end, 0))
        k = int(np.argmin(dist))
        hit = same.iloc[k]
        in_ld = (ld_with_lead or {}).get(r.lead_variant, set())
        if dist[k] == 0:
            status, why = "known", f"prior hit {hit['rsid']} inside the locus"
        elif dist[k] <= window_kb * 1000:
            status, why = "known", f"prior hit {hit['rsid']} within {window_kb} kb"
        elif in_ld:
            status, why = "known", f"prior hit(s) {', '.join(sorted(in_ld))} in LD with the lead"
        else:
            status, why = "novel", f"nearest prior hit {dist[k] / 1000:.0f} kb away"
        rows.append((status, why, hit["rsid"], hit["trait"], hit["study"], dist[k] / 1000.0))
    return pd.concat([out, pd.DataFrame(rows, columns=NOVELTY_COLUMNS, index=out.index)], axis=1)


def prior_hits_in_ld(loci: pd.DataFrame, prior: pd.DataFrame, ht, ld_mt, *, radius_kb: int, min_r2: float,
                     reference_genome: str) -> dict[str, set[str]]:
    """Per lead variant of ``loci``, the rsids of the prior hits in LD with it (r² >= ``min_r2`` within
    ``radius_kb``), from the LD genotypes ``ld_mt``; only prior hits present in the gwas table ``ht`` are
    looked at."""
    import hail as hl

    from udip_gwas.genetics.ld import ld_pairs

    keys = hl.literal({(str(c), int(p)) for c, p in zip(prior["chromosome"], prior["base_pair_location"])})
    found = ht.filter(keys.contains((contig_name(ht.locus), ht.locus.position))).key_by()
    found = found.select(variant_id=found.variant_id, chromosome=contig_name(found.locus),
                         base_pair_location=found.locus.position, other_allele=found.alleles[0],
                         effect_allele=found.alleles[1]).to_pandas()
    if found.empty:
        return {}
    leads = loci.rename(columns={"lead_position": "base_pair_location", "lead_effect_allele": "effect_allele",
                                 "lead_other_allele": "other_allele", "lead_variant": "variant_id"})[
        ["variant_id", "chromosome", "base_pair_location", "other_allele", "effect_allele"]]
    ld = ld_pairs(ld_mt, pd.concat([leads, found]).drop_duplicates("variant_id"), radius_bp=radius_kb * 1000,
                  min_r2=min_r2, reference_genome=reference_genome)
    pos_to_rsid = {(str(c), int(p)): r for c, p, r in zip(prior["chromosome"], prior["base_pair_location"],
                                                           prior["rsid"])}
    hit_rsid = {v: pos_to_rsid[(chromosome_key(c), int(p))] for v, c, p in
                zip(found["variant_id"], found["chromosome"], found["base_pair_location"])}
    lead_ids = set(leads["variant_id"])
    in_ld: dict[str, set[str]] = {}
    for a, b in zip(ld["variant_id_a"], ld["variant_id_b"]):
        for lead, other in ((a, b), (b, a)):
            if lead in lead_ids and other in hit_rsid:
                in_ld.setdefault(lead, set()).add(hit_rsid[other])
    return in_ld


def log_novelty(loci: pd.DataFrame) -> None:
    log.info("novelty: %d known, %d novel", int((loci["novelty"] == "known").sum()),
             int((loci["novelty"] == "novel").sum()))

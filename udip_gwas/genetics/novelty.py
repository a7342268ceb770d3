"""Novelty of loci against prior imaging-GWAS hits (e.g. Smith 2021 BIG40, Elliott 2018).

A locus is ``known`` when a prior hit lies inside it, within ``window_kb`` of it, or (when LD is given) in
LD with its lead variant at r² >= ``ld_r2``; ``novel`` otherwise. The nearest prior hit and its distance
are reported either way.

Prior-hit table: ``chromosome, base_pair_location, rsid, trait, study`` and optionally ``build``, which
must match the genotypes' reference genome.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from udip_gwas.exceptions import InputError

PRIOR_COLUMNS = ("chromosome", "base_pair_location", "rsid", "trait", "study")
NOVELTY_COLUMNS = ["novelty", "novelty_reason", "nearest_prior_rsid", "nearest_prior_trait", "nearest_prior_study",
                   "nearest_prior_distance_kb"]


def read_prior_hits(path, *, reference_genome: str) -> pd.DataFrame:
    df = pd.read_csv(path, sep="\t", dtype={"chromosome": str, "rsid": str})
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
    df["chromosome"] = df["chromosome"].str.replace("^chr", "", regex=True)
    return df


def annotate_novelty(loci: pd.DataFrame, prior: pd.DataFrame, *, window_kb: int = 500,
                     ld_with_lead: dict[str, set[str]] | None = None) -> pd.DataFrame:
    """Add :data:`NOVELTY_COLUMNS` to ``loci`` (needs ``chromosome, start, end, lead_variant,
    lead_position``). ``ld_with_lead`` maps a lead variant to the prior-hit rsids in LD with it."""
    out = loci.copy()
    rows = []
    for r in out.itertuples():
        chrom = str(r.chromosome).replace("chr", "")
        same = prior[prior["chromosome"] == chrom]
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

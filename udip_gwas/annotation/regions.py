"""Scoring atlas regions for a PerDI map.

KS enrichment (GSEA-style running sum): rank the brain voxels by the map, from high to low; walk down the
ranking adding ``1/n_region`` at each voxel of the region and subtracting ``1/(N - n_region)`` at every
other voxel (N brain voxels); the score is the maximum of the running sum (0 to 1: 1 when the region's
voxels are exactly the top of the ranking). The maximum is reached just after a region voxel, so with the
region's 0-based rank positions ``r_1 < ... < r_n`` it is ``max_k k/n - (r_k + 1 - k)/(N - n)``.
The mean ``|t|`` over the region's voxels is a second view. A third, ``rim_mean_abs_t``, is the mean ``|t|`` over the
region and its one-voxel rim (the brain voxels face-adjacent to it): a change of a structure's volume moves its
boundary, so about half of what it does to the image lies just outside the structure, in its neighbours or in
unlabelled white matter; the rim counts it for the structure.

``region_scores`` returns, per dimension and region, both scores for left and right merged
(``hemisphere = bilateral``) and for each hemisphere, and the rank of the region within the dimension
(by KS, merged scores ranked among merged, lateralised among lateralised).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from udip_gwas.annotation.atlas import Atlas


def ks_enrichment(order_positions: np.ndarray, n_total: int) -> float:
    """KS running-sum maximum given the 0-based positions of a region's voxels in the ranking."""
    r = np.sort(np.asarray(order_positions))
    n = len(r)
    if n == 0 or n == n_total:
        return float("nan")
    k = np.arange(1, n + 1)
    running = k / n - (r + 1 - k) / (n_total - n)
    return float(max(0.0, running.max()))


def _scores_for_labels(values: np.ndarray, labels: np.ndarray, label_ids: list[int],
                       rims: dict[int, np.ndarray]) -> dict[int, tuple[float, float, float]]:
    order = np.argsort(-values, kind="stable")
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    out = {}
    for lab in label_ids:
        sel = labels == lab
        if not sel.any():
            out[lab] = (float("nan"), float("nan"), float("nan"))
            continue
        out[lab] = (ks_enrichment(position[sel], len(values)), float(values[sel].mean()),
                    float(values[rims[lab]].mean()))
    return out


def region_with_rim(labels: np.ndarray, label: int, brain_mask: np.ndarray) -> np.ndarray:
    """The brain voxels of ``label`` and those face-adjacent to it (a one-voxel rim), on the full grid."""
    from scipy import ndimage

    return ndimage.binary_dilation(labels == label) & brain_mask


def _rims(labels: np.ndarray, label_ids: list[int], brain_mask: np.ndarray) -> dict[int, np.ndarray]:
    """Per label, its region-with-rim as indices into the brain voxels (``values = map[brain_mask]``)."""
    return {lab: np.flatnonzero(region_with_rim(labels, lab, brain_mask)[brain_mask]) for lab in label_ids}


def region_scores(maps: dict[str, np.ndarray], atlas: Atlas, brain_mask: np.ndarray) -> pd.DataFrame:
    """Score every atlas region for every map.

    Parameters
    ----------
    maps
        ``{dimension name: |t| map}`` on the atlas grid.
    brain_mask
        Voxels that take part in the ranking.

    Returns
    -------
    DataFrame
        ``dimension, region, hemisphere, ks, mean_abs_t, rim_mean_abs_t, rank``.
    """
    if atlas.labels.shape != brain_mask.shape:
        raise ValueError(f"region_scores: atlas grid {atlas.labels.shape} differs from the map grid "
                         f"{brain_mask.shape}")
    mask = np.asarray(brain_mask, dtype=bool)
    lat_labels = atlas.labels[mask]
    merged_map, merged_table = atlas.merged()
    merged_labels = merged_map[mask]
    merged_ids, lat_ids = merged_table["label"].tolist(), atlas.table["label"].tolist()
    merged_rims = _rims(np.where(mask, merged_map, 0), merged_ids, mask) if maps else {}
    lat_rims = _rims(np.where(mask, atlas.labels, 0), lat_ids, mask) if maps else {}
    rows = []
    for dim, m in maps.items():
        if m.shape != mask.shape:
            raise ValueError(f"region_scores: map {dim} has grid {m.shape}, expected {mask.shape}")
        values = m[mask].astype(np.float64)
        merged = _scores_for_labels(values, merged_labels, merged_ids, merged_rims)
        for r in merged_table.itertuples():
            rows.append((dim, r.region, "bilateral", *merged[r.label]))
        lateral = _scores_for_labels(values, lat_labels, lat_ids, lat_rims)
        for r in atlas.table.itertuples():
            if r.hemisphere == "bilateral":
                continue  # midline structures appear once, in the merged rows
            rows.append((dim, r.region, r.hemisphere, *lateral[r.label]))
    df = pd.DataFrame(rows, columns=["dimension", "region", "hemisphere", "ks", "mean_abs_t", "rim_mean_abs_t"])
    df = df.dropna(subset=["ks"])
    df["view"] = np.where(df["hemisphere"] == "bilateral", "merged", "lateralised")
    df["rank"] = df.groupby(["dimension", "view"])["ks"].rank(ascending=False, method="min").astype(int)
    return df.sort_values(["dimension", "view", "rank"]).drop(columns="view").reset_index(drop=True)

"""Region scores: KS enrichment and mean |t| (udip_gwas/annotation/regions.py)."""

from __future__ import annotations

import numpy as np
import pytest

from udip_gwas.annotation.regions import ks_enrichment


def _ks_direct(values: np.ndarray, in_region: np.ndarray) -> float:
    order = np.argsort(-values, kind="stable")
    n, big_n = in_region.sum(), len(values)
    s, best = 0.0, 0.0
    for i in order:
        s += 1.0 / n if in_region[i] else -1.0 / (big_n - n)
        best = max(best, s)
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ks_enrichment__matches_a_direct_running_sum(seed):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=500)
    region = rng.random(500) < 0.1
    values[region] += seed * 0.7  # from no enrichment to strong enrichment
    order = np.argsort(-values, kind="stable")
    pos = np.empty(500, dtype=int)
    pos[order] = np.arange(500)
    assert ks_enrichment(pos[region], 500) == pytest.approx(_ks_direct(values, region), abs=1e-12)


def test_ks_enrichment__region_at_the_top_scores_one():
    assert ks_enrichment(np.array([0, 1, 2]), 10) == pytest.approx(1.0)
    assert ks_enrichment(np.array([7, 8, 9]), 10) == pytest.approx(0.0)


def test_region_scores__rim_mean_counts_a_boundary_change_just_outside_the_structure():
    """A change of a structure's volume shows on its boundary, half of it outside: a map lit only in the shell
    around region 1 (in region 2 and unlabelled voxels) gives region 1 the highest rim mean, against a direct
    computation, while plain mean |t| puts region 2 first."""
    import pandas as pd
    from scipy import ndimage

    from udip_gwas.annotation.atlas import Atlas
    from udip_gwas.annotation.regions import region_scores

    shape = (12, 12, 12)
    labels = np.zeros(shape, dtype=np.int16)
    labels[4:8, 4:8, 4:8] = 1            # the structure
    labels[8:11, 3:9, 3:9] = 2           # a neighbour touching one face
    labels[1:3, 1:3, 1:3] = 3            # far away
    mask = np.ones(shape, bool)
    mask[0] = False
    one = labels == 1
    shell = ndimage.binary_dilation(one) & ~one
    m = np.where(shell, 4.0, 0.1)
    table = pd.DataFrame({"label": [1, 2, 3], "name": ["Left_A", "Left_B", "Left_C"], "region": ["A", "B", "C"],
                          "hemisphere": ["left"] * 3, "kind": ["subcortical"] * 3})
    got = region_scores({"m": m}, Atlas(labels=labels, table=table, affine=np.eye(4)), mask)
    got = got[got["hemisphere"] == "bilateral"].set_index("region")
    for lab, reg in ((1, "A"), (2, "B"), (3, "C")):
        with_rim = ndimage.binary_dilation(labels == lab) & mask
        assert got.loc[reg, "rim_mean_abs_t"] == pytest.approx(m[with_rim].mean())
        assert got.loc[reg, "mean_abs_t"] == pytest.approx(m[(labels == lab) & mask].mean())
    assert got["rim_mean_abs_t"].idxmax() == "A" and got["mean_abs_t"].idxmax() == "B"

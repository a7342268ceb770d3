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

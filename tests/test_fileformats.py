"""PLINK filesets read and written with numpy (udip_gwas/fileformats.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from udip_gwas.fileformats import read_plink_dosages, write_plink
from udip_gwas.simulation.genotypes import simulate_panel


def test_write_plink__round_trip_with_missing(tmp_path):
    rng = np.random.default_rng(0)
    panel = simulate_panel([19], variants_per_chromosome=37, block_size_mean=5, rho=0.8, rng=rng)
    g = panel.sample(13, rng).astype(np.int8)
    g[2, 5] = -1
    samples = pd.DataFrame({"FID": [f"f{i}" for i in range(13)], "IID": [f"i{i}" for i in range(13)]})
    write_plink(tmp_path / "x", g, panel.variants, samples)
    back, bim, fam = read_plink_dosages(tmp_path / "x")
    expected = g.astype(float)
    expected[2, 5] = np.nan
    np.testing.assert_array_equal(back, expected)
    assert list(bim["a1"]) == list(panel.variants["effect_allele"])
    assert list(fam["IID"]) == list(samples["IID"])

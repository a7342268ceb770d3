"""Shared fixtures: one tiny simulated cohort per test session, and one Hail session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import numpy as np
import pandas as pd

from udip_gwas import config
from udip_gwas.simulation.cohort import SimulationParams, simulate_cohort
from udip_gwas.genetics.phenotypes import read_covariates
from udip_gwas.simulation.genotypes import read_plink_dosages

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory) -> dict:
    """A small simulated cohort on the 8 mm grid: 400 discovery, 200 replication and 40 training subjects."""
    out = tmp_path_factory.mktemp("cohort")
    params = SimulationParams(n_discovery=400, n_replication=200, n_train=40, chromosomes=(1, 6),
                              variants_per_chromosome=600, grid_mm=8.0, seed=7)
    paths = simulate_cohort(out, params, workers=2)
    paths["root"] = out
    paths["params"] = params
    return paths


@pytest.fixture(scope="session")
def hail_session(tmp_path_factory):
    """Start Hail once for the whole test session (local[2], small driver memory)."""
    from udip_gwas.genetics.hail_context import init_hail

    tmp = tmp_path_factory.mktemp("hail")
    init_hail({"master": "local[2]", "driver_memory": "2g", "tmp_dir": str(tmp), "local_tmpdir": str(tmp),
               "spark_conf": {}, "quiet": True}, log_dir=tmp, seed=1)
    import hail as hl

    yield hl
    hl.stop()


N_DIMS = 4


@pytest.fixture(scope="session")
def gwas_run(small_cohort, hail_session, tmp_path_factory):
    """Synthetic 'UDIPs' with known genetic and covariate effects on the small cohort's genotypes."""
    out = tmp_path_factory.mktemp("gwas")
    prefix = small_cohort["genotypes"]["discovery"]
    g, bim, fam = read_plink_dosages(prefix)
    cov = read_covariates(small_cohort["covariates"]["discovery"])
    rng = np.random.default_rng(11)
    n = len(fam)
    common = np.flatnonzero((np.nanmean(g, 0) / 2 > 0.2) & (np.nanmean(g, 0) / 2 < 0.8))
    causal = common[[10, 400]]
    y = rng.normal(size=(n, N_DIMS))
    y[:, 0] += 0.6 * (g[:, causal[0]] - 1)
    y[:, 1] += 0.4 * (g[:, causal[1]] - 1) + 0.03 * cov["age"].fillna(60).to_numpy()
    y[:, 2] += 40.0 * g[:, causal[0]]  # an association strong enough that p underflows
    y[:, 3] += 0.5 * (cov["site"].astype(str) == "11026").to_numpy()
    udips = pd.DataFrame(y, columns=[f"T1_{i + 1:03d}" for i in range(N_DIMS)])
    udips.insert(0, "IID", fam["IID"].to_numpy())
    udips.iloc[:5, 1:] = np.nan  # five subjects without usable images
    udips.to_csv(out / "udips.tsv", sep="\t", index=False)
    cfg = config.load(None, {
        "run": {"out": str(out)},
        "gwas": {"genotypes": prefix, "phenotypes": [str(out / "udips.tsv")],
                 "covariates": small_cohort["covariates"]["discovery"], "categorical_covariates": ["site"],
                 "transform": "none", "min_maf": 0.05, "min_mac": 5, "hwe_p": 0.0},
    })
    from udip_gwas.genetics.stages import run_gwas

    result = run_gwas(cfg, out / "gwas")
    dims = {f"T1_{i + 1:03d}": pd.read_csv(out / "gwas" / "dimensions" / f"T1_{i + 1:03d}.tsv.gz", sep="\t",
                                           na_values=["#NA"], keep_default_na=False, dtype={"p_value": str})
            for i in range(N_DIMS)}
    samples = pd.read_csv(out / "gwas" / "samples.tsv", sep="\t", dtype=str)["IID"].tolist()
    return dict(out=out, cfg=cfg, result=result, dims=dims, g=g, bim=bim, fam=fam, cov=cov, y=y, udips=udips,
                samples=samples, causal=causal, prefix=prefix)


def reference_path(*parts: str) -> Path:
    path = REFERENCE.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared reference file not found: {path}")
    return path


os.environ.setdefault("UDIP_GWAS_CACHE", str(Path.home() / ".cache" / "udip-gwas"))

"""Shared fixtures: one tiny simulated cohort per test session, one Hail session, a trained model, and helpers
used by several test files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from udip_gwas import config
from udip_gwas.simulation.cohort import DEFAULT_EFFECTS, SimulationParams, simulate_cohort
from udip_gwas.genetics.phenotypes import read_covariates
from udip_gwas.fileformats import read_plink_dosages
from udip_gwas.imaging.stages import run_train

#: reference files vendored for the tests (see tests/data/README.md)
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory) -> dict:
    """A small simulated cohort on the 8 mm grid: 400 discovery, 200 replication and 40 training subjects, with
    the six strong planted effects (two chromosomes have no room for the weak ones too)."""
    out = tmp_path_factory.mktemp("cohort")
    params = SimulationParams(n_discovery=400, n_replication=200, n_train=40, chromosomes=(1, 6),
                              variants_per_chromosome=600, grid_mm=8.0, seed=7,
                              effects=tuple(e for e in DEFAULT_EFFECTS if not e.weak))
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


def data_path(*parts: str) -> Path:
    """A file under tests/data; a missing one is an error (they are part of the repository), not a skip."""
    path = DATA.joinpath(*parts)
    assert path.exists(), f"test data file missing from the repository: {path}"
    return path


# --- helpers and fixtures shared by several test files ---------------------------------------------------


def _design(run) -> tuple[np.ndarray, list[int]]:
    cov = run["cov"].set_index("IID").loc[run["samples"]]
    X = pd.DataFrame({"age": cov["age"], "sex": cov["sex"]})
    for lev in sorted(cov["site"].astype(str).unique())[1:]:
        X[f"site_{lev}"] = (cov["site"].astype(str) == lev).astype(float)
    for c in [c for c in cov.columns if c.startswith("PC")] + ["head_size"]:
        X[c] = cov[c]
    rows = [list(run["fam"]["IID"]).index(s) for s in run["samples"]]
    return sm.add_constant(X.to_numpy(dtype=float)), rows


def _flip_plink(prefix, out) -> None:
    """Write PLINK fileset ``prefix`` to ``out`` with A1 and A2 swapped (the same genotypes, named the other
    way round, as PLINK 1.9 writes them where the other allele is the minor one)."""
    bim = pd.read_csv(f"{prefix}.bim", sep="\t", header=None, dtype=str)
    bim[[4, 5]] = bim[[5, 4]].to_numpy()
    bim.to_csv(f"{out}.bim", sep="\t", header=False, index=False)
    shutil.copy(f"{prefix}.fam", f"{out}.fam")
    # each 2-bit genotype: 00 (two A1) <-> 11 (two A2); het (10) and missing (01) stay
    code = np.array([3, 1, 2, 0], dtype=np.uint8)
    lut = np.array([sum(int(code[(b >> (2 * k)) & 3]) << (2 * k) for k in range(4)) for b in range(256)], np.uint8)
    raw = np.fromfile(f"{prefix}.bed", dtype=np.uint8)
    np.concatenate([raw[:3], lut[raw[3:]]]).tofile(f"{out}.bed")


@pytest.fixture(scope="session")
def trained(small_cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("train")
    cfg = config.load(None, {
        "run": {"out": str(out), "seed": 3},
        "train": {"images": small_cohort["manifests"]["train"], "modalities": ["T1"], "latent_dim": 8,
                  "base_channels": 4, "epochs": 8, "batch_size": 4, "lr_T1": 2e-3, "num_workers": 0,
                  "val_fraction": 0.2},
    })
    result = run_train(cfg, out / "train")
    return cfg, out, result


os.environ.setdefault("UDIP_GWAS_CACHE", str(Path.home() / ".cache" / "udip-gwas"))

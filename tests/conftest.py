"""Shared fixtures: one tiny simulated cohort per test session, and one Hail session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from udip_gwas.simulation.cohort import SimulationParams, simulate_cohort

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


def reference_path(*parts: str) -> Path:
    path = REFERENCE.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared reference file not found: {path}")
    return path


os.environ.setdefault("UDIP_GWAS_CACHE", str(Path.home() / ".cache" / "udip-gwas"))

"""End to end: the chained pipeline (skip, resume after a kill) and the GWAS stage on a real Spark
standalone cluster started on this machine."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

TINY = """
[run]
out = "{out}"
seed = 5
[simulate]
n_discovery = 300
n_replication = 150
n_train = 30
chromosomes = [1, 6]
variants_per_chromosome = 500
grid_mm = 8.0
# the six strong built-in effects, as a user's [[simulate.effects]] tables (two chromosomes have no room for
# the weak three beside them)
[[simulate.effects]]
region = "Thalamus"
kind = "volume"
modality = "both"
effect_per_sd = 0.15
known = true
[[simulate.effects]]
region = "Putamen"
kind = "intensity"
modality = "T2"
effect_per_sd = 0.2
known = false
[[simulate.effects]]
region = "Pallidum"
kind = "intensity"
modality = "T1"
effect_per_sd = 0.2
known = true
[[simulate.effects]]
region = "Caudate"
kind = "volume"
modality = "both"
effect_per_sd = 0.15
known = false
[[simulate.effects]]
region = "Hippocampus"
kind = "volume"
modality = "both"
effect_per_sd = 0.2
known = true
[[simulate.effects]]
region = "Lateral_Ventricle"
kind = "volume"
modality = "both"
effect_per_sd = 0.15
known = false
[train]
latent_dim = 8
base_channels = 2
epochs = 2
batch_size = 4
num_workers = 0
[extract]
num_workers = 1
rotation = "pca"
[gwas]
categorical_covariates = ["site"]
per_dimension_tsv = "all"
[hail]
driver_memory = "1g"
[loci]
p_threshold = 1e-4
[perdi]
n_subjects = 20
"""


def _cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "udip_gwas.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True, **kw)


@pytest.mark.slow
def test_run__killed_mid_gwas_resumes_and_matches_a_clean_gwas(tmp_path):
    out = tmp_path / "run"
    cfg = tmp_path / "run.toml"
    cfg.write_text(TINY.format(out=out))
    proc = _cli("run", str(cfg))
    deadline = time.time() + 600
    # kill the whole process group once the gwas stage has started writing
    while time.time() < deadline and proc.poll() is None:
        if (out / "gwas" / "discovery" / "samples.tsv").exists():
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.2)
    proc.wait(timeout=60)
    assert proc.returncode != 0, "the run finished before it could be interrupted"
    assert not (out / "gwas" / ".done.json").exists()
    assert (out / "extract" / ".done.json").exists()
    resumed = _cli("run", str(cfg))
    log, _ = resumed.communicate(timeout=900)
    assert resumed.returncode == 0, log[-3000:]
    for stage in ("simulate", "train", "extract"):
        assert f"stage {stage}: up to date" in log
    assert "comparison with the planted truth:\nplanted loci recovered:" in log  # a simulated cohort's run says it
    for stage in ("gwas", "loci", "perdi", "report"):
        assert (out / stage / ".done.json").exists()
    # rotated UDIPs: PerDI found the basis beside the discovery table and perturbed along its axes
    import json

    bases = json.loads((out / "perdi" / "summary.json").read_text())["latent_basis"]
    assert set(bases) == {"T1", "T2"}
    assert all(Path(b) == out / "extract" / "discovery" / f"latent_basis_{m}.tsv" for m, b in bases.items())
    # PerDI recorded whether each decoder beats its training subjects' mean image, and the report says so
    checks = json.loads((out / "perdi" / "summary.json").read_text())["decoder_check"]
    assert set(checks) == {"T1", "T2"}
    for c in checks.values():
        assert c["beats_mean_image"] == (c["best_val_loss"] < c["mean_image_val_loss"])
    html = (out / "report" / "report.html").read_text()
    assert ("PerDI reliability" in html) == any(not c["beats_mean_image"] for c in checks.values())
    # the resumed GWAS equals a clean run of the gwas stage alone on the same inputs
    clean = _cli("gwas", "--config", str(out / "provenance" / "gwas.config.toml"), "--out", str(tmp_path / "clean"))
    log2, _ = clean.communicate(timeout=600)
    assert clean.returncode == 0, log2[-3000:]
    a = pd.read_csv(out / "gwas" / "discovery" / "combined.tsv.gz", sep="\t")
    b = pd.read_csv(tmp_path / "clean" / "discovery" / "combined.tsv.gz", sep="\t")
    pd.testing.assert_frame_equal(a, b)
    # a third run does nothing
    again = _cli("run", str(cfg))
    log3, _ = again.communicate(timeout=300)
    assert again.returncode == 0 and log3.count("up to date") == 7


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout: float = 90) -> None:
    end = time.time() + timeout
    while time.time() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@pytest.fixture
def spark_cluster(tmp_path):
    """A Spark standalone master and one worker on 127.0.0.1, from the pyspark installation."""
    import pyspark

    home = Path(pyspark.__file__).parent
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_NO_DAEMONIZE": "1"}
    port = _free_port()
    spark_class = str(home / "bin" / "spark-class")
    procs = [subprocess.Popen([spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                               "--port", str(port), "--webui-port", str(_free_port())], env=env,
                              stdout=open(tmp_path / "master.log", "w"), stderr=subprocess.STDOUT,
                              start_new_session=True)]
    try:
        _wait_port(port)
        work = tmp_path / "worker"
        procs.append(subprocess.Popen([spark_class, "org.apache.spark.deploy.worker.Worker",
                                       f"spark://127.0.0.1:{port}", "--host", "127.0.0.1", "--cores", "2",
                                       "--memory", "2g", "--webui-port", str(_free_port()), "--work-dir", str(work)],
                                      env=env, stdout=open(tmp_path / "worker.log", "w"), stderr=subprocess.STDOUT,
                                      start_new_session=True))
        end = time.time() + 90
        while "Registering worker" not in (tmp_path / "master.log").read_text():
            if time.time() > end:
                raise TimeoutError("the Spark worker did not register with the master")
            time.sleep(0.5)
        yield {"master": f"spark://127.0.0.1:{port}", "work": work}
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(p.pid, signal.SIGKILL)


@pytest.mark.slow
def test_gwas__on_a_spark_standalone_cluster_equals_local_mode(gwas_run, spark_cluster, tmp_path):
    import hail

    jar = str(Path(hail.__file__).parent / "backend" / "hail-all-spark.jar")
    g = gwas_run["cfg"]["gwas"]
    conf = ",".join([f"spark.jars={jar}", f"spark.driver.extraClassPath={jar}", f"spark.executor.extraClassPath={jar}",
                     "spark.executor.memory=1g", "spark.executor.cores=2", "spark.cores.max=2"])
    proc = _cli("gwas", "--genotypes", g["genotypes"], "--phenotypes", ",".join(g["phenotypes"]),
                "--covariates", g["covariates"], "--categorical-covariates", "site", "--transform", "none",
                "--min-maf", "0.05", "--min-mac", "5", "--hwe-p", "0", "--out", str(tmp_path / "cluster"),
                "--hail-master", spark_cluster["master"], "--hail-driver-memory", "1g", "--hail-spark-conf", conf)
    log, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, log[-4000:]
    # executors really ran on the worker
    assert list(spark_cluster["work"].glob("app-*/*/stderr")), "no executor ran on the Spark worker"
    for dim, local in gwas_run["dims"].items():
        remote = pd.read_csv(tmp_path / "cluster" / "dimensions" / f"{dim}.tsv.gz", sep="\t", na_values=["#NA"],
                             keep_default_na=False, dtype={"p_value": str})
        assert list(remote["variant_id"]) == list(local["variant_id"])
        np.testing.assert_allclose(remote["beta"], local["beta"], rtol=1e-9)
        np.testing.assert_allclose(remote["neg_log_10_p_value"], local["neg_log_10_p_value"], rtol=1e-9)

"""Starting Hail from the run configuration: local by default, a Spark cluster or Dataproc for scale."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from udip_gwas.exceptions import ConfigError

log = logging.getLogger(__name__)


def init_hail(hail_cfg: dict, *, log_dir: str | Path, seed: int) -> None:
    """Start Hail once per process with the ``[hail]`` section of the config.

    ``master`` is ``local[N]`` (default), a ``spark://host:port`` URL or ``yarn`` (Dataproc, where
    ``hailctl dataproc submit`` has already configured Spark: pass ``master = "yarn"`` or leave Spark's
    own configuration in charge). ``tmp_dir`` must be visible to every executor on a cluster (for
    example ``gs://bucket/tmp`` on Dataproc). ``blas_threads`` (default 1) becomes ``OPENBLAS_NUM_THREADS`` of
    the JVMs that run Spark tasks (the driver in local mode, ``spark.executorEnv`` on a cluster) unless already
    set there. Local paths are written without Hadoop's ``.crc`` checksum side files (``spark.hadoop.fs.file.impl``
    is Hadoop's ``RawLocalFileSystem`` unless ``spark_conf`` names another). A Hail session already running is
    reused.
    """
    import hail as hl
    from hail.utils.java import Env

    blas_threads = int(hail_cfg.get("blas_threads", 1))
    if blas_threads < 0:
        raise ConfigError(f"hail.blas_threads must be >= 0, found {blas_threads}")
    if Env._hc is not None:  # asking hl.current_backend() would start a default session
        log.info("Hail already running; reusing it")
        return
    spark_conf = {str(k): str(v) for k, v in hail_cfg.get("spark_conf", {}).items()}
    if hail_cfg.get("driver_memory"):
        spark_conf.setdefault("spark.driver.memory", hail_cfg["driver_memory"])
    spark_conf.setdefault("spark.ui.enabled", "false")
    # Hadoop's default for file: paths (LocalFileSystem) writes a .crc side file beside every file, twice the
    # files, and without Hadoop's native library (pip's pyspark has none) each is created with a chmod
    # process: the gwas stage's 128 per-dimension files (512 part files and their copies on the benchmark's 4
    # partitions) took 22.5-22.7 s that way against 18.0-18.8 s without the checksum files (gwas_bench data)
    spark_conf.setdefault("spark.hadoop.fs.file.impl", "org.apache.hadoop.fs.RawLocalFileSystem")
    if hail_cfg.get("quiet", True):
        spark_conf.setdefault("spark.ui.showConsoleProgress", "false")
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    kwargs = dict(
        app_name="udip-gwas", spark_conf=spark_conf, log=str(log_dir / "hail.log"), quiet=hail_cfg.get("quiet", True),
        global_seed=seed, default_reference="GRCh37",
    )
    master = hail_cfg.get("master")
    if master:
        kwargs["master"] = master
    if hail_cfg.get("tmp_dir"):
        kwargs["tmp_dir"] = hail_cfg["tmp_dir"]
    if hail_cfg.get("local_tmpdir"):
        kwargs["local_tmpdir"] = hail_cfg["local_tmpdir"]
    # Spark runs one task per core, and each task of the blocked association multiplies its own matrices; an
    # OpenBLAS that also starts a thread per core in every task oversubscribes the cores. Measured with
    # benchmarks/gwas_bench.py's data (5,000 x 50,000, 128 phenotypes, local[2]): the warm association pass
    # 14.6 s with one BLAS thread against 16.4 s with OpenBLAS's default (means of two runs each).
    restore = False
    if blas_threads:
        spark_conf.setdefault("spark.executorEnv.OPENBLAS_NUM_THREADS", str(blas_threads))
        # local mode: the tasks run in the driver JVM, which takes this process's environment when it starts;
        # a value already in the environment is the user's and stays
        if "OPENBLAS_NUM_THREADS" not in os.environ:
            os.environ["OPENBLAS_NUM_THREADS"] = str(blas_threads)
            restore = True
    log.info("starting Hail (master %s)", master or "from Spark's configuration")
    try:
        hl.init(**kwargs)
    finally:
        if restore:  # later child processes (data loaders, workers) keep their own defaults
            del os.environ["OPENBLAS_NUM_THREADS"]

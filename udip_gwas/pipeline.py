"""Stages and their chaining: ``udip-gwas run CONFIG.toml`` and ``udip-gwas demo``.

Each stage reads and writes files under the run's output folder; ``run`` chains them. A stage that
finished writes ``<stage folder>/.done.json`` holding the hash of the configuration it ran with, and is
skipped on a rerun with the same configuration (``--force`` redoes it). Output folders are written
under a temporary name and renamed when complete, so a partial output is never taken for a finished one.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import logging
import time

import pandas as pd
from importlib import resources
from pathlib import Path
from typing import Callable

from udip_gwas import config as _config
from udip_gwas import layout, runinfo
from udip_gwas.exceptions import UdipGwasError

log = logging.getLogger("udip_gwas.pipeline")

#: pipeline order
PIPELINE = layout.STAGES


class StageNotAvailable(UdipGwasError):
    """The stage is not part of this release yet."""

    def __str__(self) -> str:
        return f"stage '{self.args[0]}' is not available in this release yet"


# --- stages ---------------------------------------------------------------------------------------


def stage_simulate(cfg: dict, out: Path) -> dict:
    from udip_gwas.simulation.cohort import SimulationParams, simulate_cohort

    params = SimulationParams.from_config(cfg)
    update, close = _step_progress()
    try:
        return simulate_cohort(out, params, progress=lambda done, total: update("simulate: rendering images",
                                                                                done, total))
    finally:
        close()


def stage_report(cfg: dict, out: Path) -> dict:
    """The report stage; with ``report.truth`` (a simulation's truth file) it adds the comparison with the
    planted loci, which belongs to the demo, not to the annotation library."""
    from udip_gwas.annotation.stages import run_report

    truth = cfg["report"]["truth"]
    if not (truth and Path(truth).exists()):
        return run_report(cfg, out)
    from udip_gwas.simulation.truth import truth_section

    files = layout.ReportFiles(out)
    gwas = layout.discovery_gwas(cfg["loci"]["gwas"] or layout.stage_dir(cfg["run"]["out"], "gwas"), required=False)
    perdi = layout.PerdiFiles(Path(cfg["report"]["perdi"] or layout.stage_dir(cfg["run"]["out"], "perdi")))
    outputs = run_report(cfg, out, sections=[truth_section(truth, files, joint_lambda=gwas.joint_lambda_gc,
                                                           locus_scores=perdi.locus_region_scores,
                                                           locus_views=perdi.locus_views)])
    return {**outputs, "truth_comparison": str(files.truth_comparison), "truth_summary": str(files.truth_summary)}


def _step_progress():
    from tqdm.auto import tqdm

    state: dict = {"bar": None, "desc": None}

    def update(desc: str, done: int, total: int) -> None:
        if state["desc"] != desc:
            if state["bar"] is not None:
                state["bar"].close()
            state["bar"] = tqdm(total=total, desc=desc, dynamic_ncols=True, leave=False)
            state["desc"] = desc
        state["bar"].update(done - state["bar"].n)

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].close()

    return update, close


def _stage(module: str, function: str, *, progress: bool) -> Callable[[dict, Path], dict]:
    """A stage runner that imports its module only when it runs (keeps ``udip-gwas --help`` fast) and,
    for long stages, shows tqdm progress bars."""

    def run(cfg: dict, out: Path) -> dict:
        fn = getattr(importlib.import_module(module), function)
        if not progress:
            return fn(cfg, out)
        update, close = _step_progress()
        try:
            return fn(cfg, out, progress=update)
        finally:
            close()

    return run


STAGE_FUNCTIONS: dict[str, Callable[[dict, Path], dict]] = {
    "simulate": stage_simulate,
    "train": _stage("udip_gwas.imaging.stages", "run_train", progress=True),
    "extract": _stage("udip_gwas.imaging.stages", "run_extract", progress=True),
    "gwas": _stage("udip_gwas.genetics.stages", "run_gwas", progress=False),
    "loci": _stage("udip_gwas.genetics.stages", "run_loci", progress=False),
    "perdi": _stage("udip_gwas.annotation.stages", "run_perdi", progress=True),
    "report": stage_report,
}


#: configuration sections whose values can change a stage's results (execution settings such as [hail] or
#: devices do not belong here); upstream stages enter through their own hashes
STAGE_INPUTS: dict[str, tuple[str, ...]] = {
    "simulate": ("simulate",), "train": ("train",), "extract": ("extract",),
    "gwas": ("gwas", "replication"), "loci": ("loci", "replication", "novelty", "gwas", "report"),
    "perdi": ("perdi",), "report": ("report", "gwas"),
}


def _config_hash(cfg: dict, stage: str, upstream: list[str]) -> str:
    relevant = {k: cfg[k] for k in STAGE_INPUTS.get(stage, tuple(cfg))}
    relevant.update(seed=cfg["run"]["seed"], stage=stage, upstream=upstream)
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_stage(stage: str, cfg: dict, *, out: Path | None = None, force: bool = True,
              upstream: list[str] | None = None) -> dict:
    """Run one stage into ``out`` (default: the run's ``--out`` folder itself).

    With ``force=False`` the stage is skipped when ``out/.done.json`` records the same configuration and
    upstream stages; the marker is written only after the stage finished, so an interrupted stage reruns.
    """
    if stage not in STAGE_FUNCTIONS:
        raise StageNotAvailable(stage)
    base = Path(cfg["run"]["out"])
    out = Path(out) if out is not None else base
    marker = out / ".done.json"
    digest = _config_hash(cfg, stage, upstream or [])
    if not force and marker.exists():
        done = json.loads(marker.read_text())
        if done.get("config_hash") == digest:
            log.info("stage %s: up to date in %s (use --force to redo)", stage, out)
            return done["outputs"]
    if marker.exists():
        marker.unlink()
    runinfo.start_stage(cfg, stage, seeds={stage: runinfo.stage_seed(cfg["run"]["seed"], stage)})
    t0 = time.time()
    outputs = STAGE_FUNCTIONS[stage](cfg, out)
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp = marker.with_suffix(f".{os.getpid()}.tmp")  # DDP ranks both finish the stage
    tmp.write_text(json.dumps({"stage": stage, "config_hash": digest, "seconds": round(time.time() - t0, 1),
                               "outputs": outputs}, indent=2, default=str) + "\n")
    tmp.replace(marker)
    log.info("stage %s: done in %.1f s", stage, time.time() - t0)
    return outputs


def wire(cfg: dict) -> dict:
    """Fill every input key the user left unset with the output of the stage before it
    (:mod:`udip_gwas.layout` names the files); keys the user set are never changed."""
    cfg = _config.merge(cfg, {}, source="pipeline")
    base = Path(cfg["run"]["out"])
    stage = {name: layout.stage_dir(base, name) for name in layout.STAGES}

    def setdefault(section: str, key: str, value) -> None:
        if cfg[section][key] in (None, [], {}):
            cfg[section][key] = value

    if cfg["gwas"]["genotypes"] is None:  # no real data given: the simulated cohort
        sim = layout.SimulateFiles(stage["simulate"])
        for section, key, value in (
                ("train", "images", sim.manifest("train")), ("extract", "images", sim.manifest("discovery")),
                ("extract", "replication_images", sim.manifest("replication")),
                ("gwas", "genotypes", sim.genotypes("discovery")), ("gwas", "covariates", sim.covariates("discovery")),
                ("replication", "genotypes", sim.genotypes("replication")),
                ("replication", "covariates", sim.covariates("replication")),
                ("novelty", "prior_hits", sim.prior_hits), ("report", "genes", sim.genes),
                ("report", "truth", sim.truth)):
            setdefault(section, key, str(value))
    modalities = cfg["train"]["modalities"]
    setdefault("extract", "checkpoints", {m: str(layout.checkpoint(stage["train"], m)) for m in modalities})
    udips = {c: {m: str(layout.udip_table(stage["extract"], c, m)) for m in modalities} for c in layout.COHORTS}
    setdefault("gwas", "phenotypes", list(udips["discovery"].values()))
    if cfg["replication"]["genotypes"] and cfg["extract"]["replication_images"]:
        setdefault("replication", "phenotypes", list(udips["replication"].values()))
    setdefault("loci", "gwas", str(stage["gwas"]))
    setdefault("perdi", "checkpoints", dict(cfg["extract"]["checkpoints"]))
    setdefault("perdi", "udips", {m: str(layout.udip_table(stage["extract"], "discovery", m))
                                  for m in cfg["perdi"]["checkpoints"]})
    loci_table = str(layout.LociFiles(stage["loci"]).loci())
    setdefault("perdi", "loci", loci_table)
    # the linear decoder is fitted on the perturbed subjects' images; the locus maps' direct view regresses them
    if cfg["perdi"]["decoder"] == "linear" or (cfg["perdi"]["locus_maps"] and cfg["perdi"]["direct_view"]):
        setdefault("perdi", "images", cfg["extract"]["images"])
    setdefault("report", "loci", loci_table)
    setdefault("report", "perdi", str(stage["perdi"]))
    setdefault("report", "gwas", str(stage["gwas"]))
    return cfg


def run_pipeline(cfg: dict, *, force: bool = False, simulate: bool | None = None) -> dict[str, dict]:
    """Chain the stages into sub-folders of the run's output folder; skip those already up to date."""
    base = Path(cfg["run"]["out"])
    simulate = cfg["gwas"]["genotypes"] is None if simulate is None else simulate
    cfg = wire(cfg)
    runinfo.start_stage(cfg, "run")
    results: dict[str, dict] = {}
    upstream: list[str] = []
    for stage in PIPELINE:
        if stage == "simulate" and not simulate:
            continue
        log.info("=== stage %s ===", stage)
        folder = layout.stage_dir(base, stage)
        results[stage] = run_stage(stage, cfg, out=folder, force=force, upstream=upstream)
        upstream.append(json.loads((folder / ".done.json").read_text())["config_hash"])
    return results


def demo_config(out: str | Path) -> dict:
    """The built-in demo configuration with its output folder set."""
    text = resources.files("udip_gwas.data").joinpath("demo.toml").read_text()
    path = Path(out)
    path.mkdir(parents=True, exist_ok=True)
    (path / "demo_config.toml").write_text(text)
    return _config.load(path / "demo_config.toml", {"run": {"out": str(path.resolve())}})


def run_demo(out: str | Path = "udip_demo", *, force: bool = False) -> dict[str, dict]:
    """Simulate the demo cohort and run every available stage on it."""
    cfg = demo_config(out)
    t0 = time.time()
    results = run_pipeline(cfg, force=force)
    print(f"\nudip-gwas demo finished in {(time.time() - t0) / 60:.1f} min; outputs in {Path(out).resolve()}")
    print_truth_comparison(results)
    return results


def print_truth_comparison(results: dict[str, dict]) -> None:
    """The report's path and, for a simulated cohort (``report.truth``), the comparison with the planted truth."""
    from udip_gwas.simulation.truth import format_summary

    report = results.get("report") or {}
    if report.get("html"):
        print(f"report: {report['html']}")
    if report.get("truth_comparison"):
        per = pd.read_csv(report["truth_comparison"], sep="\t")
        summary = json.loads(Path(report["truth_summary"]).read_text())
        print("comparison with the planted truth:\n" + format_summary(per, summary))

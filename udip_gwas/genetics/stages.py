"""The ``gwas`` and ``loci`` stages: configuration in, files out.

``gwas`` writes, under its output folder::

    gwas.ht/                          Hail Table of every dimension (see association.py)
    combined.tsv.gz (+ .tsv-meta.yaml) per variant: the dimension with the smallest p
    dimensions/<dim>.tsv.gz (+ meta)  GWAS-SSF per dimension ('gwas.per_dimension_tsv')
    lambda_gc.tsv                     dimension, lambda_gc
    samples.tsv                       IID of the analysed samples
    summary.json                      sample join counts, variant QC counts, covariates, transform, timing
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from udip_gwas import runinfo
from udip_gwas.exceptions import ConfigError, NoSubjectsLeftError

log = logging.getLogger(__name__)


def start_hail(cfg: dict) -> None:
    from udip_gwas.genetics.hail_context import init_hail

    h = dict(cfg["hail"])
    base = Path(cfg["run"]["out"])
    if h["tmp_dir"] is None:
        h["tmp_dir"] = str((base / "tmp" / "hail").resolve())
    if h["local_tmpdir"] is None:
        h["local_tmpdir"] = h["tmp_dir"] if "://" not in h["tmp_dir"] else None
    init_hail(h, log_dir=base / "logs", seed=runinfo.stage_seed(cfg["run"]["seed"], "hail"))


def run_gwas_cohort(cfg: dict, out: Path, *, genotypes: str, phenotypes: list[str], covariates: str | None,
                    cohort: str) -> dict:
    """One cohort's GWAS of every dimension (the discovery run, or a replication run)."""
    import hail as hl

    from udip_gwas.genetics.association import gwas_all_dimensions, lambda_gc
    from udip_gwas.genetics.genotypes import import_genotypes
    from udip_gwas.genetics.phenotypes import build_analysis_set, read_covariates, read_id_list, read_udip_tables
    from udip_gwas.genetics.sumstats import write_combined_tsv, write_dimension_tsv

    g = cfg["gwas"]
    base = Path(cfg["run"]["out"])
    t0 = time.time()
    start_hail(cfg)
    out.mkdir(parents=True, exist_ok=True)
    udips = read_udip_tables(phenotypes)
    cov = read_covariates(covariates) if covariates else None
    mt = import_genotypes(genotypes, fmt=g["genotype_format"], reference_genome=g["reference_genome"],
                          sample_file=g["sample_file"])
    samples = [str(s) for s in mt.s.collect()]
    analysis = build_analysis_set(
        udips, cov, samples, covariate_columns=g["covariate_columns"] or None,
        categorical=g["categorical_covariates"], keep=read_id_list(g["keep"]) if g["keep"] else None,
        remove=read_id_list(g["remove"]) if g["remove"] else None, transform=g["transform"],
        source=str(covariates))
    runinfo.record_exclusions(base, analysis.excluded, stage="gwas", cohort=cohort)
    n_min = len(analysis.covariates) + 3
    if len(analysis.table) < n_min:
        raise NoSubjectsLeftError(f"gwas {cohort}: {len(analysis.table)} subjects left after the sample join, need "
                                  f"at least {n_min}; reasons in {base / runinfo.EXCLUSIONS_FILE}")
    analysis.table[["IID"]].to_csv(out / "samples.tsv", sep="\t", index=False)
    log.info("gwas %s: %d samples, %d dimensions, covariates: %s", cohort, len(analysis.table),
             len(analysis.phenotypes), ", ".join(analysis.covariates) or "none")
    qc = dict(min_maf=g["min_maf"], min_mac=g["min_mac"], min_call_rate=g["min_call_rate"], min_info=g["min_info"],
              hwe_p=g["hwe_p"])
    ht = gwas_all_dimensions(mt, analysis, qc=qc, block_size=g["block_size"])
    ht_path = out / "gwas.ht"
    tmp_path = out / "gwas.ht.partial"
    ht.write(str(tmp_path), overwrite=True)
    if ht_path.exists():
        shutil.rmtree(ht_path)
    tmp_path.rename(ht_path)
    t_assoc = time.time() - t0
    ht = hl.read_table(str(ht_path))
    qc_counts = {k: int(v) for k, v in ht.aggregate(hl.agg.counter(hl.or_else(ht.qc_fail, "pass"))).items()}
    log.info("variant QC: %d variants, %d pass; removed %s", sum(qc_counts.values()), qc_counts.get("pass", 0),
             {k: v for k, v in qc_counts.items() if k != "pass"} or "none")
    lambdas = lambda_gc(ht)
    pd.DataFrame({"dimension": analysis.phenotypes, "lambda_gc": lambdas}).to_csv(
        out / "lambda_gc.tsv", sep="\t", index=False, float_format="%.4f")
    log.info("lambda GC: median %.3f (range %.3f-%.3f)", np.nanmedian(lambdas), np.nanmin(lambdas),
             np.nanmax(lambdas))
    meta = dict(n_samples=len(analysis.table), genome_assembly=g["reference_genome"],
                covariates=analysis.covariates, transform=g["transform"])
    write_combined_tsv(ht, out / "combined.tsv.gz", meta=meta)
    mode = g["per_dimension_tsv"]
    dims = list(analysis.phenotypes)
    if mode == "significant":
        best = ht.aggregate(hl.agg.array_agg(lambda x: hl.agg.max(x), ht.neg_log_10_p_value))
        dims = [d for d, b in zip(dims, best) if b is not None and b > -np.log10(5e-8)]
    if mode != "none":
        (out / "dimensions").mkdir(exist_ok=True)
        for d in dims:
            write_dimension_tsv(ht, analysis.phenotypes.index(d), d, out / "dimensions" / f"{d}.tsv.gz", meta=meta)
        log.info("wrote %d per-dimension GWAS-SSF files", len(dims))
    summary = {
        "cohort": cohort, "genotypes": genotypes, "phenotypes": phenotypes, "covariates_file": covariates,
        "sample_counts": analysis.counts, "n_excluded": len(analysis.excluded), "variant_qc": qc_counts,
        "dimensions": analysis.phenotypes, "covariates": analysis.covariates, "transform": g["transform"],
        "dof": int(hl.eval(ht.dof)), "lambda_gc_median": float(np.nanmedian(lambdas)),
        "seconds_association": round(t_assoc, 1), "seconds_total": round(time.time() - t0, 1),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return {"ht": str(ht_path), "combined": str(out / "combined.tsv.gz"), "summary": str(out / "summary.json"),
            "lambda_gc": str(out / "lambda_gc.tsv")}


def run_gwas(cfg: dict, out: Path) -> dict:
    g = cfg["gwas"]
    if not g["genotypes"]:
        raise ConfigError("gwas: key 'gwas.genotypes' is required")
    if not g["phenotypes"]:
        raise ConfigError("gwas: key 'gwas.phenotypes' (UDIP tables) is required")
    result = {"discovery": run_gwas_cohort(cfg, out / "discovery" if cfg["replication"]["genotypes"] else out,
                                           genotypes=g["genotypes"], phenotypes=g["phenotypes"],
                                           covariates=g["covariates"], cohort="discovery")}
    r = cfg["replication"]
    if r["genotypes"]:
        if not r["phenotypes"]:
            raise ConfigError("gwas: 'replication.genotypes' is set but 'replication.phenotypes' is not")
        result["replication"] = run_gwas_cohort(cfg, out / "replication", genotypes=r["genotypes"],
                                                phenotypes=r["phenotypes"], covariates=r["covariates"],
                                                cohort="replication")
    return result

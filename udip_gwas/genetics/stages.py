"""The ``gwas`` and ``loci`` stages: settings in, topic functions called, files out.

``gwas`` writes, per cohort (:class:`udip_gwas.layout.GwasFiles`)::

    gwas.ht/                          Hail Table of every dimension (see association.py)
    combined.tsv.gz (+ .tsv-meta.yaml) per variant: the dimension with the smallest p
    dimensions/<dim>.tsv.gz (+ meta)  GWAS-SSF per dimension ('gwas.per_dimension_tsv')
    lambda_gc.tsv                     dimension, lambda_gc
    samples.tsv                       IID of the analysed samples and their covariates (the design's columns)
    summary.json                      sample join counts, variant QC counts, covariates, transform, timing

``loci`` writes :class:`udip_gwas.layout.LociFiles`: loci, clumps and independent SNPs at the Bonferroni and
the plain genome-wide threshold, the candidate variants, their LD pairs, and the plots.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from udip_gwas import layout, runinfo
from udip_gwas.config import check_replication_source, settings
from udip_gwas.exceptions import ConfigError, InputError, NoSubjectsLeftError

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


def _analysis_set(cfg: dict, samples: list[str], *, phenotypes: list[str], covariates: str | None, cohort: str,
                  tables: tuple):
    """The joined, transformed samples of one cohort; exclusions recorded; too few subjects refused."""
    from udip_gwas.genetics.phenotypes import build_analysis_set

    g, base = settings(cfg, "gwas"), Path(cfg["run"]["out"])
    udips, cov, keep, remove = tables
    analysis = build_analysis_set(
        udips, cov, samples, covariate_columns=g.covariate_columns or None, categorical=g.categorical_covariates,
        keep=keep, remove=remove, transform=g.transform, source=str(covariates))
    runinfo.record_exclusions(base, analysis.excluded, stage="gwas", cohort=cohort)
    n_min = len(analysis.covariates) + 3
    if len(analysis.table) < n_min:
        raise NoSubjectsLeftError(f"gwas {cohort}: {len(analysis.table)} subjects left after the sample join, need "
                                  f"at least {n_min}; reasons in {base / layout.EXCLUSIONS_FILE}")
    log.info("gwas %s: %d samples, %d dimensions, covariates: %s", cohort, len(analysis.table),
             len(analysis.phenotypes), ", ".join(analysis.covariates) or "none")
    return analysis


def _without_degenerate_dimensions(analysis, files: layout.GwasFiles, cohort: str):
    """Leave out the dimensions with nothing to test (written with their reasons to dimensions_excluded.tsv)."""
    from udip_gwas.genetics.association import degenerate_dimensions
    from udip_gwas.genetics.phenotypes import without_dimensions

    bad = degenerate_dimensions(analysis)
    bad.to_csv(files.dimensions_excluded, sep="\t", index=False)
    if bad.empty:
        return analysis, bad
    for row in bad.itertuples():
        log.warning("gwas %s: dimension %s left out: %s", cohort, row.dimension, row.reason)
    if len(bad) == len(analysis.phenotypes):
        raise NoSubjectsLeftError(f"gwas {cohort}: no dimension left to test; reasons in {files.dimensions_excluded}")
    analysis = without_dimensions(analysis, bad["dimension"].tolist())
    log.info("gwas %s: %d dimensions tested (the Bonferroni divisor), %d left out", cohort,
             len(analysis.phenotypes), len(bad))
    return analysis, bad


def _read_tables(cfg: dict, *, phenotypes: list[str], covariates: str | None, cohort: str) -> tuple:
    """UDIP, covariate and sample-list tables, read before Hail starts so a malformed one fails in seconds.
    The replication cohort's own sample lists where given, else the discovery's (one biobank split in two)."""
    from udip_gwas.genetics.phenotypes import read_covariates, read_id_list, read_udip_tables

    g, r = settings(cfg, "gwas"), settings(cfg, "replication")
    lists = {k: (getattr(r, k) if cohort == "replication" else None) or getattr(g, k) for k in ("keep", "remove")}
    return (read_udip_tables(phenotypes), read_covariates(covariates) if covariates else None,
            read_id_list(lists["keep"]) if lists["keep"] else None,
            read_id_list(lists["remove"]) if lists["remove"] else None)


def _write_table(ht, path: Path) -> None:
    """Write a Hail Table under a temporary name, then rename it into place."""
    tmp = path.with_name(path.name + ".partial")
    ht.write(str(tmp), overwrite=True)
    if path.exists():
        shutil.rmtree(path)
    tmp.rename(path)


def _association(cfg: dict, files: layout.GwasFiles, *, genotypes: str, phenotypes: list[str],
                 covariates: str | None, cohort: str, tables: tuple):
    """Genotypes in, the analysis set joined, the association written as ``gwas.ht``; returns the analysis set
    and the dimensions left out."""
    from udip_gwas.genetics.association import gwas_all_dimensions
    from udip_gwas.genetics.genotypes import import_genotypes
    from udip_gwas.genetics.phenotypes import joint_sets

    g = settings(cfg, "gwas")
    mt = import_genotypes(genotypes, fmt=g.genotype_format, reference_genome=g.reference_genome,
                          sample_file=g.sample_file, n_partitions=g.n_partitions, chromosomes=g.chromosomes,
                          work_dir=layout.work_dir(cfg) / "genotypes", excluded_out=files.variants_excluded)
    samples = [str(s) for s in mt.s.collect()]
    analysis = _analysis_set(cfg, samples, phenotypes=phenotypes, covariates=covariates, cohort=cohort,
                             tables=tables)
    analysis, left_out = _without_degenerate_dimensions(analysis, files, cohort)
    # with the design's covariate columns: the locus maps' direct view (perdi) adjusts for the same covariates
    analysis.table[["IID"] + analysis.covariates].to_csv(files.samples, sep="\t", index=False, float_format="%.10g")
    qc = dict(min_maf=g.min_maf, min_mac=g.min_mac, min_call_rate=g.min_call_rate, min_info=g.min_info,
              hwe_p=g.hwe_p)
    sets = joint_sets(phenotypes, analysis.phenotypes) if g.joint_test else None
    _write_table(gwas_all_dimensions(mt, analysis, qc=qc, block_size=g.block_size, engine=g.engine,
                                     samples=samples, joint_sets=sets), files.table)
    return analysis, left_out


def run_gwas_cohort(cfg: dict, out: Path, *, genotypes: str, phenotypes: list[str], covariates: str | None,
                    cohort: str) -> dict:
    """One cohort's GWAS of every dimension (the discovery run, or a replication run)."""
    import hail as hl

    from udip_gwas.genetics.association import summarise_results
    from udip_gwas.genetics.hail_context import hail_errors
    from udip_gwas.genetics.sumstats import write_joint, write_sumstats

    g, files, t0 = settings(cfg, "gwas"), layout.GwasFiles(out), time.time()
    tables = _read_tables(cfg, phenotypes=phenotypes, covariates=covariates, cohort=cohort)
    start_hail(cfg)
    out.mkdir(parents=True, exist_ok=True)
    with hail_errors(f"gwas {cohort}, genotypes {genotypes}", log_file=runinfo.stage_log(cfg["run"]["out"], "gwas")):
        analysis, left_out = _association(cfg, files, genotypes=genotypes, phenotypes=phenotypes,
                                          covariates=covariates, cohort=cohort, tables=tables)
        t_assoc = time.time() - t0
        ht = hl.read_table(str(files.table))
        summary = summarise_results(ht, best_per_dimension=g.per_dimension_tsv == "significant")
        pd.DataFrame({"dimension": analysis.phenotypes, "lambda_gc": summary["lambda_gc"]}).to_csv(
            files.lambda_gc, sep="\t", index=False, float_format="%.4f")
        engine, dof = hl.eval((ht.engine, ht.dof))  # one evaluation for both globals
        meta = dict(n_samples=len(analysis.table), genome_assembly=g.reference_genome,
                    covariates=analysis.covariates, transform=g.transform, software_note=f", engine {engine}")
        write_sumstats(ht, files, dimensions=list(analysis.phenotypes), selection=g.per_dimension_tsv,
                       best_nlp=summary["best_nlp"], meta=meta)
        write_joint(ht, files, sets=summary["joint_sets"], lambdas=summary["joint_lambda_gc"], meta=meta)
    files.summary.write_text(json.dumps({
        "cohort": cohort, "genotypes": genotypes, "phenotypes": phenotypes, "covariates_file": covariates,
        "sample_counts": analysis.counts, "n_excluded": len(analysis.excluded), "variant_qc": summary["qc"],
        "dimensions": analysis.phenotypes, "dimensions_excluded": left_out.to_dict("records"),
        "n_dimensions_tested": len(analysis.phenotypes), "covariates": analysis.covariates,
        "covariates_dropped_constant": analysis.dropped_covariates, "transform": g.transform,
        "chromosomes": g.chromosomes, "dof": int(dof), "engine": engine,
        "lambda_gc_median": float(np.nanmedian(summary["lambda_gc"])),
        "joint_test": [dict(name=s.name, n_dimensions=len(s.dimensions), df1=s.df1, df2=s.df2,
                            dropped_directions=s.dropped_directions, lambda_gc=round(lam, 4))
                       for s, lam in zip(summary["joint_sets"], summary["joint_lambda_gc"])],
        "seconds_association": round(t_assoc, 1), "seconds_total": round(time.time() - t0, 1),
    }, indent=2) + "\n")
    return {"ht": str(files.table), "combined": str(files.combined), "summary": str(files.summary),
            "lambda_gc": str(files.lambda_gc)}


def run_gwas(cfg: dict, out: Path) -> dict:
    g, r = settings(cfg, "gwas"), settings(cfg, "replication")
    if not g.genotypes:
        raise ConfigError("gwas: key 'gwas.genotypes' is required")
    if not g.phenotypes:
        raise ConfigError("gwas: key 'gwas.phenotypes' (UDIP tables) is required")
    if r.genotypes and not r.phenotypes:
        raise ConfigError("gwas: 'replication.genotypes' is set but 'replication.phenotypes' is not")
    with_rep = bool(r.genotypes)
    result = {"discovery": run_gwas_cohort(
        cfg, layout.gwas_cohort_dir(out, "discovery", with_replication=with_rep), genotypes=g.genotypes,
        phenotypes=g.phenotypes, covariates=g.covariates, cohort="discovery")}
    if with_rep:
        result["replication"] = run_gwas_cohort(
            cfg, layout.gwas_cohort_dir(out, "replication", with_replication=True), genotypes=r.genotypes,
            phenotypes=r.phenotypes, covariates=r.covariates, cohort="replication")
    return result


# --- loci ----------------------------------------------------------------------------------------


def _ld_genotypes(cfg: dict, gwas: layout.GwasFiles, summary: dict, *, study: bool = False):
    """The genotypes LD comes from: ``loci.ld_reference``, else (or with ``study``) the study's own on its analysed
    samples."""
    from udip_gwas.genetics.genotypes import import_genotypes
    from udip_gwas.genetics.ld import restrict_to_samples

    lc, g = settings(cfg, "loci"), settings(cfg, "gwas")
    rules = dict(reference_genome=g.reference_genome, chromosomes=g.chromosomes,
                 work_dir=layout.work_dir(cfg) / "genotypes")
    if lc.ld_reference and not study:
        return import_genotypes(lc.ld_reference, fmt="plink", **rules)
    mt = import_genotypes(summary["genotypes"], fmt=g.genotype_format, sample_file=g.sample_file, **rules)
    return restrict_to_samples(mt, pd.read_csv(gwas.samples, sep="\t", dtype=str)["IID"].tolist())


def _write_lead_dosages(cfg: dict, files: layout.LociFiles, gwas: layout.GwasFiles, loci: pd.DataFrame, ld_mt) -> None:
    """``lead_dosages.tsv.gz``: the GWAS's analysed subjects, its covariates (the design's columns, from samples.tsv)
    and each lead's dosage, for the locus maps' direct view (perdi)."""
    from udip_gwas.genetics.loci import lead_dosages

    if loci.empty:
        return
    summary = json.loads(gwas.summary.read_text())
    design = pd.read_csv(gwas.samples, sep="\t", dtype={"IID": str})
    lacking = [c for c in summary.get("covariates", []) if c not in design.columns]
    if lacking:
        log.warning("loci: %s lacks the covariate column(s) %s (written by an older gwas stage); no "
                    "lead_dosages.tsv.gz, "
                    "so no direct view of the locus maps until the gwas stage is rerun", gwas.samples, lacking)
        return
    study = _ld_genotypes(cfg, gwas, summary, study=True) if settings(cfg, "loci").ld_reference else ld_mt
    design.merge(lead_dosages(study, loci), on="IID", how="left").to_csv(
        files.lead_dosages, sep="\t", index=False, float_format="%.10g", na_rep="NA")


def _replication(cfg: dict, loci: pd.DataFrame, gwas: layout.GwasFiles, sets: list) -> pd.DataFrame:
    """``loci`` with the replication columns, from summary statistics or a replication gwas table when either
    is there; unchanged otherwise. With the joint test, the leads' joint test too (:func:`replicate_joint`)."""
    from udip_gwas.genetics.replication import (discovery_betas, log_replication, read_replication_gwas,
                                                read_replication_joint_gwas, read_replication_joint_sumstats,
                                                read_replication_sumstats, replicate, replicate_joint)

    r = settings(cfg, "replication")
    rep = layout.GwasFiles(Path(r.gwas)) if r.gwas else layout.replication_gwas(gwas)
    if r.gwas and not rep.table.exists():
        raise InputError(f"replication: no gwas.ht in {rep.root}")
    if loci.empty or not (r.sumstats or rep.table.exists()):
        return loci
    source = r.sumstats or rep.root
    stats = read_replication_sumstats(r.sumstats, loci) if r.sumstats else read_replication_gwas(loci, rep.table)
    out = replicate(loci, stats, alpha=r.alpha)
    if sets:
        betas = discovery_betas(gwas.table, loci)
        if r.sumstats:
            joint, info = read_replication_joint_sumstats(
                r.sumstats, loci, {s.name: list(s.dimensions) for s in sets}, discovery_betas=betas,
                z_correlation=r.z_correlation)
            for name, i in info.items():
                log.info("replication joint test of %s from summary statistics: z correlation from %s, df %s, %s "
                         "direction(s) dropped", name, i.get("z_correlation"), i.get("df"), i.get("dropped_directions"))
        else:
            joint = read_replication_joint_gwas(loci, gwas.table, rep.table, discovery_betas=betas)
        out = replicate_joint(out, joint, alpha=r.alpha)
    log_replication(source, out)
    return out


def _novelty(cfg: dict, loci_sets: dict[str, pd.DataFrame], ht, ld_mt) -> dict[str, pd.DataFrame]:
    """Known/novel per locus against ``novelty.prior_hits`` (one LD computation for every threshold's leads)."""
    from udip_gwas.genetics.novelty import annotate_novelty, log_novelty, prior_hits_in_ld, read_prior_hits

    nv, build = settings(cfg, "novelty"), settings(cfg, "gwas").reference_genome
    non_empty = [df for df in loci_sets.values() if not df.empty]
    if not nv.prior_hits or not non_empty:
        return loci_sets
    prior = read_prior_hits(nv.prior_hits, reference_genome=build)
    in_ld = prior_hits_in_ld(pd.concat(non_empty), prior, ht, ld_mt, radius_kb=nv.ld_window_kb, min_r2=nv.ld_r2,
                             reference_genome=build)
    out = {}
    for name, loci in loci_sets.items():
        out[name] = loci if loci.empty else annotate_novelty(loci, prior, window_kb=nv.window_kb, ld_with_lead=in_ld)
        if not loci.empty:
            log_novelty(out[name])
    return out


def _regional(cfg: dict, files: layout.LociFiles, ht, ld_mt, loci: pd.DataFrame, independent: pd.DataFrame,
              dims: list[str], thresholds: dict[str, float], n_dims: int) -> None:
    """Per locus, ``regional/<locus_id>.tsv`` and its regional plot (``loci.regional_plots``)."""
    from udip_gwas.fileformats import check_build, read_genes
    from udip_gwas.genetics import regional
    from udip_gwas.genetics.plots import write_regional_plots

    lc, g, r = settings(cfg, "loci"), settings(cfg, "gwas"), settings(cfg, "report")
    if not lc.regional_plots or loci.empty:
        return
    t0 = time.time()
    win = regional.windows(loci, margin_kb=lc.regional_margin_kb)
    table = regional.regional_table(
        regional.window_statistics(ht, loci, win, dims, reference_genome=g.reference_genome),
        regional.r2_with_leads(ld_mt, loci, win, reference_genome=g.reference_genome))
    files.regional.mkdir(exist_ok=True)
    for locus_id, part in table.groupby("locus_id"):
        regional.write_table(part, files.regional_table(locus_id))
    genes = None
    if r.genes:
        genes, build = read_genes(r.genes, fmt=r.gene_format)
        check_build(build, g.reference_genome, source=r.genes)
    write_regional_plots(table, loci, independent, regional.lead_strips(ht, loci, dims), genes,
                         thresholds={f"{lc.p_threshold:g}": thresholds["genome_wide"],
                                     f"{lc.p_threshold:g}/{n_dims}": thresholds["bonferroni"]}, files=files)
    log.info("regional plots of %d loci in %s (%.1f s)", len(loci), files.regional, time.time() - t0)


def _tests(lc, sets: list, gwas: layout.GwasFiles) -> tuple[list, tuple[str, ...]]:
    """The joint sets and the tests loci come from (``loci.test``; per_dimension where the table has no joint
    test and ``both`` was asked)."""
    if lc.test == "joint" and not sets:
        raise InputError(f"loci.test = 'joint', but {gwas.table} has no joint test: rerun the gwas stage with "
                         "gwas.joint_test = true")
    if not sets:
        if lc.test == "both":
            log.info("loci: %s has no joint test; loci from the per-dimension test", gwas.table)
        return [], ("per_dimension",)
    return sets, {"per_dimension": ("per_dimension",), "joint": ("joint",),
                  "both": ("per_dimension", "joint")}[lc.test]


def run_loci(cfg: dict, out: Path) -> dict:
    from udip_gwas.genetics.hail_context import hail_errors

    lc, files = settings(cfg, "loci"), layout.LociFiles(out)
    check_replication_source(cfg)  # again: a demo run fills in replication.genotypes after loading
    gwas = layout.discovery_gwas(lc.gwas or layout.stage_dir(cfg["run"]["out"], "gwas"))
    out.mkdir(parents=True, exist_ok=True)
    start_hail(cfg)
    with hail_errors(f"loci, gwas table {gwas.table}", log_file=runinfo.stage_log(cfg["run"]["out"], "loci")):
        return _loci(cfg, files, gwas)


def _loci(cfg: dict, files: layout.LociFiles, gwas: layout.GwasFiles) -> dict:
    import hail as hl

    from udip_gwas.genetics.ld import ld_pairs
    from udip_gwas.genetics.association import joint_sets_of
    from udip_gwas.genetics.loci import (call_loci, candidates_table, collect_candidates, lead_effects,
                                         near_significant, top_dimensions)
    from udip_gwas.genetics.plots import write_loci_plots
    from udip_gwas.genome import mhc_region

    lc, g = settings(cfg, "loci"), settings(cfg, "gwas")
    ht = hl.read_table(str(gwas.table))
    dims = list(hl.eval(ht.dimensions))
    n_dims = lc.n_dimensions or len(dims)
    thresholds = {"bonferroni": lc.p_threshold / n_dims, "genome_wide": lc.p_threshold}
    p2 = max(lc.clump_p2, thresholds["bonferroni"])
    sets, tests = _tests(lc, joint_sets_of(ht), gwas)
    joint = {}
    if "joint" in tests:
        n_sets = lc.n_joint_sets or len(sets)
        joint = dict(joint_thresholds={"bonferroni": lc.p_threshold / n_sets, "genome_wide": lc.p_threshold})
        joint["joint_p2"] = max(lc.clump_p2, joint["joint_thresholds"]["bonferroni"])
    cand = near_significant(collect_candidates(ht, p2=p2, thresholds=thresholds, **joint), threshold=lc.p_threshold,
                            kb=lc.clump_kb)
    log.info("loci: %d candidates (p < %.3g) within %d kb of a variant at p < %.3g; Bonferroni over %d dimensions: "
             "p < %.3g", len(cand), p2, lc.clump_kb, lc.p_threshold, n_dims, thresholds["bonferroni"])
    if joint:
        log.info("loci: joint test of %d set(s) (%s), Bonferroni over the sets: p < %.3g; loci from: %s", len(sets),
                 ", ".join(s.name for s in sets), joint["joint_thresholds"]["bonferroni"], " and ".join(tests))
    ld_mt = _ld_genotypes(cfg, gwas, json.loads(gwas.summary.read_text()))
    ld = ld_pairs(ld_mt, cand, radius_bp=lc.clump_kb * 1000, min_r2=min(lc.clump_r2, lc.lead_r2, lc.independent_r2),
                  reference_genome=g.reference_genome)
    ld.to_csv(files.ld_pairs, sep="\t", index=False, float_format="%.4f")
    candidates_table(cand, dims, thresholds).to_csv(files.candidates, sep="\t", index=False)
    called = call_loci(cand, ld, dims, thresholds=thresholds, p2=p2, settings=lc,
                       mhc=mhc_region(g.reference_genome, lc.mhc_start, lc.mhc_end), tests=tests,
                       sets=sets, **joint)
    effects = {name: lead_effects(ht, loci) for name, (loci, _, _) in called.items()}  # one pass each
    for name, (loci, _, _) in called.items():
        loci["top_dimensions"] = top_dimensions(effects[name], loci, sets) if len(loci) else []
    for name, (_, clumps, independent) in called.items():
        clumps.to_csv(files.clumps(name), sep="\t", index=False)
        independent.to_csv(files.independent_snps(name), sep="\t", index=False)
    results = {name: _replication(cfg, loci, gwas, sets) for name, (loci, _, _) in called.items()}
    results = _novelty(cfg, results, ht, ld_mt)
    for name, loci in results.items():
        loci.to_csv(files.loci(name), sep="\t", index=False)
    effects["bonferroni"].to_csv(files.lead_effects, sep="\t", index=False, float_format="%.6g")
    _write_lead_dosages(cfg, files, gwas, results["bonferroni"], ld_mt)
    write_loci_plots(ht, gwas, files, results["bonferroni"], thresholds=thresholds, n_dims=n_dims, dims=dims,
                     dimension_plots=lc.dimension_plots, seed=runinfo.stage_seed(cfg["run"]["seed"], "plots"))
    if joint:
        from udip_gwas.genetics.plots import write_joint_plots

        jt = joint["joint_thresholds"]
        write_joint_plots(gwas, files, results["bonferroni"], sets=sets,
                          thresholds={f"{lc.p_threshold:g}": jt["genome_wide"],
                                      f"{lc.p_threshold:g}/{len(sets)}": jt["bonferroni"]})
    _regional(cfg, files, ht, ld_mt, results["bonferroni"], called["bonferroni"][2], dims, thresholds, n_dims)
    return {"loci": str(files.loci()), "loci_genome_wide": str(files.loci("genome_wide")),
            "n_loci": len(results["bonferroni"]), "threshold": thresholds["bonferroni"], "gwas": str(gwas.root)}

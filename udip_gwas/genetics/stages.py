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
from udip_gwas.config import check_replication_source
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

    from udip_gwas.genetics.association import gwas_all_dimensions, lambda_gc_from_medians, median_nlp_aggregation
    from udip_gwas.genetics.genotypes import import_genotypes
    from udip_gwas.genetics.phenotypes import build_analysis_set, read_covariates, read_id_list, read_udip_tables
    from udip_gwas.genetics.sumstats import write_combined_tsv, write_dimension_tsvs

    g = cfg["gwas"]
    base = Path(cfg["run"]["out"])
    t0 = time.time()
    # the tables first: a malformed one is reported before the JVM starts
    udips = read_udip_tables(phenotypes)
    cov = read_covariates(covariates) if covariates else None
    # sample lists: the replication cohort's own where given, else the discovery's (one biobank split in two)
    lists = {k: (cfg["replication"][k] if cohort == "replication" else None) or g[k] for k in ("keep", "remove")}
    keep = read_id_list(lists["keep"]) if lists["keep"] else None
    remove = read_id_list(lists["remove"]) if lists["remove"] else None
    start_hail(cfg)
    out.mkdir(parents=True, exist_ok=True)
    mt = import_genotypes(genotypes, fmt=g["genotype_format"], reference_genome=g["reference_genome"],
                          sample_file=g["sample_file"], n_partitions=g["n_partitions"])
    samples = [str(s) for s in mt.s.collect()]
    analysis = build_analysis_set(
        udips, cov, samples, covariate_columns=g["covariate_columns"] or None,
        categorical=g["categorical_covariates"], keep=keep, remove=remove, transform=g["transform"],
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
    ht = gwas_all_dimensions(mt, analysis, qc=qc, block_size=g["block_size"], engine=g["engine"],
                             samples=samples)
    ht_path = out / "gwas.ht"
    tmp_path = out / "gwas.ht.partial"
    ht.write(str(tmp_path), overwrite=True)
    if ht_path.exists():
        shutil.rmtree(ht_path)
    tmp_path.rename(ht_path)
    t_assoc = time.time() - t0
    ht = hl.read_table(str(ht_path))
    mode = g["per_dimension_tsv"]
    # one pass over the table for the QC counts, lambda GC and (for mode "significant") each dimension's best p
    aggs = {"qc": hl.agg.counter(hl.or_else(ht.qc_fail, "pass")), "median_nlp": median_nlp_aggregation(ht)}
    if mode == "significant":
        aggs["best_nlp"] = hl.agg.array_agg(lambda x: hl.agg.max(x), ht.neg_log_10_p_value)
    agg = ht.aggregate(hl.struct(**aggs))
    qc_counts = {k: int(v) for k, v in agg.qc.items()}
    log.info("variant QC: %d variants, %d pass; removed %s", sum(qc_counts.values()), qc_counts.get("pass", 0),
             {k: v for k, v in qc_counts.items() if k != "pass"} or "none")
    lambdas = lambda_gc_from_medians(agg.median_nlp)
    pd.DataFrame({"dimension": analysis.phenotypes, "lambda_gc": lambdas}).to_csv(
        out / "lambda_gc.tsv", sep="\t", index=False, float_format="%.4f")
    log.info("lambda GC: median %.3f (range %.3f-%.3f)", np.nanmedian(lambdas), np.nanmin(lambdas),
             np.nanmax(lambdas))
    engine, dof = hl.eval((ht.engine, ht.dof))  # one evaluation for both globals
    meta = dict(n_samples=len(analysis.table), genome_assembly=g["reference_genome"],
                covariates=analysis.covariates, transform=g["transform"], software_note=f", engine {engine}")
    write_combined_tsv(ht, out / "combined.tsv.gz", meta=meta)
    dims = list(analysis.phenotypes)
    if mode == "significant":
        dims = [d for d, b in zip(dims, agg.best_nlp) if b is not None and b > -np.log10(5e-8)]
    if mode != "none":
        write_dimension_tsvs(ht, [analysis.phenotypes.index(d) for d in dims], dims, out / "dimensions", meta=meta)
        log.info("wrote %d per-dimension GWAS-SSF files", len(dims))
    summary = {
        "cohort": cohort, "genotypes": genotypes, "phenotypes": phenotypes, "covariates_file": covariates,
        "sample_counts": analysis.counts, "n_excluded": len(analysis.excluded), "variant_qc": qc_counts,
        "dimensions": analysis.phenotypes, "covariates": analysis.covariates, "transform": g["transform"],
        "dof": int(dof), "engine": engine, "lambda_gc_median": float(np.nanmedian(lambdas)),
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


# --- loci ----------------------------------------------------------------------------------------


def discovery_gwas_folder(path: str | Path, *, required: bool = True) -> Path:
    """The discovery results inside a gwas output folder: ``path/discovery`` when the run had a
    replication cohort, else ``path`` itself. ``required``: raise when no ``gwas.ht`` is there."""
    p = Path(path)
    if (p / "discovery").is_dir():
        p = p / "discovery"
    if required and not (p / "gwas.ht").exists():
        from udip_gwas.exceptions import InputError

        raise InputError(f"no gwas.ht in {p}: run `udip-gwas gwas` first or set 'loci.gwas'")
    return p


def _collect_candidates(ht, *, p2: float, thresholds: dict[str, float]) -> pd.DataFrame:
    """Variants whose smallest p over dimensions is below ``p2``, with their lead statistics and the
    dimensions significant at each threshold."""
    import hail as hl

    ht = ht.filter(hl.is_missing(ht.qc_fail)).key_by()
    ht = ht.annotate(_nlp=hl.max(ht.neg_log_10_p_value), _best=hl.argmax(ht.neg_log_10_p_value))
    ht = ht.filter(ht._nlp > -np.log10(p2))
    nlp = ht.neg_log_10_p_value
    fields = dict(
        variant_id=ht.variant_id, rsid=ht.rsid, chromosome=ht.locus.contig.replace("^chr", ""),
        base_pair_location=ht.locus.position, other_allele=ht.alleles[0], effect_allele=ht.alleles[1],
        effect_allele_frequency=ht.effect_allele_frequency, n=ht.n, neg_log_10_p_value=ht._nlp,
        best_index=ht._best, beta=ht.beta[ht._best], standard_error=ht.standard_error[ht._best],
        p_value=ht.p_value[ht._best],
    )
    for name, p in thresholds.items():
        fields[f"sig_{name}"] = hl.range(hl.len(nlp)).filter(lambda i: nlp[i] > -np.log10(p))
    return ht.select(**fields).to_pandas()


def _p_text(nlp: float) -> str:
    """p from -log10 p with 5 significant digits, as the GWAS-SSF files write it (no underflow below 1e-300)."""
    if nlp < 300:
        return f"{10 ** -nlp:.4e}"
    e = int(np.floor(nlp))
    return f"{10 ** (e - nlp + 1):.4f}e-{e + 1}"


def run_loci(cfg: dict, out: Path) -> dict:
    import hail as hl

    from udip_gwas.genetics.genotypes import import_genotypes
    from udip_gwas.genetics.ld import ld_pairs, restrict_to_samples
    from udip_gwas.genetics.loci import MHC, clump, risk_loci

    lc, g = cfg["loci"], cfg["gwas"]
    check_replication_source(cfg)  # again: a demo run fills in replication.genotypes after loading
    base = Path(cfg["run"]["out"])
    gdir = discovery_gwas_folder(lc["gwas"] or base / "gwas")
    summary = json.loads((gdir / "summary.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    start_hail(cfg)
    ht = hl.read_table(str(gdir / "gwas.ht"))
    dims = list(hl.eval(ht.dimensions))
    n_dims = lc["n_dimensions"] or len(dims)
    thresholds = {"bonferroni": lc["p_threshold"] / n_dims, "genome_wide": lc["p_threshold"]}
    p2 = max(lc["clump_p2"], thresholds["bonferroni"])
    cand = _collect_candidates(ht, p2=p2, thresholds=thresholds)
    cand["lead_dimension"] = [dims[i] for i in cand["best_index"]]
    # only candidates near a genome-wide significant variant matter
    sig = cand[cand["neg_log_10_p_value"] > -np.log10(thresholds["genome_wide"])]
    near = np.zeros(len(cand), dtype=bool)
    for chrom, grp in sig.groupby("chromosome"):
        pos = np.sort(grp["base_pair_location"].to_numpy())
        on = (cand["chromosome"] == chrom).to_numpy()
        x = cand.loc[on, "base_pair_location"].to_numpy()
        k = np.searchsorted(pos, x)
        d = np.minimum(np.abs(x - pos[np.clip(k, 0, len(pos) - 1)]), np.abs(x - pos[np.clip(k - 1, 0, len(pos) - 1)]))
        near[np.flatnonzero(on)[d <= lc["clump_kb"] * 1000]] = True
    cand = cand[near].reset_index(drop=True)
    log.info("loci: %d variants below p %.3g (Bonferroni over %d dimensions), %d below %.3g, %d candidates "
             "(p < %.3g) within %d kb", int((cand["neg_log_10_p_value"] > -np.log10(thresholds["bonferroni"])).sum()),
             thresholds["bonferroni"], n_dims, len(sig), thresholds["genome_wide"], len(cand), p2, lc["clump_kb"])
    # LD from a reference panel or the study's own analysed samples, only around the candidates
    if lc["ld_reference"]:
        ld_mt = import_genotypes(lc["ld_reference"], fmt="plink", reference_genome=g["reference_genome"])
    else:
        ld_mt = import_genotypes(summary["genotypes"], fmt=g["genotype_format"], reference_genome=g["reference_genome"],
                                 sample_file=g["sample_file"])
        samples = pd.read_csv(gdir / "samples.tsv", sep="\t", dtype=str)["IID"].tolist()
        ld_mt = restrict_to_samples(ld_mt, samples)
    min_r2 = min(lc["clump_r2"], lc["lead_r2"], lc["independent_r2"])
    ld = ld_pairs(ld_mt, cand, radius_bp=lc["clump_kb"] * 1000, min_r2=min_r2,
                  reference_genome=g["reference_genome"])
    ld.to_csv(out / "ld_pairs.tsv.gz", sep="\t", index=False, float_format="%.4f")
    mhc = MHC[g["reference_genome"]] if (lc["mhc_start"], lc["mhc_end"]) == MHC["GRCh37"][1:] else \
        ("6", lc["mhc_start"], lc["mhc_end"])
    cand_out = cand.drop(columns=["best_index"]).copy()
    for name in thresholds:
        cand_out[f"dimensions_{name}"] = [",".join(dims[i] for i in s) for s in cand[f"sig_{name}"]]
    cand_out.drop(columns=[f"sig_{n}" for n in thresholds]).to_csv(out / "candidate_variants.tsv", sep="\t",
                                                                   index=False)

    results = {}
    for name, thr in thresholds.items():
        clumps = clump(cand, ld, p1=thr, p2=p2, r2=lc["clump_r2"], kb=lc["clump_kb"])
        loci, independent = risk_loci(cand, ld, threshold=thr, candidate_p=p2, independent_r2=lc["independent_r2"],
                                      lead_r2=lc["lead_r2"], merge_kb=lc["merge_kb"], window_kb=lc["clump_kb"],
                                      mhc=mhc)
        loci = _describe_loci(loci, cand, dims, name, thr)
        suffix = "" if name == "bonferroni" else "_genome_wide"
        clumps.to_csv(out / f"clumps{suffix}.tsv", sep="\t", index=False)
        independent.to_csv(out / f"independent_snps{suffix}.tsv", sep="\t", index=False)
        results[name] = loci
        log.info("loci at p < %.3g (%s): %d significant variants, %d clumps, %d loci (%d in the MHC)", thr, name,
                 int((cand["neg_log_10_p_value"] > -np.log10(thr)).sum()), len(clumps), len(loci),
                 int(loci["mhc"].sum()) if len(loci) else 0)
    results = {name: _add_replication(cfg, loci, gdir) for name, loci in results.items()}
    # one LD computation for the leads of every threshold's loci (each is a pass over the genotypes)
    novelty = _novelty_evidence(cfg, list(results.values()), ht, ld_mt)
    for name, loci in results.items():
        loci = _add_novelty(cfg, loci, novelty)
        results[name] = loci
        suffix = "" if name == "bonferroni" else "_genome_wide"
        loci.to_csv(out / f"loci{suffix}.tsv", sep="\t", index=False)
    _plots(cfg, gdir, out, ht, results["bonferroni"], thresholds, n_dims, dims)
    return {"loci": str(out / "loci.tsv"), "loci_genome_wide": str(out / "loci_genome_wide.tsv"),
            "n_loci": len(results["bonferroni"]), "threshold": thresholds["bonferroni"], "gwas": str(gdir)}


def _describe_loci(loci: pd.DataFrame, cand: pd.DataFrame, dims: list[str], name: str, thr: float) -> pd.DataFrame:
    by_id = cand.set_index("variant_id")
    rows = []
    for r in loci.itertuples():
        lead = by_id.loc[r.lead_variant]
        inside = cand[(cand["chromosome"] == r.chromosome) & cand["base_pair_location"].between(r.start, r.end)]
        significant = inside[inside["neg_log_10_p_value"] > -np.log10(thr)]
        sig_dims = sorted({dims[i] for s in significant[f"sig_{name}"] for i in s})
        rows.append(dict(
            locus_id=r.locus_id, chromosome=r.chromosome, start=r.start, end=r.end, lead_variant=r.lead_variant,
            lead_rsid=lead["rsid"], lead_position=int(lead["base_pair_location"]),
            lead_effect_allele=lead["effect_allele"], lead_other_allele=lead["other_allele"],
            lead_effect_allele_frequency=lead["effect_allele_frequency"], lead_dimension=lead["lead_dimension"],
            lead_beta=lead["beta"], lead_standard_error=lead["standard_error"],
            lead_p_value=_p_text(lead["neg_log_10_p_value"]), lead_neg_log_10_p_value=lead["neg_log_10_p_value"],
            n_significant_variants=len(significant), n_independent_snps=r.n_independent, n_lead_snps=r.n_leads,
            n_dimensions=len(sig_dims), dimensions=",".join(sig_dims), mhc=r.mhc, threshold_p=thr,
        ))
    cols = ["locus_id", "chromosome", "start", "end", "lead_variant", "lead_rsid", "lead_position",
            "lead_effect_allele", "lead_other_allele", "lead_effect_allele_frequency", "lead_dimension", "lead_beta",
            "lead_standard_error", "lead_p_value", "lead_neg_log_10_p_value", "n_significant_variants",
            "n_independent_snps", "n_lead_snps", "n_dimensions", "dimensions", "mhc", "threshold_p"]
    return pd.DataFrame(rows, columns=cols)


def _add_replication(cfg: dict, loci: pd.DataFrame, gdir: Path) -> pd.DataFrame:
    import hail as hl

    from udip_gwas.genetics.replication import read_replication_sumstats, replicate

    r = cfg["replication"]
    if r["sumstats"]:
        if loci.empty:
            return loci
        out = replicate(loci, read_replication_sumstats(r["sumstats"], loci), alpha=r["alpha"])
        _log_replication(r["sumstats"], out)
        return out
    rep_dir = Path(r["gwas"]) if r["gwas"] else gdir.parent / "replication"
    if not (rep_dir / "gwas.ht").exists() or loci.empty:
        if r["gwas"]:
            from udip_gwas.exceptions import InputError

            raise InputError(f"replication: no gwas.ht in {rep_dir}")
        return loci
    rht = hl.read_table(str(rep_dir / "gwas.ht"))
    rdims = list(hl.eval(rht.dimensions))
    # the lead as the replication cohort may have it: its alleles in the other order (PLINK 1.9 makes the
    # cohort's minor allele A1, so two cohorts' files can disagree); the effect is then that of the other allele
    swapped = {}
    for vid in loci["lead_variant"]:
        contig, pos, other, effect = vid.split(":")
        swapped[f"{contig}:{pos}:{effect}:{other}"] = vid
    wanted = hl.literal(set(loci["lead_variant"]) | set(swapped))
    rht = rht.filter(wanted.contains(rht.variant_id) & hl.is_missing(rht.qc_fail)).key_by()
    rows = rht.select("variant_id", "n", "beta", "standard_error", "neg_log_10_p_value").to_pandas()
    long = []
    for x in rows.itertuples():
        vid, sign = (x.variant_id, 1.0) if x.variant_id not in swapped else (swapped[x.variant_id], -1.0)
        for d, dim in enumerate(rdims):
            long.append((vid, dim, sign * x.beta[d], x.standard_error[d], x.neg_log_10_p_value[d], x.n))
    rep = pd.DataFrame(long, columns=["variant_id", "dimension", "beta", "standard_error", "neg_log_10_p_value", "n"])
    n_swapped = int(rows["variant_id"].isin(set(swapped)).sum()) if len(rows) else 0
    if n_swapped:
        log.info("replication: %d lead variant(s) have their alleles in the other order in %s; their betas are "
                 "turned to the discovery's effect allele", n_swapped, rep_dir)
    out = replicate(loci, rep, alpha=r["alpha"])
    _log_replication(rep_dir, out)
    return out


def _log_replication(source, out: pd.DataFrame) -> None:
    log.info("replication (%s): %d of %d loci replicated at p < %.3g, %d nominally, %d not tested", source,
             int(out["replicated"].sum()), len(out), out.attrs.get("replication_threshold_p", np.nan),
             int(out["replicated_nominal"].sum()), int((out["replication_status"] == "not tested").sum()))


def _novelty_evidence(cfg: dict, loci_sets: list[pd.DataFrame], ht, ld_mt):
    """The prior hits and, per lead variant of any of ``loci_sets``, the prior hits in LD with it; None when
    no prior-hit table is configured or there are no loci."""
    import hail as hl

    from udip_gwas.genetics.ld import ld_pairs
    from udip_gwas.genetics.novelty import read_prior_hits

    nv = cfg["novelty"]
    non_empty = [df for df in loci_sets if not df.empty]
    if not nv["prior_hits"] or not non_empty:
        return None
    loci = pd.concat(non_empty)
    prior = read_prior_hits(nv["prior_hits"], reference_genome=cfg["gwas"]["reference_genome"])
    # prior hits present in the genotypes, for the LD criterion
    keys = hl.literal({(str(c), int(p)) for c, p in zip(prior["chromosome"], prior["base_pair_location"])})
    found = ht.filter(keys.contains((ht.locus.contig.replace("^chr", ""), ht.locus.position))).key_by()
    found = found.select(variant_id=found.variant_id, chromosome=found.locus.contig.replace("^chr", ""),
                                  base_pair_location=found.locus.position, other_allele=found.alleles[0],
                                  effect_allele=found.alleles[1]).to_pandas()
    leads = loci.rename(columns={"lead_position": "base_pair_location", "lead_effect_allele": "effect_allele",
                                 "lead_other_allele": "other_allele", "lead_variant": "variant_id"})[
        ["variant_id", "chromosome", "base_pair_location", "other_allele", "effect_allele"]]
    ld_with_lead: dict[str, set[str]] = {}
    if not found.empty:
        ld = ld_pairs(ld_mt, pd.concat([leads, found]).drop_duplicates("variant_id"),
                      radius_bp=max(nv["window_kb"], 1000) * 1000, min_r2=nv["ld_r2"],
                      reference_genome=cfg["gwas"]["reference_genome"])
        pos_to_rsid = {(str(c), int(p)): r for c, p, r in zip(prior["chromosome"], prior["base_pair_location"],
                                                               prior["rsid"])}
        hit_rsid = {v: pos_to_rsid[(str(c), int(p))] for v, c, p in
                    zip(found["variant_id"], found["chromosome"], found["base_pair_location"])}
        lead_ids = set(leads["variant_id"])
        for a, b in zip(ld["variant_id_a"], ld["variant_id_b"]):
            for lead, other in ((a, b), (b, a)):
                if lead in lead_ids and other in hit_rsid:
                    ld_with_lead.setdefault(lead, set()).add(hit_rsid[other])
    return prior, ld_with_lead


def _add_novelty(cfg: dict, loci: pd.DataFrame, evidence) -> pd.DataFrame:
    """Known/novel per locus from :func:`_novelty_evidence`'s prior hits and LD."""
    from udip_gwas.genetics.novelty import annotate_novelty

    if evidence is None or loci.empty:
        return loci
    prior, ld_with_lead = evidence
    out = annotate_novelty(loci, prior, window_kb=cfg["novelty"]["window_kb"], ld_with_lead=ld_with_lead)
    log.info("novelty: %d known, %d novel", int((out["novelty"] == "known").sum()),
             int((out["novelty"] == "novel").sum()))
    return out


#: variants read for the per-dimension Manhattan plots beyond those with p < 1e-3 (a seeded sample)
PLOT_POINTS = 500_000


def _plots(cfg: dict, gdir: Path, out: Path, ht, loci: pd.DataFrame, thresholds: dict[str, float], n_dims: int,
           dims: list[str]) -> None:
    """``manhattan.png`` and ``qq.png`` of all dimensions together, and per dimension (``loci.dimension_plots``)
    ``plots/manhattan_<dim>.png`` and ``plots/qq_<dim>.png``, with one pass over ``gwas.ht`` more."""
    import hail as hl
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from udip_gwas.genetics.plots import plot_manhattan, plot_qq_from_histogram

    comb = pd.read_csv(gdir / "combined.tsv.gz", sep="\t", usecols=["chromosome", "base_pair_location",
                                                                    "neg_log_10_p_value"],
                       dtype={"chromosome": str}, na_values=["#NA"], keep_default_na=False)
    labels = loci.rename(columns={"lead_position": "base_pair_location"})[["chromosome", "base_pair_location"]].copy()
    labels["label"] = loci["locus_id"]
    plain = thresholds["genome_wide"]
    lines = {f"{plain:g}": plain, f"{plain:g}/{n_dims}": thresholds["bonferroni"]}
    fig, ax = plt.subplots(figsize=(12, 4.2))
    plot_manhattan(comb, thresholds=lines, labels=labels, ax=ax, title=f"smallest p over {n_dims} UDIP dimensions")
    fig.tight_layout()
    fig.savefig(out / "manhattan.png", dpi=110)
    plt.close(fig)

    chosen = {"all": dims, "none": [],
              "loci": [d for d in dims if d in set(loci["lead_dimension"])]}[cfg["loci"]["dimension_plots"]]
    index = [dims.index(d) for d in chosen]
    qc = ht.filter(hl.is_missing(ht.qc_fail))
    nlp = qc.neg_log_10_p_value
    # the largest -log10 p of all dimensions and of each chosen one, then their histograms: exact QQ tails
    # without collecting the p-values (the same two passes over the table as for the pooled plot alone)
    n_rows, top_all, *tops = qc.aggregate(hl.tuple([hl.agg.count(), hl.agg.max(hl.max(nlp)),
                                                    *(hl.agg.max(nlp[i]) for i in index)]))
    top_all = float(top_all) + 0.01 if top_all is not None else 1.0
    tops = [float(t) + 0.01 if t is not None else 1.0 for t in tops]
    # one bin per 0.01 of -log10 p pooled; at most 5,000 bins per single dimension
    hist, *hists = qc.aggregate(hl.tuple([
        hl.agg.explode(lambda x: hl.agg.hist(x, 0, top_all, max(100, int(top_all / 0.01))), nlp),
        *(hl.agg.hist(nlp[i], 0, t, min(5000, max(100, int(t / 0.01)))) for i, t in zip(index, tops))]))
    lam = pd.read_csv(gdir / "lambda_gc.tsv", sep="\t").set_index("dimension")["lambda_gc"]
    fig, ax = plt.subplots(figsize=(4.8, 4.8))
    plot_qq_from_histogram(np.asarray(hist.bin_edges), np.asarray(hist.bin_freq), lambda_gc=float(lam.median()),
                           ax=ax, title=f"all {n_dims} dimensions (median $\\lambda$)")
    fig.tight_layout()
    fig.savefig(out / "qq.png", dpi=110)
    plt.close(fig)
    if not chosen:
        return
    pdir = out / "plots"
    pdir.mkdir(exist_ok=True)
    # the Manhattan points: every variant with p < 1e-3 in a chosen dimension and a seeded sample of the rest
    # (all of them up to 500,000 variants); the plot draws one point per pixel of the dense band anyway
    frac = PLOT_POINTS / max(n_rows, 1)
    points = qc if frac >= 1 else qc.filter(hl.any([nlp[i] > 3 for i in index])
                                            | hl.rand_bool(frac, seed=runinfo.stage_seed(cfg["run"]["seed"], "plots")))
    points = points.key_by()
    points = points.select(chromosome=points.locus.contig.replace("^chr", ""), base_pair_location=points.locus.position,
                           **{d: points.neg_log_10_p_value[i] for d, i in zip(chosen, index)})
    points.export(str(pdir / "_points.tsv"))
    table = pd.read_csv(pdir / "_points.tsv", sep="\t", dtype={"chromosome": str}, na_values=["NA"])
    (pdir / "_points.tsv").unlink()
    log.info("per-dimension plots of %d dimension(s) in %s (from %d of the %d QC-passing variants)", len(chosen),
             pdir, len(table), n_rows)
    for d, h in zip(chosen, hists):
        own = labels[loci["lead_dimension"].to_numpy() == d] if len(loci) else labels
        fig, ax = plt.subplots(figsize=(12, 4.2))
        plot_manhattan(table[["chromosome", "base_pair_location", d]].rename(columns={d: "neg_log_10_p_value"})
                       .dropna(), thresholds=lines, labels=own, ax=ax, title=d)
        fig.tight_layout()
        fig.savefig(pdir / f"manhattan_{d}.png", dpi=110)
        plt.close(fig)
        fig, ax = plt.subplots(figsize=(4.8, 4.8))
        plot_qq_from_histogram(np.asarray(h.bin_edges), np.asarray(h.bin_freq), lambda_gc=float(lam.get(d, np.nan)),
                               ax=ax, title=d)
        fig.tight_layout()
        fig.savefig(pdir / f"qq_{d}.png", dpi=110)
        plt.close(fig)

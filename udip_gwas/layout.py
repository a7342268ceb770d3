"""Every file of a run folder, named once: the pipeline wires stages with these paths and the stages write
and read them.

A run folder holds one sub-folder per stage (``udip-gwas run``) and the run's own records::

    OUT/simulate/   images/{cohort}_manifest.tsv, genotypes/{cohort}.*, covariates/{cohort}.tsv,
                    prior_hits.tsv, genes.gtf, truth.tsv
    OUT/train/      <modality>/best.pt, last.pt, ...
    OUT/extract/    <cohort>/udips_<modality>.tsv
    OUT/gwas/       gwas.ht, summary.json, samples.tsv, lambda_gc.tsv, combined.tsv.gz, dimensions/<dim>.tsv.gz
                    (with a replication cohort: discovery/ and replication/ each holding those)
    OUT/loci/       loci.tsv, loci_genome_wide.tsv, clumps.tsv, ..., manhattan.png, qq.png, plots/
    OUT/perdi/      maps/<dim>.nii.gz, region_scores.tsv, subjects.tsv, summary.json
    OUT/report/     locus_report.tsv, report.html
    OUT/cache/      decoded volumes (train.cache_dir)
    OUT/tmp/        Hail's scratch space, checked copies of input files
    OUT/excluded_subjects.tsv, OUT/logs/, OUT/provenance/
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from udip_gwas.exceptions import InputError

#: pipeline order; each stage writes ``OUT/<stage>/``
STAGES = ("simulate", "train", "extract", "gwas", "loci", "perdi", "report")
#: every subject dropped anywhere, with its reason (see :mod:`udip_gwas.runinfo`)
EXCLUSIONS_FILE = "excluded_subjects.tsv"
COHORTS = ("discovery", "replication")


def stage_dir(out: str | Path, stage: str) -> Path:
    if stage not in STAGES:
        raise ValueError(f"stage_dir: unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    return Path(out) / stage


def work_dir(cfg: dict) -> Path:
    """Scratch files of a run (checked copies of input files): ``OUT/tmp``."""
    return Path(cfg["run"]["out"]) / "tmp"


def cache_dir(cfg: dict) -> Path:
    """The decoded-volume cache shared by train, extract and perdi (``train.cache_dir``, else ``OUT/cache``)."""
    return Path(cfg["train"]["cache_dir"] or Path(cfg["run"]["out"]) / "cache")


@dataclass(frozen=True)
class SimulateFiles:
    root: Path

    def manifest(self, cohort: str) -> Path:
        return self.root / "images" / f"{cohort}_manifest.tsv"

    def genotypes(self, cohort: str) -> Path:
        """PLINK prefix of a cohort (``.vcf.bgz`` beside it)."""
        return self.root / "genotypes" / cohort

    def covariates(self, cohort: str) -> Path:
        return self.root / "covariates" / f"{cohort}.tsv"

    @property
    def prior_hits(self) -> Path:
        return self.root / "prior_hits.tsv"

    @property
    def genes(self) -> Path:
        return self.root / "genes.gtf"

    @property
    def truth(self) -> Path:
        return self.root / "truth.tsv"


def checkpoint(train_dir: str | Path, modality: str) -> Path:
    return Path(train_dir) / modality / "best.pt"


def udip_table(extract_dir: str | Path, cohort: str, modality: str) -> Path:
    return Path(extract_dir) / cohort / f"udips_{modality}.tsv"


@dataclass(frozen=True)
class GwasFiles:
    """One cohort's gwas results (``OUT/gwas``, or ``OUT/gwas/discovery`` beside a replication run)."""

    root: Path

    @property
    def table(self) -> Path:
        return self.root / "gwas.ht"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def samples(self) -> Path:
        return self.root / "samples.tsv"

    @property
    def lambda_gc(self) -> Path:
        return self.root / "lambda_gc.tsv"

    @property
    def combined(self) -> Path:
        return self.root / "combined.tsv.gz"

    @property
    def dimensions(self) -> Path:
        return self.root / "dimensions"

    @property
    def variants_excluded(self) -> Path:
        return self.root / "variants_excluded.tsv"

    @property
    def joint(self) -> Path:
        return self.root / "joint"

    def joint_set(self, name: str) -> Path:
        return self.joint / f"{name}.tsv.gz"

    @property
    def joint_lambda_gc(self) -> Path:
        return self.joint / "lambda_gc.tsv"

    @property
    def dimensions_excluded(self) -> Path:
        return self.root / "dimensions_excluded.tsv"


def gwas_cohort_dir(gwas_dir: str | Path, cohort: str, *, with_replication: bool) -> Path:
    """Where the gwas stage writes a cohort: the folder itself for a discovery run alone."""
    return Path(gwas_dir) / cohort if with_replication else Path(gwas_dir)


def discovery_gwas(path: str | Path, *, required: bool = True) -> GwasFiles:
    """The discovery results inside a gwas output folder: ``path/discovery`` when the run had a replication
    cohort, else ``path`` itself. ``required``: raise when no ``gwas.ht`` is there."""
    p = Path(path)
    if (p / "discovery").is_dir():
        p = p / "discovery"
    if required and not (p / "gwas.ht").exists():
        raise InputError(f"no gwas.ht in {p}: run `udip-gwas gwas` first or set 'loci.gwas'")
    return GwasFiles(p)


def replication_gwas(discovery: GwasFiles) -> GwasFiles:
    """The replication run beside a discovery run of the same gwas stage."""
    return GwasFiles(discovery.root.parent / "replication")


@dataclass(frozen=True)
class LociFiles:
    root: Path

    def loci(self, threshold: str = "bonferroni") -> Path:
        return self.root / f"loci{_suffix(threshold)}.tsv"

    def clumps(self, threshold: str = "bonferroni") -> Path:
        return self.root / f"clumps{_suffix(threshold)}.tsv"

    def independent_snps(self, threshold: str = "bonferroni") -> Path:
        return self.root / f"independent_snps{_suffix(threshold)}.tsv"

    @property
    def candidates(self) -> Path:
        return self.root / "candidate_variants.tsv"

    @property
    def ld_pairs(self) -> Path:
        return self.root / "ld_pairs.tsv.gz"

    @property
    def manhattan(self) -> Path:
        return self.root / "manhattan.png"

    @property
    def qq(self) -> Path:
        return self.root / "qq.png"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    @property
    def regional(self) -> Path:
        return self.root / "regional"

    def regional_table(self, locus_id: str) -> Path:
        return self.regional / f"{locus_id}.tsv"

    def regional_plot(self, locus_id: str) -> Path:
        return self.regional / f"{locus_id}.png"

    @property
    def lead_effects(self) -> Path:
        return self.root / "lead_effects.tsv"

    @property
    def lead_dosages(self) -> Path:
        return self.root / "lead_dosages.tsv.gz"

    def joint_manhattan(self, name: str) -> Path:
        return self.root / f"joint_manhattan_{name}.png"

    def joint_qq(self, name: str) -> Path:
        return self.root / f"joint_qq_{name}.png"

    def dimension_manhattan(self, dimension: str) -> Path:
        return self.plots / f"manhattan_{dimension}.png"

    def dimension_qq(self, dimension: str) -> Path:
        return self.plots / f"qq_{dimension}.png"


def _suffix(threshold: str) -> str:
    if threshold not in ("bonferroni", "genome_wide"):
        raise ValueError(f"loci files: threshold {threshold!r} is not bonferroni or genome_wide")
    return "" if threshold == "bonferroni" else "_genome_wide"


@dataclass(frozen=True)
class PerdiFiles:
    root: Path

    @property
    def maps(self) -> Path:
        return self.root / "maps"

    def map(self, name: str) -> Path:
        return self.maps / f"{name}.nii.gz"

    @property
    def region_scores(self) -> Path:
        return self.root / "region_scores.tsv"

    @property
    def locus_maps(self) -> Path:
        return self.root / "locus_maps"

    def locus_map(self, locus_id: str, view: str, modality: str) -> Path:
        return self.locus_maps / f"{locus_id}_{view}_{modality}.nii.gz"

    @property
    def locus_region_scores(self) -> Path:
        return self.root / "locus_region_scores.tsv"

    @property
    def locus_views(self) -> Path:
        return self.root / "locus_views.tsv"

    @property
    def subjects(self) -> Path:
        return self.root / "subjects.tsv"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"


@dataclass(frozen=True)
class ReportFiles:
    root: Path

    @property
    def locus_report(self) -> Path:
        return self.root / "locus_report.tsv"

    @property
    def html(self) -> Path:
        return self.root / "report.html"

    @property
    def truth_comparison(self) -> Path:
        return self.root / "truth_comparison.tsv"

    @property
    def truth_summary(self) -> Path:
        return self.root / "truth_comparison.json"

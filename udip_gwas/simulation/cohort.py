"""``udip-gwas simulate``: a cohort with known truth for the demo, the tests and the benchmarks.

Output layout (all under ``out``)::

    genotypes/{discovery,replication}.{bed,bim,fam}   PLINK 1 (A1 = effect allele = ALT)
    genotypes/{discovery,replication}.vcf.bgz         the same calls as a bgzipped VCF
    covariates/{discovery,replication}.tsv            FID IID age sex site head_size PC1..PC5 (NA = missing)
    images/{cohort}/{IID}_{T1,T2}.nii.gz              brain-extracted images on the MNI grid
    images/{cohort}_manifest.tsv                      IID, T1, T2 (paths relative to the manifest)
    prior_hits.tsv                                    simulated earlier imaging-GWAS hits
    genes.gtf                                         gene annotation of the simulated regions (GRCh37)
    truth.tsv                                         the planted causal variants and what they do
    simulation.json                                   every parameter and seed
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import nibabel as nib
import numpy as np
import pandas as pd

from udip_gwas.config import default
from udip_gwas.layout import SimulateFiles
from udip_gwas.exceptions import ConfigError
from udip_gwas.genome import MHC
from udip_gwas.fileformats import write_plink
from udip_gwas.simulation.genotypes import VariantPanel, simulate_panel, write_vcf
from udip_gwas.simulation.images import BrainRenderer, StructureEffect, noise_sd_per_voxel

log = logging.getLogger(__name__)

COHORTS = ("discovery", "replication", "train")
#: causal variants are placed outside the GRCh37 MHC widened to whole 5 Mb steps (25-35 Mb), clear of its
#: long-range LD
_AWAY_FROM_MHC = (MHC["GRCh37"][1] // 5_000_000 * 5_000_000, -(-MHC["GRCh37"][2] // 5_000_000) * 5_000_000)
SITES = {"11025": 1.0, "11026": 1.06, "11027": 0.94}
N_PCS = 5


@dataclass(frozen=True)
class PlantedEffect:
    """A causal variant's effect per standard deviation of its allele count."""

    region: str
    kind: str  #: volume or intensity
    effect_per_sd: float
    modality: str | None  #: None: both modalities
    known: bool  #: listed in the simulated prior-hits table
    #: sized for the joint test: below the per-dimension scan's power at the demo's size (reported apart)
    weak: bool = False


#: sized so that a briefly trained 4 mm autoencoder's UDIPs carry them at the demo's sample size; an
#: earlier set (4.5-8 % per SD) left all but the pallidum below 5e-8/256 in the demo; at 0.15 the hippocampus
#: (low contrast in both modalities) reached -log10 p 11.9 in one demo build and 8.2 (below 9.71) in another
#: whose only differences were float rounding, so it is planted at 0.2 (all measured with the earlier
#: noise, 8x the present per-voxel noise on the 4 mm grid)
DEFAULT_EFFECTS = (
    PlantedEffect("Thalamus", "volume", 0.15, None, True),
    PlantedEffect("Putamen", "intensity", 0.2, "T2", False),
    PlantedEffect("Pallidum", "intensity", 0.2, "T1", True),
    PlantedEffect("Caudate", "volume", 0.15, None, False),
    PlantedEffect("Hippocampus", "volume", 0.2, None, True),
    PlantedEffect("Lateral_Ventricle", "volume", 0.15, None, False),
    # weak effects for the joint test: spread over many UDIP dimensions, each too small for the per-dimension
    # scan at the demo's size. Sized from a seed-42 demo: at 0.03 the brain-stem and insula intensity effects
    # reached -log10 p 24 and 31 in their best dimension (joint test: 270 and 245), and the amygdala's volume at
    # 0.07 reached 3.2 (joint: 6.1); statistics grow with the effect's square
    PlantedEffect("Amygdala", "volume", 0.1, None, False, weak=True),
    PlantedEffect("Brain-Stem", "intensity", 0.012, "T1", False, weak=True),
    PlantedEffect("Insular_Cortex", "intensity", 0.012, "T2", False, weak=True),
)


@dataclass
class SimulationParams:
    """The simulation's parameters; defaults are the ``[simulate]`` schema's (:mod:`udip_gwas.config`)."""

    n_discovery: int = default("simulate", "n_discovery")
    n_replication: int = default("simulate", "n_replication")
    n_train: int = default("simulate", "n_train")
    chromosomes: tuple[int, ...] = tuple(default("simulate", "chromosomes"))
    variants_per_chromosome: int = default("simulate", "variants_per_chromosome")
    block_size_mean: int = default("simulate", "block_size_mean")
    ld_rho: float = default("simulate", "ld_rho")
    grid_mm: float = default("simulate", "grid_mm")
    missing_covariate_fraction: float = default("simulate", "missing_covariate_fraction")
    noise_sd: float = default("simulate", "noise_sd")
    #: images registered to MNI have had the head-size scaling removed (the affine part of the registration);
    #: head size stays a covariate, like UK Biobank's volumetric scaling factor
    head_scale_in_images: float = default("simulate", "head_scale_in_images")
    deformation_mm: float = default("simulate", "deformation_mm")
    seed: int = default("run", "seed")
    effects: tuple[PlantedEffect, ...] = DEFAULT_EFFECTS

    @classmethod
    def from_config(cls, cfg: dict) -> "SimulationParams":
        s = dict(cfg["simulate"])
        given = s.pop("effects", [])
        effects = parse_effects(given) if given else DEFAULT_EFFECTS
        return cls(**{**s, "chromosomes": tuple(s["chromosomes"])}, effects=effects, seed=cfg["run"]["seed"])


EFFECT_KINDS = ("volume", "intensity")
EFFECT_MODALITIES = ("T1", "T2", "both")


def parse_effects(entries: list[dict]) -> tuple[PlantedEffect, ...]:
    """``simulate.effects`` tables as planted effects, checked: a region outside the Harvard-Oxford atlas (named as
    ``region_scores.tsv`` writes it) is an error that lists the valid names; so are an unknown kind, modality or
    key, and a missing one."""
    from udip_gwas.annotation.atlas import harvard_oxford

    regions = sorted(harvard_oxford(1.0).merged()[1]["region"])
    required = ("region", "kind", "modality", "effect_per_sd", "known")
    out = []
    for i, e in enumerate(entries):
        where = f"simulate.effects[{i}]"
        missing = [k for k in required if k not in e]
        unknown = sorted(set(e) - set(required) - {"weak"})
        if missing or unknown:
            raise ConfigError(f"{where}: " + "; ".join(
                ([f"missing key(s) {', '.join(missing)}"] if missing else [])
                + ([f"unknown key(s) {', '.join(unknown)}"] if unknown else []))
                + f" (keys: {', '.join(required)}, weak)")
        if e["region"] not in regions:
            raise ConfigError(f"{where}: region {e['region']!r} is not a Harvard-Oxford region; valid names: "
                              + ", ".join(regions))
        if e["kind"] not in EFFECT_KINDS:
            raise ConfigError(f"{where}: kind {e['kind']!r} is not one of {', '.join(EFFECT_KINDS)}")
        if e["modality"] not in EFFECT_MODALITIES:
            raise ConfigError(f"{where}: modality {e['modality']!r} is not one of {', '.join(EFFECT_MODALITIES)}")
        if isinstance(e["effect_per_sd"], bool) or not isinstance(e["effect_per_sd"], (int, float)):
            raise ConfigError(f"{where}: effect_per_sd must be a number, found {e['effect_per_sd']!r}")
        if not isinstance(e["known"], bool) or not isinstance(e.get("weak", False), bool):
            raise ConfigError(f"{where}: known and weak must be true or false")
        out.append(PlantedEffect(e["region"], e["kind"], float(e["effect_per_sd"]),
                                 None if e["modality"] == "both" else e["modality"], e["known"],
                                 weak=e.get("weak", False)))
    return tuple(out)


def choose_causal_variants(panel: VariantPanel, effects: tuple[PlantedEffect, ...], rng: np.random.Generator,
                           *, mhc: tuple[int, int] = _AWAY_FROM_MHC) -> pd.DataFrame:
    """One common variant per effect, on distinct chromosomes where possible, away from the MHC and
    from region edges, in the middle of its block."""
    v = panel.variants.reset_index(drop=True)
    maf = np.minimum(v["allele_frequency"], 1 - v["allele_frequency"])
    block_pos = v.groupby("block").cumcount()
    block_len = v.groupby("block")["block"].transform("size")
    ok = (maf > 0.25) & (block_pos >= 2) & (block_len - block_pos > 2)
    ok &= ~((v["chromosome"] == 6) & v["base_pair_location"].between(*mhc))
    chroms = sorted(v["chromosome"].unique())
    rows = []
    for k, eff in enumerate(effects):
        # the preferred chromosome first, then the others
        order = chroms[k % len(chroms):] + chroms[: k % len(chroms)]
        cand = v.iloc[0:0]
        for chrom in order:
            cand = v[ok & (v["chromosome"] == chrom)]
            lo, hi = cand["base_pair_location"].quantile([0.1, 0.9]) if len(cand) else (0, 0)
            cand = cand[cand["base_pair_location"].between(lo, hi)]
            for r in rows:  # keep causal loci > 3 Mb apart
                cand = cand[~((cand["chromosome"] == r["chromosome"])
                              & ((cand["base_pair_location"] - r["base_pair_location"]).abs() < 3_000_000))]
            if not cand.empty:
                break
        if cand.empty:
            raise ConfigError(f"simulate: no room for a causal variant for {eff.region} on chromosomes {chroms}; "
                              "simulate more variants or chromosomes")
        pick = cand.iloc[int(rng.integers(len(cand)))]
        rows.append({**pick.to_dict(), "index": int(pick.name), **asdict(eff)})
    return pd.DataFrame(rows)


def _standardised(g: np.ndarray, p: float) -> np.ndarray:
    return (g - 2 * p) / np.sqrt(2 * p * (1 - p))


def simulate_covariates(ids: list[str], dosages: np.ndarray | None, rng: np.random.Generator,
                        missing_fraction: float) -> pd.DataFrame:
    n = len(ids)
    cov = pd.DataFrame({"FID": ids, "IID": ids})
    cov["age"] = np.round(rng.uniform(45, 80, n), 1)
    cov["sex"] = rng.integers(0, 2, n)
    cov["site"] = rng.choice(list(SITES), n, p=[0.5, 0.3, 0.2])
    if dosages is not None:
        # genetic PCs from a thinned set of common variants
        g = dosages[:, :: max(1, dosages.shape[1] // 3000)].astype(np.float32)
        keep = g.std(0) > 0.3
        z = (g[:, keep] - g[:, keep].mean(0)) / g[:, keep].std(0)
        u, s, _ = np.linalg.svd(z, full_matrices=False)
        for i in range(N_PCS):
            cov[f"PC{i + 1}"] = np.round(u[:, i] * s[i] / np.sqrt(n), 5)
    return cov


def _add_missing(cov: pd.DataFrame, rng: np.random.Generator, fraction: float) -> pd.DataFrame:
    out = cov.copy()
    for col in [c for c in out.columns if c not in ("FID", "IID", "sex", "site")]:
        hit = rng.random(len(out)) < fraction
        out[col] = out[col].astype(object).where(~hit, None)
    return out


_RENDERER: BrainRenderer | None = None


def _init_worker(grid_mm: float) -> None:
    global _RENDERER
    import torch

    torch.set_num_threads(1)  # one renderer per core
    _RENDERER = BrainRenderer(grid_mm)


def _render_subject(job: tuple) -> str:
    iid, folder, seed, head_scale, effects, intensity, noise_sd, deformation_mm = job
    rng = np.random.default_rng(seed)
    assert _RENDERER is not None
    imgs = _RENDERER.render(head_scale=head_scale, effects=effects, rng=rng, intensity_scale=intensity,
                            noise_sd=noise_sd, deformation_mm=deformation_mm)
    for modality, img in imgs.items():
        nimg = nib.Nifti1Image(np.round(img * 1000).astype(np.int16), _RENDERER.affine)
        nimg.header.set_xyzt_units("mm")
        nib.save(nimg, str(Path(folder) / f"{iid}_{modality}.nii.gz"))
    return iid


def simulate_cohort(out: str | Path, params: SimulationParams, *, workers: int = 2,
                    progress: Callable[[int, int], None] | None = None) -> dict:
    """Simulate genotypes, covariates, images, prior hits, genes and truth into ``out``.

    Returns
    -------
    dict
        Paths of the main outputs (``genotypes``, ``covariates``, ``manifests``, ``truth``, ...).
    """
    negative = [k for k in ("noise_sd", "head_scale_in_images", "deformation_mm") if getattr(params, k) < 0]
    if negative:
        raise ConfigError(f"simulate: {', '.join(f'simulate.{k}' for k in negative)} must be >= 0")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = SimulateFiles(out)
    rng = np.random.default_rng(params.seed)
    log.info("simulating %d variants on chromosomes %s", params.variants_per_chromosome * len(params.chromosomes),
             list(params.chromosomes))
    panel = simulate_panel(list(params.chromosomes), variants_per_chromosome=params.variants_per_chromosome,
                           block_size_mean=params.block_size_mean, rho=params.ld_rho, rng=rng)
    causal = choose_causal_variants(panel, params.effects, rng)
    sizes = {"discovery": params.n_discovery, "replication": params.n_replication, "train": params.n_train}
    prefix = {"discovery": "D", "replication": "R", "train": "T"}
    paths: dict = {"genotypes": {}, "covariates": {}, "manifests": {}}
    jobs = []
    for ci, cohort in enumerate(COHORTS):
        n = sizes[cohort]
        ids = [f"{prefix[cohort]}{i + 1:06d}" for i in range(n)]
        crng = np.random.default_rng([params.seed, ci])
        dos = panel.sample(n, crng) if n else np.zeros((0, len(panel.variants)), dtype=np.int8)
        cov = simulate_covariates(ids, dos if cohort != "train" else None, crng, params.missing_covariate_fraction)
        cov["head_size"] = 0.0
        img_dir = out / "images" / cohort
        img_dir.mkdir(parents=True, exist_ok=True)
        for i, iid in enumerate(ids):
            age, sex, site = cov.at[i, "age"], cov.at[i, "sex"], cov.at[i, "site"]
            head = 1.0 + 0.03 * (2 * sex - 1) + crng.normal(0, 0.025)
            cov.at[i, "head_size"] = round(head**3 * 1.5e6 * (1 + crng.normal(0, 0.01)), 0)
            effs = [StructureEffect("Lateral_Ventricle", "volume", 0.006 * (age - 62.5))]
            for c in causal.itertuples():
                z = _standardised(float(dos[i, c.index]), c.allele_frequency)
                effs.append(StructureEffect(c.region, c.kind, c.effect_per_sd * z, c.modality))
            inten = {m: SITES[site] * float(crng.normal(1.0, 0.05)) for m in ("T1", "T2")}
            image_scale = 1.0 + params.head_scale_in_images * (head - 1.0)
            jobs.append((iid, str(img_dir), [params.seed, ci, i, 7], image_scale, effs, inten, params.noise_sd,
                         params.deformation_mm))
        manifest = pd.DataFrame({"IID": ids, "T1": [f"{cohort}/{i}_T1.nii.gz" for i in ids],
                                 "T2": [f"{cohort}/{i}_T2.nii.gz" for i in ids]})
        manifest.to_csv(files.manifest(cohort), sep="\t", index=False)
        paths["manifests"][cohort] = str(files.manifest(cohort))
        if cohort == "train":
            continue
        samples = pd.DataFrame({"FID": ids, "IID": ids, "sex": np.where(cov["sex"] == 1, 1, 2)})
        write_plink(files.genotypes(cohort), dos, panel.variants, samples)
        write_vcf(files.genotypes(cohort).with_suffix(".vcf.bgz"), dos, panel.variants, ids)
        paths["genotypes"][cohort] = str(files.genotypes(cohort))
        cov = _add_missing(cov, crng, params.missing_covariate_fraction)
        files.covariates(cohort).parent.mkdir(exist_ok=True)
        cov.to_csv(files.covariates(cohort), sep="\t", index=False, na_rep="NA")
        paths["covariates"][cohort] = str(files.covariates(cohort))
        log.info("%s: %d subjects, genotypes and covariates written", cohort, n)

    log.info("rendering %d subjects x 2 modalities on the %g mm grid", len(jobs), params.grid_mm)
    done = 0
    if workers > 1 and len(jobs) > 20:
        # spawn, not fork: children of a process whose torch thread pools are running can deadlock
        with mp.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(params.grid_mm,)) as pool:
            for _ in pool.imap_unordered(_render_subject, jobs, chunksize=8):
                done += 1
                if progress:
                    progress(done, len(jobs))
    else:
        _init_worker(params.grid_mm)
        for job in jobs:
            _render_subject(job)
            done += 1
            if progress:
                progress(done, len(jobs))

    truth = causal.drop(columns=["index", "block"]).rename(columns={"allele_frequency": "effect_allele_frequency"})
    truth["modality"] = truth["modality"].fillna("both")
    truth.to_csv(files.truth, sep="\t", index=False)
    write_prior_hits(files.prior_hits, panel, causal, rng)
    write_genes_gtf(files.genes, panel, causal, rng)
    meta = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(params).items() if k != "effects"}
    meta["effects"] = [asdict(e) for e in params.effects]
    # noise_sd is a 1 mm acquisition's; the images carry it averaged over their voxels
    meta["noise_sd_per_voxel"] = noise_sd_per_voxel(params.noise_sd, params.grid_mm)
    (out / "simulation.json").write_text(json.dumps(meta, indent=2) + "\n")
    paths.update(truth=str(files.truth), prior_hits=str(files.prior_hits), genes=str(files.genes))
    return paths


def write_prior_hits(path: Path, panel: VariantPanel, causal: pd.DataFrame, rng: np.random.Generator) -> None:
    """Known causal loci get a prior hit at a neighbouring variant of their block; decoys lie far from
    every causal variant."""
    v = panel.variants
    rows = []
    for c in causal.itertuples():
        if not c.known:
            continue
        same_block = v[(v["block"] == c.block) & (v["variant_id"] != c.variant_id)]
        nearest = same_block.iloc[np.argsort((same_block["base_pair_location"] - c.base_pair_location).abs())[:4]]
        hit = nearest.iloc[int(rng.integers(len(nearest)))]
        rows.append((int(hit.chromosome), int(hit.base_pair_location), hit.rsid,
                     f"{c.kind} of {c.region.replace('_', ' ').lower()}", "simulated BIG40", "GRCh37"))
    far = np.ones(len(v), dtype=bool)
    for c in causal.itertuples():
        far &= ~((v["chromosome"] == c.chromosome) & ((v["base_pair_location"] - c.base_pair_location).abs() < 2e6))
    for j in rng.choice(np.flatnonzero(far), size=min(12, int(far.sum())), replace=False):
        hit = v.iloc[j]
        rows.append((int(hit.chromosome), int(hit.base_pair_location), hit.rsid, "unrelated IDP",
                     "simulated Elliott2018", "GRCh37"))
    pd.DataFrame(rows, columns=["chromosome", "base_pair_location", "rsid", "trait", "study", "build"]).sort_values(
        ["chromosome", "base_pair_location"]).to_csv(path, sep="\t", index=False)


def write_genes_gtf(path: Path, panel: VariantPanel, causal: pd.DataFrame, rng: np.random.Generator) -> None:
    """Genes every ~150 kb across the simulated regions, plus one gene spanning each causal variant."""
    v = panel.variants
    lines = []
    gid = 1
    for chrom, grp in v.groupby("chromosome"):
        lo, hi = int(grp["base_pair_location"].min()), int(grp["base_pair_location"].max())
        pos = lo
        while pos < hi:
            start = pos + int(rng.integers(20_000, 150_000))
            end = start + int(rng.integers(5_000, 80_000))
            lines.append((chrom, start, end, rng.choice(["+", "-"]), f"ENSGSIM{gid:06d}", f"SIM{gid}"))
            gid += 1
            pos = end
    for c in causal.itertuples():
        start = int(c.base_pair_location) - int(rng.integers(2_000, 20_000))
        lines.append((c.chromosome, start, start + int(rng.integers(25_000, 60_000)), "+", f"ENSGSIM{gid:06d}",
                      f"{c.region.upper().replace('_', '')[:6]}1"))
        gid += 1
    with open(path, "w") as fh:
        fh.write("#!genome-build GRCh37\n")
        for chrom, start, end, strand, gene_id, name in sorted(lines, key=lambda r: (r[0], r[1])):
            fh.write(f'{chrom}\tudip-gwas\tgene\t{start}\t{end}\t.\t{strand}\t.\tgene_id "{gene_id}"; '
                     f'gene_name "{name}"; gene_type "protein_coding";\n')

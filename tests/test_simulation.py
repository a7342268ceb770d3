"""The simulated cohort: genotypes, images, planted effects (udip_gwas/simulation/)."""

from __future__ import annotations

import gzip
import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from udip_gwas.fileformats import read_plink_dosages
from udip_gwas.imaging.grid import mni_grid
from udip_gwas.simulation.genotypes import simulate_panel
from udip_gwas.simulation.images import BrainRenderer, StructureEffect


def _r2(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1] ** 2)


def test_panel__ld_inside_blocks_well_above_ld_across_blocks():
    rng = np.random.default_rng(3)
    panel = simulate_panel([1], variants_per_chromosome=1500, block_size_mean=10, rho=0.92, rng=rng)
    g = panel.sample(2000, rng).astype(float)
    block = panel.variants["block"].to_numpy()
    common = np.minimum(panel.variants["allele_frequency"], 1 - panel.variants["allele_frequency"]).to_numpy() > 0.1
    within, across = [], []
    for j in range(len(block) - 1):
        if not (common[j] and common[j + 1]):
            continue
        (within if block[j] == block[j + 1] else across).append(_r2(g[:, j], g[:, j + 1]))
    assert len(within) > 50 and len(across) > 10
    assert np.mean(within) > 0.2
    assert np.mean(across) < 0.01
    assert np.mean(within) > 20 * np.mean(across)


def test_panel__allele_frequencies_are_reproduced():
    rng = np.random.default_rng(4)
    panel = simulate_panel([3], variants_per_chromosome=200, block_size_mean=10, rho=0.9, rng=rng)
    g = panel.sample(4000, rng)
    observed = g.mean(0) / 2
    np.testing.assert_allclose(observed, panel.variants["allele_frequency"], atol=0.04)


def test_panel__maf_spectrum_has_many_rare_and_common_variants():
    rng = np.random.default_rng(5)
    maf = simulate_panel([1], variants_per_chromosome=3000, block_size_mean=25, rho=0.9, rng=rng).variants
    maf = np.minimum(maf["allele_frequency"], 1 - maf["allele_frequency"])
    assert (maf < 0.05).mean() > 0.1 and (maf > 0.25).mean() > 0.1


def test_cohort__files_and_truth(small_cohort):
    root = small_cohort["root"]
    truth = pd.read_csv(small_cohort["truth"], sep="\t")
    assert {"variant_id", "region", "kind", "known", "effect_per_sd"} <= set(truth.columns)
    assert len(truth) == 6
    meta = json.loads((root / "simulation.json").read_text())
    assert meta["noise_sd_per_voxel"] == pytest.approx(meta["noise_sd"] / 8.0**1.5)  # the 8 mm test grid
    # VCF holds the same calls as the PLINK files
    g, bim, fam = read_plink_dosages(small_cohort["genotypes"]["discovery"])
    with gzip.open(root / "genotypes" / "discovery.vcf.bgz", "rt") as fh:
        rows = [line.rstrip("\n").split("\t") for line in fh if not line.startswith("##")]
    header, first = rows[0], rows[1]
    assert header[9:] == list(fam["IID"])
    calls = np.array([{"0/0": 0, "0/1": 1, "1/1": 2}[c] for c in first[9:]])
    np.testing.assert_array_equal(calls, g[:, 0])
    cov = pd.read_csv(small_cohort["covariates"]["discovery"], sep="\t")
    assert list(cov.columns[:2]) == ["FID", "IID"] and cov.isna().any().any()
    manifest = pd.read_csv(small_cohort["manifests"]["discovery"], sep="\t")
    img = nib.load(root / "images" / manifest["T1"].iloc[0])
    shape, affine = mni_grid(8.0)
    assert img.shape == shape and np.allclose(img.affine, affine)


def test_cohort__known_loci_have_a_nearby_prior_hit_and_novel_do_not(small_cohort):
    truth = pd.read_csv(small_cohort["truth"], sep="\t")
    hits = pd.read_csv(small_cohort["prior_hits"], sep="\t")
    for row in truth.itertuples():
        same = hits[hits["chromosome"] == row.chromosome]
        dist = (same["base_pair_location"] - row.base_pair_location).abs().min() if len(same) else np.inf
        if row.known:
            assert dist < 500_000
        else:
            assert dist > 1_000_000


def test_cohort__causal_variant_changes_its_structure(small_cohort):
    """Images of carriers differ from non-carriers inside the planted structure more than elsewhere."""
    truth = pd.read_csv(small_cohort["truth"], sep="\t")
    row = truth[truth["region"] == "Putamen"].iloc[0]
    g, bim, fam = read_plink_dosages(small_cohort["genotypes"]["discovery"])
    dosage = g[:, bim.index[bim["id"] == row.rsid][0]]
    manifest = pd.read_csv(small_cohort["manifests"]["discovery"], sep="\t").set_index("IID")
    root = small_cohort["root"] / "images"
    imgs = np.stack([nib.load(root / manifest.loc[i, "T2"]).get_fdata() for i in fam["IID"]])
    imgs /= imgs.reshape(len(imgs), -1).sum(1)[:, None, None, None] / 1e6
    diff = imgs[dosage == 2].mean(0) - imgs[dosage == 0].mean(0)
    renderer = BrainRenderer(8.0)
    from udip_gwas.annotation.atlas import harvard_oxford
    merged, table = harvard_oxford(8.0).merged()
    putamen = merged == int(table.loc[table["region"] == "Putamen", "label"].iloc[0])
    brain = imgs.mean(0) > 0
    sign = np.sign(row.effect_per_sd)
    assert sign * diff[putamen].mean() > 4 * np.abs(diff[brain & ~putamen]).mean()
    assert renderer.shape == putamen.shape


def _brain_voxels_and_head_size(paths: dict) -> tuple[np.ndarray, np.ndarray]:
    cov = pd.read_csv(paths["covariates"]["discovery"], sep="\t").dropna(subset=["head_size"])
    manifest = pd.read_csv(paths["manifests"]["discovery"], sep="\t").set_index("IID")
    root = paths["manifests"]["discovery"].rsplit("/", 1)[0]
    voxels = np.array([(np.asarray(nib.load(f"{root}/{manifest.loc[i, 'T1']}").dataobj) > 0).sum()
                       for i in cov["IID"]], dtype=float)
    return voxels, cov["head_size"].to_numpy(dtype=float)


def test_cohort__registered_images_carry_no_head_size(small_cohort, tmp_path):
    """By default the images are as if registered to MNI: brain size in voxels does not follow the head-size
    covariate; with the scaling left in (head_scale_in_images = 1) it does."""
    from udip_gwas.simulation.cohort import SimulationParams, simulate_cohort

    voxels, head = _brain_voxels_and_head_size(small_cohort)
    assert small_cohort["params"].head_scale_in_images == 0.0
    assert abs(np.corrcoef(voxels, head)[0, 1]) < 0.3
    params = SimulationParams(n_discovery=60, n_replication=10, n_train=0, chromosomes=(1, 6),
                              variants_per_chromosome=600, grid_mm=8.0, seed=7, head_scale_in_images=1.0,
                              effects=small_cohort["params"].effects)
    voxels, head = _brain_voxels_and_head_size(simulate_cohort(tmp_path, params, workers=1))
    assert np.corrcoef(voxels, head)[0, 1] > 0.8


def test_cohort__negative_image_parameters_are_refused(tmp_path):
    from udip_gwas.exceptions import ConfigError
    from udip_gwas.simulation.cohort import SimulationParams, simulate_cohort

    with pytest.raises(ConfigError, match="simulate.deformation_mm"):
        simulate_cohort(tmp_path, SimulationParams(deformation_mm=-1.0))
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("voxel_mm", [4.0, 8.0])
def test_renderer__noise_is_the_1mm_noise_averaged_over_a_voxel(voxel_mm):
    """noise_sd is a 1 mm acquisition's; a voxel of the coarse grid averages voxel_mm^3 of them."""
    r = BrainRenderer(voxel_mm)
    kw = dict(head_scale=1.0, effects=[], intensity_scale={"T1": 1.3, "T2": 0.7}, deformation_mm=0.0)
    clean = r.render(rng=np.random.default_rng(4), noise_sd=0.0, **kw)
    noisy = r.render(rng=np.random.default_rng(4), noise_sd=0.05, **kw)
    for modality, scale in (("T1", 1.3), ("T2", 0.7)):
        inside = clean[modality] > 0.1  # away from the clip at 1e-3
        sd = float((noisy[modality] - clean[modality])[inside].std())
        assert sd == pytest.approx(0.05 * scale / voxel_mm**1.5, rel=0.05)


@pytest.mark.parametrize("region", ["Thalamus", "Lateral_Ventricle"])
def test_renderer__volume_effect_grows_the_structure(region):
    r = BrainRenderer(4.0)
    from udip_gwas.annotation.atlas import harvard_oxford
    merged, table = harvard_oxford(4.0).merged()
    label = int(table.loc[table["region"] == region, "label"].iloc[0])
    kw = dict(head_scale=1.0, intensity_scale={"T1": 1.0, "T2": 1.0}, noise_sd=0.0, deformation_mm=0.0)
    base = r.render(effects=[], rng=np.random.default_rng(1), **kw)["T1"]
    big = r.render(effects=[StructureEffect(region, "volume", 0.25)], rng=np.random.default_rng(1), **kw)["T1"]
    changed = np.abs(big - base) > 0.02
    struct = merged == label
    # the change sits at and around the structure (within 2.5 radii of a hemisphere's centre), not
    # across the brain
    pts = np.stack(np.meshgrid(*[np.arange(n) * 4.0 + 1.5 for n in merged.shape], indexing="ij"))
    near = np.zeros_like(struct)
    for centre, radius, _ in r._hemisphere_parts(region):
        near |= np.sqrt(((pts - centre[:, None, None, None]) ** 2).sum(0)) < 2.5 * radius
    assert changed.sum() > 20
    assert changed[near].sum() > 0.9 * changed.sum()
    assert changed[struct].any()


def test_sample_volume__matches_scipy_map_coordinates():
    import torch
    from scipy import ndimage

    from udip_gwas.simulation.images import sample_volume

    rng = np.random.default_rng(0)
    vol = rng.random((20, 30, 25)).astype(np.float32)
    coords = rng.uniform(-2, 32, (3, 10, 11, 12)).astype(np.float32)
    inside = np.all((coords >= 0) & (coords <= np.array(vol.shape)[:, None, None, None] - 1), axis=0)
    lin = sample_volume(torch.from_numpy(vol)[None, None], coords, mode="bilinear")[0]
    np.testing.assert_allclose(lin[inside], ndimage.map_coordinates(vol, coords, order=1)[inside], atol=1e-5)
    labels = rng.integers(0, 5, (20, 30, 25)).astype(np.float32)
    near = sample_volume(torch.from_numpy(labels)[None, None], coords, mode="nearest")[0]
    assert (near[inside] == ndimage.map_coordinates(labels, coords, order=0)[inside]).mean() > 0.99
    outside = np.any((coords < -1) | (coords > np.array(vol.shape)[:, None, None, None]), axis=0)
    assert (lin[outside] == 0).all()


def test_simulate_effects__user_tables_replace_the_built_in_ones_and_are_checked():
    from udip_gwas import config
    from udip_gwas.exceptions import ConfigError
    from udip_gwas.simulation.cohort import DEFAULT_EFFECTS, SimulationParams, parse_effects

    cfg = config.load(None, {"simulate": {"effects": [
        {"region": "Amygdala", "kind": "volume", "modality": "both", "effect_per_sd": 0.2, "known": True},
        {"region": "Insular_Cortex", "kind": "intensity", "modality": "T2", "effect_per_sd": 0.1, "known": False,
         "weak": True}]}})
    params = SimulationParams.from_config(cfg)
    assert [(e.region, e.modality, e.weak) for e in params.effects] == [("Amygdala", None, False),
                                                                         ("Insular_Cortex", "T2", True)]
    assert SimulationParams.from_config(config.load(None, {})).effects == DEFAULT_EFFECTS
    with pytest.raises(ConfigError, match=r"effects\[0\]: region 'Amygdale' is not a Harvard-Oxford region; valid "
                                          r"names: .*Amygdala.*Brain-Stem"):
        parse_effects([{"region": "Amygdale", "kind": "volume", "modality": "both", "effect_per_sd": 0.2,
                        "known": True}])
    with pytest.raises(ConfigError, match=r"missing key\(s\) known; unknown key\(s\) size"):
        parse_effects([{"region": "Amygdala", "kind": "volume", "modality": "both", "effect_per_sd": 0.2,
                        "size": 3}])
    with pytest.raises(ConfigError, match="modality 'T3'"):
        parse_effects([{"region": "Amygdala", "kind": "volume", "modality": "T3", "effect_per_sd": 0.2,
                        "known": True}])

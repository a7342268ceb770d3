"""PerDI maps: the streaming paired t, the network and the linear decoder (udip_gwas/annotation/perdi.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from udip_gwas.annotation.atlas import harvard_oxford, template
from udip_gwas.annotation.perdi import (RunningPairedT, decoder_design, direct_design, direct_t, image_cross_products,
                                       linear_decoder_maps, linear_decoder_t, locus_direct_maps, perdi_maps,
                                       postprocess, spatial_correlation)
from udip_gwas.annotation.regions import region_scores
from udip_gwas.imaging.autoencoder import AutoencoderConfig


def test_running_paired_t__matches_scipy_ttest_rel_with_uneven_batches():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(23, 3, 4, 5))
    b = a + rng.normal(0.3, 1.0, size=a.shape)
    acc = RunningPairedT((3, 4, 5))
    for lo, hi in [(0, 5), (5, 6), (6, 17), (17, 23)]:
        acc.update(torch.from_numpy(b[lo:hi] - a[lo:hi]))
    expected = stats.ttest_rel(b, a, axis=0).statistic
    np.testing.assert_allclose(acc.t().numpy(), expected, rtol=1e-10)


def test_running_paired_t__constant_difference_gives_zero_not_nan():
    acc = RunningPairedT((2,))
    acc.update(torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]))
    assert acc.t().tolist() == [0.0, 0.0]


class StructureDecoder(torch.nn.Module):
    """A decoder whose dimension `k` changes only one atlas structure, and the others diffuse patterns;
    nonlinear, so the differences vary between subjects."""

    def __init__(self, shape, structure_mask, k, latent_dim=6, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.config = AutoencoderConfig(input_shape=tuple(shape), latent_dim=latent_dim, base_channels=1)
        patterns = torch.randn((latent_dim, *shape), generator=g) * 0.2
        patterns[k] = torch.from_numpy(structure_mask.astype(np.float32))
        self.register_buffer("patterns", patterns)
        self.register_buffer("base", torch.randn(shape, generator=g))

    @property
    def latent_dim(self):
        return self.config.latent_dim

    def decode(self, z):
        return (self.base + torch.einsum("bd,d...->b...", torch.tanh(z), self.patterns))[:, None]


def test_perdi__decoder_changing_one_structure_puts_it_first():
    atlas = harvard_oxford(8.0)
    merged, table = atlas.merged()
    label = int(table.loc[table["region"] == "Putamen", "label"].iloc[0])
    brain = template(8.0) > 0
    model = StructureDecoder(merged.shape, merged == label, k=2)
    z = np.random.default_rng(1).normal(size=(40, 6))
    t = perdi_maps(model, z, dimensions=[2, 4], batch_size=7, dims_per_pass=1)
    maps = {f"d{d}": postprocess(t[i], brain, sigma_voxels=3 / 8) for i, d in enumerate([2, 4])}
    scores = region_scores(maps, atlas, brain)
    top = scores[(scores["dimension"] == "d2") & (scores["hemisphere"] == "bilateral")].sort_values("rank")
    assert top["region"].iloc[0] == "Putamen"
    lat = scores[(scores["dimension"] == "d2") & (scores["hemisphere"] != "bilateral")].sort_values("rank")
    assert set(lat["region"].iloc[:2]) == {"Putamen"}
    assert scores.loc[(scores["dimension"] == "d4") & (scores["region"] == "Putamen") &
                      (scores["hemisphere"] == "bilateral"), "rank"].iloc[0] > 1


def test_linear_decoder__t_maps_match_statsmodels_ols():
    import statsmodels.api as sm

    rng = np.random.default_rng(3)
    n, p, shape = 60, 5, (4, 3, 5)
    u = rng.normal(size=(n, p)) @ rng.normal(size=(p, p))  # correlated dimensions, unequal scales
    u[:, 2] += 40.0
    patterns = rng.normal(size=(p, *shape))
    vols = 1.5 + np.einsum("np,p...->n...", u, patterns) * 0.2 + rng.normal(size=(n, *shape))
    mask = rng.random(shape) > 0.2
    mask[0, 0, 0] = True
    vols[:, 0, 0, 0] = 2.0  # a voxel with no variation: t 0, not nan
    t = linear_decoder_maps(u, lambda i: vols[i], voxel_mask=mask, dimensions=[1, 3], batch_size=7,
                            voxel_chunk=5)
    t_neg = linear_decoder_maps(u, lambda i: vols[i], voxel_mask=mask, dimensions=[1, 3], k=-1.0)
    np.testing.assert_allclose(t_neg, -t)
    assert t.shape == (2, *shape) and np.all(t[:, ~mask] == 0) and np.all(t[:, 0, 0, 0] == 0)
    checked = 0
    for idx in zip(*np.nonzero(mask)):
        if idx == (0, 0, 0):
            continue
        fit = sm.OLS(vols[(slice(None), *idx)], sm.add_constant(u)).fit()
        np.testing.assert_allclose(t[(slice(None), *idx)], fit.tvalues[[2, 4]], rtol=1e-6)
        checked += 1
    assert checked > 30


def test_linear_decoder__refuses_too_few_subjects_and_constant_dimensions():
    vols = np.ones((6, 2, 2, 2))
    with pytest.raises(ValueError, match="more subjects than 6"):
        linear_decoder_maps(np.random.default_rng(0).normal(size=(6, 5)), lambda i: vols[i],
                            voxel_mask=np.ones((2, 2, 2), bool))
    u = np.random.default_rng(0).normal(size=(6, 2))
    u[:, 1] = 3.0
    with pytest.raises(ValueError, match=r"column\(s\) \[1\] are constant"):
        linear_decoder_maps(u, lambda i: vols[i], voxel_mask=np.ones((2, 2, 2), bool))


def test_linear_decoder__dimension_carried_by_one_structure_puts_it_first():
    """Images whose putamen intensity follows one dimension (the others: diffuse patterns) put the putamen
    first for that dimension after the PerDI post-processing and region scoring."""
    atlas = harvard_oxford(8.0)
    merged, table = atlas.merged()
    label = int(table.loc[table["region"] == "Putamen", "label"].iloc[0])
    brain = template(8.0) > 0
    rng = np.random.default_rng(4)
    u = rng.normal(size=(80, 6))
    patterns = rng.normal(size=(6, *merged.shape)) * 0.05
    patterns[2] = (merged == label) * 0.3
    vols = np.where(brain, rng.normal(size=(80, *merged.shape)) + np.einsum("nd,d...->n...", u, patterns), 0)
    t = linear_decoder_maps(u, lambda i: vols[i], voxel_mask=brain, dimensions=[2, 4])
    maps = {f"d{d}": postprocess(t[i], brain, sigma_voxels=3 / 8) for i, d in enumerate([2, 4])}
    scores = region_scores(maps, atlas, brain)
    bil = scores[scores["hemisphere"] == "bilateral"]
    assert bil[bil["dimension"] == "d2"].sort_values("rank")["region"].iloc[0] == "Putamen"
    assert bil.loc[(bil["dimension"] == "d4") & (bil["region"] == "Putamen"), "rank"].iloc[0] > 1


def test_perdi__rotated_dimension_is_perturbed_along_its_axis():
    shape = (6, 5, 4)
    model = StructureDecoder(shape, np.ones(shape, bool), k=0, latent_dim=4, seed=3)
    rng = np.random.default_rng(2)
    z = rng.normal(size=(30, 4)) @ rng.normal(size=(4, 4))
    axes, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    t = perdi_maps(model, z, dimensions=[1, 3], k=1.0, batch_size=4, dims_per_pass=1, axes=axes)
    zt = torch.as_tensor(z, dtype=torch.float32)
    with torch.no_grad():
        original = model.decode(zt)[:, 0].numpy().reshape(len(z), -1)
        for j, d in enumerate([1, 3]):
            step = (z @ axes[:, d]).std(ddof=1) * axes[:, d]
            perturbed = model.decode(zt + torch.as_tensor(step, dtype=torch.float32))[:, 0].numpy().reshape(len(z), -1)
            expected = stats.ttest_rel(perturbed, original).statistic
            np.testing.assert_allclose(t[j].ravel(), expected, rtol=1e-3, atol=1e-3)


def test_linear_decoder__effect_vector_maps_match_statsmodels_contrasts():
    """A locus's map along its effect vector w (in SDs of each dimension): the t of the contrast sum_d w_d c_d of
    the per-SD coefficients, from the fit's covariance, against statsmodels' t_test of that contrast."""
    import statsmodels.api as sm

    rng = np.random.default_rng(8)
    n, p, shape = 70, 4, (3, 4, 5)
    u = rng.normal(size=(n, p)) @ rng.normal(size=(p, p))
    vols = np.einsum("np,p...->n...", u, rng.normal(size=(p, *shape))) * 0.1 + rng.normal(size=(n, *shape))
    mask = np.ones(shape, bool)
    w = np.array([[0.3, -0.2, 0.0, 0.1], [0.0, 0.0, 1.0, 0.0]])
    t = linear_decoder_maps(u, lambda i: vols[i], voxel_mask=mask, vectors=w, batch_size=9, voxel_chunk=7)
    one = linear_decoder_maps(u, lambda i: vols[i], voxel_mask=mask, dimensions=[2])
    np.testing.assert_allclose(t[1], one[0], rtol=1e-6)  # a unit vector is that dimension's map
    x = sm.add_constant((u - u.mean(0)) / u.std(0, ddof=1))
    for idx in list(zip(*np.nonzero(mask)))[::5]:
        fit = sm.OLS(vols[(slice(None), *idx)], x).fit()
        expected = float(np.squeeze(fit.t_test(np.append(0.0, w[0])).tvalue))
        assert t[(0, *idx)] == pytest.approx(expected, rel=1e-6)


def test_perdi__effect_vector_perturbs_along_the_combined_direction():
    shape = (6, 5, 4)
    model = StructureDecoder(shape, np.ones(shape, bool), k=0, latent_dim=4, seed=5)
    rng = np.random.default_rng(4)
    z = rng.normal(size=(25, 4)) @ rng.normal(size=(4, 4))
    w = np.array([[0.5, 0.0, -0.5, 0.2]])
    t = perdi_maps(model, z, vectors=w, k=1.0, batch_size=4)
    sd = z.std(0, ddof=1)
    step = (w[0] / np.linalg.norm(w[0])) * sd          # unit length in SDs, along the dimensions' own axes
    zt = torch.as_tensor(z, dtype=torch.float32)
    with torch.no_grad():
        original = model.decode(zt)[:, 0].numpy().reshape(len(z), -1)
        perturbed = model.decode(zt + torch.as_tensor(step, dtype=torch.float32))[:, 0].numpy().reshape(len(z), -1)
    expected = stats.ttest_rel(perturbed, original).statistic
    np.testing.assert_allclose(t[0].ravel(), expected, rtol=1e-3, atol=1e-3)


def _direct_cohort(seed: int, n: int = 80, shape=(4, 3, 5)):
    """Dosages of 3 leads (some calls missing), covariates with a categorical-like indicator, images where the
    first lead and the covariates act on some voxels."""
    rng = np.random.default_rng(seed)
    g = rng.binomial(2, [0.3, 0.1, 0.45], size=(n, 3)).astype(float)
    cov = np.column_stack([rng.normal(60, 7, n), rng.integers(0, 2, n).astype(float)])
    vols = rng.normal(size=(n, *shape)) + 0.03 * cov[:, 0, None, None, None] + 0.5 * cov[:, 1, None, None, None]
    vols[:, :2] += 1.0 * g[:, 0, None, None, None]
    g[rng.random(g.shape) < 0.05] = np.nan
    return g, cov, vols


def test_direct_view__t_matches_statsmodels_ols_with_covariates_and_missing_dosages():
    import statsmodels.api as sm

    g, cov, vols = _direct_cohort(11)
    shape = vols.shape[1:]
    mask = np.ones(shape, bool)
    mask[3, 2, 4] = False
    t = locus_direct_maps(g, cov, lambda i: vols[i], voxel_mask=mask, batch_size=13)
    assert t.shape == (3, *shape) and np.all(t[:, 3, 2, 4] == 0)
    imputed = np.where(np.isnan(g), np.nanmean(g, axis=0), g)  # the GWAS's rule: mean of the called dosages
    checked = 0
    for idx in list(zip(*np.nonzero(mask)))[::4]:
        for locus in range(3):
            fit = sm.OLS(vols[(slice(None), *idx)], sm.add_constant(np.column_stack([cov, imputed[:, locus]]))).fit()
            assert t[(locus, *idx)] == pytest.approx(fit.tvalues[-1], rel=1e-6)  # float32 maps
            checked += 1
    assert checked > 40
    assert np.abs(t[0, :2]).mean() > 4 * np.abs(t[0, 2:]).mean()  # where the first lead acts


def test_direct_view__shares_the_linear_decoders_pass_on_a_subset_of_its_subjects():
    """One pass over the images with the decoder's and the direct view's regressors side by side, the direct
    view on a subset (its columns zero elsewhere): both maps equal their separate computations."""
    g, cov, vols = _direct_cohort(12, n=90)
    rng = np.random.default_rng(2)
    u = rng.normal(size=(90, 4))
    mask = np.ones(vols.shape[1:], bool)
    rows = rng.random(90) > 0.2
    x = decoder_design(u)
    gd, c = direct_design(g[rows], cov[rows])
    side = np.zeros((90, gd.shape[1] + c.shape[1]))
    side[rows] = np.hstack([gd, c])
    sty, yy, yy_rows = image_cross_products(lambda i: vols[i], np.hstack([x, side]), voxel_mask=mask, subset=rows,
                                            batch_size=16)
    q = x.shape[1]
    dec = linear_decoder_t(x, sty[:q], yy, voxel_mask=mask, dimensions=[0, 2])
    np.testing.assert_allclose(dec, linear_decoder_maps(u, lambda i: vols[i], voxel_mask=mask, dimensions=[0, 2]),
                               rtol=1e-10, atol=1e-6)
    direct = direct_t(gd, c, sty[q:q + 3], sty[q + 3:], yy_rows, voxel_mask=mask)
    # the torch path (a GPU's, run here on the CPU) gives the same sums
    on_torch = image_cross_products(lambda i: vols[i], np.hstack([x, side]), voxel_mask=mask, subset=rows,
                                    batch_size=16, device="cpu")
    for a, b in zip(on_torch, (sty, yy, yy_rows)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-9)
    sub = vols[rows]
    alone = locus_direct_maps(g[rows], cov[rows], lambda i: sub[i], voxel_mask=mask)
    np.testing.assert_allclose(direct, alone, rtol=1e-6, atol=1e-6)


def test_direct_view__constant_dosage_gives_zeros_and_too_few_subjects_are_refused():
    g, cov, vols = _direct_cohort(13, n=30)
    g[:, 1] = 1.0
    t = locus_direct_maps(g, cov, lambda i: vols[i], voxel_mask=np.ones(vols.shape[1:], bool))
    assert np.all(t[1] == 0) and np.any(t[0] != 0)
    gd, c = direct_design(g[:3], cov[:3])
    with pytest.raises(ValueError, match="3 subjects for 2 covariates"):
        direct_t(gd, c, np.zeros((3, 5)), np.zeros((3, 5)), np.ones(5), voxel_mask=np.ones(5, bool))


def test_spatial_correlation__is_pearson_over_the_mask():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(2, 6, 5, 4))
    mask = rng.random((6, 5, 4)) > 0.3
    assert spatial_correlation(a, b, mask) == pytest.approx(np.corrcoef(a[mask], b[mask])[0, 1])
    assert spatial_correlation(a, -2 * a + 1, mask) == pytest.approx(-1.0)
    assert np.isnan(spatial_correlation(a, np.zeros_like(a), mask))

"""PerDI: perturbation-based decoder interpretation of UDIP dimensions.

For N subjects' UDIPs ``z`` and a dimension ``d``: decode ``z`` and ``z + k * SD_d * e_d`` (SD over the N
subjects), take the voxelwise paired t statistic of perturbed against original reconstructions, keep
``|t|`` inside the brain mask and smooth it with a Gaussian (sigma 3 mm, in voxels of the grid).

Efficiency: subjects are processed in batches; each batch's original reconstructions are decoded once and
reused for every dimension; the t statistics come from running means and sums of squares of the
differences (Welford), so no subject's volume is kept after its batch.

A linear decoder (``linear_decoder_maps``) is the alternative for models whose network decoder does not draw
what the latent carries (one that does not beat its training subjects' mean image): per voxel, the subjects'
image intensity is fitted by least squares on an intercept and all their UDIP dimensions. Perturbing dimension
``d`` by ``k`` SDs changes that decoder's output by ``k`` times the coefficient of the standardised dimension,
the same change for every subject, so the paired t test degenerates; the map is the coefficient's own t
statistic instead (the change against its standard error), signed by ``k``. It is the voxelwise association
of a dimension with the images holding the other dimensions fixed, and needs the subjects' images.

A locus is mapped in two views: the decoder's change along its effect vector (``perdi_maps`` or
``linear_decoder_t`` with ``vectors``), and directly (``direct_t``), the voxelwise OLS t of its lead's dosage with
the GWAS's covariates. Both regressions on the images come from one streamed pass (``image_cross_products``).

References
----------
Patel K. et al., Communications Biology 7, 414 (2024), "PerDI".
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np
import torch
from scipy import ndimage

from udip_gwas.imaging.autoencoder import UDIPAutoencoder, place_model

log = logging.getLogger(__name__)


class RunningPairedT:
    """Streaming paired t statistic for several maps at once (Welford's algorithm).

    ``update(diff)`` takes differences of shape ``(batch, n_maps, *voxels)``.
    """

    def __init__(self, shape: tuple[int, ...], device: torch.device | str = "cpu"):
        self.n = 0
        self.mean = torch.zeros(shape, dtype=torch.float64, device=device)
        self.m2 = torch.zeros(shape, dtype=torch.float64, device=device)

    def update(self, diff: torch.Tensor) -> None:
        diff = diff.to(self.mean.dtype)
        b = diff.shape[0]
        batch_mean = diff.mean(0)
        batch_m2 = ((diff - batch_mean) ** 2).sum(0)
        total = self.n + b
        delta = batch_mean - self.mean
        self.mean += delta * (b / total)
        self.m2 += batch_m2 + delta**2 * (self.n * b / total)
        self.n = total

    def t(self) -> torch.Tensor:
        if self.n < 2:
            raise ValueError(f"paired t needs at least 2 subjects, found {self.n}")
        var = self.m2 / (self.n - 1)
        se = torch.sqrt(var / self.n)
        t = self.mean / se
        # voxels where every difference is identical (e.g. background) carry no evidence
        return torch.where(se > 0, t, torch.zeros_like(t))


def smoothing_sigma_voxels(voxel_size_mm: float, sigma_mm: float = 3.0) -> float:
    """The original's sigma of 3 voxels at 1 mm, scaled to the grid's voxel size."""
    return sigma_mm / voxel_size_mm


@torch.no_grad()
def perdi_maps(
    model: UDIPAutoencoder,
    latents: np.ndarray,
    *,
    dimensions: list[int] | None = None,
    k: float = 1.0,
    batch_size: int = 8,
    dims_per_pass: int = 16,
    device: torch.device | str = "cpu",
    axes: np.ndarray | None = None,
    vectors: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Voxelwise paired t maps (unsmoothed, unmasked) of perturbed vs original reconstructions.

    Parameters
    ----------
    latents
        (N, latent_dim) latent values of the subjects (the UDIPs, unless they are rotated: see ``axes``).
    dimensions
        0-based dimensions to perturb (default all).
    axes
        (latent_dim, latent_dim) orthonormal columns when the UDIPs are rotated latents
        (:mod:`udip_gwas.imaging.basis`): dimension ``d`` is then perturbed along ``axes[:, d]`` by ``k`` SDs of
        ``latents @ axes[:, d]``. ``latents`` are always the decoder's raw latents.
    vectors
        (n_vectors, n_dimensions) directions in the UDIPs' coordinates (a locus's effect vector, one entry per
        dimension, in SDs of that dimension): instead of ``dimensions``, every subject's latent moves along each
        vector, scaled to ``k`` SDs in length (``sum_d w_d sd_d axes[:, d]`` with ``|w| = k``).
    k
        Perturbation in SDs of each dimension over the N subjects (negative for -k SD).
    dims_per_pass
        Dimensions accumulated together; memory is ``2 * dims_per_pass`` float64 volumes.

    Returns
    -------
    ndarray
        (len(dimensions), *grid) float32 t statistics.
    """
    device = torch.device(device)
    model = place_model(model, device).eval()
    z_all = torch.as_tensor(np.asarray(latents, dtype=np.float32))
    n, latent_dim = z_all.shape
    dims = list(range(latent_dim)) if dimensions is None else list(dimensions)
    directions = torch.eye(latent_dim) if axes is None else torch.as_tensor(np.asarray(axes, dtype=np.float32))
    if directions.shape != (latent_dim, latent_dim):
        raise ValueError(f"axes of shape {tuple(directions.shape)} do not fit a {latent_dim}-dimension latent")
    sd = (z_all @ directions).std(0, unbiased=True)
    if vectors is not None:
        w = torch.as_tensor(np.asarray(vectors, dtype=np.float32))
        w = k * w / w.norm(dim=1, keepdim=True).clamp_min(1e-30)
        shifts = (w * sd) @ directions.T                       # (n_vectors, latent_dim)
        dims = list(range(len(shifts)))
    else:
        shifts = torch.stack([k * sd[d] * directions[:, d] for d in dims]) if dims else torch.zeros((0, latent_dim))
    grid = model.config.input_shape
    out = np.zeros((len(dims), *grid), dtype=np.float32)
    total_steps = ((n + batch_size - 1) // batch_size) * len(dims)
    step = 0
    for start in range(0, len(dims), dims_per_pass):
        chunk = dims[start:start + dims_per_pass]
        acc = RunningPairedT((len(chunk), *grid), device=device)
        for b0 in range(0, n, batch_size):
            z = z_all[b0:b0 + batch_size].to(device)
            original = model.decode(z)[:, 0]  # decoded once per batch, reused for every dimension
            diffs = torch.empty((z.shape[0], len(chunk), *grid), device=device, dtype=torch.float32)
            for j in range(len(chunk)):
                zp = z + shifts[start + j].to(device)
                diffs[:, j] = model.decode(zp)[:, 0] - original
                step += 1
            acc.update(diffs)
            if progress:
                progress(min(step, total_steps), total_steps)
        out[start:start + len(chunk)] = acc.t().float().cpu().numpy()
    return out


def image_cross_products(load: Callable[[int], np.ndarray], regressors: np.ndarray, *, voxel_mask: np.ndarray,
                         batch_size: int = 32, subset: np.ndarray | None = None, device: str | None = None,
                         progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, ...]:
    """One streamed pass over the subjects' volumes: ``S'Y`` (q x voxels) for the (n, q) ``regressors`` ``S`` and the
    voxels' sums of squares ``y'y``, inside ``voxel_mask``. Every regression of the images on columns of ``S`` (the
    linear decoder's, the locus maps' direct view) is then a function of these and ``S``; one matrix product per
    batch of subjects, ``8 * (q + 1)`` bytes a voxel held. With ``subset`` (n booleans) a third array, ``y'y`` over
    those subjects only, serves a regression on them (its columns of ``S`` are zero elsewhere). With a torch
    ``device`` (``"cuda"``) the products run there in float64 and the sums stay there until the end."""
    s = np.asarray(regressors, dtype=np.float64)
    n = len(s)
    mask = np.asarray(voxel_mask, dtype=bool)
    rows = None if subset is None else np.asarray(subset, dtype=bool)
    if device is not None:
        return _cross_products_torch(load, s, mask, batch_size, rows, torch.device(device), progress)
    sty = np.zeros((s.shape[1], int(mask.sum())))
    yy = np.zeros(sty.shape[1])
    yy_subset = None if subset is None else np.zeros(sty.shape[1])
    for b0, y in _masked_batches(load, n, mask, batch_size, progress):
        sty += s[b0:b0 + len(y)].T @ y
        sq = y * y
        yy += sq.sum(0)
        if rows is not None:
            yy_subset += sq[rows[b0:b0 + len(y)]].sum(0)
    return (sty, yy) if rows is None else (sty, yy, yy_subset)


def _masked_batches(load: Callable[[int], np.ndarray], n: int, mask: np.ndarray, batch_size: int, progress):
    """``(first subject, float64 array of the batch's voxels inside mask)`` for each batch of the n subjects, each
    volume's grid checked; ``progress(batch, batches)`` after each."""
    steps = (n + batch_size - 1) // batch_size
    for step, b0 in enumerate(range(0, n, batch_size), 1):
        ys = []
        for i in range(b0, min(n, b0 + batch_size)):
            vol = np.asarray(load(i))
            if vol.shape != mask.shape:
                raise ValueError(f"subject {i}'s volume has grid {vol.shape}, expected {mask.shape}")
            ys.append(vol[mask])
        yield b0, np.asarray(ys, dtype=np.float64)
        if progress:
            progress(step, steps)


def _cross_products_torch(load, s: np.ndarray, mask: np.ndarray, batch_size: int, rows, device: torch.device,
                          progress) -> tuple[np.ndarray, ...]:
    """:func:`image_cross_products` with the products on a torch device."""
    st = torch.as_tensor(s, dtype=torch.float64, device=device)
    v = int(mask.sum())
    sty = torch.zeros((s.shape[1], v), dtype=torch.float64, device=device)
    yy = torch.zeros(v, dtype=torch.float64, device=device)
    yy_subset = None if rows is None else torch.zeros_like(yy)
    for b0, batch in _masked_batches(load, len(s), mask, batch_size, progress):
        y = torch.as_tensor(batch, device=device)
        sty += st[b0:b0 + len(y)].T @ y
        sq = y * y
        yy += sq.sum(0)
        if rows is not None:
            yy_subset += sq[torch.as_tensor(rows[b0:b0 + len(y)], device=device)].sum(0)
    out = (sty.cpu().numpy(), yy.cpu().numpy())
    return out if rows is None else out + (yy_subset.cpu().numpy(),)


def decoder_design(udips: np.ndarray) -> np.ndarray:
    """The linear decoder's regressors: an intercept and the standardised UDIP columns (checked: more subjects than
    columns, none constant)."""
    u = np.asarray(udips, dtype=np.float64)
    n, p = u.shape
    if n <= p + 1:
        raise ValueError(f"linear decoder: {n} subjects for {p} dimensions and an intercept; it needs more subjects "
                         f"than {p + 1} (raise perdi.n_subjects)")
    sd = u.std(0, ddof=1)
    flat = [int(i) for i in np.flatnonzero(~(sd > 0))]
    if flat:
        raise ValueError(f"linear decoder: dimension column(s) {flat[:5]} are constant over the {n} subjects")
    return np.column_stack([np.ones(n), (u - u.mean(0)) / sd])


def linear_decoder_t(x: np.ndarray, xty: np.ndarray, yy: np.ndarray, *, voxel_mask: np.ndarray,
                     dimensions: list[int] | None = None, k: float = 1.0, vectors: np.ndarray | None = None,
                     voxel_chunk: int = 1 << 16) -> np.ndarray:
    """The linear decoder's t maps from its design ``x`` (:func:`decoder_design`) and the cross products
    (:func:`image_cross_products` of ``x``); see :func:`linear_decoder_maps`."""
    n, p = x.shape[0], x.shape[1] - 1
    dims = list(range(p)) if dimensions is None else list(dimensions)
    xtx = x.T @ x
    try:
        c = np.linalg.inv(xtx)
    except np.linalg.LinAlgError as err:
        raise ValueError(f"linear decoder: the {p} dimensions are linearly dependent over the {n} subjects") from err
    cond = np.linalg.cond(xtx)
    if cond > 1e12:
        log.warning("linear decoder: the dimensions are nearly collinear (condition number %.2g); the coefficients' "
                    "t statistics will be small", cond)
    mask = np.asarray(voxel_mask, dtype=bool)
    # each map is a combination L of the coefficients (a row of L per map): one dimension's, or a vector's
    if vectors is None:
        comb = np.zeros((len(dims), p + 1))
        comb[np.arange(len(dims)), [d + 1 for d in dims]] = 1.0
    else:
        comb = np.column_stack([np.zeros(len(vectors)), np.asarray(vectors, dtype=np.float64)])
    var_factor = np.einsum("ij,jk,ik->i", comb, c, comb)
    v = xty.shape[1]
    t = np.zeros((len(comb), v), dtype=np.float32)
    for lo in range(0, v, voxel_chunk):
        sl = slice(lo, lo + voxel_chunk)
        beta = c @ xty[:, sl]
        rss = np.maximum(yy[sl] - np.einsum("ij,ij->j", beta, xty[:, sl]), 0.0)
        se = np.sqrt(np.outer(var_factor, rss / (n - p - 1)))
        est = comb @ beta
        t[:, sl] = np.divide(est, se, out=np.zeros_like(est), where=se > 0)
    out = np.zeros((len(comb), *mask.shape), dtype=np.float32)
    out[:, mask] = -t if k < 0 else t
    return out


def linear_decoder_maps(
    udips: np.ndarray,
    load: Callable[[int], np.ndarray],
    *,
    voxel_mask: np.ndarray,
    dimensions: list[int] | None = None,
    k: float = 1.0,
    batch_size: int = 32,
    voxel_chunk: int = 1 << 16,
    vectors: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Voxelwise t maps of a least-squares linear decoder from the UDIPs to the images (module docstring).

    Parameters
    ----------
    udips
        (N, n_dimensions) UDIP values as analysed (raw or rotated), one row per subject.
    load
        ``load(i)`` returns subject ``i``'s z-scored volume on the grid of ``voxel_mask``.
    voxel_mask
        Voxels to fit (outside them the maps are 0). The fit holds about ``8 * (n_dimensions + 2)`` bytes a voxel.
    dimensions
        0-based columns of ``udips`` to map (default all); every column is a regressor.
    vectors
        (n_vectors, n_dimensions) weights in SDs of each column (a locus's effect vector): instead of single
        dimensions, the map of each combination ``sum_d w_d c_d`` of the coefficients per SD, its t from the fit's
        covariance (``se² = w'(X'X)^-1 w * rss / (n - p - 1)``).

    Returns
    -------
    ndarray
        (len(dimensions) or n_vectors, *grid) float32 t statistics, times the sign of ``k``.
    """
    x = decoder_design(udips)
    xty, yy = image_cross_products(load, x, voxel_mask=voxel_mask, batch_size=batch_size, progress=progress)
    return linear_decoder_t(x, xty, yy, voxel_mask=voxel_mask, dimensions=dimensions, k=k, vectors=vectors,
                            voxel_chunk=voxel_chunk)


def direct_design(dosages: np.ndarray, covariates: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The direct view's regressors: the dosages (missing calls mean-imputed, as the GWAS does) and an intercept with
    the covariates. Returns ``(g, c)``, (n, loci) and (n, 1 + covariates)."""
    g = np.array(dosages, dtype=np.float64, ndmin=2)
    called = ~np.isnan(g)
    mean = np.where(called, g, 0.0).sum(0) / np.maximum(called.sum(0), 1)
    g = np.where(called, g, mean)
    cov = np.zeros((len(g), 0)) if covariates is None else np.asarray(covariates, dtype=np.float64).reshape(len(g), -1)
    return g, np.column_stack([np.ones(len(g)), cov])


def direct_t(g: np.ndarray, c: np.ndarray, gty: np.ndarray, cty: np.ndarray, yy: np.ndarray, *,
             voxel_mask: np.ndarray, voxel_chunk: int = 1 << 16) -> np.ndarray:
    """Per locus and voxel, the t statistic of the dosage in the OLS fit of the voxel's intensity on ``[c, g_l]``
    (the covariates with an intercept, and the lead's dosage), from the cross products ``g'Y``, ``c'Y`` and ``y'y``
    (:func:`image_cross_products`). The covariates are projected out through an orthonormal basis of ``c``:
    ``t = b / sqrt(rss / (n - k - 1) / g_r'g_r)`` with ``g_r`` the residualised dosage and ``b = g_r'y / g_r'g_r``.
    A dosage constant after the covariates gives a map of zeros.

    Returns
    -------
    ndarray
        (loci, *grid) float32 t statistics, positive where the effect allele raises the intensity.
    """
    n, k = c.shape
    if n <= k + 1:
        raise ValueError(f"direct view: {n} subjects for {k - 1} covariates, an intercept and the dosage")
    q, r = np.linalg.qr(c)
    keep = np.abs(np.diag(r)) > 1e-10 * max(1.0, np.abs(np.diag(r)).max())
    q, r = q[:, keep], r[np.ix_(keep, keep)]  # covariates collinear with others add nothing
    k = q.shape[1]
    qty = np.linalg.solve(r.T, cty[keep])            # Q'Y = R^-T C'Y
    gr = g - q @ (q.T @ g)
    grg = (gr * gr).sum(0)
    qtg = q.T @ g
    mask = np.asarray(voxel_mask, dtype=bool)
    v = gty.shape[1]
    t = np.zeros((g.shape[1], v), dtype=np.float32)
    for lo in range(0, v, voxel_chunk):
        sl = slice(lo, lo + voxel_chunk)
        yry = np.maximum(yy[sl] - (qty[:, sl] ** 2).sum(0), 0.0)
        gry = gty[:, sl] - qtg.T @ qty[:, sl]
        b = np.divide(gry, grg[:, None], out=np.zeros_like(gry), where=grg[:, None] > 0)
        rss = np.maximum(yry[None, :] - b * gry, 0.0)
        se = np.sqrt(np.divide(rss / (n - k - 1), grg[:, None], out=np.zeros_like(rss), where=grg[:, None] > 0))
        t[:, sl] = np.divide(b, se, out=np.zeros_like(b), where=se > 0)
    out = np.zeros((g.shape[1], *mask.shape), dtype=np.float32)
    out[:, mask] = t
    return out


def locus_direct_maps(dosages: np.ndarray, covariates: np.ndarray | None, load: Callable[[int], np.ndarray], *,
                      voxel_mask: np.ndarray, batch_size: int = 32,
                      progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """The direct view of each locus: the voxelwise association of its lead's dosage with the images, adjusted
    for the covariates (:func:`direct_t`), in one streamed pass over the volumes for every locus at once."""
    g, c = direct_design(dosages, covariates)
    sty, yy = image_cross_products(load, np.hstack([g, c]), voxel_mask=voxel_mask, batch_size=batch_size,
                                   progress=progress)
    return direct_t(g, c, sty[:g.shape[1]], sty[g.shape[1]:], yy, voxel_mask=voxel_mask)


def spatial_correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray, *, sigma_voxels: float = 0.0) -> float:
    """Pearson correlation of two signed maps over ``mask``, each smoothed first (``sigma_voxels``) as the maps are
    before scoring; NaN where either is constant."""
    m = np.asarray(mask, dtype=bool)
    vals = []
    for x in (a, b):
        x = np.where(m, x, 0.0).astype(np.float64)
        if sigma_voxels > 0:
            x = ndimage.gaussian_filter(x, sigma_voxels)
        vals.append(x[m])
    if vals[0].std() == 0 or vals[1].std() == 0:
        return float("nan")
    return float(np.corrcoef(vals[0], vals[1])[0, 1])


def postprocess(t_map: np.ndarray, mask: np.ndarray, *, sigma_voxels: float) -> np.ndarray:
    """``|t|`` inside the mask, Gaussian-smoothed (then masked again, so nothing leaks outside)."""
    a = np.where(mask, np.abs(t_map), 0.0).astype(np.float32)
    if sigma_voxels > 0:
        a = ndimage.gaussian_filter(a, sigma_voxels)
    return np.where(mask, a, 0.0).astype(np.float32)

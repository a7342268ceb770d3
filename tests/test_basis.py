"""The latent's principal axes (udip_gwas/imaging/basis.py)."""

from __future__ import annotations

import numpy as np
import pytest


def test_latent_basis__matches_svd_pca_and_round_trips(tmp_path):
    from udip_gwas.imaging.basis import fit_latent_basis, read_latent_basis

    rng = np.random.default_rng(4)
    z = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6)) + rng.normal(size=6)
    basis = fit_latent_basis(z)
    # independent reference: PCA by SVD of the centred data
    _, s, vt = np.linalg.svd(z - z.mean(0), full_matrices=False)
    np.testing.assert_allclose(basis.variance, s**2 / (len(z) - 1), rtol=1e-10)
    np.testing.assert_allclose(np.abs(basis.axes.T @ vt.T), np.eye(6), atol=1e-8)  # same axes up to sign
    assert (basis.axes[np.abs(basis.axes).argmax(0), np.arange(6)] > 0).all()
    u = basis.rotate(z)
    np.testing.assert_allclose(np.cov(u, rowvar=False), np.diag(basis.variance), atol=1e-8 * basis.variance[0])
    np.testing.assert_allclose(basis.unrotate(u), z, atol=1e-10)
    cols = [f"T1_{i:03d}" for i in range(1, 7)]
    basis.write(tmp_path, "T1", cols)
    back = read_latent_basis(tmp_path / "latent_basis_T1.tsv", "T1", cols)
    np.testing.assert_allclose(back.rotate(z), u, atol=1e-7)
    np.testing.assert_allclose(back.variance, basis.variance, rtol=1e-5)
    with pytest.raises(Exception, match="T1_007"):
        read_latent_basis(tmp_path / "latent_basis_T1.tsv", "T1", cols + ["T1_007"])

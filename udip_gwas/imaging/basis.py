"""Principal axes of the latent space: an optional rotation of the UDIPs.

An autoencoder's 128 latent coordinates need not be uncorrelated. A briefly trained one (the demo's three
CPU epochs) collapses onto one or two factors (with head size left in the simulated images, every raw
dimension correlated ~0.99 with it), so each raw dimension mostly tests what is left of those factors after
the covariates, and local structure can hide. Rotating the latent to its principal axes (fitted on the
discovery cohort, with no genotypes) keeps all the information (an orthogonal map), orders the dimensions by
variance and makes them uncorrelated; the leftover of a dominant factor then sits in one dimension instead
of all of them.

``UDIP = (z - mean) @ axes``; ``z = mean + UDIP @ axes.T``. PerDI perturbs a rotated dimension ``d`` along
``axes[:, d]`` in the decoder's latent space.

Files (``{m}`` the modality, ``{m}_001 ...`` the rotated dimensions)::

    latent_basis_{m}.tsv      latent (z_001 ... raw coordinate), mean, {m}_001 ... {m}_128 (loadings)
    latent_variance_{m}.tsv   dimension, variance, variance_fraction, cumulative_fraction
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from udip_gwas.exceptions import InputError


def basis_files(folder: str | Path, modality: str) -> dict[str, Path]:
    """Where a modality's basis and variance tables live in a folder (the only place their names are spelt)."""
    folder = Path(folder)
    return {"basis": folder / f"latent_basis_{modality}.tsv", "variance": folder / f"latent_variance_{modality}.tsv"}


@dataclass(frozen=True)
class LatentBasis:
    mean: np.ndarray  #: (L,) mean of the raw latent over the subjects it was fitted on
    axes: np.ndarray  #: (L, L) orthonormal columns, ordered by decreasing variance
    variance: np.ndarray  #: (L,) variance of each rotated dimension on those subjects
    n_subjects: int = 0

    @property
    def latent_dim(self) -> int:
        return int(self.mean.shape[0])

    def rotate(self, z: np.ndarray) -> np.ndarray:
        """Raw latents (N, L) -> rotated UDIPs (N, L)."""
        return (np.asarray(z, dtype=np.float64) - self.mean) @ self.axes

    def unrotate(self, u: np.ndarray) -> np.ndarray:
        """Rotated UDIPs (N, L) -> raw latents (N, L)."""
        return self.mean + np.asarray(u, dtype=np.float64) @ self.axes.T

    def write(self, folder: str | Path, modality: str, columns: list[str]) -> dict:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        width = max(3, len(str(self.latent_dim)))
        basis = pd.DataFrame(self.axes, columns=columns)
        basis.insert(0, "mean", self.mean)
        basis.insert(0, "latent", [f"z_{i + 1:0{width}d}" for i in range(self.latent_dim)])
        paths = basis_files(folder, modality)
        basis.to_csv(paths["basis"], sep="\t", index=False, float_format="%.10g")
        frac = self.variance / self.variance.sum() if self.variance.sum() > 0 else np.zeros_like(self.variance)
        pd.DataFrame({"dimension": columns, "variance": self.variance, "variance_fraction": frac,
                      "cumulative_fraction": np.cumsum(frac)}).to_csv(paths["variance"], sep="\t", index=False,
                                                                       float_format="%.6g")
        return {k: str(v) for k, v in paths.items()}


def fit_latent_basis(z: np.ndarray) -> LatentBasis:
    """Principal axes of the raw latents ``z`` (N subjects x L dimensions).

    Each axis's sign is fixed so that its largest loading is positive (the same data give the same basis on
    any machine).
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] < 2:
        raise ValueError(f"a latent basis needs at least 2 subjects, found {z.shape[0] if z.ndim == 2 else z.shape}")
    if not np.isfinite(z).all():
        raise ValueError("latents hold non-finite values")
    mean = z.mean(0)
    cov = np.cov(z - mean, rowvar=False)
    variance, axes = np.linalg.eigh(cov)
    order = np.argsort(variance)[::-1]
    variance, axes = np.clip(variance[order], 0, None), axes[:, order]
    flip = axes[np.abs(axes).argmax(0), np.arange(axes.shape[1])] < 0
    axes[:, flip] *= -1
    return LatentBasis(mean=mean, axes=axes, variance=variance, n_subjects=int(z.shape[0]))


def read_latent_basis(path: str | Path, modality: str, columns: list[str]) -> LatentBasis:
    """Read a ``latent_basis_{modality}.tsv``; ``columns`` are the model's dimension names."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"latent basis not found: {path}")
    table = pd.read_csv(path, sep="\t")
    missing = [c for c in ["mean", *columns] if c not in table.columns]
    if missing:
        raise InputError(f"{path}: column(s) {missing[:3]} missing; is it the {modality} basis of a "
                         f"{len(columns)}-dimension model?")
    if len(table) != len(columns):
        raise InputError(f"{path}: {len(table)} latent rows, but the {modality} model has {len(columns)} dimensions")
    axes = table[columns].to_numpy(dtype=np.float64)
    if not np.allclose(axes.T @ axes, np.eye(len(columns)), atol=1e-6):
        raise InputError(f"{path}: the loadings are not orthonormal")
    mean = table["mean"].to_numpy(dtype=np.float64)
    var_path = basis_files(path.parent, modality)["variance"]
    variance = (pd.read_csv(var_path, sep="\t")["variance"].to_numpy(dtype=np.float64) if var_path.is_file()
                else np.full(len(columns), np.nan))
    return LatentBasis(mean=mean, axes=axes, variance=variance)


def basis_beside(udip_table: str | Path, modality: str) -> Path | None:
    """The basis file the extract stage writes next to a rotated UDIP table, if there is one."""
    p = basis_files(Path(udip_table).parent, modality)["basis"]
    return p if p.is_file() else None

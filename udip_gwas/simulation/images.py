"""Simulated T1-like and T2-FLAIR-like brain images built from the MNI152 template and the
Harvard-Oxford atlas, with per-subject anatomy and planted structure effects.

Each subject's image is the template sampled through a subject-specific warp: global scaling (head size;
the cohort leaves it out by default, as registration to MNI does), a smooth random displacement field, and,
for each planted effect on a structure's volume, a local radial expansion (factor > 0) or contraction (< 0)
around the centroid of the structure in each hemisphere. Intensity effects multiply the intensity inside the
(warped) structure. Then a global intensity scale and Gaussian noise (given for a 1 mm acquisition and
averaged over the grid's voxel) are applied, and everything outside the warped brain mask is zero, as in
brain-extracted UK Biobank images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from udip_gwas.annotation.atlas import harvard_oxford, mni_template_1mm
from udip_gwas.imaging.grid import grid_points_in_1mm_voxels, mni_grid

MODALITIES = ("T1", "T2")


@dataclass(frozen=True)
class StructureEffect:
    """One planted effect for one subject: scale a structure's size or intensity by ``amount``."""

    region: str  #: merged Harvard-Oxford region name, e.g. ``Thalamus``
    kind: str  #: ``volume`` or ``intensity``
    amount: float  #: relative change: radial scale - 1 for volume, intensity factor - 1 for intensity
    modality: str | None = None  #: intensity effects may be limited to one modality


def noise_sd_per_voxel(noise_sd: float, voxel_mm: float, intensity_scale: float = 1.0) -> float:
    """Noise SD of a ``voxel_mm`` voxel given a 1 mm acquisition's ``noise_sd`` (times the image's
    ``intensity_scale``): the voxel stands for the mean of ``voxel_mm ** 3`` 1 mm voxels with independent noise."""
    return noise_sd * intensity_scale / voxel_mm ** 1.5


def flair_contrast(t1_norm: np.ndarray) -> np.ndarray:
    """Map T1 intensity (0..1 inside the brain) to a FLAIR-like contrast: CSF dark, grey matter brighter
    than white matter."""
    t = np.clip(t1_norm, 0, 1.2)
    return 0.15 + 1.9 * t - 1.6 * t**2


def sample_volume(volume: torch.Tensor, coords: np.ndarray, *, mode: str) -> np.ndarray:
    """Sample a (1, C, X, Y, Z) volume at voxel coordinates ``coords`` (3, *grid); zero outside.

    Linear ("bilinear" is torch's name for trilinear in 3-D) or nearest interpolation with
    ``torch.nn.functional.grid_sample``; same values as ``ndimage.map_coordinates`` (order 1 or 0,
    mode "constant") several times faster, and all channels in one call.
    """
    size = torch.tensor(volume.shape[2:], dtype=torch.float32)
    c = torch.from_numpy(np.ascontiguousarray(coords, dtype=np.float32))
    norm = 2 * c / (size - 1).view(3, *([1] * (c.ndim - 1))) - 1
    grid = norm.flip(0).permute(*range(1, c.ndim), 0)[None]  # grid_sample wants (z, y, x) order last
    out = F.grid_sample(volume, grid, mode=mode, padding_mode="zeros", align_corners=True)
    return out[0].numpy()


class BrainRenderer:
    """Renders subjects on an MNI grid of ``voxel_mm`` voxels."""

    def __init__(self, voxel_mm: float = 4.0):
        self.voxel_mm = float(voxel_mm)
        self.shape, self.affine = mni_grid(voxel_mm)
        tmpl = mni_template_1mm()
        self._mask_1mm = (tmpl > 0).astype(np.float32)
        scale = np.percentile(tmpl[tmpl > 0], 99)
        t1 = tmpl / scale
        # anti-alias the 1 mm sources for the coarse grid
        sigma = max(0.0, (self.voxel_mm - 1) / 2.5)
        self._t1 = ndimage.gaussian_filter(t1, sigma) if sigma else t1
        self._t2 = ndimage.gaussian_filter(np.where(tmpl > 0, flair_contrast(t1), 0), sigma) if sigma else \
            np.where(tmpl > 0, flair_contrast(t1), 0).astype(np.float32)
        atlas = harvard_oxford(1.0)
        self._labels_1mm, self.region_table = atlas.merged()
        self._label_of = {r: int(lab) for r, lab in zip(self.region_table["region"], self.region_table["label"])}
        self._n_labels = int(self._labels_1mm.max()) + 1
        self._points = grid_points_in_1mm_voxels(self.voxel_mm).astype(np.float32)
        # T1, T2 and the brain mask as channels of one volume: one grid_sample call interpolates all three
        self._channels = torch.from_numpy(np.stack([self._t1, self._t2, self._mask_1mm]).astype(np.float32))[None]
        self._labels_t = torch.from_numpy(self._labels_1mm.astype(np.float32))[None, None]
        self._brain_centre = np.array(ndimage.center_of_mass(self._mask_1mm), dtype=np.float32)
        self._structures: dict[str, list[tuple[np.ndarray, float]]] = {}
        # cubic interpolation from the deformation's control grid, as one matrix per axis (separable)
        self._ctrl_shape = (6, 8, 6)
        self._interp = [
            np.stack([ndimage.zoom(np.eye(c)[i], n / c, order=3)[:n] for i in range(c)], axis=1).astype(np.float32)
            for n, c in zip(self.shape, self._ctrl_shape)
        ]

    def region_label(self, region: str) -> int:
        label = self._label_of.get(region)
        if label is None:
            raise ValueError(f"unknown Harvard-Oxford region {region!r}; known: {sorted(self._label_of)}")
        return label

    def _hemisphere_parts(self, region: str) -> list[tuple[np.ndarray, float, tuple[slice, ...]]]:
        """Centroid (1 mm voxels), radius (mm) and the grid box holding the warp's support (2.5 radii) of each
        connected hemisphere part of a region."""
        if region not in self._structures:
            mask = self._labels_1mm == self.region_label(region)
            parts = []
            x_mid = self._brain_centre[0]
            for side in (mask & (np.arange(mask.shape[0])[:, None, None] < x_mid),
                         mask & (np.arange(mask.shape[0])[:, None, None] >= x_mid)):
                n = int(side.sum())
                if n < 8:
                    continue
                c = np.array(ndimage.center_of_mass(side), dtype=np.float32)
                radius = float((3 * n / (4 * np.pi)) ** (1 / 3))
                box = []
                for axis in range(3):
                    line = self._points[(axis,) + tuple(slice(None) if a == axis else 0 for a in range(3))]
                    inside = np.flatnonzero(np.abs(line - c[axis]) < 2.5 * radius)
                    box.append(slice(int(inside[0]), int(inside[-1]) + 1) if inside.size else slice(0, 0))
                parts.append((c, radius, tuple(box)))
            self._structures[region] = parts
        return self._structures[region]

    def render(
        self,
        *,
        head_scale: float,
        effects: list[StructureEffect],
        rng: np.random.Generator,
        intensity_scale: dict[str, float],
        noise_sd: float,
        deformation_mm: float = 1.0,
    ) -> dict[str, np.ndarray]:
        """Render one subject; returns ``{modality: float32 image}``.

        ``noise_sd`` is the noise of a 1 mm acquisition (relative to the image intensity); a voxel of the
        ``voxel_mm`` grid stands for the mean of ``voxel_mm ** 3`` 1 mm voxels, so its independent noise has
        SD ``noise_sd / voxel_mm ** 1.5`` (1/8 of it on the 4 mm grid). ``deformation_mm`` is the SD of the
        smooth displacement at each control point.
        """
        pts = self._points
        c0 = self._brain_centre[:, None, None, None]
        coords = c0 + (pts - c0) / head_scale
        # smooth random deformation from a coarse control grid (~30 mm spacing)
        ctrl = rng.normal(0.0, deformation_mm, size=(3, *self._ctrl_shape)).astype(np.float32)
        mx, my, mz = self._interp
        coords = coords + np.einsum("ai,bj,ck,dijk->dabc", mx, my, mz, ctrl, optimize=True)
        for eff in effects:
            if eff.kind != "volume" or eff.amount == 0:
                continue
            for c, radius, box in self._hemisphere_parts(eff.region):
                # smooth weight with compact support (2.5 radii): the warp is exactly local, so only the box
                # around the structure is computed
                d = pts[(slice(None), *box)] - c[:, None, None, None]
                w = np.clip(1 - (d**2).sum(0) / (2.5 * radius) ** 2, 0, None) ** 2
                # sampling closer to the centre makes the structure look larger
                coords[(slice(None), *box)] -= (eff.amount / (1 + eff.amount)) * d * w
        t1, t2, mask = sample_volume(self._channels, coords, mode="bilinear")
        mask = mask > 0.5
        labels = np.rint(sample_volume(self._labels_t, coords, mode="nearest")[0]).astype(self._labels_1mm.dtype)
        out = {}
        for modality, img in (("T1", t1), ("T2", t2)):
            # every intensity effect of this modality as one factor per atlas label
            factor = np.ones(self._n_labels, dtype=np.float32)
            for eff in effects:
                if eff.kind == "intensity" and eff.modality in (None, modality):
                    factor[self.region_label(eff.region)] *= 1 + eff.amount
            img = img * factor[labels]
            img = img * intensity_scale[modality]
            img = img + rng.normal(0, noise_sd_per_voxel(noise_sd, self.voxel_mm, intensity_scale[modality]),
                                   size=img.shape)
            img = np.where(mask, np.maximum(img, 1e-3), 0.0)
            out[modality] = img.astype(np.float32)
        return out

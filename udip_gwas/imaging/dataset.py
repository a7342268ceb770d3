"""Image inputs: manifests and BIDS folders, per-subject checks, the decoded-volume cache, and the
torch dataset that feeds training and extraction.

Every subject is checked before use: the file exists and reads, it is 3-D, its grid and affine match the
model's, its values are finite and its brain is not empty. Failures are returned with their reason (and
the stages write them to ``excluded_subjects.tsv``); nothing is dropped silently.

Decoding a ``.nii.gz`` volume costs ~200 ms at 1 mm, so each checked volume is decoded once,
z-scored over its nonzero voxels (background stays exactly 0, which is the loss mask) and cached as a
float16 ``.npy`` that later epochs memory-map in ~20 ms (one volume's work is in
:mod:`udip_gwas.imaging.volumes`, which the decoding worker processes import without torch).
"""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from udip_gwas.exceptions import InputError
from udip_gwas.imaging.volumes import Grid, cache_volume, check_image

log = logging.getLogger(__name__)

BIDS_SUFFIX = {"T1": "T1w", "T2": "FLAIR"}


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
    df = pd.read_csv(source, sep="\t", dtype=str, keep_default_na=False, encoding="utf-8-sig")
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
            results = list(_with_progress(pool.map(cache_volume, jobs, chunksize=4), len(jobs), progress))
    else:
        results = list(_with_progress(map(cache_volume, jobs), len(jobs), progress))
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


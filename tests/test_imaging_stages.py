"""The train and extract stages end to end (udip_gwas/imaging/stages.py, train.py, extract.py)."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from udip_gwas import config
from udip_gwas.exceptions import ConfigError, NoSubjectsLeftError
from udip_gwas.imaging.dataset import read_image_table
from udip_gwas.imaging.stages import run_extract, run_train


def test_train__a_few_epochs_lower_the_validation_loss(trained):
    _, out, result = trained
    details = result["details"]["T1"]
    assert details["initial_val_loss"] is not None
    assert details["best_val_loss"] < 0.8 * details["initial_val_loss"]
    history = pd.read_csv(out / "train" / "T1" / "history.csv")
    assert list(history["epoch"]) == list(range(1, 9))
    assert (out / "train" / "T1" / "loss_curve.png").stat().st_size > 1000
    split = pd.read_csv(out / "train" / "T1" / "split.tsv", sep="\t")
    assert set(split["set"]) == {"train", "validation"} and split["IID"].is_unique


def test_train__mean_image_baseline_matches_numpy(trained, small_cohort):
    """The mean-image validation loss: numpy's voxelwise masked mean of the (float16-cached, z-scored) training
    volumes, scored with the masked MSE over the validation volumes."""
    from udip_gwas.imaging.checkpoint import load_checkpoint
    from udip_gwas.imaging.volumes import zscore_nonzero

    _, out, result = trained
    details = result["details"]["T1"]
    split = pd.read_csv(out / "train" / "T1" / "split.tsv", sep="\t")
    manifest = read_image_table(small_cohort["manifests"]["train"], ["T1"]).set_index("IID")

    def volumes(ids):
        return np.stack([zscore_nonzero(np.asarray(nib.load(manifest.loc[i, "T1"]).dataobj, dtype=np.float32))
                         .astype(np.float16).astype(np.float64) for i in ids])

    train = volumes(split.loc[split["set"] == "train", "IID"])  # 32 subjects: all of them (<= 256)
    val = volumes(split.loc[split["set"] == "validation", "IID"])
    count = (train != 0).sum(0)
    mean = np.divide(train.sum(0), count, out=np.zeros(train.shape[1:]), where=count > 0)
    mask = val != 0
    expected = ((mean - val) ** 2)[mask].sum() / mask.sum()
    assert details["mean_image_val_loss"] == pytest.approx(expected, rel=1e-5)
    _, payload = load_checkpoint(details["best"])
    assert payload["mean_image_val_loss"] == pytest.approx(expected, rel=1e-5)


def test_train__resume_continues_after_the_last_epoch(trained, tmp_path):
    cfg, out, _ = trained
    import copy
    import shutil

    cfg2 = copy.deepcopy(cfg)
    shutil.copytree(out / "train" / "T1", tmp_path / "T1")
    cfg2["run"]["out"] = str(tmp_path)
    cfg2["train"]["cache_dir"] = str(out / "cache")
    cfg2["train"]["epochs"] = 9
    result = run_train(cfg2, tmp_path)
    history = pd.read_csv(tmp_path / "T1" / "history.csv")
    assert list(history["epoch"]) == list(range(1, 10))
    assert result["details"]["T1"]["initial_val_loss"] is None  # resumed, not restarted
    # a network of another configuration is not resumed from: training starts again, with a warning
    cfg2["train"]["latent_dim"] = 5
    cfg2["train"]["epochs"] = 1
    result = run_train(cfg2, tmp_path)
    assert result["details"]["T1"]["initial_val_loss"] is not None
    assert list(pd.read_csv(tmp_path / "T1" / "history.csv")["epoch"]) == [1]


def _write(path, data, affine):
    nib.save(nib.Nifti1Image(data, affine), str(path))


def test_extract__bad_images_are_excluded_with_reasons_and_rows_keyed_by_iid(trained, small_cohort, tmp_path):
    cfg, out, result = trained
    manifest = read_image_table(small_cohort["manifests"]["discovery"], ["T1"]).iloc[:12].reset_index(drop=True)
    good = nib.load(manifest.at[0, "T1"])
    affine = good.affine
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "corrupt.nii.gz").write_bytes(b"\x1f\x8b not really a gzip file")
    _write(bad / "wrong_grid.nii.gz", np.ones((10, 10, 10), np.float32), affine)
    _write(bad / "zeros.nii.gz", np.zeros(good.shape, np.float32), affine)
    nan = np.asarray(good.dataobj, dtype=np.float32).copy()
    nan[5, 5, 5] = np.nan
    _write(bad / "nan.nii.gz", nan, affine)
    _write(bad / "four_d.nii.gz", np.ones((*good.shape, 2), np.float32), affine)
    shifted = affine.copy()
    shifted[0, 3] += 4
    _write(bad / "shifted.nii.gz", np.asarray(good.dataobj, dtype=np.float32), shifted)
    manifest.loc[1, "T1"] = str(bad / "corrupt.nii.gz")
    manifest.loc[2, "T1"] = str(bad / "wrong_grid.nii.gz")
    manifest.loc[3, "T1"] = str(bad / "zeros.nii.gz")
    manifest.loc[4, "T1"] = str(bad / "nan.nii.gz")
    manifest.loc[5, "T1"] = str(tmp_path / "missing.nii.gz")
    manifest.loc[6, "T1"] = str(bad / "four_d.nii.gz")
    manifest.loc[7, "T1"] = str(bad / "shifted.nii.gz")
    manifest.to_csv(tmp_path / "manifest.tsv", sep="\t", index=False)
    ecfg = config.load(None, {"run": {"out": str(tmp_path / "run")},
                              "extract": {"images": str(tmp_path / "manifest.tsv"),
                                          "checkpoints": {"T1": result["checkpoints"]["T1"]}, "num_workers": 1}})
    outputs = run_extract(ecfg, tmp_path / "run" / "extract")
    udips = pd.read_csv(outputs["discovery"]["T1"]["udips"], sep="\t")
    expected_ids = [manifest.at[i, "IID"] for i in [0, 8, 9, 10, 11]]
    assert udips["IID"].tolist() == expected_ids
    assert udips.shape[1] == 1 + 8 and udips.columns[1] == "T1_001"
    assert np.isfinite(udips.drop(columns="IID").to_numpy()).all()
    excl = pd.read_csv(tmp_path / "run" / "excluded_subjects.tsv", sep="\t").set_index("IID")
    reasons = {i: excl.loc[manifest.at[i, "IID"], "reason"] for i in range(1, 8)}
    assert "unreadable image" in reasons[1] and "corrupt.nii.gz" in reasons[1]
    assert "grid (10, 10, 10) does not match" in reasons[2]
    assert "empty brain" in reasons[3]
    assert "non-finite" in reasons[4]
    assert "file not found" in reasons[5]
    assert "expected a 3-D image" in reasons[6]
    assert "affine does not match" in reasons[7]
    assert set(excl["stage"]) == {"extract"}
    qc = pd.read_csv(outputs["discovery"]["T1"]["qc"], sep="\t")
    assert qc["IID"].tolist() == expected_ids and (qc["recon_mse"] > 0).all()


def test_extract__latents_match_the_model_applied_directly(trained, small_cohort, tmp_path):
    import torch

    from udip_gwas.imaging.checkpoint import load_checkpoint
    from udip_gwas.imaging.volumes import zscore_nonzero

    cfg, out, result = trained
    manifest = read_image_table(small_cohort["manifests"]["discovery"], ["T1"]).iloc[:3]
    manifest.to_csv(tmp_path / "m.tsv", sep="\t", index=False)
    ecfg = config.load(None, {"run": {"out": str(tmp_path)}, "extract": {
        "images": str(tmp_path / "m.tsv"), "checkpoints": {"T1": result["checkpoints"]["T1"]}, "num_workers": 1}})
    udips = pd.read_csv(run_extract(ecfg, tmp_path / "x")["discovery"]["T1"]["udips"], sep="\t")
    model, _ = load_checkpoint(result["checkpoints"]["T1"])
    x = torch.stack([torch.from_numpy(zscore_nonzero(nib.load(p).get_fdata().astype(np.float32)))[None]
                     for p in manifest["T1"]])
    with torch.no_grad():
        z = model.encode(x).numpy()
    # the cache stores float16 volumes, so allow for that rounding
    np.testing.assert_allclose(udips.drop(columns="IID").to_numpy(), z, rtol=0, atol=2e-2 * np.abs(z).max())


def test_extract__nothing_left_stops_with_a_clear_error(trained, tmp_path):
    _, _, result = trained
    pd.DataFrame({"IID": ["a", "b"], "T1": ["nope1.nii.gz", "nope2.nii.gz"]}).to_csv(tmp_path / "m.tsv", sep="\t",
                                                                                       index=False)
    ecfg = config.load(None, {"run": {"out": str(tmp_path)}, "extract": {
        "images": str(tmp_path / "m.tsv"), "checkpoints": {"T1": result["checkpoints"]["T1"]}}})
    with pytest.raises(NoSubjectsLeftError, match=r"no usable subject left \(2 excluded; reasons in .*excluded"):
        run_extract(ecfg, tmp_path / "x")
    assert len(pd.read_csv(tmp_path / "excluded_subjects.tsv", sep="\t")) == 2


@pytest.mark.slow
def test_train__two_process_ddp_on_cpu(small_cohort, tmp_path):
    """The multi-GPU path (torchrun + DDP), exercised with the gloo backend on the CPU."""
    import subprocess
    import sys

    from udip_gwas.imaging.checkpoint import load_checkpoint

    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "udip_gwas.cli", "train",
           "--images", small_cohort["manifests"]["train"], "--modalities", "T1", "--out", str(tmp_path),
           "--epochs", "2", "--base-channels", "2", "--latent-dim", "4", "--batch-size", "4", "--num-workers", "0",
           "--device", "cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    _, payload = load_checkpoint(tmp_path / "T1" / "last.pt")
    assert payload["world_size"] == 2 and payload["epoch"] == 1
    assert len(pd.read_csv(tmp_path / "T1" / "history.csv")) == 2


def test_extract__resample_option_keeps_images_on_another_grid(trained, small_cohort, tmp_path):
    from udip_gwas.imaging.grid import mni_grid

    _, _, result = trained
    manifest = read_image_table(small_cohort["manifests"]["discovery"], ["T1"]).iloc[:3].reset_index(drop=True)
    # the same brain written on the 4 mm grid: excluded by default, kept when resampling is asked for
    from udip_gwas.annotation.atlas import template

    shape4, affine4 = mni_grid(4.0)
    _write(tmp_path / "fine.nii.gz", (template(4.0) * 1.0).astype(np.float32), affine4)
    manifest.loc[2, "T1"] = str(tmp_path / "fine.nii.gz")
    manifest.to_csv(tmp_path / "m.tsv", sep="\t", index=False)
    for resample, expected in ((False, 2), (True, 3)):
        ecfg = config.load(None, {"run": {"out": str(tmp_path / f"r{resample}")}, "extract": {
            "images": str(tmp_path / "m.tsv"), "checkpoints": {"T1": result["checkpoints"]["T1"]},
            "num_workers": 1, "resample": resample}})
        udips = pd.read_csv(run_extract(ecfg, tmp_path / f"x{resample}")["discovery"]["T1"]["udips"], sep="\t")
        assert len(udips) == expected


def test_extract__pca_rotation_fitted_on_discovery_and_reused_for_replication(trained, small_cohort, tmp_path):
    from udip_gwas.imaging.basis import read_latent_basis

    _, _, result = trained
    common = {"images": small_cohort["manifests"]["discovery"],
              "replication_images": small_cohort["manifests"]["replication"],
              "checkpoints": {"T1": result["checkpoints"]["T1"]}, "num_workers": 1, "reconstruction_qc": False}

    def extract(folder, **extra):
        return run_extract(config.load(None, {"run": {"out": str(tmp_path)}, "extract": {**common, **extra}}),
                           tmp_path / folder)

    raw = extract("raw")
    rot = extract("rot", rotation="pca")
    cols = [f"T1_{i:03d}" for i in range(1, 9)]
    # the parquet copies keep full precision (the TSV has 6 significant digits)
    z = {c: pd.read_parquet(raw[c]["T1"]["udips"].replace(".tsv", ".parquet")) for c in ("discovery", "replication")}
    u = {c: pd.read_parquet(rot[c]["T1"]["udips"].replace(".tsv", ".parquet")) for c in ("discovery", "replication")}
    # the axes are the discovery cohort's principal axes, computed here by SVD
    zd = z["discovery"][cols].to_numpy()
    _, s, vt = np.linalg.svd(zd - zd.mean(0), full_matrices=False)
    basis = read_latent_basis(rot["discovery"]["T1"]["basis"], "T1", cols)
    np.testing.assert_allclose(np.abs(basis.axes.T @ vt.T), np.eye(8), atol=1e-4)
    np.testing.assert_allclose(u["discovery"][cols].var(ddof=1).to_numpy(), s**2 / (len(zd) - 1), rtol=1e-4)
    # replication: the discovery axes and mean, not its own
    expected = (z["replication"][cols].to_numpy() - zd.mean(0)) @ basis.axes
    assert (u["replication"]["IID"] == z["replication"]["IID"]).all()
    np.testing.assert_allclose(u["replication"][cols].to_numpy(), expected, atol=1e-4 * np.abs(expected).max())
    # a second run given that basis reproduces the tables, also when the basis is the output folder's own
    # file (a rerun in place); a raw rerun removes the basis files
    given = {"T1": rot["discovery"]["T1"]["basis"]}
    for folder in ("again", "rot"):
        again = extract(folder, rotation="pca", rotation_basis=given)
        np.testing.assert_allclose(pd.read_csv(again["replication"]["T1"]["udips"], sep="\t")[cols].to_numpy(),
                                   u["replication"][cols].to_numpy(), atol=1e-4 * np.abs(expected).max())
    extract("rot")
    assert not (tmp_path / "rot" / "discovery" / "latent_basis_T1.tsv").exists()
    with pytest.raises(ConfigError, match="rotation_basis"):
        extract("bad", rotation_basis=given)

"""The ``train`` and ``extract`` stages: configuration in, files out.

``train`` writes ``OUT/<modality>/{best,last}.pt, history.csv, loss_curve.png, split.tsv``.
``extract`` writes ``OUT/<cohort>/udips_<modality>.{tsv,parquet}, qc_<modality>.tsv,
correlation_<modality>.png`` for the discovery cohort (``extract.images``) and, when given, the
replication cohort (``extract.replication_images``); with ``extract.rotation = "pca"`` also
``latent_basis_<modality>.tsv, latent_variance_<modality>.tsv`` (see :mod:`udip_gwas.imaging.basis`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from udip_gwas import layout, runinfo
from udip_gwas.config import settings
from udip_gwas.exceptions import ConfigError, NoSubjectsLeftError
from udip_gwas.imaging.basis import LatentBasis, basis_files, fit_latent_basis, read_latent_basis
from udip_gwas.imaging.checkpoint import load_checkpoint
from udip_gwas.imaging.dataset import Grid, prepare_images, read_image_table
from udip_gwas.imaging.extract import extract_udips, write_udips
from udip_gwas.imaging.grid import MNI_1MM_AFFINE
from udip_gwas.imaging.train import TrainSettings, resolve_device, train_autoencoder

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


def _usable_or_fail(usable: pd.DataFrame, excluded: pd.DataFrame, *, what: str, exclusions_file: Path) -> None:
    if usable.empty:
        raise NoSubjectsLeftError(f"{what}: no usable subject left ({len(excluded)} excluded; reasons in "
                                  f"{exclusions_file})")


def run_train(cfg: dict, out: Path, *, progress: Progress | None = None) -> dict:
    t = settings(cfg, "train")
    if t.images is None:
        raise ConfigError("train: key 'train.images' (manifest TSV or BIDS folder) is required")
    base = Path(cfg["run"]["out"])
    table = read_image_table(t.images, t.modalities)
    if t.subjects:
        keep = set(Path(t.subjects).read_text().split())
        table = table[table["IID"].isin(keep)]
    if t.max_subjects and len(table) > t.max_subjects:
        table = table.sample(n=t.max_subjects, random_state=cfg["run"]["seed"]).sort_values("IID")
    seed = runinfo.stage_seed(cfg["run"]["seed"], "train")
    results = {}
    all_excluded = []
    for modality in t.modalities:
        usable, excluded = prepare_images(
            table, modality, grid=None, cache_dir=layout.cache_dir(cfg), workers=max(1, t.num_workers),
            resample=t.resample,
            progress=(lambda d, n, m=modality: progress(f"{m}: checking and caching", d, n)) if progress else None)
        all_excluded.append(excluded)
        runinfo.record_exclusions(base, pd.concat(all_excluded), stage="train", cohort="train")
        _usable_or_fail(usable, excluded, what=f"train {modality}", exclusions_file=base / layout.EXCLUSIONS_FILE)
        log.info("train %s: %d usable subjects, %d excluded", modality, len(usable), len(excluded))
        train_settings = TrainSettings(
            epochs=t.epochs, batch_size=t.batch_size, lr=t.lr_T1 if modality == "T1" else t.lr_T2,
            plateau_patience=t.plateau_patience, plateau_factor=t.plateau_factor, val_fraction=t.val_fraction,
            latent_dim=t.latent_dim, base_channels=t.base_channels, device=t.device,
            precision=t.precision, num_workers=t.num_workers, resume=t.resume, seed=seed,
            bn_recalibration=t.bn_recalibration)
        grid_affine = _affine_of(usable["path"].iloc[0])
        res = train_autoencoder(usable, out / modality, modality=modality, settings=train_settings, progress=progress,
                                grid_affine=grid_affine)
        results[modality] = res
    return {"checkpoints": {m: r["best"] for m, r in results.items()}, "details": results}


def _affine_of(path: str) -> list[list[float]]:
    import nibabel as nib

    return np.asarray(nib.load(path).affine).tolist()


def run_extract(cfg: dict, out: Path, *, progress: Progress | None = None) -> dict:
    e = settings(cfg, "extract")
    if not e.checkpoints:
        raise ConfigError("extract: key 'extract.checkpoints' (modality -> checkpoint) is required")
    if e.images is None:
        raise ConfigError("extract: key 'extract.images' (manifest TSV or BIDS folder) is required")
    base = Path(cfg["run"]["out"])
    modalities = e.modalities or list(e.checkpoints)
    unknown = [m for m in modalities if m not in e.checkpoints]
    if unknown:
        raise ConfigError(f"extract: no checkpoint for modality {unknown} in 'extract.checkpoints'")
    device = resolve_device(e.device)
    cohorts = {"discovery": e.images}
    if e.replication_images:
        cohorts["replication"] = e.replication_images
    unknown = sorted(set(e.rotation_basis) - set(modalities))
    if e.rotation_basis and e.rotation != "pca":
        raise ConfigError("extract: 'extract.rotation_basis' is set but 'extract.rotation' is "
                          f"{e.rotation!r}; set rotation = \"pca\" to use it")
    if unknown:
        raise ConfigError(f"extract: 'extract.rotation_basis' names modality {unknown} that is not extracted")
    outputs: dict = {}
    bases: dict[str, LatentBasis] = {}
    for cohort, source in cohorts.items():
        table = read_image_table(source, modalities)
        excluded_all = []
        outputs[cohort] = {}
        for modality in modalities:
            model, payload = load_checkpoint(e.checkpoints[modality], device=device)
            affine = np.asarray(payload.get("grid_affine", MNI_1MM_AFFINE))
            grid = Grid(model.config.input_shape, affine)
            usable, excluded = prepare_images(
                table, modality, grid=grid, cache_dir=layout.cache_dir(cfg), workers=max(1, e.num_workers),
                resample=e.resample,
                progress=(lambda d, n, m=modality: progress(f"{cohort} {m}: checking", d, n)) if progress else None)
            excluded_all.append(excluded)
            runinfo.record_exclusions(base, pd.concat(excluded_all), stage="extract", cohort=cohort)
            _usable_or_fail(usable, excluded, what=f"extract {cohort} {modality}",
                            exclusions_file=base / layout.EXCLUSIONS_FILE)
            udips, qc = extract_udips(
                model, usable, modality=modality, batch_size=e.batch_size, device=device,
                num_workers=e.num_workers, reconstruction_qc=e.reconstruction_qc,
                progress=(lambda d, n, m=modality: progress(f"{cohort} {m}: encoding", d, n)) if progress else None)
            udips, basis_files = _rotate(e, udips, modality, cohort, bases, out / cohort)
            outputs[cohort][modality] = {**write_udips(udips, qc, out / cohort, modality), **basis_files}
            log.info("extract %s %s: %d subjects x %d dimensions", cohort, modality, len(udips), model.latent_dim)
    return outputs


def _rotate(e, udips: pd.DataFrame, modality: str, cohort: str, bases: dict, folder: Path
            ) -> tuple[pd.DataFrame, dict]:
    """Apply ``extract.rotation``: the first cohort (discovery) fits the basis, or it is read from
    ``extract.rotation_basis``; later cohorts reuse it, so replication UDIPs share the discovery axes."""
    if e.rotation == "none":
        for stale in basis_files(folder, modality).values():
            stale.unlink(missing_ok=True)  # a raw table must not sit beside an earlier run's basis
        return udips, {}
    cols = [c for c in udips.columns if c != "IID"]
    if modality not in bases:  # read before writing: the given basis may be this folder's own file
        if modality in e.rotation_basis:
            bases[modality] = read_latent_basis(e.rotation_basis[modality], modality, cols)
            log.info("extract %s: latent basis read from %s", modality, e.rotation_basis[modality])
        else:
            bases[modality] = fit_latent_basis(udips[cols].to_numpy())
            frac = bases[modality].variance / bases[modality].variance.sum()
            log.info("extract %s: latent principal axes fitted on the %s cohort (%d subjects); variance share of "
                     "the first five: %s", modality, cohort, len(udips), ", ".join(f"{f:.3f}" for f in frac[:5]))
    basis = bases[modality]
    rotated = udips.copy()
    rotated[cols] = basis.rotate(udips[cols].to_numpy())
    return rotated, basis.write(folder, modality, cols)

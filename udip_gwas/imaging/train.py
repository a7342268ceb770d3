"""Training the UDIP autoencoder: Adam, ReduceLROnPlateau on the validation loss, best and last
checkpoints, resume after an interruption, bf16 autocast and multi-GPU DDP when present, CPU otherwise.

Multi-GPU: launch the stage under ``torchrun --nproc_per_node=N -m udip_gwas.cli train ...``; each
process takes one GPU and a shard of the subjects (DistributedSampler); rank 0 writes the outputs.
"""

from __future__ import annotations

import logging
import math
import os
import random
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from udip_gwas.config import default
from udip_gwas.imaging.autoencoder import UDIPAutoencoder, masked_mse, memory_format_for, place_model
from udip_gwas.imaging.checkpoint import read_checkpoint, save_checkpoint
from udip_gwas.imaging.dataset import CachedVolumes

log = logging.getLogger(__name__)

#: training subjects whose voxelwise mean image is scored on the validation images (the level a decoder that
#: ignores its latent reaches): 256, as many as the default BatchNorm recalibration, so the two share a subset
MEAN_IMAGE_SUBJECTS = 256


@dataclass
class TrainSettings:
    """One modality's training settings; defaults are the ``[train]`` schema's (:mod:`udip_gwas.config`)."""

    epochs: int = default("train", "epochs")
    batch_size: int = default("train", "batch_size")
    lr: float = default("train", "lr_T1")
    plateau_patience: int = default("train", "plateau_patience")
    plateau_factor: float = default("train", "plateau_factor")
    val_fraction: float = default("train", "val_fraction")
    latent_dim: int = default("train", "latent_dim")
    base_channels: int = default("train", "base_channels")
    device: str = default("train", "device")
    precision: str = default("train", "precision")
    num_workers: int = default("train", "num_workers")
    resume: bool = default("train", "resume")
    seed: int = 0
    bn_recalibration: int = default("train", "bn_recalibration")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device '{name}' asked for, but torch sees no CUDA GPU")
    return dev


def autocast_for(device: torch.device, precision: str):
    """bf16 autocast on GPU when asked (or ``auto``); fp32 on CPU unless bf16 is asked explicitly."""
    use_bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    if use_bf16:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()


def split_subjects(iids: list[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Seeded train/validation split by subject (at least one validation subject)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(iids))
    n_val = max(1, int(round(val_fraction * len(iids)))) if len(iids) > 1 else 0
    val = sorted(iids[i] for i in order[:n_val])
    train = sorted(iids[i] for i in order[n_val:])
    return train, val


def _distributed() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return world, rank, local


def recalibrate_batchnorm(model: torch.nn.Module, loader, device, precision) -> int:
    """Recompute every BatchNorm layer's running mean and variance as the exact average over ``loader``'s
    batches, in training mode, with the weights unchanged; returns the number of batches.

    The running averages kept during training (momentum 0.1) mix statistics of weights that have since
    changed; with small 3-D batches and a learning rate that moves the weights fast, evaluation mode (used
    for validation, extraction and PerDI) then decodes far worse than training mode: the demo's 3-epoch T1
    model had a masked MSE of 0.92 in evaluation mode against 0.34 in training mode, and 0.33 after this
    recalibration ("precise BatchNorm", Wu & Johnson 2021).
    """
    layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not layers:
        return 0
    momenta = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches seen
    was_training = model.training
    model.train()
    fmt = memory_format_for(device)
    n = 0
    try:
        with torch.no_grad():
            for x in loader:
                x = x.to(device, non_blocking=True, memory_format=fmt)
                with autocast_for(device, precision):
                    model(x)
                n += 1
    finally:
        for m, momentum in zip(layers, momenta):
            m.momentum = momentum
        model.train(was_training)
    return n


def _mean_over_ranks(total: float, count: float, device) -> float:
    """``total / count`` with both summed over the DDP ranks (each rank saw its share of the validation set)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        t = torch.tensor([total, count], device=device, dtype=torch.float64)
        torch.distributed.all_reduce(t)
        total, count = float(t[0]), float(t[1])
    return total / max(count, 1.0)


def _evaluate(model, loader, device, precision) -> float:
    model.eval()
    total, count = 0.0, 0.0
    with torch.no_grad():
        for x in loader:
            x = x.to(device, non_blocking=True, memory_format=memory_format_for(device))
            with autocast_for(device, precision):
                recon, _ = model(x)
            mask = x != 0
            n = float(mask.sum())
            total += float(masked_mse(recon.float(), x, mask)) * n
            count += n
    return _mean_over_ranks(total, count, device)


def mean_image_loss(train_loader, val_loader, device) -> float:
    """Masked MSE on ``val_loader``'s volumes of the mean image of ``train_loader``'s volumes.

    The mean image is, voxel by voxel, the mean over the training volumes whose brain mask holds the voxel
    (0 where none does): the best a decoder that ignores its latent can draw under the masked loss. A model
    whose validation loss does not beat it has not learnt to reconstruct anything subject-specific, and PerDI
    maps of its dimensions cannot localise anything (README, "What we learned").
    """
    total_sum, total_count = None, None
    with torch.no_grad():
        for x in train_loader:
            x = x.to(device, dtype=torch.float32)
            s, c = x.sum(0), (x != 0).sum(0).to(torch.float32)
            total_sum = s if total_sum is None else total_sum + s
            total_count = c if total_count is None else total_count + c
        if total_sum is None:
            raise ValueError("mean_image_loss: no training volumes")
        mean = torch.where(total_count > 0, total_sum / total_count.clamp(min=1), torch.zeros_like(total_sum))
        err, count = 0.0, 0.0
        for x in val_loader:
            x = x.to(device, dtype=torch.float32)
            mask = x != 0
            err += float((((mean - x) ** 2) * mask).sum(dtype=torch.float64))
            count += float(mask.sum())
    return _mean_over_ranks(err, count, device)


def train_autoencoder(
    subjects: pd.DataFrame,
    out_dir: str | Path,
    *,
    modality: str,
    settings: TrainSettings,
    progress: Callable[[str, int, int], None] | None = None,
    grid_affine: list | None = None,
) -> dict:
    """Train one modality's autoencoder on cached volumes.

    Parameters
    ----------
    subjects
        ``IID, cache`` rows from :func:`udip_gwas.imaging.dataset.prepare_images`.
    grid_affine
        Voxel-to-world affine of the training grid, stored in the checkpoints so extraction can check it.
    out_dir
        Receives ``best.pt``, ``last.pt``, ``history.csv``, ``loss_curve.png``, ``split.tsv``.

    Returns
    -------
    dict
        Paths of the outputs and the best validation loss.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    world, rank, local_rank = _distributed()
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    device = resolve_device(settings.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    seed_everything(settings.seed + rank)
    iids = subjects["IID"].tolist()
    cache = dict(zip(subjects["IID"], subjects["cache"]))
    train_ids, val_ids = split_subjects(iids, settings.val_fraction, settings.seed)
    if not train_ids:
        raise ValueError(f"train {modality}: need at least 2 subjects, found {len(iids)}")
    if rank == 0:
        pd.DataFrame({"IID": train_ids + val_ids, "set": ["train"] * len(train_ids) + ["validation"] * len(val_ids)}
                     ).to_csv(out_dir / "split.tsv", sep="\t", index=False)
    train_ds = CachedVolumes([cache[i] for i in train_ids])
    val_ds = CachedVolumes([cache[i] for i in val_ids])
    shape = tuple(train_ds[0].shape[1:])

    model = UDIPAutoencoder(shape, latent_dim=settings.latent_dim, base_channels=settings.base_channels)
    model = place_model(model, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=settings.plateau_factor,
                                                           patience=settings.plateau_patience)
    start_epoch, best, history = 0, math.inf, []
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"
    payload = None
    if settings.resume and last_path.exists():
        # the configuration alone decides: no second network is built (at 1 mm that is 138 M parameters)
        previous, _, payload = read_checkpoint(last_path)
        if previous != model.config:
            # e.g. the stage rerun after a change of latent_dim or base_channels: the weights cannot be loaded
            log.warning("train %s: %s holds a network of another configuration (%s, now %s); training from the "
                        "start instead of resuming", modality, last_path, previous, model.config)
            payload = None
    if payload is not None:
        model.load_state_dict(payload["state_dict"])
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        start_epoch, best, history = payload["epoch"] + 1, payload["best_val_loss"], list(payload["history"])
        if "torch_rng" in payload:
            torch.set_rng_state(payload["torch_rng"])
        log.info("train %s: resuming after epoch %d (best validation loss %.4f)", modality, start_epoch, best)

    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                                        else None)
    sampler = DistributedSampler(train_ds, shuffle=True, seed=settings.seed) if world > 1 else None
    generator = torch.Generator().manual_seed(settings.seed)
    loader_kw = dict(batch_size=settings.batch_size, num_workers=settings.num_workers,
                     pin_memory=device.type == "cuda", persistent_workers=settings.num_workers > 0)
    train_loader = DataLoader(train_ds, shuffle=sampler is None, sampler=sampler, drop_last=False,
                              generator=generator, **loader_kw)
    val_sampler = DistributedSampler(val_ds, shuffle=False) if world > 1 else None
    val_loader = DataLoader(val_ds, shuffle=False, sampler=val_sampler, **loader_kw)
    # the same seeded subset of training subjects on every rank, so all ranks compute the same statistics
    n_recal = min(max(settings.bn_recalibration, 0), len(train_ids))
    recal_ids = sorted(np.random.default_rng(settings.seed).choice(len(train_ids), n_recal, replace=False))
    # its workers start for each recalibration rather than staying alive beside the training and validation
    # loaders' for the whole run (a third pool of processes, each holding its own dataset copy)
    recal_loader = DataLoader(torch.utils.data.Subset(train_ds, [int(i) for i in recal_ids]), shuffle=False,
                              **{**loader_kw, "persistent_workers": False}) if n_recal else None

    mean_image_val_loss = None
    if len(val_ds):
        # the mean of up to MEAN_IMAGE_SUBJECTS seeded training volumes (the recalibration subset when it is at
        # least that big)
        n_mean = min(max(n_recal, MEAN_IMAGE_SUBJECTS), len(train_ids))
        if n_mean == n_recal:  # the same subset: the recalibration loader serves
            mean_loader = recal_loader
        else:
            mean_ids = sorted(np.random.default_rng(settings.seed).choice(len(train_ids), n_mean, replace=False))
            mean_loader = DataLoader(torch.utils.data.Subset(train_ds, [int(i) for i in mean_ids]), shuffle=False,
                                     batch_size=settings.batch_size, num_workers=settings.num_workers)
        mean_image_val_loss = mean_image_loss(mean_loader, val_loader, device)
        log.info("train %s: validation loss of the training subjects' mean image %.4f (the level a decoder that "
                 "ignores its latent reaches)", modality, mean_image_val_loss)
    initial_val_loss = None
    if start_epoch == 0 and len(val_ds):
        # the untrained network's validation loss: the baseline training has to beat
        initial_val_loss = _evaluate(net, val_loader, device, settings.precision)
        log.info("train %s: validation loss before training %.4f", modality, initial_val_loss)
    for epoch in range(start_epoch, settings.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        net.train()
        running, seen = 0.0, 0
        for step, x in enumerate(train_loader):
            x = x.to(device, non_blocking=True, memory_format=memory_format_for(device))
            with autocast_for(device, settings.precision):
                recon, _ = net(x)
            loss = masked_mse(recon.float(), x, x != 0)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            running += loss.item() * x.shape[0]
            seen += x.shape[0]
            if progress and rank == 0:
                progress(f"{modality} epoch {epoch + 1}/{settings.epochs}", step + 1, len(train_loader))
        train_loss = running / max(seen, 1)
        if recal_loader is not None:
            recalibrate_batchnorm(model, recal_loader, device, settings.precision)
        val_loss = _evaluate(net, val_loader, device, settings.precision) if len(val_ds) else train_loss
        scheduler.step(val_loss)
        history.append({"epoch": epoch + 1, "train_loss": train_loss, "val_loss": val_loss,
                        "lr": optimizer.param_groups[0]["lr"]})
        log.info("train %s: epoch %d/%d train %.4f validation %.4f lr %.2e", modality, epoch + 1, settings.epochs,
                 train_loss, val_loss, optimizer.param_groups[0]["lr"])
        if rank == 0:
            extra = dict(modality=modality, epoch=epoch, history=history, seed=settings.seed,
                         train_subjects=len(train_ids), val_subjects=len(val_ids), world_size=world,
                         mean_image_val_loss=mean_image_val_loss)
            if grid_affine is not None:
                extra["grid_affine"] = grid_affine
            if val_loss < best:
                best = val_loss
                save_checkpoint(best_path, model, best_val_loss=best, **extra)
            save_checkpoint(last_path, model, best_val_loss=best, optimizer=optimizer.state_dict(),
                            scheduler=scheduler.state_dict(), torch_rng=torch.get_rng_state(), **extra)
            write_history(history, out_dir, mean_image_val_loss=mean_image_val_loss)
    if rank == 0 and history:
        write_history(history, out_dir, mean_image_val_loss=mean_image_val_loss)
    if rank == 0 and mean_image_val_loss is not None and not best < mean_image_val_loss:
        log.warning("train %s: the best validation loss %.4f does not beat the training subjects' mean image "
                    "(%.4f): the decoder draws an average brain and barely uses the latent. The UDIPs may still "
                    "carry signal, but PerDI maps through this decoder cannot localise it; train longer or on more "
                    "subjects, or map the dimensions with perdi.decoder = \"linear\"", modality, best,
                    mean_image_val_loss)
    return {"best": str(best_path), "last": str(last_path), "history": str(out_dir / "history.csv"),
            "best_val_loss": best, "initial_val_loss": initial_val_loss,
            "mean_image_val_loss": mean_image_val_loss, "n_train": len(train_ids), "n_val": len(val_ids)}


def write_history(history: list[dict], out_dir: Path, *, mean_image_val_loss: float | None = None) -> None:
    df = pd.DataFrame(history)
    df.to_csv(out_dir / "history.csv", index=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    ax.plot(df["epoch"], df["train_loss"], marker="o", label="training")
    ax.plot(df["epoch"], df["val_loss"], marker="o", label="validation")
    if mean_image_val_loss is not None:
        ax.axhline(mean_image_val_loss, color="grey", linestyle="--", label="validation, mean image")
    ax.set_xlabel("epoch")
    ax.set_ylabel("masked MSE")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "loss_curve.png", dpi=100)

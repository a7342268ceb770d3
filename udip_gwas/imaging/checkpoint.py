"""Saving and loading autoencoder checkpoints: ours, and the published UDIP PyTorch Lightning files.

Our checkpoint is a ``torch.save`` dict::

    udip_gwas_checkpoint  format version (1)
    model_config          AutoencoderConfig as a dict (input grid, latent_dim, base_channels, ...)
    state_dict            the network's weights (same key names as the published checkpoints)
    modality, epoch, best_val_loss, history, optimizer, scheduler, seed, normalization,
    mean_image_val_loss   validation loss of the training subjects' mean image (None without validation)

The published checkpoints are Lightning files whose ``state_dict`` holds the keys listed in
``reference/deependo_checkpoint_keys.tsv`` (``first_cnn.0.weight`` ... ``last_cnn.6.bias``); their
network is rebuilt from the weights' shapes on the 182x218x182 grid (or the grid you pass).
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from udip_gwas.exceptions import InputError
from udip_gwas.imaging.autoencoder import AutoencoderConfig, UDIPAutoencoder, level_shapes
from udip_gwas.imaging.grid import MNI_1MM_SHAPE

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_PREFIXES = ("model.", "module.", "autoencoder.", "net.")


def save_checkpoint(path: str | Path, model: UDIPAutoencoder, **extra: Any) -> None:
    """Write a checkpoint atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # contiguous: a model trained in the channels-last layout saves the same tensors as any other
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    payload = {"udip_gwas_checkpoint": FORMAT_VERSION, "model_config": model.config.to_dict(), "state_dict": state,
               "normalization": "zscore_nonzero", **extra}
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def _torch_load(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError) as exc:
        # Lightning files can hold hyper-parameter objects that the safe loader refuses.
        log.warning("%s holds Python objects besides tensors (%s); loading it with full unpickling. "
                    "Only load checkpoints you trust.", path, str(exc).splitlines()[0][:120])
        return torch.load(path, map_location="cpu", weights_only=False)


def _strip_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for prefix in _PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            return {k[len(prefix):]: v for k, v in state.items()}
    return state


def config_from_state_dict(state: dict[str, torch.Tensor], input_shape: tuple[int, int, int] | None,
                           *, source: str) -> AutoencoderConfig:
    """Infer the network's configuration from published weights."""
    for key in ("first_cnn.0.weight", "encoding_mlp.weight"):
        if key not in state:
            raise InputError(f"{source}: not a UDIP autoencoder checkpoint: key '{key}' not found "
                             f"(found {sorted(state)[:5]}...)")
    base = int(state["first_cnn.0.weight"].shape[0])
    latent, flat = (int(s) for s in state["encoding_mlp.weight"].shape)
    shape = tuple(input_shape) if input_shape is not None else MNI_1MM_SHAPE
    bottleneck = level_shapes(shape)[0][-1]
    expected = base * 16 * bottleneck[0] * bottleneck[1] * bottleneck[2]
    if expected != flat:
        raise InputError(f"{source}: encoding_mlp takes {flat} inputs, but a {base}-channel network on the grid "
                         f"{shape} gives {expected}; pass the grid the checkpoint was trained on")
    return AutoencoderConfig(input_shape=shape, latent_dim=latent, base_channels=base)  # type: ignore[arg-type]


def read_checkpoint(path: str | Path, *, input_shape: tuple[int, int, int] | None = None
                    ) -> tuple[AutoencoderConfig, dict[str, torch.Tensor], dict]:
    """Read a checkpoint (ours or a published UDIP Lightning one) without building the network.

    Returns
    -------
    config, state_dict, payload
        The network's configuration, its weights (any ``model.``-style prefix removed) and the checkpoint
        dict, whose ``format`` is set to ``udip-gwas`` or ``lightning``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint not found: {path}")
    payload = _torch_load(path)
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise InputError(f"{path}: not a checkpoint (no 'state_dict' entry)")
    state = _strip_prefix(dict(payload["state_dict"]))
    if payload.get("udip_gwas_checkpoint"):
        cfg = AutoencoderConfig.from_dict(payload["model_config"])
        if input_shape is not None and tuple(input_shape) != cfg.input_shape:
            raise InputError(f"{path}: trained on the grid {cfg.input_shape}, not {tuple(input_shape)}")
        payload["format"] = "udip-gwas"
    else:
        cfg = config_from_state_dict(state, input_shape, source=str(path))
        payload["format"] = "lightning"
    return cfg, state, payload


def load_checkpoint(path: str | Path, *, input_shape: tuple[int, int, int] | None = None,
                    device: str | torch.device = "cpu") -> tuple[UDIPAutoencoder, dict]:
    """Load our checkpoint or a published UDIP Lightning checkpoint.

    Returns
    -------
    model, payload
        The network in eval mode on ``device``, and the checkpoint dict (``modality``, ``epoch``, ...,
        ``format`` is ``udip-gwas`` or ``lightning``).
    """
    cfg, state, payload = read_checkpoint(path, input_shape=input_shape)
    model = UDIPAutoencoder(cfg.input_shape, latent_dim=cfg.latent_dim, base_channels=cfg.base_channels,
                            negative_slope=cfg.negative_slope)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise InputError(f"{path}: weights do not fit the UDIP network: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    model.to(device).eval()
    return model, payload

"""UDIP extraction: the latent values of every usable subject, keyed by IID.

Outputs per modality (``{modality}`` is e.g. ``T1``)::

    udips_{modality}.tsv / .parquet   IID, {modality}_001 ... {modality}_128   (the UDIP table)
    qc_{modality}.tsv                 IID, recon_mse (masked reconstruction error)
    correlation_{modality}.png        correlation heatmap of the dimensions
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from udip_gwas.imaging.autoencoder import UDIPAutoencoder, masked_mse_per_subject, memory_format_for, place_model
from udip_gwas.imaging.dataset import CachedVolumes

log = logging.getLogger(__name__)


def dimension_columns(modality: str, latent_dim: int) -> list[str]:
    """UDIP column names: ``T1_001`` ... (1-based, as the dimensions are reported)."""
    width = max(3, len(str(latent_dim)))
    return [f"{modality}_{d + 1:0{width}d}" for d in range(latent_dim)]


@torch.no_grad()
def extract_udips(
    model: UDIPAutoencoder,
    subjects: pd.DataFrame,
    *,
    modality: str,
    batch_size: int = 8,
    device: torch.device | str = "cpu",
    num_workers: int = 0,
    reconstruction_qc: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Encode every subject.

    Parameters
    ----------
    subjects
        ``IID, cache`` rows (cached z-scored volumes).

    Returns
    -------
    udips, qc
        ``udips``: ``IID`` then one column per dimension, rows in the order of ``subjects``;
        ``qc``: ``IID, recon_mse`` (NaN when ``reconstruction_qc`` is off: the decoder is then not run).
    """
    device = torch.device(device)
    fmt = memory_format_for(device)
    model = place_model(model, device).eval()
    loader = DataLoader(CachedVolumes(subjects["cache"].tolist()), batch_size=batch_size, shuffle=False,
                        num_workers=num_workers, pin_memory=device.type == "cuda")
    latents, errors = [], []
    done = 0
    for x in loader:
        x = x.to(device, non_blocking=True, memory_format=fmt)
        if reconstruction_qc:
            recon, z = model(x)
            errors.append(masked_mse_per_subject(recon.float(), x, x != 0).cpu().numpy())
        else:
            z = model.encode(x)
            errors.append(np.full(x.shape[0], np.nan))
        latents.append(z.float().cpu().numpy())
        done += x.shape[0]
        if progress:
            progress(done, len(subjects))
    z = np.concatenate(latents) if latents else np.zeros((0, model.latent_dim), dtype=np.float32)
    cols = dimension_columns(modality, model.latent_dim)
    udips = pd.DataFrame(z.astype(np.float64), columns=cols)
    udips.insert(0, "IID", subjects["IID"].to_numpy())
    qc = pd.DataFrame({"IID": subjects["IID"].to_numpy(), "recon_mse": np.concatenate(errors) if errors else []})
    return udips, qc


def write_udips(udips: pd.DataFrame, qc: pd.DataFrame, out_dir: str | Path, modality: str) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tsv = out_dir / f"udips_{modality}.tsv"
    udips.to_csv(tsv, sep="\t", index=False, float_format="%.6g")
    udips.to_parquet(out_dir / f"udips_{modality}.parquet", index=False)
    qc.to_csv(out_dir / f"qc_{modality}.tsv", sep="\t", index=False, float_format="%.6g")
    plot_dimension_correlation(udips, out_dir / f"correlation_{modality}.png", title=f"{modality} UDIP correlation")
    return {"udips": str(tsv), "qc": str(out_dir / f"qc_{modality}.tsv")}


def plot_dimension_correlation(udips: pd.DataFrame, path: str | Path, *, title: str = "") -> None:
    from matplotlib.figure import Figure

    values = udips.drop(columns=["IID"]).to_numpy()
    corr = np.corrcoef(values, rowvar=False) if len(values) > 2 else np.eye(values.shape[1])
    fig = Figure(figsize=(5.5, 4.5))
    ax = fig.subplots()
    im = ax.imshow(corr, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_xlabel("dimension")
    ax.set_ylabel("dimension")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="Pearson r")
    fig.tight_layout()
    fig.savefig(path, dpi=100)

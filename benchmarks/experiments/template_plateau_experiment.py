"""Experiment (GPU; not part of the package): can a decoder that starts from the training mean image leave it?

The demo's 3-epoch decoders draw an average brain (README, "What we learned"). This script trains, on a small
simulated cohort (600 training-only and 300 discovery subjects, 4 mm, the default simulation), the demo's
network (4 base channels, 128 latent dimensions, batch 8, Adam 2e-3) for EPOCHS epochs in variants given as
``MODALITY:VARIANT``:

``base``
    the published layout, as the package trains it;
``lbn_off_z0``
    three changes made here by subclassing, none of them in the package: the latent standardised by a
    BatchNorm1d without scale and shift (``lbn``), the training subjects' voxelwise mean image added to the
    decoder's output (``off``), and the final 1x1x1 convolution initialised at zero (``z0``), so the untrained
    network draws the mean image.

For each it records the validation loss per epoch against the mean image's, and, on the discovery subjects,
per planted structure: r(input, reconstruction), r(causal allele count, reconstruction), r(allele count,
input) and the SD ratio reconstruction/input of the structure's mean intensity.

    python benchmarks/experiments/template_plateau_experiment.py WORKDIR OUTDIR 60 \
        T1:base,T1:lbn_off_z0,T2:lbn_off_z0 [N_TRAIN]

(CUDA when present, else the CPU; N_TRAIN training subjects, 600 by default.)

writes ``OUTDIR/template_plateau.json``. Results of one H100 run: ``benchmarks/results/template_plateau_h100.json``.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

import udip_gwas.imaging.train as train_module
from udip_gwas.annotation.atlas import atlas_on_grid, harvard_oxford
from udip_gwas.imaging.autoencoder import UDIPAutoencoder
from udip_gwas.fileformats import read_plink_dosages

# this folder is on sys.path when run as a script
from reconstruction_fidelity import _images, structure_figures  # noqa: E402


class Variant(UDIPAutoencoder):
    """The published network plus the experiment's changes (module docstring)."""

    def __init__(self, *args, latent_bn=False, mean_image=None, zero_last=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.latent_bn = nn.BatchNorm1d(self.latent_dim, affine=False) if latent_bn else None
        self.use_mean = mean_image is not None
        self.register_buffer("mean_image", torch.as_tensor(mean_image)[None, None] if self.use_mean
                             else torch.zeros(1))
        if zero_last:
            nn.init.zeros_(self.last_cnn[-1].weight)
            nn.init.zeros_(self.last_cnn[-1].bias)

    def encode(self, x):
        z = super().encode(x)
        return self.latent_bn(z) if self.latent_bn is not None else z

    def decode(self, z):
        out = super().decode(z)
        return out + self.mean_image if self.use_mean else out


def _modality_data(work: Path, modality: str) -> tuple:
    """The training volumes cached as the package's training reads them (float16 .npy), their masked mean image
    (from the cached values), the discovery volumes and the atlas labels on their grid."""
    train, train_iids, _ = _images(work, "train", modality)
    cache = work / "cache" / modality
    cache.mkdir(parents=True, exist_ok=True)
    rows = []
    for iid, x in zip(train_iids, train):
        np.save(cache / f"{iid}.npy", x.astype(np.float16))
        rows.append((iid, str(cache / f"{iid}.npy")))
    cached = np.stack([np.load(p).astype(np.float32) for _, p in rows])
    count = (cached != 0).sum(0)
    mean = np.where(count > 0, cached.sum(0) / np.maximum(count, 1), 0).astype(np.float32)
    x, disc_iids, affine = _images(work, "discovery", modality)
    labels, regions = atlas_on_grid(harvard_oxford(1.0), x.shape[1:], affine).merged()
    return rows, mean, x, disc_iids, labels, regions


def main() -> None:
    work, out, epochs = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    plan = [item.split(":") for item in sys.argv[4].split(",")]
    n_train = int(sys.argv[5]) if len(sys.argv) > 5 else 600
    device = "cuda" if torch.cuda.is_available() else "cpu"
    t0 = time.time()
    sim = work / "simulate"  # the run layout reconstruction_fidelity's _images reads
    if not (sim / "truth.tsv").exists():
        subprocess.run([sys.executable, "-m", "udip_gwas.cli", "simulate", "--out", str(sim),
                        "--set", f"simulate.n_train={n_train}", "--set", "simulate.n_discovery=300",
                        "--set", "simulate.n_replication=60", "--set", "simulate.grid_mm=4.0"], check=True)
    log = {"device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu", "torch": torch.__version__,
           "simulate_s": time.time() - t0, "epochs": epochs, "runs": {}}
    truth = pd.read_csv(sim / "truth.tsv", sep="\t")
    dosages, bim, fam = read_plink_dosages(sim / "genotypes" / "discovery")
    row_of = {iid: i for i, iid in enumerate(fam["IID"].astype(str))}
    out.mkdir(parents=True, exist_ok=True)
    built: list[Variant] = []
    data: dict[str, tuple] = {}  # per modality, read once for all its variants
    for modality, variant in plan:
        if modality not in data:
            data[modality] = _modality_data(work, modality)
        rows, mean, x, disc_iids, labels, regions = data[modality]
        options = dict(latent_bn="lbn" in variant, mean_image=mean if "off" in variant else None,
                       zero_last="z0" in variant)

        def build(*args, **kwargs):
            built.append(Variant(*args, **options, **kwargs))
            return built[-1]

        train_module.UDIPAutoencoder = build  # train_autoencoder builds its network through this name
        settings = train_module.TrainSettings(epochs=epochs, batch_size=8, lr=2e-3, latent_dim=128, base_channels=4,
                                              device=device, num_workers=6, seed=1, bn_recalibration=64)
        t = time.time()
        res = train_module.train_autoencoder(pd.DataFrame(rows, columns=["IID", "cache"]),
                                             work / "train" / f"{modality}_{variant}", modality=modality,
                                             settings=settings)
        model = built[-1]
        model.load_state_dict(torch.load(res["best"], weights_only=False)["state_dict"])
        model = model.to(device).eval()
        with torch.no_grad():
            recon = np.concatenate([model(torch.from_numpy(x[b:b + 32, None]).to(device))[0][:, 0].float().cpu().numpy()
                                    for b in range(0, len(x), 32)])
        brain = x != 0
        history = pd.read_csv(res["history"])
        fig = {"train_s": time.time() - t, "best_val": res["best_val_loss"],
               "mean_image_val": res["mean_image_val_loss"], "initial_val": res["initial_val_loss"],
               "val_by_epoch": [round(v, 5) for v in history["val_loss"]],
               "disc_mse": float(((recon - x) ** 2)[brain].mean()),
               "disc_mean_mse": float(((mean - x) ** 2)[brain].mean()),
               "structures": structure_figures(x, recon, labels, regions, truth,
                                               dosages[[row_of[i] for i in disc_iids]], bim)}
        log["runs"][f"{modality}_{variant}"] = fig
        print(modality, variant, json.dumps(fig), flush=True)
        (out / "template_plateau.json").write_text(json.dumps(log, indent=1))


if __name__ == "__main__":
    main()

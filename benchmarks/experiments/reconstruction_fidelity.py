"""Does the decoder draw the planted structures? (run by hand on a demo run; writes a JSON of figures)

PerDI can only place a dimension's effect where the decoder changes its output, so this diagnostic asks, for
each planted structure of a simulated cohort, whether the autoencoder's reconstructions follow the subjects'
images there. For ``--n`` discovery subjects and each modality's checkpoint (evaluation mode):

- masked MSE of the reconstructions, and of the discovery images' voxelwise mean image (the best a decoder
  that ignores its latent can do);
- per planted structure (merged Harvard-Oxford region on the grid), over subjects, of the structure's mean
  z-scored intensity in the input (``in``) and in the reconstruction (``rec``): the correlations
  ``r(in, rec)``, ``r(g, in)``, ``r(g, rec)`` with the causal allele count ``g``, and the SDs of ``in`` and
  ``rec``. A decoder that draws the structure has ``r(in, rec)`` near 1 and ``sd_rec`` near ``sd_in``.

    python benchmarks/experiments/reconstruction_fidelity.py --run udip_demo --out fidelity.json
    python benchmarks/experiments/reconstruction_fidelity.py --run udip_demo --checkpoints OTHER/train \
        --recalibrate 256 ...

``--checkpoints`` takes ``<dir>/<modality>/best.pt`` from elsewhere (e.g. GPU-trained ones);
``--recalibrate N`` first recomputes their BatchNorm statistics on N of the run's training images.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd


def _images(run: Path, cohort: str, modality: str, n: int | None = None) -> tuple[np.ndarray, list[str], np.ndarray]:
    import nibabel as nib

    from udip_gwas.imaging.volumes import zscore_nonzero

    manifest = pd.read_csv(run / "simulate" / "images" / f"{cohort}_manifest.tsv", sep="\t")
    if n is not None:
        manifest = manifest.iloc[:n]
    root = run / "simulate" / "images"
    vols = [zscore_nonzero(np.asarray(nib.load(root / p).dataobj, dtype=np.float32)) for p in manifest[modality]]
    affine = nib.load(root / manifest[modality].iloc[0]).affine
    return np.stack(vols), manifest["IID"].astype(str).tolist(), affine


def _model(path: Path, run: Path, modality: str, recalibrate: int):
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from udip_gwas.imaging.checkpoint import load_checkpoint
    from udip_gwas.imaging.train import recalibrate_batchnorm

    model, _ = load_checkpoint(path, device="cpu")
    if recalibrate:
        train, _, _ = _images(run, "train", modality, recalibrate)
        loader = DataLoader(TensorDataset(torch.from_numpy(train)[:, None]), batch_size=8)
        recalibrate_batchnorm(model, (b[0] for b in loader), "cpu", "fp32")
    return model.eval()


def _reconstruct(model, x: np.ndarray, batch: int = 16) -> np.ndarray:
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            recon, _ = model(torch.from_numpy(x[i:i + batch])[:, None])
            out.append(recon[:, 0].float().numpy())
    return np.concatenate(out)


def _r(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan")


def structure_figures(x: np.ndarray, recon: np.ndarray, labels: np.ndarray, regions: pd.DataFrame,
                      truth: pd.DataFrame, dosages: np.ndarray, bim: pd.DataFrame) -> dict:
    """Per planted structure (module docstring): its mean intensity over subjects in the input images ``x``
    and the reconstructions ``recon`` (subjects x grid), correlated with each other and with the causal allele
    count (``dosages``: the same subjects' rows, the variants of ``bim``); ``labels``/``regions`` from
    :meth:`udip_gwas.annotation.atlas.Atlas.merged`."""
    figures = {}
    for t in truth.itertuples():
        sel = labels == int(regions.loc[regions["region"] == t.region, "label"].iloc[0])
        g = dosages[:, bim.index[bim["id"] == t.rsid][0]].astype(float)
        ok = np.isfinite(g)
        s_in, s_rec = x[:, sel].mean(1), recon[:, sel].mean(1)
        figures[t.region] = {
            "planted_in": t.modality, "kind": t.kind, "voxels": int(sel.sum()),
            "r_in_rec": round(_r(s_in, s_rec), 3), "r_g_in": round(_r(g[ok], s_in[ok]), 3),
            "r_g_rec": round(_r(g[ok], s_rec[ok]), 3), "sd_in": round(float(s_in.std()), 4),
            "sd_rec": round(float(s_rec.std()), 4), "sd_ratio": round(float(s_rec.std() / s_in.std()), 4)}
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="a demo run folder (simulate/, train/)")
    ap.add_argument("--checkpoints", default=None, help="folder with <modality>/best.pt (default RUN/train)")
    ap.add_argument("--n", type=int, default=300, help="discovery subjects")
    ap.add_argument("--recalibrate", type=int, default=0, help="training images to recompute BatchNorm on")
    ap.add_argument("--out", required=True, help="JSON of figures")
    args = ap.parse_args()

    from udip_gwas.annotation.atlas import atlas_on_grid, harvard_oxford
    from udip_gwas.fileformats import read_plink_dosages

    run = Path(args.run)
    ckpts = Path(args.checkpoints) if args.checkpoints else run / "train"
    truth = pd.read_csv(run / "simulate" / "truth.tsv", sep="\t")
    dosages, bim, fam = read_plink_dosages(run / "simulate" / "genotypes" / "discovery")
    row_of = {iid: i for i, iid in enumerate(fam["IID"].astype(str))}
    figures: dict = {"run": str(run.resolve()), "checkpoints": str(ckpts.resolve()), "n_subjects": args.n,
                     "recalibrate": args.recalibrate, "modalities": {}}
    for modality in ("T1", "T2"):
        path = ckpts / modality / "best.pt"
        if not path.exists():
            continue
        x, iids, affine = _images(run, "discovery", modality, args.n)
        recon = _reconstruct(_model(path, run, modality, args.recalibrate), x)
        brain = x != 0
        mean_image = x.mean(0, keepdims=True)
        labels, regions = atlas_on_grid(harvard_oxford(1.0), x.shape[1:], affine).merged()
        rows = [row_of[i] for i in iids]
        out = {"masked_mse": float(((recon - x) ** 2)[brain].mean()),
               "mean_image_mse": float(((np.broadcast_to(mean_image, x.shape) - x) ** 2)[brain].mean()),
               "structures": {}}
        out["structures"] = structure_figures(x, recon, labels, regions, truth, dosages[rows], bim)
        figures["modalities"][modality] = out
        print(modality, json.dumps(out), flush=True)
    Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()

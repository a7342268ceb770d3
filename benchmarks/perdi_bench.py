"""PerDI cost per dimension (run by hand; writes a JSON of figures).

    python benchmarks/perdi_bench.py --out bench_perdi.json                       # CPU, demo grid
    python benchmarks/perdi_bench.py --full --device cuda --out gpu_perdi.json    # GPU, 182x218x182

Times ``perdi_maps`` (decode originals once per batch, perturbed latents per dimension, streaming paired t)
for a few dimensions and extrapolates to 128 dimensions x N subjects. Goal (GPU, full resolution, base 16
channels): 128 dimensions x 500 subjects in under 30 minutes on one H100.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from udip_gwas.annotation.perdi import perdi_maps
from udip_gwas.imaging.autoencoder import UDIPAutoencoder
from udip_gwas.imaging.grid import mni_grid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--grid-mm", type=float, default=4.0)
    ap.add_argument("--base-channels", type=int, default=None)
    ap.add_argument("--subjects", type=int, default=None, help="subjects timed (default 64 CPU, 500 GPU)")
    ap.add_argument("--dims", type=int, default=2, help="dimensions timed")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default="bench_perdi.json")
    args = ap.parse_args()
    device = torch.device(args.device)
    shape, _ = mni_grid(1.0 if args.full else args.grid_mm)
    base = args.base_channels or (16 if args.full else 4)
    n = args.subjects or (500 if device.type == "cuda" else 64)
    model = UDIPAutoencoder(shape, latent_dim=128, base_channels=base).to(device).eval()
    z = np.random.default_rng(0).normal(size=(n, 128)).astype(np.float32)
    perdi_maps(model, z[: args.batch_size], dimensions=[0], batch_size=args.batch_size, device=device)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    perdi_maps(model, z, dimensions=list(range(args.dims)), batch_size=args.batch_size,
               dims_per_pass=args.dims, device=device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t
    per_dim = elapsed / args.dims
    fig = {"device": str(device), "grid": list(shape), "base_channels": base, "subjects": n, "dims_timed": args.dims,
           "batch_size": args.batch_size, "seconds": round(elapsed, 2), "seconds_per_dimension": round(per_dim, 3),
           "decodes_per_second": round(n * (args.dims + 1) / elapsed, 1),
           "projected_128_dims_500_subjects_min": round(per_dim * 128 * 500 / n / 60, 1)}
    Path(args.out).write_text(json.dumps(fig, indent=2) + "\n")
    print(json.dumps(fig, indent=2))


if __name__ == "__main__":
    main()

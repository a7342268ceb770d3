"""PerDI cost per dimension (run by hand; writes a JSON of figures).

    python benchmarks/perdi_bench.py --out bench_perdi.json                       # CPU, demo grid
    python benchmarks/perdi_bench.py --full --device cuda --out gpu_perdi.json    # GPU, 182x218x182

Times ``perdi_maps`` (decode originals once per batch, perturbed latents per dimension, streaming paired t)
for a few dimensions and extrapolates to 128 dimensions x N subjects. Goal (GPU, full resolution, base 16
channels): 128 dimensions x 500 subjects in under 30 minutes on one H100.

Also times the linear decoder (``linear_decoder_maps``, CPU, numpy) for all 128 dimensions of 500 subjects inside
the MNI brain mask, with the volumes served from memory (8 distinct ones in turn), so reading the cache is not
counted.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from udip_gwas.annotation.atlas import template
from udip_gwas.annotation.perdi import linear_decoder_maps, perdi_maps
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
    ap.add_argument("--linear-only", action="store_true", help="time only the linear decoder")
    ap.add_argument("--linear-subjects", type=int, default=500, help="subjects of the linear decoder's fit")
    ap.add_argument("--out", default="bench_perdi.json")
    args = ap.parse_args()
    device = torch.device(args.device)
    shape, _ = mni_grid(1.0 if args.full else args.grid_mm)
    base = args.base_channels or (16 if args.full else 4)
    n = args.subjects or (500 if device.type == "cuda" else 64)
    fig = {"device": str(device), "grid": list(shape), "subjects": n}
    if not args.linear_only:
        fig.update(_network(args, device, shape, base, n))
    rng = np.random.default_rng(1)
    mask = template(1.0 if args.full else args.grid_mm) > 0
    bank = rng.normal(size=(8, *shape)).astype(np.float32)
    t = time.perf_counter()
    linear_decoder_maps(rng.normal(size=(args.linear_subjects, 128)), lambda i: bank[i % 8], voxel_mask=mask)
    fig["linear_decoder"] = {"subjects": args.linear_subjects, "dimensions": 128, "brain_voxels": int(mask.sum()),
                             "seconds_all_128_dims": round(time.perf_counter() - t, 2)}
    Path(args.out).write_text(json.dumps(fig, indent=2) + "\n")
    print(json.dumps(fig, indent=2))


def _network(args, device, shape, base: int, n: int) -> dict:
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
    return {"base_channels": base, "dims_timed": args.dims, "batch_size": args.batch_size,
            "seconds": round(elapsed, 2), "seconds_per_dimension": round(per_dim, 3),
            "decodes_per_second": round(n * (args.dims + 1) / elapsed, 1),
            "projected_128_dims_500_subjects_min": round(per_dim * 128 * 500 / n / 60, 1)}


if __name__ == "__main__":
    main()

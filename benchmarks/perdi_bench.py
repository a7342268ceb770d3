"""PerDI cost per dimension (run by hand; writes a JSON of figures).

    python benchmarks/perdi_bench.py --out bench_perdi.json                       # CPU, demo grid
    python benchmarks/perdi_bench.py --full --device cuda --out gpu_perdi.json    # GPU, 182x218x182

Times ``perdi_maps`` (decode originals once per batch, perturbed latents per dimension, streaming paired t)
for a few dimensions and extrapolates to 128 dimensions x N subjects. Goal (GPU, full resolution, base 16
channels): 128 dimensions x 500 subjects in under 30 minutes on one H100.

Also times the linear decoder (``linear_decoder_maps``, CPU, numpy) for all 128 dimensions of 500 subjects inside
the MNI brain mask, with the volumes served from memory (8 distinct ones in turn), so reading the cache is not
counted.

``--locus-maps`` times the locus maps instead, as the perdi stage makes them with the linear decoder: one pass over
the volumes for the decoder's and the direct view's regressors together (128 dimensions, ``--loci`` dosages, 10
covariates), the decoder view of every locus (its effect vector), the direct view, then smoothing and region scores
of both views' maps; default 1 mm, 500 subjects, 50 loci. It extrapolates to 40,000 subjects x 200 loci: the pass
grows with subjects x regressors, the maps and scores with loci; memory held is the cross products (8 bytes a
voxel per regressor) and the maps (4 bytes a grid voxel per map).

    python benchmarks/perdi_bench.py --locus-maps --full --device cpu --out perdi_locus_maps.json
    python benchmarks/perdi_bench.py --locus-maps --full --device cuda --out perdi_locus_maps_gpu.json
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import torch

from udip_gwas.annotation import perdi
from udip_gwas.annotation.atlas import harvard_oxford, template
from udip_gwas.annotation.perdi import linear_decoder_maps, perdi_maps
from udip_gwas.annotation.regions import region_scores
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
    ap.add_argument("--locus-maps", action="store_true", help="time the locus maps (both views) only")
    ap.add_argument("--loci", type=int, default=50, help="loci of --locus-maps")
    ap.add_argument("--out", default="bench_perdi.json")
    args = ap.parse_args()
    if args.locus_maps:
        fig = _locus_maps(args)
        Path(args.out).write_text(json.dumps(fig, indent=2) + "\n")
        print(json.dumps(fig, indent=2))
        return
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


def _locus_maps(args) -> dict:
    grid_mm = 1.0 if args.full else args.grid_mm
    shape, _ = mni_grid(grid_mm)
    mask = template(grid_mm) > 0
    n, n_loci, n_cov, p = args.linear_subjects, args.loci, 10, 128
    rng = np.random.default_rng(2)
    bank = rng.normal(size=(8, *shape)).astype(np.float32)
    u = rng.normal(size=(n, p))
    x = perdi.decoder_design(u)
    g, c = perdi.direct_design(rng.binomial(2, 0.3, size=(n, n_loci)).astype(float), rng.normal(size=(n, n_cov)))
    vectors = rng.normal(size=(n_loci, p))
    fig = {"device": args.device, "grid": list(shape), "brain_voxels": int(mask.sum()), "subjects": n,
           "loci": n_loci, "dimensions": p, "covariates": n_cov}
    t0 = time.perf_counter()
    on = None if args.device == "cpu" else args.device  # the products on the GPU when one is there
    sty, yy = perdi.image_cross_products(lambda i: bank[i % 8], np.hstack([x, g, c]), voxel_mask=mask, device=on)
    t1 = time.perf_counter()
    q = x.shape[1]
    dec = perdi.linear_decoder_t(x, sty[:q], yy, voxel_mask=mask, vectors=vectors)
    t2 = time.perf_counter()
    direct = perdi.direct_t(g, c, sty[q:q + n_loci], sty[q + n_loci:], yy, voxel_mask=mask)
    t3 = time.perf_counter()
    atlas = harvard_oxford(grid_mm)
    sigma = 3.0 / grid_mm
    for maps in (dec, direct):
        smoothed = {str(j): perdi.postprocess(maps[j], mask, sigma_voxels=sigma) for j in range(n_loci)}
        region_scores(smoothed, atlas, mask)
    t4 = time.perf_counter()
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    regressors = q + n_loci + n_cov + 1
    fig["seconds"] = {"pass_over_images": round(t1 - t0, 2), "decoder_view": round(t2 - t1, 2),
                      "direct_view": round(t3 - t2, 2), "smoothing_and_region_scores": round(t4 - t3, 2),
                      "total": round(t4 - t0, 2)}
    fig["peak_rss_gb"] = round(peak_gb, 2)
    # 40,000 subjects x 200 loci: the pass grows with subjects x regressors; each view's t with loci; the smoothing
    # and scoring with loci (two views); memory: the cross products and both views' maps
    big_loci, big_n = 200, 40_000
    big_regressors = q + big_loci + n_cov + 1
    fig["projected_40000_subjects_200_loci"] = {
        "pass_over_images_s": round((t1 - t0) * big_n / n * big_regressors / regressors, 1),
        "views_s": round((t3 - t1) * big_loci / n_loci, 1),
        "smoothing_and_region_scores_s": round((t4 - t3) * big_loci / n_loci, 1),
        "cross_products_gb": round(big_regressors * mask.sum() * 8 / 2**30, 1),
        "maps_gb": round(2 * big_loci * np.prod(shape) * 4 / 2**30, 1),
        "note": "the pass reads every subject's cached volume once; at 40,000 subjects reading the float16 cache "
                "(about 14 MB a volume at 1 mm) is not included",
    }
    return fig


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

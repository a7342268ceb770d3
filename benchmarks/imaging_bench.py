"""Imaging speed figures (run by hand; writes a JSON of figures).

    python benchmarks/imaging_bench.py --out bench_imaging.json            # CPU, demo grid
    python benchmarks/imaging_bench.py --full --device cuda --out gpu.json  # GPU, full 1 mm grid

Measures, in one run so ratios compare like with like:
- training step time (fp32, and bf16 autocast where asked) and the bf16/fp32 speed-up;
- extraction throughput (volumes/s, encoder only, no grad);
- loading a volume from .nii.gz vs from the float16 .npy cache;
- the same training step and extraction in the other memory layout (channels-last vs contiguous), as the
  baseline for the layout the package picks on this device (``memory_format_for``).
Goals (GPU, 182x218x182, base 16 channels): bf16 step >= 1.8x faster than fp32; extraction >= 50 volumes/s
on one H100 (the original tool did ~11).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from udip_gwas.imaging.autoencoder import UDIPAutoencoder, masked_mse, memory_format_for, place_model
from udip_gwas.imaging.volumes import zscore_nonzero
from udip_gwas.imaging.grid import mni_grid
from udip_gwas.imaging.train import autocast_for


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_train_step(model, x, device, precision, repeats):
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()

    def step():
        with autocast_for(device, precision):
            recon, _ = model(x)
        loss = masked_mse(recon.float(), x, x != 0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up (cuDNN autotuning, allocator)
    _sync(device)
    t = time.perf_counter()
    for _ in range(repeats):
        step()
    _sync(device)
    return (time.perf_counter() - t) / repeats


@torch.no_grad()
def time_extraction(model, x, device, precision, repeats):
    model.eval()
    with autocast_for(device, precision):
        model.encode(x)
    _sync(device)
    t = time.perf_counter()
    for _ in range(repeats):
        with autocast_for(device, precision):
            model.encode(x)
    _sync(device)
    return repeats * x.shape[0] / (time.perf_counter() - t)


def time_loading(shape, affine, n=5):
    rng = np.random.default_rng(0)
    vol = (rng.normal(500, 100, size=shape) * (rng.random(shape) > 0.4)).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        gz = Path(d) / "v.nii.gz"
        nib.save(nib.Nifti1Image(vol, affine), str(gz))
        npy = Path(d) / "v.npy"
        np.save(npy, zscore_nonzero(vol).astype(np.float16))
        t = time.perf_counter()
        for _ in range(n):
            zscore_nonzero(np.asarray(nib.load(str(gz)).dataobj, dtype=np.float32))
        t_gz = (time.perf_counter() - t) / n
        t = time.perf_counter()
        for _ in range(n):
            np.asarray(np.load(npy, mmap_mode="r"), dtype=np.float32)
        t_npy = (time.perf_counter() - t) / n
    return t_gz, t_npy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="full 182x218x182 grid with 16 base channels")
    ap.add_argument("--grid-mm", type=float, default=4.0, help="grid for the non-full run")
    ap.add_argument("--base-channels", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="bench_imaging.json")
    args = ap.parse_args()
    device = torch.device(args.device)
    grid_mm = 1.0 if args.full else args.grid_mm
    shape, affine = mni_grid(grid_mm)
    base = args.base_channels or (16 if args.full else 4)
    batch = args.batch_size or (2 if device.type == "cpu" and args.full else 8)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    fmt = memory_format_for(device)
    model = place_model(UDIPAutoencoder(shape, latent_dim=128, base_channels=base), device)
    x = torch.randn(batch, 1, *shape, device=device) * (torch.rand(batch, 1, *shape, device=device) > 0.4)
    x = x.contiguous(memory_format=fmt)
    fig = {"device": str(device), "device_name": torch.cuda.get_device_name(device) if device.type == "cuda"
           else platform.processor() or platform.machine(), "torch": torch.__version__, "grid": list(shape),
           "base_channels": base, "batch_size": batch, "memory_format": str(fmt).replace("torch.", ""),
           "parameters": sum(p.numel() for p in model.parameters()), "cudnn": torch.backends.cudnn.is_available()}
    fig["train_step_s_fp32"] = time_train_step(model, x, device, "fp32", args.repeats)
    fig["train_volumes_per_s_fp32"] = batch / fig["train_step_s_fp32"]
    if device.type == "cuda":
        fig["train_step_s_bf16"] = time_train_step(model, x, device, "bf16", args.repeats)
        fig["bf16_speedup"] = fig["train_step_s_fp32"] / fig["train_step_s_bf16"]
        fig["extract_volumes_per_s_bf16"] = time_extraction(model, x, device, "bf16", args.repeats * 3)
    fig["extract_volumes_per_s_fp32"] = time_extraction(model, x, device, "fp32", args.repeats * 3)
    other = torch.contiguous_format if fmt == torch.channels_last_3d else torch.channels_last_3d
    model_o, x_o = model.to(memory_format=other), x.contiguous(memory_format=other)
    fig["other_memory_format"] = str(other).replace("torch.", "")
    fig["other_format_train_step_s_fp32"] = time_train_step(model_o, x_o, device, "fp32", args.repeats)
    fig["other_format_extract_volumes_per_s_fp32"] = time_extraction(model_o, x_o, device, "fp32", args.repeats * 3)
    if device.type == "cuda":  # the GPU default precision is bf16: compare the layouts there too
        fig["other_format_train_step_s_bf16"] = time_train_step(model_o, x_o, device, "bf16", args.repeats)
        fig["other_format_extract_volumes_per_s_bf16"] = time_extraction(model_o, x_o, device, "bf16",
                                                                         args.repeats * 3)
        fig["memory_format_train_speedup_bf16"] = fig["other_format_train_step_s_bf16"] / fig["train_step_s_bf16"]
        fig["memory_format_extract_speedup_bf16"] = (fig["extract_volumes_per_s_bf16"]
                                                     / fig["other_format_extract_volumes_per_s_bf16"])
    fig["memory_format_train_speedup"] = fig["other_format_train_step_s_fp32"] / fig["train_step_s_fp32"]
    fig["memory_format_extract_speedup"] = (fig["extract_volumes_per_s_fp32"]
                                            / fig["other_format_extract_volumes_per_s_fp32"])
    fig["load_nii_gz_s"], fig["load_cache_npy_s"] = time_loading(shape, affine)
    fig["cache_speedup"] = fig["load_nii_gz_s"] / fig["load_cache_npy_s"]
    Path(args.out).write_text(json.dumps(fig, indent=2) + "\n")
    print(json.dumps(fig, indent=2))


if __name__ == "__main__":
    main()

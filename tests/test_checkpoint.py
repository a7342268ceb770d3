"""Checkpoints, ours and the published ones (udip_gwas/imaging/checkpoint.py)."""

from __future__ import annotations

import pytest
import torch

from udip_gwas.imaging.autoencoder import UDIPAutoencoder
from udip_gwas.imaging.checkpoint import load_checkpoint, save_checkpoint


def test_checkpoint__round_trip(tmp_path):
    torch.manual_seed(1)
    model = UDIPAutoencoder((20, 24, 20), latent_dim=7, base_channels=2).eval()
    save_checkpoint(tmp_path / "m.pt", model, modality="T1", epoch=3)
    loaded, payload = load_checkpoint(tmp_path / "m.pt")
    x = torch.randn(3, 1, 20, 24, 20)
    with torch.no_grad():
        assert torch.equal(model.encode(x), loaded.encode(x))
    assert payload["format"] == "udip-gwas" and payload["modality"] == "T1" and payload["epoch"] == 3


@pytest.mark.parametrize("prefix", ["", "model."])
def test_checkpoint__published_lightning_layout_gives_the_same_latents(tmp_path, prefix):
    torch.manual_seed(2)
    model = UDIPAutoencoder((20, 24, 20), latent_dim=7, base_channels=2).eval()
    # what a LightningModule's checkpoint holds: tensors under 'state_dict', plus Lightning's own entries
    lightning = {
        "epoch": 41, "global_step": 9000, "pytorch-lightning_version": "1.5.10",
        "state_dict": {prefix + k: v for k, v in model.state_dict().items()},
        "hyper_parameters": {"lr": 5e-4, "batch_size": 36},
        "callbacks": {}, "optimizer_states": [], "lr_schedulers": [],
    }
    torch.save(lightning, tmp_path / "udip.ckpt")
    native_path = tmp_path / "native.pt"
    save_checkpoint(native_path, model)
    published, payload = load_checkpoint(tmp_path / "udip.ckpt", input_shape=(20, 24, 20))
    native, _ = load_checkpoint(native_path)
    assert payload["format"] == "lightning"
    x = torch.randn(2, 1, 20, 24, 20)
    with torch.no_grad():
        assert torch.equal(published.encode(x), native.encode(x))


def test_checkpoint__published_on_wrong_grid_is_explained(tmp_path):
    model = UDIPAutoencoder((20, 24, 20), latent_dim=7, base_channels=2)
    torch.save({"state_dict": model.state_dict()}, tmp_path / "udip.ckpt")
    with pytest.raises(ValueError, match=r"encoding_mlp takes .* inputs.*grid \(182, 218, 182\)"):
        load_checkpoint(tmp_path / "udip.ckpt")


def test_checkpoint__not_a_checkpoint(tmp_path):
    torch.save({"weights": 1}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="no 'state_dict'"):
        load_checkpoint(tmp_path / "x.pt")
    with pytest.raises(ValueError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")

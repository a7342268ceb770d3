"""The UDIP autoencoder network and its loss (udip_gwas/imaging/autoencoder.py)."""

from __future__ import annotations

import csv

import pytest
import torch

from udip_gwas.imaging.autoencoder import (
    UDIPAutoencoder, level_shapes, masked_mse, masked_mse_per_subject, memory_format_for, place_model)
from udip_gwas.imaging.checkpoint import save_checkpoint

from .conftest import data_path


def test_full_grid__parameter_count_and_shapes():
    with torch.device("meta"):
        model = UDIPAutoencoder((182, 218, 182))
        recon, z = model(torch.zeros(2, 1, 182, 218, 182))
    assert sum(p.numel() for p in model.parameters()) == 138_124_497
    linear = model.encoding_mlp.weight.numel() + model.decoding_mlp.weight.numel()
    assert linear == 2 * 128 * 516_096
    assert model.level_shapes == [(182, 218, 182), (92, 110, 92), (46, 56, 46), (24, 28, 24), (12, 14, 12)]
    assert tuple(recon.shape) == (2, 1, 182, 218, 182)
    assert tuple(z.shape) == (2, 128)


def test_full_grid__state_dict_matches_published_key_layout():
    rows = list(csv.DictReader(open(data_path("deependo_checkpoint_keys.tsv")), delimiter="\t"))
    with torch.device("meta"):
        model = UDIPAutoencoder((182, 218, 182))
    ours = {k: "x".join(str(s) for s in v.shape) for k, v in model.state_dict().items()}
    assert ours == {r["key"]: r["shape"] for r in rows}


@pytest.mark.parametrize(
    "shape",
    [(46, 55, 46), (23, 28, 23), (17, 19, 21), (31, 16, 33), (91, 109, 91), (16, 16, 16)],
)
def test_any_grid__round_trips_to_its_own_shape(shape):
    model = UDIPAutoencoder(shape, latent_dim=5, base_channels=2)
    x = torch.randn(2, 1, *shape)
    recon, z = model(x)
    assert tuple(recon.shape) == (2, 1, *shape)
    assert tuple(z.shape) == (2, 5)


def test_level_shapes__too_small_grid_is_refused():
    with pytest.raises(ValueError, match="too small"):
        level_shapes((0, 10, 10))


def test_forward__wrong_input_shape_names_expected_and_found():
    model = UDIPAutoencoder((16, 16, 16), latent_dim=3, base_channels=2)
    with pytest.raises(ValueError, match=r"expected input \(batch, 1, 16, 16, 16\), found \(1, 1, 16, 16, 15\)"):
        model(torch.zeros(1, 1, 16, 16, 15))


def test_masked_mse__ignores_background_and_divides_by_mask_count():
    torch.manual_seed(0)
    target = torch.randn(2, 1, 6, 5, 4)
    mask = torch.rand(2, 1, 6, 5, 4) > 0.5
    recon = torch.randn(2, 1, 6, 5, 4)
    expected = ((recon - target)[mask] ** 2).sum() / mask.sum()
    assert torch.allclose(masked_mse(recon, target, mask), expected)
    garbage = recon.clone()
    garbage[~mask] = 1e6
    assert torch.allclose(masked_mse(garbage, target, mask), expected)
    per = masked_mse_per_subject(recon, target, mask)
    for i in range(2):
        assert torch.allclose(per[i], ((recon[i] - target[i])[mask[i]] ** 2).mean())


def test_masked_mse__empty_mask_is_an_error():
    with pytest.raises(ValueError, match="mask is empty"):
        masked_mse(torch.zeros(1, 1, 2, 2, 2), torch.zeros(1, 1, 2, 2, 2), torch.zeros(1, 1, 2, 2, 2, dtype=bool))


def test_channels_last__same_numbers_and_contiguous_checkpoint(tmp_path):
    torch.manual_seed(3)
    model = UDIPAutoencoder((20, 24, 20), latent_dim=7, base_channels=2).eval()
    x = torch.randn(3, 1, 20, 24, 20)
    z = torch.randn(3, 7)
    with torch.no_grad():
        ref_z, ref_x = model.encode(x), model.decode(z)
        assert memory_format_for("cpu") == memory_format_for("cuda") == torch.channels_last_3d
        cl = place_model(model, "cpu")
        assert cl.first_cnn[0].weight.is_contiguous(memory_format=torch.channels_last_3d)
        xc = x.contiguous(memory_format=torch.channels_last_3d)
        torch.testing.assert_close(cl.encode(xc), ref_z, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(cl.decode(z), ref_x, rtol=1e-5, atol=1e-5)
    save_checkpoint(tmp_path / "m.pt", cl)
    saved = torch.load(tmp_path / "m.pt", weights_only=False)["state_dict"]
    assert all(v.is_contiguous() for v in saved.values())


def test_place_model__leaves_tensors_that_are_not_5d_alone():
    # a module holding a 4-D tensor (PerDI accepts any decoder): Module.to(memory_format=channels_last_3d)
    # would raise on it
    module = torch.nn.Module()
    module.register_buffer("plane", torch.randn(2, 3, 4, 5))
    module.conv = torch.nn.Conv3d(1, 2, 3)
    placed = place_model(module, "cpu")
    assert placed.plane.is_contiguous() and placed.conv.weight.is_contiguous(memory_format=torch.channels_last_3d)

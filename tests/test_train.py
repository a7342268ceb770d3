"""Training helpers (udip_gwas/imaging/train.py)."""

from __future__ import annotations

import numpy as np
import torch

from udip_gwas.imaging.autoencoder import UDIPAutoencoder


def test_recalibrate_batchnorm__running_statistics_are_exact_batch_averages():
    from udip_gwas.imaging.train import recalibrate_batchnorm

    torch.manual_seed(5)
    model = UDIPAutoencoder((16, 16, 16), latent_dim=4, base_channels=2)
    bn = model.first_cnn[1]
    assert isinstance(bn, torch.nn.BatchNorm3d)
    with torch.no_grad():  # stale statistics, as after fast-moving training
        bn.running_mean.fill_(5.0)
        bn.running_var.fill_(9.0)
    seen = []
    hook = bn.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].detach().numpy().copy()))
    batches = [torch.randn(3, 1, 16, 16, 16) * 2 + 1 for _ in range(2)]
    model.eval()
    assert recalibrate_batchnorm(model, batches, "cpu", "fp32") == 2
    hook.remove()
    # independent reference: numpy over the layer's inputs, channel-wise mean and unbiased variance per
    # batch, averaged over the batches with equal weight
    means = [x.mean(axis=(0, 2, 3, 4)) for x in seen]
    variances = [x.var(axis=(0, 2, 3, 4), ddof=1) for x in seen]
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean(means, axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.running_var.numpy(), np.mean(variances, axis=0), rtol=1e-4, atol=1e-6)
    assert bn.momentum == 0.1 and not model.training  # momentum and mode restored
    # with one batch, evaluation mode now reproduces training mode's normalisation (up to n/(n-1) in the variance)
    x = batches[0]
    recalibrate_batchnorm(model, [x], "cpu", "fp32")
    with torch.no_grad():
        model.eval()
        z_eval = model.encode(x)
        model.train()
        z_train = model.encode(x)
    torch.testing.assert_close(z_eval, z_train, rtol=0.05, atol=0.05)

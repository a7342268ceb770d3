"""The UDIP 3-D convolutional autoencoder and its masked reconstruction loss.

Layout (module names follow the published checkpoints, so their ``state_dict`` loads as is)::

    first_cnn        block 1 -> c                      full grid
    first_encoder    maxpool + block c -> 2c
    second_encoder   maxpool + block 2c -> 4c
    third_encoder    maxpool + block 4c -> 8c
    fourth_encoder   maxpool + block 8c -> 16c         bottleneck grid
    encoding_mlp     Linear(16c * bottleneck -> latent)   the UDIPs (no activation)
    decoding_mlp     Linear(latent -> 16c * bottleneck)
    first_decoder    block 16c -> 8c, first_transconv  (8c, k2 s2)
    second_decoder   block 8c -> 4c,  second_transconv
    third_decoder    block 4c -> 2c,  third_transconv
    fourth_decoder   block 2c -> c,   fourth_transconv
    last_cnn         block c -> c, then a 1x1x1 conv to one channel

A block is ``[Conv3d k3 p1 -> BatchNorm3d -> LeakyReLU] x 2``. Pool and transposed-convolution paddings
are derived per axis from the input grid, so any grid round-trips to its own shape; at 182x218x182 with
c = 16 and 128 latent dimensions the network has the original's 138,124,497 parameters.

References
----------
Patel K. et al., Communications Biology 7, 414 (2024).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from udip_gwas.imaging.grid import MNI_1MM_SHAPE

N_LEVELS = 4
_ENCODERS = ("first_encoder", "second_encoder", "third_encoder", "fourth_encoder")
_DECODERS = ("first_decoder", "second_decoder", "third_decoder", "fourth_decoder")
_TRANSCONVS = ("first_transconv", "second_transconv", "third_transconv", "fourth_transconv")


def memory_format_for(device: torch.device | str) -> torch.memory_format:
    """The tensor layout the network runs fastest in on ``device``: ``channels_last_3d`` (channels innermost)
    on CPU and CUDA, the default layout elsewhere (not measured).

    Measured (``benchmarks/imaging_bench.py``, against the default layout in the same run): CPU, 4 mm demo
    grid, 4 base channels, 2 cores: a training step 1.56x and extraction 1.54x faster. One H200, 1 mm grid,
    16 base channels, batch 8: a bf16 training step 0.29 s against 0.98 s (3.4x; in the default layout bf16
    was no faster than fp32), extraction 169 against 129 volumes/s (bf16); 4 mm, 16 base channels: 1.7x and
    1.2x. The layout changes neither the weights' names and shapes nor the numbers beyond float rounding, and
    checkpoints are saved contiguous.
    """
    kind = torch.device(device).type
    return torch.channels_last_3d if kind in ("cpu", "cuda") else torch.contiguous_format


def place_model(model: nn.Module, device: torch.device | str) -> nn.Module:
    """Move ``model`` to ``device`` with its 5-D weights in :func:`memory_format_for` the device.

    Only 5-D tensors change layout (``Module.to(memory_format=...)`` would refuse a module holding a 4-D
    tensor); parameters stay the same objects, so an optimizer made before or after sees them.
    """
    model = model.to(device)
    fmt = memory_format_for(device)
    if fmt != torch.contiguous_format:
        with torch.no_grad():
            for t in [*model.parameters(), *model.buffers()]:
                if t.dim() == 5:
                    t.data = t.data.contiguous(memory_format=fmt)
    return model


def conv_block(in_channels: int, out_channels: int, *, negative_slope: float = 0.01) -> nn.Sequential:
    """``[Conv3d(k3, p1) -> BatchNorm3d -> LeakyReLU] x 2``."""
    return nn.Sequential(
        nn.Conv3d(in_channels, out_channels, kernel_size=3, padding=1),
        nn.BatchNorm3d(out_channels),
        nn.LeakyReLU(negative_slope),
        nn.Conv3d(out_channels, out_channels, kernel_size=3, padding=1),
        nn.BatchNorm3d(out_channels),
        nn.LeakyReLU(negative_slope),
    )


def level_shapes(shape: tuple[int, ...]) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """Grid shapes at each level and the max-pool padding used to reach each.

    A pool halves an axis; it pads that axis by one when half the size would be odd, which keeps the next
    level even where possible and reproduces the original network's grids (182x218x182 -> 92x110x92 ->
    46x56x46 -> 24x28x24 -> 12x14x12).

    Returns
    -------
    shapes, pads
        ``shapes[0]`` is the input grid, ``shapes[4]`` the bottleneck; ``pads[i]`` is the padding of the
        pool from level ``i`` to ``i + 1``.
    """
    shapes = [tuple(int(s) for s in shape)]
    pads = []
    for _ in range(N_LEVELS):
        pad = tuple(1 if (n // 2) % 2 == 1 else 0 for n in shapes[-1])
        shapes.append(tuple((n + 2 * p - 2) // 2 + 1 for n, p in zip(shapes[-1], pad)))
        pads.append(pad)
    for s in shapes:
        if min(s) < 1:
            raise ValueError(f"input grid {shape} is too small for {N_LEVELS} pooling levels")
    return shapes, pads


def transconv_padding(small: tuple[int, ...], large: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Padding and output padding of a k2 s2 transposed convolution taking ``small`` to ``large``
    (output = 2 * in - 2 * padding + output_padding)."""
    out_pad = tuple((2 * s - n) % 2 for s, n in zip(small, large))
    pad = tuple((2 * s - n + op) // 2 for s, n, op in zip(small, large, out_pad))
    return pad, out_pad


@dataclass(frozen=True)
class AutoencoderConfig:
    """Everything needed to rebuild the network (stored in our checkpoints)."""

    input_shape: tuple[int, int, int] = MNI_1MM_SHAPE
    latent_dim: int = 128
    base_channels: int = 16
    negative_slope: float = 0.01

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "AutoencoderConfig":
        return cls(input_shape=tuple(d["input_shape"]), latent_dim=int(d["latent_dim"]),
                   base_channels=int(d["base_channels"]), negative_slope=float(d.get("negative_slope", 0.01)))


class UDIPAutoencoder(nn.Module):
    """3-D convolutional autoencoder whose 128-d linear latent gives the UDIPs.

    Parameters
    ----------
    input_shape
        Grid of the (single-channel) input volumes, e.g. ``(182, 218, 182)``.
    latent_dim
        Number of UDIP dimensions.
    base_channels
        Channels of the first block; doubled at each encoder level (16 -> 256 in the original).
    """

    def __init__(self, input_shape: tuple[int, int, int] = MNI_1MM_SHAPE, *, latent_dim: int = 128,
                 base_channels: int = 16, negative_slope: float = 0.01):
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"UDIPAutoencoder: input_shape must have 3 axes, found {input_shape}")
        if latent_dim < 1 or base_channels < 1:
            raise ValueError(f"UDIPAutoencoder: latent_dim and base_channels must be >= 1, found "
                             f"{latent_dim} and {base_channels}")
        self.config = AutoencoderConfig(tuple(int(s) for s in input_shape), latent_dim, base_channels,
                                        negative_slope)
        shapes, pads = level_shapes(input_shape)
        self.level_shapes = shapes
        ch = [base_channels * 2**i for i in range(N_LEVELS + 1)]
        kw = dict(negative_slope=negative_slope)
        self.first_cnn = conv_block(1, ch[0], **kw)
        self.pools = nn.ModuleList(nn.MaxPool3d(2, stride=2, padding=p) for p in pads)
        for i, name in enumerate(_ENCODERS):
            setattr(self, name, conv_block(ch[i], ch[i + 1], **kw))
        self.bottleneck_shape = shapes[-1]
        flat = ch[-1] * shapes[-1][0] * shapes[-1][1] * shapes[-1][2]
        self.encoding_mlp = nn.Linear(flat, latent_dim)
        self.decoding_mlp = nn.Linear(latent_dim, flat)
        for i, (dec, up) in enumerate(zip(_DECODERS, _TRANSCONVS)):
            c_in, c_out = ch[N_LEVELS - i], ch[N_LEVELS - i - 1]
            pad, out_pad = transconv_padding(shapes[N_LEVELS - i], shapes[N_LEVELS - i - 1])
            setattr(self, dec, conv_block(c_in, c_out, **kw))
            setattr(self, up, nn.ConvTranspose3d(c_out, c_out, kernel_size=2, stride=2, padding=pad,
                                                 output_padding=out_pad))
        self.last_cnn = nn.Sequential(*conv_block(ch[0], ch[0], **kw), nn.Conv3d(ch[0], 1, kernel_size=1))

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 5 or x.shape[1] != 1 or tuple(x.shape[2:]) != self.config.input_shape:
            grid = ", ".join(map(str, self.config.input_shape))
            raise ValueError(f"UDIPAutoencoder: expected input (batch, 1, {grid}), found {tuple(x.shape)}")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Volumes (B, 1, *grid) -> UDIPs (B, latent_dim)."""
        self._check(x)
        h = self.first_cnn(x)
        for pool, name in zip(self.pools, _ENCODERS):
            h = getattr(self, name)(pool(h))
        return self.encoding_mlp(h.flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """UDIPs (B, latent_dim) -> reconstructions (B, 1, *grid)."""
        h = self.decoding_mlp(z).view(z.shape[0], -1, *self.bottleneck_shape)
        for dec, up in zip(_DECODERS, _TRANSCONVS):
            h = getattr(self, up)(getattr(self, dec)(h))
        return self.last_cnn(h)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        return self.decode(z), z


def masked_mse(reconstruction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Squared error summed inside the brain mask, divided by the mask's voxel count (whole batch).

    Background voxels (``mask == 0``) contribute nothing, whatever the network outputs there.
    """
    m = mask.to(reconstruction.dtype)
    n = m.sum()
    if n == 0:
        raise ValueError("masked_mse: the mask is empty")
    return (((reconstruction - target) ** 2) * m).sum() / n


def masked_mse_per_subject(reconstruction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-subject masked MSE, shape (B,): the reconstruction-error QC value."""
    m = mask.to(reconstruction.dtype)
    dims = tuple(range(1, reconstruction.ndim))
    return (((reconstruction - target) ** 2) * m).sum(dims) / m.sum(dims).clamp_min(1)

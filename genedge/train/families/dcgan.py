"""DCGAN: the GAN objective with a convolutional generator and discriminator, for images.

G: z -> Linear -> (C0, h0, w0) -> BatchNorm + ReLU -> k x [ConvTranspose2d(4, 2, 1) + BatchNorm
+ ReLU], each doubling the size and halving the width -> Conv2d(3x3) to the data's channels ->
tanh. D mirrors it with strided Conv2d(4, 2, 1) + LeakyReLU(0.2) blocks (BatchNorm in all but
the first, by default) and a linear logit.
Losses, optimiser and training step are the classic GAN's (see :mod:`genedge.train.families.gan`
and docs/models.md).

Self-conditioning (``clusters`` > 0, the default for 100 images or more; see
:mod:`genedge.train.families.conditional`): G becomes ``G(z, cluster)`` over k-means clusters of
the images and D a projection discriminator on the cluster, trained with mode-seeking pairs.

Images of any size work: ``h0 = H / 2**k`` with the largest ``k`` (at most
:data:`MAX_UPSAMPLES`) that divides both sides and leaves at least :data:`MIN_SIDE` pixels, so
28 = 7 * 4, 8 = 2 * 4, 12 = 3 * 4, 20 = 5 * 4 and an odd 13 = 13 * 1. Every transposed
convolution then doubles its input exactly (no ``output_padding``), and no batch size is baked
into a reshape, so the exported graph has a free batch axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genedge.runtime.errors import InputError
from genedge.train.families.base import Models
from genedge.train.families.conditional import (
    ConditionalGenerator,
    ProjectionDiscriminator,
    SelfConditionedConfig,
    default_clusters,
)
from genedge.train.families.gan import SelfConditionedGANFamily
from genedge.train.run import DataInfo

#: At most this many doubling blocks in G (and halving blocks in D).
MAX_UPSAMPLES = 4
#: The smallest side of G's first feature map.
MIN_SIDE = 2
#: D's normalisation choices.
D_NORMS = ("batch", "spectral", "none")


def upsample_plan(height: int, width: int) -> tuple[int, int, int]:
    """The number of doubling blocks ``k`` and the start size ``(h0, w0)`` for an image.

    Args:
        height: Image height in pixels.
        width: Image width in pixels.

    Returns:
        ``(k, h0, w0)`` with ``h0 * 2**k == height`` and ``w0 * 2**k == width``.
    """
    k = 0
    while (
        k < MAX_UPSAMPLES
        and height % 2 ** (k + 1) == 0
        and width % 2 ** (k + 1) == 0
        and min(height, width) // 2 ** (k + 1) >= MIN_SIDE
    ):
        k += 1
    return k, height // 2**k, width // 2**k


def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation: conv and linear weights ~ N(0, 0.02), BatchNorm scales ~ N(1, 0.02)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class ConvGenerator(nn.Module):
    """z -> Linear -> (width * 2**k, h0, w0) -> k doubling blocks -> 3x3 conv -> tanh.

    Args:
        z_dim: Length of the input vector (the latent, plus a label embedding for cGAN).
        shape: Output image shape ``(C, H, W)``.
        width: Channels of the last (full-size) feature map; each block before it has twice
            as many.
    """

    def __init__(self, z_dim: int, shape: tuple[int, ...], width: int) -> None:
        super().__init__()
        channels, height, wide = (int(s) for s in shape)
        k, h0, w0 = upsample_plan(height, wide)
        c0 = width * 2**k
        self.start = (c0, h0, w0)
        self.project = nn.Linear(z_dim, c0 * h0 * w0)
        layers: list[nn.Module] = [nn.BatchNorm2d(c0), nn.ReLU()]
        c = c0
        for _ in range(k):
            layers += [
                nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(c // 2),
                nn.ReLU(),
            ]
            c //= 2
        layers += [nn.Conv2d(c, channels, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # unflatten keeps the batch axis symbolic in the exported graph (no baked-in reshape).
        flat: torch.Tensor = self.project(z)
        # torch leaves Tensor.unflatten unannotated
        start: torch.Tensor = flat.unflatten(1, self.start)  # type: ignore[no-untyped-call]
        out: torch.Tensor = self.net(start)
        return out


class ConvFeatures(nn.Module):
    """An image -> strided conv blocks with LeakyReLU(0.2) -> a flat feature vector.

    Args:
        shape: Input image shape ``(C, H, W)``.
        width: Channels of the first block; each later block has twice as many.
        blocks: Number of halving blocks (a 4x4 stride-2 conv floors odd sides).
        norm: ``batch`` (BatchNorm in every block but the first), ``spectral`` (spectral norm
            on every conv) or ``none``.

    Raises:
        InputError: Unknown ``norm``.
    """

    def __init__(self, shape: tuple[int, ...], width: int, blocks: int, norm: str = "none") -> None:
        super().__init__()
        if norm not in D_NORMS:
            raise InputError(f"d_norm must be one of {', '.join(D_NORMS)}, got {norm!r}")
        c, h, w = (int(s) for s in shape)
        layers: list[nn.Module] = []
        for i in range(blocks):
            conv = nn.Conv2d(c, width * 2**i, 4, 2, 1)
            # Initialise before spectral norm re-parametrises the weight.
            dcgan_init(conv)
            layers.append(
                nn.utils.parametrizations.spectral_norm(conv) if norm == "spectral" else conv
            )
            if norm == "batch" and i > 0:
                bn = nn.BatchNorm2d(width * 2**i)
                dcgan_init(bn)
                layers.append(bn)
            layers.append(nn.LeakyReLU(0.2))
            c, h, w = width * 2**i, h // 2, w // 2
        layers.append(nn.Flatten(1))
        self.net = nn.Sequential(*layers)
        self.out_features = c * h * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features: torch.Tensor = self.net(x)
        return features


def discriminator_blocks(shape: tuple[int, ...]) -> int:
    """D's number of halving blocks: as many as G has doubling blocks; for sides G cannot halve
    (odd sizes), as many as keep both sides at least :data:`MIN_SIDE` pixels; at least one
    unless a side is a single pixel."""
    _, height, width = (int(s) for s in shape)
    if min(height, width) < 2:
        return 0
    k, _, _ = upsample_plan(height, width)
    if k == 0:
        while k < MAX_UPSAMPLES and min(height, width) >> (k + 1) >= MIN_SIDE:
            k += 1
    return max(1, k)


class ConvDiscriminator(nn.Module):
    """image -> :class:`ConvFeatures` -> one logit per sample."""

    def __init__(self, shape: tuple[int, ...], width: int, norm: str = "none") -> None:
        super().__init__()
        self.features = ConvFeatures(shape, width, discriminator_blocks(shape), norm)
        self.head = nn.Linear(self.features.out_features, 1)
        dcgan_init(self.head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logit: torch.Tensor = self.head(self.features(x))
        return logit.squeeze(1)


@dataclass(frozen=True, kw_only=True)
class DCGANConfig(SelfConditionedConfig):
    """DCGAN's settings (see :meth:`DCGANFamily.defaults`).

    Attributes:
        g_width: Channels of G's last (full-size) feature map.
        d_width: Channels of D's first block.
        d_norm: D's normalisation, one of :data:`D_NORMS`.
    """

    g_width: int
    d_width: int
    d_norm: str
    # Runs without clusters did not record it; it is only read with clusters.
    embed_dim: int = 32


class DCGANFamily(SelfConditionedGANFamily[DCGANConfig]):
    """Deep convolutional GAN (Radford et al. 2016) for images of any size and channel count.

    Training (losses, Adam, one D and one G update per step, the moving average of G's weights
    that export samples from), the sampler module and the graph contract are inherited from the
    classic GAN; only the networks differ.
    """

    name = "dcgan"
    kinds = ("image",)
    config_type = DCGANConfig

    def defaults(self, info: DataInfo) -> DCGANConfig:
        """Defaults that give recognisable MNIST digits in a few minutes on a 2-core CPU.

        ``d_norm`` is ``batch`` (BatchNorm after every D block but the first, as in DCGAN),
        ``spectral`` or ``none``: without normalisation this small D stalls at chance level
        (loss ln 4) after a few hundred MNIST steps and the digits stop improving.
        """
        clusters = default_clusters(info.size)
        return DCGANConfig(
            z_dim=64,
            g_width=16,
            d_width=32,
            d_norm="batch",
            batch_size=64,
            steps=8000,
            lr=2e-4,
            beta1=0.5,
            beta2=0.999,
            ema=0.999,
            lr_decay=0.5,
            clusters=clusters,
            embed_dim=32,
            mode_seeking=0.5 if clusters else 0.0,
        )

    def plain_networks(self, cfg: DCGANConfig, info: DataInfo) -> Models:
        """The convolutional G(z) and D(x).

        Raises:
            InputError: ``d_norm`` is not one of :data:`D_NORMS`.
        """
        shape = tuple(info.sample_shape)
        return {
            "G": ConvGenerator(cfg.z_dim, shape, cfg.g_width),
            "D": ConvDiscriminator(shape, cfg.d_width, cfg.d_norm),
        }

    def conditional_networks(self, cfg: DCGANConfig, info: DataInfo, k: int) -> Models:
        """The convolutional G(z, y) and projection D(x, y) over ``k`` clusters."""
        shape = tuple(info.sample_shape)
        embed = cfg.embed_dim
        body = ConvGenerator(cfg.z_dim + embed, shape, cfg.g_width)
        blocks = discriminator_blocks(shape)
        features = ConvFeatures(shape, cfg.d_width, blocks, cfg.d_norm)
        return {
            "G": ConditionalGenerator(body, k, embed),
            "D": ProjectionDiscriminator(features, k),
        }

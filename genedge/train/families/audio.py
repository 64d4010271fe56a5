"""``audio``: a spectrogram GAN (SpecGAN's route, Donahue et al. 2019) for audio data.

The data are log-magnitude spectrograms ``(1, bins, frames)`` (see
:mod:`genedge.train.data.audio`), learnt as one-channel images by the DCGAN networks: G is
:class:`~genedge.train.families.dcgan.ConvGenerator`, D strided convolutions. With labels
(the default when the data has them; ``conditional=false`` ignores them) G takes ``(z, y)``
and D is a projection discriminator, trained with mode-seeking pairs, as ``cgan``. The
exported sampler returns spectrograms; the manifest's ``audio`` section tells the torch-free
runtime how to turn them into clips (Griffin-Lim).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from genedge.runtime.errors import DataError
from genedge.runtime.manifest import GraphSpec, TensorSpec
from genedge.train.adversarial import adam_pair, adversarial_step, sampling_generator, with_ema
from genedge.train.families.base import Family, Models, Optimizers
from genedge.train.families.conditional import (
    ConditionalConfig,
    ConditionalGenerator,
    ProjectionDiscriminator,
    conditional_step,
)
from genedge.train.families.dcgan import (
    ConvDiscriminator,
    ConvFeatures,
    ConvGenerator,
    discriminator_blocks,
)
from genedge.train.run import DataInfo


@dataclass(frozen=True, kw_only=True)
class AudioConfig(ConditionalConfig):
    """The audio family's settings (see :meth:`AudioFamily.defaults`).

    Attributes:
        conditional: Condition on the data's labels (when it has them).
        g_width: Channels of G's last (full-size) feature map.
        d_width: Channels of D's first block.
        d_norm: D's normalisation (``batch``, ``spectral`` or ``none``).
    """

    conditional: bool
    g_width: int
    d_width: int
    d_norm: str


class AudioFamily(Family[AudioConfig]):
    """Spectrogram GAN: DCGAN networks on log-magnitude spectrograms, class-conditional when
    the data is labelled."""

    name = "audio"
    kinds = ("audio",)
    config_type = AudioConfig

    def check_data(self, info: DataInfo) -> None:
        """Refuse data that are not audio spectrograms.

        Raises:
            DataError: Not audio, or audio without its spectrogram description.
        """
        super().check_data(info)
        if not info.audio:
            raise DataError(f"{info.name} has no audio description; load it as audio data")

    def defaults(self, info: DataInfo) -> AudioConfig:
        """Defaults for the built-in spoken digits at 8 kHz (128 x 96 spectrograms) on a
        2-core CPU: conditional when labelled, G 8 channels wide at full size, D 16 in its
        first block, batch 32."""
        return AudioConfig(
            conditional=info.num_classes > 0,
            z_dim=64,
            embed_dim=32,
            g_width=8,
            d_width=16,
            d_norm="batch",
            batch_size=32,
            steps=2000,
            lr=2e-4,
            beta1=0.5,
            beta2=0.999,
            ema=0.999,
            lr_decay=0.3,
            mode_seeking=0.2,
        )

    def _conditional(self, cfg: AudioConfig, info: DataInfo) -> bool:
        return cfg.conditional and info.num_classes > 0

    def build(self, cfg: AudioConfig, info: DataInfo) -> Models:
        shape = tuple(info.sample_shape)
        models: Models
        if self._conditional(cfg, info):
            k = int(info.num_classes)
            body = ConvGenerator(cfg.z_dim + cfg.embed_dim, shape, cfg.g_width)
            features = ConvFeatures(shape, cfg.d_width, discriminator_blocks(shape), cfg.d_norm)
            models = {
                "G": ConditionalGenerator(body, k, cfg.embed_dim),
                "D": ProjectionDiscriminator(features, k),
            }
        else:
            models = {
                "G": ConvGenerator(cfg.z_dim, shape, cfg.g_width),
                "D": ConvDiscriminator(shape, cfg.d_width, cfg.d_norm),
            }
        return with_ema(models, cfg)

    def optimizers(self, models: Models, cfg: AudioConfig) -> Optimizers:
        return adam_pair(models, cfg)

    def training_labels(
        self, models: Models, cfg: AudioConfig, x: np.ndarray, y: np.ndarray | None, seed: int
    ) -> np.ndarray | None:
        """The data's labels when conditional, else none."""
        return y if cfg.conditional else None

    def train_step(
        self,
        models: Models,
        opts: Optimizers,
        x: torch.Tensor,
        y: torch.Tensor | None,
        gen: torch.Generator,
        cfg: AudioConfig,
    ) -> dict[str, float]:
        """One D and one G update (for the real batch's labels when conditional)."""
        if y is not None and isinstance(models["D"], ProjectionDiscriminator):
            return conditional_step(models, opts, x, y, gen, cfg)
        z = torch.randn(x.shape[0], cfg.z_dim, generator=gen).to(x.device)
        fake = models["G"](z)
        return adversarial_step(models, opts, cfg, x, fake, models["D"])

    def sampler_module(self, models: Models, cfg: AudioConfig, info: DataInfo) -> nn.Module:
        return sampling_generator(models).eval()

    def latent_dim(self, cfg: AudioConfig) -> int:
        return cfg.z_dim

    def graphs(self, cfg: AudioConfig, info: DataInfo) -> dict[str, GraphSpec]:
        """The sampler graph: latent ``z`` (and label ``y`` when conditional) in, the
        spectrogram ``x`` out."""
        z = TensorSpec("z", "float32", ("batch", cfg.z_dim), "latent")
        x = TensorSpec("x", "float32", ("batch", *info.sample_shape))
        if self._conditional(cfg, info):
            y = TensorSpec("y", "int64", ("batch",), "label")
            return {"sampler": GraphSpec(None, (z, y), (x,))}
        return {"sampler": GraphSpec(None, (z,), (x,))}

"""Class-conditional GAN: the label is an input of G and D, so each class can be asked for.

G(z, y): a learned embedding of the label is concatenated with z and fed to the DCGAN generator
(images, ``arch=conv``) or to an MLP (points, or images with ``arch=mlp``). D(x, y) is a
projection discriminator (Miyato & Koyama 2018): ``D(x, y) = w . phi(x) + embed(y) . phi(x) + b``,
which scores how real ``x`` looks and how well it matches ``y`` with one shared feature
extractor ``phi``. The losses are the classic GAN's, conditioned on ``y`` (see docs/models.md);
each training step uses the labels of its real batch for the fakes too, so classes are learnt as
often as the data holds them.

``subclusters`` (off by default) splits each class into k-means sub-clusters that G and D are
conditioned on, the sampler picking one from an extra latent value: more variety inside each
class (FD, CAS) at some cost in label accuracy; benchmarks/results/quality/cgan-variety.md has
the measurements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from torch import nn

from genedge.runtime.errors import DataError, InputError
from genedge.runtime.manifest import GraphSpec, TensorSpec
from genedge.train.adversarial import adam_pair, sampling_generator, with_ema
from genedge.train.families.base import Family, Models, Optimizers
from genedge.train.families.conditional import (
    ConditionalConfig,
    ConditionalGenerator,
    ProjectionDiscriminator,
    SubclassGenerator,
    SubclassPickingSampler,
    conditional_step,
    subclass_labels,
)
from genedge.train.families.dcgan import ConvFeatures, ConvGenerator, discriminator_blocks
from genedge.train.families.gan import MLPFeatures, MLPGenerator
from genedge.train.run import DataInfo

ARCHS = ("mlp", "conv")


@dataclass(frozen=True, kw_only=True)
class CGANConfig(ConditionalConfig):
    """cGAN's settings (see :meth:`CGANFamily.defaults`).

    Attributes:
        arch: ``mlp`` or ``conv`` (images only).
        g_hidden: The MLP G's hidden widths.
        d_hidden: The MLP D's hidden widths.
        g_width: The conv G's last feature map's channels (images only).
        d_width: The conv D's first block's channels (images only).
        d_norm: The conv D's normalisation (images only).
        subclusters: k-means sub-clusters each class is split into (0: off, each label one
            target); the sampler's latent gains one value that picks the sub-cluster.
        r1: Weight of the R1 penalty on D's gradient at real data (0: off).
    """

    arch: str
    g_hidden: tuple[int, ...]
    d_hidden: tuple[int, ...]
    g_width: int | None = None
    d_width: int | None = None
    d_norm: str | None = None
    subclusters: int = 0
    r1: float = 0.0


def check_subclusters(per_class: int) -> int:
    """The ``subclusters`` setting once checked.

    Raises:
        InputError: Negative or 1.
    """
    if per_class < 0 or per_class == 1:
        raise InputError(f"subclusters must be 0 (off) or 2 or more, got {per_class}")
    return per_class


class CGANFamily(Family[CGANConfig]):
    """Class-conditional GAN for labelled images and points; the sampler takes ``(z, y)``.

    Adam optimisers, the moving average of G's weights (``ema``) and sampling from it are those
    of the classic GAN.
    """

    name = "cgan"
    kinds = ("image", "points")
    config_type = CGANConfig

    def check_data(self, info: DataInfo) -> None:
        """Refuse data the family cannot learn: other kinds, or data without labels.

        Raises:
            DataError: Unsupported kind, or no labels.
        """
        super().check_data(info)
        if info.num_classes < 1:
            raise DataError(
                f"cgan needs labelled data, but {info.name} has no labels; use a labelled set "
                "(mnist, digits, ring8, grid25), an .npz with a 'y' array of class indices, or "
                "an image folder with one subfolder per class"
            )

    def defaults(self, info: DataInfo) -> CGANConfig:
        """Defaults per data kind: an MLP for points, the DCGAN networks for images.

        On MNIST the conv networks draw recognisable digits of the right class after ~1000
        steps (~100 ms each on 2 CPU cores); the MLP (``arch=mlp``, sized by ``g_hidden`` and
        ``d_hidden``) steps 4x faster but is still speckled with noise after 6000.
        """
        if info.kind == "points":
            return CGANConfig(
                arch="mlp",
                z_dim=2,
                embed_dim=16,
                g_hidden=(128, 128),
                d_hidden=(128, 128),
                batch_size=256,
                steps=3000,
                lr=1e-3,
                beta1=0.5,
                beta2=0.999,
                ema=0.999,
                lr_decay=0.0,
                mode_seeking=0.0,
            )
        return CGANConfig(
            arch="conv",
            z_dim=100,
            embed_dim=32,
            g_hidden=(256, 512),
            d_hidden=(512, 256),
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
            mode_seeking=0.2,
        )

    def build(self, cfg: CGANConfig, info: DataInfo) -> Models:
        """G and D for this data's shape and number of classes.

        Raises:
            InputError: ``arch`` is unknown, or ``conv`` for data that are not images (or
                without ``g_width``, ``d_width`` and ``d_norm``).
        """
        shape = tuple(info.sample_shape)
        arch = cfg.arch
        if arch not in ARCHS:
            raise InputError(f"cgan arch must be one of {', '.join(ARCHS)}, got {arch!r}")
        if arch == "conv" and info.kind != "image":
            raise InputError(f"cgan arch=conv needs images, but {info.name} is {info.kind} data")
        k = max(1, int(info.num_classes))
        z_in = cfg.z_dim + cfg.embed_dim
        features: nn.Module
        if arch == "conv":
            if cfg.g_width is None or cfg.d_width is None or cfg.d_norm is None:
                raise InputError("cgan arch=conv needs g_width, d_width and d_norm")
            body: nn.Module = ConvGenerator(z_in, shape, cfg.g_width)
            blocks = discriminator_blocks(shape)
            features = ConvFeatures(shape, cfg.d_width, blocks, cfg.d_norm)
        else:
            body = MLPGenerator(z_in, list(cfg.g_hidden), shape)
            features = MLPFeatures(shape, list(cfg.d_hidden))
        per_class = check_subclusters(cfg.subclusters)
        if per_class:
            fine = ConditionalGenerator(body, k * per_class, cfg.embed_dim)
            models: Models = {
                "G": SubclassGenerator(fine, k, per_class),
                "D": ProjectionDiscriminator(features, k * per_class),
            }
        else:
            models = {
                "G": ConditionalGenerator(body, k, cfg.embed_dim),
                "D": ProjectionDiscriminator(features, k),
            }
        return with_ema(models, cfg)

    def training_labels(
        self, models: Models, cfg: CGANConfig, x: np.ndarray, y: np.ndarray | None, seed: int
    ) -> np.ndarray | None:
        """The data's labels, or with ``subclusters`` each sample's fine label (its class's
        k-means sub-cluster), with the sampler's thresholds set from their sizes."""
        if not cfg.subclusters or y is None:
            return y
        classes = int(cast(SubclassGenerator, models["G"]).thresholds.shape[0])
        return subclass_labels(models, cfg.subclusters, x, y, classes, seed)

    def optimizers(self, models: Models, cfg: CGANConfig) -> Optimizers:
        return adam_pair(models, cfg)

    def train_step(
        self,
        models: Models,
        opts: Optimizers,
        x: torch.Tensor,
        y: torch.Tensor | None,
        gen: torch.Generator,
        cfg: CGANConfig,
    ) -> dict[str, float]:
        """One D and one G update; the fakes are drawn for the real batch's labels.

        Raises:
            DataError: The batch has no labels.
        """
        if y is None:
            raise DataError("cgan needs labelled data, but this batch has no labels")
        return conditional_step(models, opts, x, y, gen, cfg, r1=cfg.r1)

    def sampler_module(self, models: Models, cfg: CGANConfig, info: DataInfo) -> nn.Module:
        g = sampling_generator(models)
        if cfg.subclusters:
            return SubclassPickingSampler(cast(SubclassGenerator, g)).eval()
        return g.eval()

    def latent_dim(self, cfg: CGANConfig) -> int:
        """``z_dim``, plus the value that picks the sub-cluster with ``subclusters``."""
        return cfg.z_dim + (1 if cfg.subclusters else 0)

    def graphs(self, cfg: CGANConfig, info: DataInfo) -> dict[str, GraphSpec]:
        """The sampler graph: latent ``z`` and label ``y`` in, ``x`` out."""
        z = TensorSpec("z", "float32", ("batch", self.latent_dim(cfg)), "latent")
        y = TensorSpec("y", "int64", ("batch",), "label")
        x = TensorSpec("x", "float32", ("batch", *info.sample_shape))
        return {"sampler": GraphSpec(None, (z, y), (x,))}

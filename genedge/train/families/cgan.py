"""Class-conditional GAN: the label is an input of G and D, so each class can be asked for.

G(z, y): a learned embedding of the label is concatenated with z and fed to the DCGAN generator
(images, ``arch=conv``) or to an MLP (points, or images with ``arch=mlp``). D(x, y) is a
projection discriminator (Miyato & Koyama 2018): ``D(x, y) = w . phi(x) + embed(y) . phi(x) + b``,
which scores how real ``x`` looks and how well it matches ``y`` with one shared feature
extractor ``phi``. The losses are the classic GAN's, conditioned on ``y`` (see docs/models.md);
each training step uses the labels of its real batch for the fakes too, so classes are learnt as
often as the data holds them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from genedge.runtime.errors import DataError, InputError
from genedge.runtime.manifest import GraphSpec, TensorSpec
from genedge.train.adversarial import with_ema
from genedge.train.families.base import Models, Optimizers
from genedge.train.families.conditional import (
    ConditionalGenerator,
    ProjectionDiscriminator,
    conditional_step,
)
from genedge.train.families.dcgan import ConvFeatures, ConvGenerator, discriminator_blocks
from genedge.train.families.gan import GANFamily, MLPFeatures, MLPGenerator
from genedge.train.run import DataInfo

ARCHS = ("mlp", "conv")


class CGANFamily(GANFamily):
    """Class-conditional GAN for labelled images and points; the sampler takes ``(z, y)``.

    Adam optimisers, the moving average of G's weights (``ema``) and sampling from it are those
    of the classic GAN.
    """

    name = "cgan"
    kinds = ("image", "points")

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

    def defaults(self, info: DataInfo) -> dict[str, Any]:
        """Defaults per data kind: an MLP for points, the DCGAN networks for images.

        On MNIST the conv networks draw recognisable digits of the right class after ~1000
        steps (~100 ms each on 2 CPU cores); the MLP (``arch=mlp``, sized by ``g_hidden`` and
        ``d_hidden``) steps 4x faster but is still speckled with noise after 6000.
        """
        if info.kind == "points":
            return {
                "arch": "mlp",
                "z_dim": 2,
                "embed_dim": 16,
                "g_hidden": [128, 128],
                "d_hidden": [128, 128],
                "batch_size": 256,
                "steps": 3000,
                "lr": 1e-3,
                "beta1": 0.5,
                "beta2": 0.999,
                "ema": 0.999,
                "lr_decay": 0.0,
                "mode_seeking": 0.0,
            }
        return {
            "arch": "conv",
            "z_dim": 100,
            "embed_dim": 32,
            "g_hidden": [256, 512],
            "d_hidden": [512, 256],
            "g_width": 16,
            "d_width": 32,
            "d_norm": "batch",
            "batch_size": 64,
            "steps": 8000,
            "lr": 2e-4,
            "beta1": 0.5,
            "beta2": 0.999,
            "ema": 0.999,
            "lr_decay": 0.5,
            "mode_seeking": 0.2,
        }

    def build(self, hp: dict[str, Any], info: DataInfo) -> Models:
        """G and D for this data's shape and number of classes.

        Raises:
            InputError: ``arch`` is unknown, or ``conv`` for data that are not images.
        """
        shape = tuple(info.sample_shape)
        arch = hp["arch"]
        if arch not in ARCHS:
            raise InputError(f"cgan arch must be one of {', '.join(ARCHS)}, got {arch!r}")
        if arch == "conv" and info.kind != "image":
            raise InputError(f"cgan arch=conv needs images, but {info.name} is {info.kind} data")
        k = max(1, int(info.num_classes))
        z_in = int(hp["z_dim"]) + int(hp["embed_dim"])
        features: nn.Module
        if arch == "conv":
            body: nn.Module = ConvGenerator(z_in, shape, int(hp["g_width"]))
            blocks = discriminator_blocks(shape)
            features = ConvFeatures(shape, int(hp["d_width"]), blocks, str(hp["d_norm"]))
        else:
            body = MLPGenerator(z_in, list(hp["g_hidden"]), shape)
            features = MLPFeatures(shape, list(hp["d_hidden"]))
        models: Models = {
            "G": ConditionalGenerator(body, k, int(hp["embed_dim"])),
            "D": ProjectionDiscriminator(features, k),
        }
        return with_ema(models, hp)

    def training_labels(
        self, models: Models, hp: dict[str, Any], x: np.ndarray, y: np.ndarray | None, seed: int
    ) -> np.ndarray | None:
        """The data's own labels."""
        return y

    def train_step(
        self,
        models: Models,
        opts: Optimizers,
        x: torch.Tensor,
        y: torch.Tensor | None,
        gen: torch.Generator,
        hp: dict[str, Any],
    ) -> dict[str, float]:
        """One D and one G update; the fakes are drawn for the real batch's labels.

        Raises:
            DataError: The batch has no labels.
        """
        if y is None:
            raise DataError("cgan needs labelled data, but this batch has no labels")
        return conditional_step(models, opts, x, y, gen, hp)

    def graphs(self, hp: dict[str, Any], info: DataInfo) -> dict[str, GraphSpec]:
        """The sampler graph: latent ``z`` and label ``y`` in, ``x`` out."""
        z = TensorSpec("z", "float32", ("batch", int(hp["z_dim"])), "latent")
        y = TensorSpec("y", "int64", ("batch",), "label")
        x = TensorSpec("x", "float32", ("batch", *info.sample_shape))
        return {"sampler": GraphSpec(None, (z, y), (x,))}

"""The classic MLP GAN: G z -> 128 -> 256 -> data, D data -> 256 -> 128 -> logit.

Losses (see docs/models.md): D minimises the binary cross-entropy of real -> 1 and fake -> 0 on
logits; G minimises the non-saturating loss -log D(G(z)). Adam, lr 2e-4, betas (0.5, 0.999).
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch
from torch import nn

from genedge.runtime.errors import InputError
from genedge.runtime.manifest import GraphSpec, TensorSpec
from genedge.train.adversarial import (
    adversarial_step,
    mode_seeking_loss,
    sampling_generator,
    with_ema,
)
from genedge.train.families.base import Family, Models, Optimizers, flat_size
from genedge.train.families.conditional import (
    ClusterPickingSampler,
    ConditionalGenerator,
    ProjectionDiscriminator,
    SelfConditionedGenerator,
    check_clusters,
    cluster_labels,
    conditional_step,
    default_clusters,
)
from genedge.train.run import DataInfo


class MLPGenerator(nn.Module):
    """z -> hidden layers with LeakyReLU(0.2) -> prod(shape) -> tanh, reshaped to ``shape``.

    ``out_act="linear"`` drops the tanh: for points whose extreme modes sit near the edge of the
    model range, tanh's flat tails starve those modes of gradient.
    """

    def __init__(
        self, z_dim: int, hidden: list[int], shape: tuple[int, ...], out_act: str = "tanh"
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = z_dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2)]
            width = h
        layers.append(nn.Linear(width, flat_size(shape)))
        if out_act == "tanh":
            layers.append(nn.Tanh())
        elif out_act != "linear":
            raise InputError(f"out_act must be tanh or linear, not {out_act!r}")
        self.net = nn.Sequential(*layers)
        self.shape = tuple(shape)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # unflatten keeps the batch axis symbolic in the exported graph (no baked-in reshape).
        flat: torch.Tensor = self.net(z)
        # torch leaves Tensor.unflatten unannotated
        out: torch.Tensor = flat.unflatten(1, self.shape)  # type: ignore[no-untyped-call]
        return out


class MLPFeatures(nn.Module):
    """data -> flatten -> hidden layers with LeakyReLU(0.2): D's feature extractor ``phi``."""

    def __init__(self, shape: tuple[int, ...], hidden: list[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten(1)]
        width = flat_size(shape)
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2)]
            width = h
        self.net = nn.Sequential(*layers)
        self.out_features = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features: torch.Tensor = self.net(x)
        return features


class MLPDiscriminator(nn.Module):
    """data -> hidden layers with LeakyReLU(0.2) -> one logit per sample."""

    def __init__(self, shape: tuple[int, ...], hidden: list[int]) -> None:
        super().__init__()
        self.features = MLPFeatures(shape, hidden)
        self.logit = nn.Linear(self.features.out_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logit: torch.Tensor = self.logit(self.features(x))
        return logit.squeeze(1)


def packed(x: torch.Tensor, pack: int) -> torch.Tensor:
    """Group ``pack`` consecutive samples into one discriminator input (PacGAN)."""
    if pack <= 1:
        return x
    n = x.shape[0] // pack * pack
    return x[:n].reshape(n // pack, -1)


class GANFamily(Family):
    name = "gan"
    kinds: tuple[str, ...] = ("image", "points")

    def defaults(self, info: DataInfo) -> dict[str, Any]:
        """Defaults per data kind. Points are self-conditioned on k-means clusters (see
        :mod:`genedge.train.families.conditional`): on ring8 and grid25 that reaches every mode
        with over 90% of samples on a mode in 8000 steps, where the best plain GAN (3 x 256 G,
        PacGAN, 20000 annealed steps) left 25% of grid25's samples on the bridges between
        modes."""
        if info.kind == "points":
            clusters = default_clusters(info.size)
            return {
                "z_dim": 2,
                "g_hidden": [128, 128] if clusters else [256, 256, 256],
                "d_hidden": [128, 128],
                "batch_size": 256,
                "steps": 8000 if clusters else 20000,
                "lr": 1e-3 if clusters else 5e-4,
                "beta1": 0.5,
                "beta2": 0.999,
                "ema": 0.999,
                "pack": 1 if clusters else 2,
                "lr_decay": 0.5,
                # Tiny because the term divides by the spread of G's outputs, and a mode of
                # these toys is ~0.01 wide in model units: 0.005 already halves the
                # high-quality share; 0 lets G ignore z within a cluster (recall 0.07 on grid25).
                "mode_seeking": 3e-4 if clusters else 0.0,
                "out_act": "tanh" if clusters else "linear",
                "clusters": clusters,
                "embed_dim": 16,
            }
        return {
            "z_dim": 100,
            "g_hidden": [128, 256],
            "d_hidden": [256, 128],
            "batch_size": 64,
            "steps": 8000,
            "lr": 2e-4,
            "beta1": 0.5,
            "beta2": 0.999,
            "ema": 0.999,
            "pack": 1,
            "lr_decay": 0.0,
            "mode_seeking": 0.0,
            "out_act": "tanh",
            "clusters": 0,
            "embed_dim": 16,
        }

    def build(self, hp: dict[str, Any], info: DataInfo) -> Models:
        """G and D, self-conditioned on ``hp["clusters"]`` k-means clusters when > 0.

        Raises:
            InputError: Bad ``clusters`` (negative, 1, more than the data's samples), or a
                network setting the family's networks refuse.
        """
        k = check_clusters(hp, info)
        if not k:
            return with_ema(self.plain_networks(hp, info), hp)
        if int(hp.get("pack", 1)) > 1:
            raise InputError("pack > 1 works without clusters only; set pack=1 or clusters=0")
        models = self.conditional_networks(hp, info, k)
        models["G"] = SelfConditionedGenerator(cast(ConditionalGenerator, models["G"]), k)
        return with_ema(models, hp)

    def plain_networks(self, hp: dict[str, Any], info: DataInfo) -> Models:
        """The MLP G(z) and D(x) (D judging ``pack`` samples at once)."""
        shape = tuple(info.sample_shape)
        return {
            "G": MLPGenerator(
                int(hp["z_dim"]), list(hp["g_hidden"]), shape, str(hp.get("out_act", "tanh"))
            ),
            # PacGAN: D judges `pack` samples at once, which makes mode collapse visible to it.
            "D": MLPDiscriminator(
                (int(hp.get("pack", 1)) * flat_size(shape),), list(hp["d_hidden"])
            ),
        }

    def conditional_networks(self, hp: dict[str, Any], info: DataInfo, k: int) -> Models:
        """The MLP G(z, y) and projection D(x, y) over ``k`` clusters."""
        shape = tuple(info.sample_shape)
        embed = int(hp["embed_dim"])
        g_in = int(hp["z_dim"]) + embed
        body = MLPGenerator(g_in, list(hp["g_hidden"]), shape, str(hp.get("out_act", "tanh")))
        return {
            "G": ConditionalGenerator(body, k, embed),
            "D": ProjectionDiscriminator(MLPFeatures(shape, list(hp["d_hidden"])), k),
        }

    def training_labels(
        self, models: Models, hp: dict[str, Any], x: np.ndarray, y: np.ndarray | None, seed: int
    ) -> np.ndarray | None:
        """The k-means cluster of each sample when self-conditioned, else ``None``: the
        data's own labels are never used by an unconditional family."""
        return cluster_labels(models, hp, x, seed) if int(hp.get("clusters", 0)) else None

    def optimizers(self, models: Models, hp: dict[str, Any]) -> Optimizers:
        betas = (float(hp["beta1"]), float(hp["beta2"]))
        return {
            k: torch.optim.Adam(models[k].parameters(), lr=float(hp["lr"]), betas=betas)
            for k in ("G", "D")
        }

    def train_step(
        self,
        models: Models,
        opts: Optimizers,
        x: torch.Tensor,
        y: torch.Tensor | None,
        gen: torch.Generator,
        hp: dict[str, Any],
    ) -> dict[str, float]:
        """A step conditioned on the batch's clusters ``y``, or the classic GAN's step."""
        if int(hp.get("clusters", 0)) and y is not None:
            return conditional_step(models, opts, x, y, gen, hp)
        z = torch.randn(x.shape[0], int(hp["z_dim"]), generator=gen).to(x.device)
        pack = int(hp.get("pack", 1))
        weight = float(hp.get("mode_seeking", 0.0))
        reg = (lambda f: mode_seeking_loss(f, z, weight)) if weight > 0 else None
        return adversarial_step(
            models, opts, hp, x, models["G"](z), lambda t: models["D"](packed(t, pack)), reg
        )

    def sampler_module(self, models: Models, hp: dict[str, Any], info: DataInfo) -> nn.Module:
        g = sampling_generator(models)
        if int(hp.get("clusters", 0)):
            return ClusterPickingSampler(cast(SelfConditionedGenerator, g)).eval()
        return g.eval()

    def latent_dim(self, hp: dict[str, Any]) -> int:
        """``z_dim``, plus the value that picks the cluster when self-conditioned."""
        return int(hp["z_dim"]) + (1 if int(hp.get("clusters", 0)) else 0)

    def graphs(self, hp: dict[str, Any], info: DataInfo) -> dict[str, GraphSpec]:
        """The sampler graph: latent ``z`` in (``latent_dim`` wide), ``x`` out."""
        z = TensorSpec("z", "float32", ("batch", self.latent_dim(hp)), "latent")
        x = TensorSpec("x", "float32", ("batch", *info.sample_shape))
        return {"sampler": GraphSpec(None, (z,), (x,))}

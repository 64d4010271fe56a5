"""The classic MLP GAN: G z -> 128 -> 256 -> data, D data -> hidden layers -> logit.

Losses (see docs/models.md): D minimises the binary cross-entropy of real -> 1 and fake -> 0 on
logits; G minimises the non-saturating loss -log D(G(z)). Adam, lr 2e-4, betas (0.5, 0.999).
On images D is 512 -> 256 wide, sees the minibatch's spread, and pays an R1 penalty on its
gradient at real data (see :meth:`GANFamily.defaults`).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import TypeVar, cast

import numpy as np
import torch
from torch import nn

from genedge.runtime.errors import InputError
from genedge.runtime.manifest import GraphSpec, TensorSpec
from genedge.train.adversarial import (
    adam_pair,
    adversarial_step,
    mode_seeking_loss,
    r1_penalty,
    sampling_generator,
    with_ema,
)
from genedge.train.families.base import Family, Models, Optimizers, flat_size
from genedge.train.families.conditional import (
    ClusterPickingSampler,
    ConditionalGenerator,
    ProjectionDiscriminator,
    SelfConditionedConfig,
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
    """data -> flatten -> hidden layers with LeakyReLU(0.2): D's feature extractor ``phi``.

    ``dropout`` > 0 follows each activation with dropout; ``spectral`` puts spectral
    normalisation on each linear layer. Both off keep the layer indices (and so the
    checkpoints) of runs made before they existed.
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        hidden: list[int],
        *,
        dropout: float = 0.0,
        spectral: bool = False,
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise InputError(f"d_dropout must be in [0, 1), not {dropout}")
        layers: list[nn.Module] = [nn.Flatten(1)]
        width = flat_size(shape)
        for h in hidden:
            layers += [_linear(width, h, spectral), nn.LeakyReLU(0.2)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        self.net = nn.Sequential(*layers)
        self.out_features = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features: torch.Tensor = self.net(x)
        return features


def _linear(width: int, out: int, spectral: bool) -> nn.Module:
    layer = nn.Linear(width, out)
    return nn.utils.parametrizations.spectral_norm(layer) if spectral else layer


class MinibatchStd(nn.Module):
    """Append one feature: the standard deviation of each feature over groups of ``group``
    samples, averaged over the features (StyleGAN's minibatch standard deviation).

    A collapsed G makes batches whose samples agree, which D then sees in this one number.
    The group shrinks to the largest divisor of the batch not above ``group``.
    """

    def __init__(self, group: int = 4) -> None:
        super().__init__()
        self.group = group

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        n = h.shape[0]
        g = min(self.group, n)
        while n % g:
            g -= 1
        grouped = h.reshape(g, n // g, -1)
        spread = (grouped.var(0, unbiased=False) + 1e-8).sqrt().mean(1)  # (n // g,)
        return torch.cat([h, spread.repeat(g)[:, None]], dim=1)


class MLPDiscriminator(nn.Module):
    """data -> hidden layers with LeakyReLU(0.2) -> one logit per sample.

    Args:
        shape: One input's shape (``pack`` samples flattened together under PacGAN).
        hidden: Hidden widths.
        dropout: Dropout after each hidden activation (0: none).
        spectral: Spectral normalisation on every linear layer.
        mbstd: Feed the minibatch standard deviation (:class:`MinibatchStd`) into the last
            hidden layer (needs at least two hidden layers).
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        hidden: list[int],
        *,
        dropout: float = 0.0,
        spectral: bool = False,
        mbstd: bool = False,
    ) -> None:
        super().__init__()
        if mbstd and len(hidden) < 2:
            raise InputError("d_mbstd needs at least two d_hidden layers")
        body = hidden[:-1] if mbstd else hidden
        self.features = MLPFeatures(shape, body, dropout=dropout, spectral=spectral)
        width = self.features.out_features
        self.head: nn.Module | None = None
        if mbstd:
            layers: list[nn.Module] = [
                MinibatchStd(),
                _linear(width + 1, hidden[-1], spectral),
                nn.LeakyReLU(0.2),
            ]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            self.head = nn.Sequential(*layers)
            width = hidden[-1]
        self.logit = _linear(width, 1, spectral)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h: torch.Tensor = self.features(x)
        if self.head is not None:
            h = self.head(h)
        logit: torch.Tensor = self.logit(h)
        return logit.squeeze(1)


def packed(x: torch.Tensor, pack: int) -> torch.Tensor:
    """Group ``pack`` consecutive samples into one discriminator input (PacGAN)."""
    if pack <= 1:
        return x
    n = x.shape[0] // pack * pack
    return x[:n].reshape(n // pack, -1)


@dataclass(frozen=True, kw_only=True)
class GANConfig(SelfConditionedConfig):
    """The classic GAN's settings (see :meth:`GANFamily.defaults`).

    Attributes:
        g_hidden: G's hidden widths.
        d_hidden: D's hidden widths.
        pack: Samples D judges at once (PacGAN; 1: off; needs ``clusters`` 0).
        out_act: G's output activation, ``tanh`` or ``linear``.
        d_dropout: Dropout after each of D's hidden activations (0: none).
        d_spectral: Spectral normalisation on D's linear layers.
        d_mbstd: Minibatch standard deviation fed into D's last hidden layer.
        r1: Weight ``gamma`` of the R1 penalty on D's gradient at real data (0: off; the
            plain GAN only).
    """

    g_hidden: tuple[int, ...]
    d_hidden: tuple[int, ...]
    pack: int = 1
    out_act: str = "tanh"
    d_dropout: float = 0.0
    d_spectral: bool = False
    d_mbstd: bool = False
    r1: float = 0.0
    # Runs without clusters did not record it; it is only read with clusters.
    embed_dim: int = 16


SC = TypeVar("SC", bound=SelfConditionedConfig)


class SelfConditionedGANFamily(Family[SC]):
    """The GAN recipe over any pair of networks: the non-saturating game with Adam and G's
    moving average, self-conditioned on ``clusters`` k-means clusters when > 0 (see
    :mod:`genedge.train.families.conditional`). Subclasses give the networks."""

    @abstractmethod
    def plain_networks(self, cfg: SC, info: DataInfo) -> Models:
        """G(z) and D(x)."""

    @abstractmethod
    def conditional_networks(self, cfg: SC, info: DataInfo, k: int) -> Models:
        """G(z, y) (a :class:`ConditionalGenerator`) and D(x, y) over ``k`` clusters."""

    def pack(self, cfg: SC) -> int:
        """Samples D judges at once (PacGAN): 1 unless the family packs."""
        return 1

    def r1(self, cfg: SC) -> float:
        """The R1 penalty's weight on the plain game: 0 unless the family has one."""
        return 0.0

    def build(self, cfg: SC, info: DataInfo) -> Models:
        """G and D, self-conditioned on ``cfg.clusters`` k-means clusters when > 0.

        Raises:
            InputError: Bad ``clusters`` (negative, 1, more than the data's samples), or a
                network setting the family's networks refuse.
        """
        k = check_clusters(cfg.clusters, info)
        if not k:
            return with_ema(self.plain_networks(cfg, info), cfg)
        if self.pack(cfg) > 1:
            raise InputError("pack > 1 works without clusters only; set pack=1 or clusters=0")
        models = self.conditional_networks(cfg, info, k)
        models["G"] = SelfConditionedGenerator(cast(ConditionalGenerator, models["G"]), k)
        return with_ema(models, cfg)

    def training_labels(
        self, models: Models, cfg: SC, x: np.ndarray, y: np.ndarray | None, seed: int
    ) -> np.ndarray | None:
        """The k-means cluster of each sample when self-conditioned, else ``None``: the
        data's own labels are never used by an unconditional family."""
        return cluster_labels(models, cfg.clusters, x, seed) if cfg.clusters else None

    def optimizers(self, models: Models, cfg: SC) -> Optimizers:
        return adam_pair(models, cfg)

    def train_step(
        self,
        models: Models,
        opts: Optimizers,
        x: torch.Tensor,
        y: torch.Tensor | None,
        gen: torch.Generator,
        cfg: SC,
    ) -> dict[str, float]:
        """A step conditioned on the batch's clusters ``y``, or the classic GAN's step."""
        if cfg.clusters and y is not None:
            return conditional_step(models, opts, x, y, gen, cfg)
        z = torch.randn(x.shape[0], cfg.z_dim, generator=gen).to(x.device)
        pack = self.pack(cfg)
        weight = cfg.mode_seeking
        reg = (lambda f: mode_seeking_loss(f, z, weight)) if weight > 0 else None
        gamma = self.r1(cfg)
        d_reg = (lambda r, d: r1_penalty(r, d, gamma)) if gamma > 0 else None
        return adversarial_step(
            models,
            opts,
            cfg,
            x,
            models["G"](z),
            lambda t: models["D"](packed(t, pack)),
            reg,
            d_reg,
        )

    def sampler_module(self, models: Models, cfg: SC, info: DataInfo) -> nn.Module:
        g = sampling_generator(models)
        if cfg.clusters:
            return ClusterPickingSampler(cast(SelfConditionedGenerator, g)).eval()
        return g.eval()

    def latent_dim(self, cfg: SC) -> int:
        """``z_dim``, plus the value that picks the cluster when self-conditioned."""
        return cfg.z_dim + (1 if cfg.clusters else 0)

    def graphs(self, cfg: SC, info: DataInfo) -> dict[str, GraphSpec]:
        """The sampler graph: latent ``z`` in (``latent_dim`` wide), ``x`` out."""
        z = TensorSpec("z", "float32", ("batch", self.latent_dim(cfg)), "latent")
        x = TensorSpec("x", "float32", ("batch", *info.sample_shape))
        return {"sampler": GraphSpec(None, (z,), (x,))}


class GANFamily(SelfConditionedGANFamily[GANConfig]):
    name = "gan"
    kinds: tuple[str, ...] = ("image", "points")
    config_type = GANConfig

    def defaults(self, info: DataInfo) -> GANConfig:
        """Defaults per data kind. Points are self-conditioned on k-means clusters (see
        :mod:`genedge.train.families.conditional`): on ring8 and grid25 that reaches every mode
        with over 90% of samples on a mode in 8000 steps, where the best plain GAN (3 x 256 G,
        PacGAN, 20000 annealed steps) left 25% of grid25's samples on the bridges between
        modes."""
        if info.kind == "points":
            clusters = default_clusters(info.size)
            return GANConfig(
                z_dim=2,
                g_hidden=(128, 128) if clusters else (256, 256, 256),
                d_hidden=(128, 128),
                batch_size=256,
                steps=8000 if clusters else 20000,
                lr=1e-3 if clusters else 5e-4,
                beta1=0.5,
                beta2=0.999,
                ema=0.999,
                pack=1 if clusters else 2,
                lr_decay=0.5,
                # Tiny because the term divides by the spread of G's outputs, and a mode of
                # these toys is ~0.01 wide in model units: 0.005 already halves the
                # high-quality share; 0 lets G ignore z within a cluster (recall 0.07 on grid25).
                mode_seeking=3e-4 if clusters else 0.0,
                out_act="tanh" if clusters else "linear",
                clusters=clusters,
                embed_dim=16,
            )
        # G is the write-up's. What lifts it on MNIST is D's side (see benchmarks/quality.py's
        # notes): R1 keeps D from winning on speckle G cannot fix (FD 60x -> 20x the floor),
        # the minibatch spread shows D a collapsing batch, and the last half anneals.
        return GANConfig(
            z_dim=100,
            g_hidden=(128, 256),
            d_hidden=(512, 256),
            batch_size=64,
            steps=20000,
            lr=2e-4,
            beta1=0.5,
            beta2=0.999,
            ema=0.999,
            pack=1,
            lr_decay=0.5,
            mode_seeking=0.0,
            out_act="tanh",
            clusters=0,
            embed_dim=16,
            d_mbstd=True,
            r1=2.0,
        )

    def pack(self, cfg: GANConfig) -> int:
        return cfg.pack

    def r1(self, cfg: GANConfig) -> float:
        return cfg.r1

    def plain_networks(self, cfg: GANConfig, info: DataInfo) -> Models:
        """The MLP G(z) and D(x) (D judging ``pack`` samples at once)."""
        shape = tuple(info.sample_shape)
        return {
            "G": MLPGenerator(cfg.z_dim, list(cfg.g_hidden), shape, cfg.out_act),
            # PacGAN: D judges `pack` samples at once, which makes mode collapse visible to it.
            "D": MLPDiscriminator(
                (cfg.pack * flat_size(shape),),
                list(cfg.d_hidden),
                dropout=cfg.d_dropout,
                spectral=cfg.d_spectral,
                mbstd=cfg.d_mbstd,
            ),
        }

    def conditional_networks(self, cfg: GANConfig, info: DataInfo, k: int) -> Models:
        """The MLP G(z, y) and projection D(x, y) over ``k`` clusters."""
        if cfg.d_mbstd:
            raise InputError(
                "d_mbstd works without clusters only: set clusters=0, or d_mbstd=false "
                "with clusters"
            )
        shape = tuple(info.sample_shape)
        g_in = cfg.z_dim + cfg.embed_dim
        body = MLPGenerator(g_in, list(cfg.g_hidden), shape, cfg.out_act)
        phi = MLPFeatures(shape, list(cfg.d_hidden), dropout=cfg.d_dropout, spectral=cfg.d_spectral)
        return {
            "G": ConditionalGenerator(body, k, cfg.embed_dim),
            "D": ProjectionDiscriminator(phi, k),
        }

"""Label-conditioned GAN training, shared by ``cgan`` (the data's labels) and the
self-conditioned ``gan`` and ``dcgan`` (k-means cluster labels): G(z, y), the projection
discriminator, one training step with mode-seeking pairs, and the sampler that picks a cluster
from the latent.

Self-conditioning (Liu et al., "Diverse Image Generation via Self-Conditioned GANs", CVPR 2020):
an unconditional generator maps one connected latent space onto every mode of the data, so
what it draws between two modes (a 3 turning into an 8, the bridge between two blobs of a toy)
is off the data. Clustering the real data and conditioning G and D on the cluster makes each
target narrower and lets G jump between clusters; the exported sampler still takes one latent,
whose last value picks the cluster through the N(0, 1) quantiles of the clusters' shares of the
data, so sampling the latent samples each cluster as often as the data holds it. No labels are
used.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import cast

import numpy as np
import torch
from torch import nn

from genedge.runtime.errors import InputError
from genedge.train.adversarial import adversarial_step, mode_seeking_loss, r1_penalty
from genedge.train.clusters import kmeans
from genedge.train.families.base import Models, Optimizers
from genedge.train.families.config import AdversarialConfig
from genedge.train.run import DataInfo

#: Self-conditioning's default: this many clusters at most, and at least this many samples each.
MAX_CLUSTERS = 50
SAMPLES_PER_CLUSTER = 50


@dataclass(frozen=True, kw_only=True)
class ConditionalConfig(AdversarialConfig):
    """What a label-conditioned GAN step reads.

    Attributes:
        z_dim: Width of the latent.
        embed_dim: Width of each label's embedding in G.
        mode_seeking: Weight of the mode-seeking term (0: off).
    """

    z_dim: int
    embed_dim: int
    mode_seeking: float = 0.0


@dataclass(frozen=True, kw_only=True)
class SelfConditionedConfig(ConditionalConfig):
    """A GAN that may condition itself on k-means clusters (``gan``, ``dcgan``).

    Attributes:
        clusters: Number of k-means clusters (0: off, the plain GAN).
    """

    clusters: int = 0


class ConditionalGenerator(nn.Module):
    """``body(concat(z, embed(y)))``: any generator whose input has ``z_dim + embed_dim``
    features.

    Args:
        body: The unconditional generator it wraps.
        num_classes: Number of labels.
        embed_dim: Length of each label's embedding.
    """

    def __init__(self, body: nn.Module, num_classes: int, embed_dim: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_classes, embed_dim)
        self.body = body

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.body(torch.cat([z, self.embed(y)], dim=1))
        return out


class ProjectionDiscriminator(nn.Module):
    """``D(x, y) = head(phi(x)) + <embed(y), phi(x)>``: one logit per sample.

    Args:
        features: The feature extractor ``phi``, with an ``out_features`` attribute.
        num_classes: Number of labels.
    """

    def __init__(self, features: nn.Module, num_classes: int) -> None:
        super().__init__()
        width = int(cast(int, features.out_features))
        self.features = features
        self.head = nn.Linear(width, 1)
        self.embed = nn.Embedding(num_classes, width)
        # Start with a small class term so D first learns real vs fake, then the classes.
        nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h: torch.Tensor = self.features(x)
        logit: torch.Tensor = self.head(h)
        label: torch.Tensor = self.embed(y)
        return logit.squeeze(1) + (label * h).sum(dim=1)


def conditional_step(
    models: Models,
    opts: Optimizers,
    x: torch.Tensor,
    y: torch.Tensor,
    gen: torch.Generator,
    cfg: ConditionalConfig,
    *,
    r1: float = 0.0,
) -> dict[str, float]:
    """One D and one G update of ``G(z, y)`` against ``D(x, y)``; the fakes are drawn for the
    real batch's labels, so classes are learnt as often as the data holds them.

    With ``cfg.mode_seeking > 0`` (Mao et al. 2019) the fakes come in pairs with one label and
    two latents, and G is penalised when their images are closer than their latents. Without it
    a conditional G learns to ignore z and draws one image per class. ``r1`` > 0 adds the R1
    penalty (:func:`~genedge.train.adversarial.r1_penalty`) of that weight to D's loss.
    """
    z = torch.randn(x.shape[0], cfg.z_dim, generator=gen).to(x.device)
    weight = cfg.mode_seeking
    half = x.shape[0] // 2
    d_reg = (lambda r, d: r1_penalty(r, d, r1)) if r1 > 0 else None
    if weight <= 0 or half == 0:
        fake = models["G"](z, y)
        return adversarial_step(
            models, opts, cfg, x, fake, lambda t: models["D"](t, y), d_regulariser=d_reg
        )
    y_fake = torch.cat([y[:half], y[:half], y[2 * half :]])
    fake = models["G"](z, y_fake)

    def discriminate(t: torch.Tensor) -> torch.Tensor:
        # Real and fake batches have one size: tell them apart by storage, which the detached
        # copies (fake for D's step, real for R1's gradient) share with their originals.
        is_fake = t.data_ptr() == fake.data_ptr()
        logits: torch.Tensor = models["D"](t, y_fake if is_fake else y)
        return logits

    return adversarial_step(
        models,
        opts,
        cfg,
        x,
        fake,
        discriminate,
        lambda f: mode_seeking_loss(f, z, weight),
        d_reg,
    )


class SelfConditionedGenerator(nn.Module):
    """``G(z, cluster)`` for training, plus what the sampler needs to pick clusters from a latent.

    ``thresholds`` holds the N(0, 1) quantiles of the clusters' cumulative shares of the data:
    a standard-normal ``u`` falls in cluster ``k`` (the number of thresholds below ``u``) with
    that cluster's share. It is a buffer, so checkpoints and the EMA copy carry it.

    Args:
        body: The conditional generator ``G(z, y)``.
        clusters: Number of clusters.
    """

    thresholds: torch.Tensor

    def __init__(self, body: ConditionalGenerator, clusters: int) -> None:
        super().__init__()
        self.body = body
        self.register_buffer("thresholds", torch.zeros(clusters - 1))

    def set_shares(self, counts: np.ndarray) -> None:
        """Set the thresholds from each cluster's number of samples (all positive)."""
        cumulative = np.cumsum(counts)[:-1] / counts.sum()
        normal = NormalDist()
        values = [normal.inv_cdf(float(c)) for c in cumulative]
        self.thresholds.copy_(torch.tensor(values, dtype=torch.float32))

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.body(z, y)
        return out

    def pick(self, u: torch.Tensor) -> torch.Tensor:
        """The cluster of each standard-normal value ``u`` ``(N, 1)``: int64 ``(N,)``."""
        return (u > self.thresholds).sum(1)


class ClusterPickingSampler(nn.Module):
    """The exported sampler of a self-conditioned G: ``z`` ``(N, z_dim + 1)`` -> images; the
    last latent value picks the cluster."""

    def __init__(self, generator: SelfConditionedGenerator) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        cluster = self.generator.pick(z[:, -1:])
        out: torch.Tensor = self.generator(z[:, :-1], cluster)
        return out


def default_clusters(size: int) -> int:
    """Clusters for a data set of ``size`` samples: one per :data:`SAMPLES_PER_CLUSTER`, at most
    :data:`MAX_CLUSTERS`; 0 (no self-conditioning) under two clusters' worth."""
    k = min(MAX_CLUSTERS, size // SAMPLES_PER_CLUSTER)
    return k if k >= 2 else 0


def cluster_labels(models: Models, k: int, x: np.ndarray, seed: int) -> np.ndarray:
    """The k-means cluster (of ``k``) of each sample of ``x``, with G's (and its EMA's)
    thresholds set from the clusters' sizes."""
    clusters = kmeans(x, k, seed)
    counts = np.bincount(clusters, minlength=k)
    for name in ("G", "G_ema"):
        if name in models:
            cast(SelfConditionedGenerator, models[name]).set_shares(counts)
    return clusters


def check_clusters(k: int, info: DataInfo) -> int:
    """The ``clusters`` setting ``k`` once checked against the data.

    Raises:
        InputError: Negative, 1, or more than the data's samples.
    """
    if k < 0 or k == 1 or (info.size and k > info.size):
        raise InputError(
            f"clusters must be 0 (off) or 2..{info.size or 'the number of samples'}, got {k}"
        )
    return k


class SubclassGenerator(nn.Module):
    """A class-conditional ``G(z, fine)`` whose classes are each split into ``per_class``
    k-means sub-clusters (fine label ``class * per_class + sub``), plus what the sampler needs
    to pick a sub-cluster of a requested class from a latent.

    A label covers a whole class (every way of writing a 7); its sub-clusters are narrower
    targets that G reaches by a jump instead of one bent latent space, as self-conditioning
    does for unlabelled data. ``thresholds`` ``(classes, per_class - 1)`` holds, per class, the
    N(0, 1) quantiles of its sub-clusters' cumulative shares of that class; a buffer, so
    checkpoints and the EMA copy carry it.

    Args:
        body: The conditional generator over ``classes * per_class`` fine labels.
        classes: Number of classes.
        per_class: Sub-clusters per class (2 or more).
    """

    thresholds: torch.Tensor

    def __init__(self, body: ConditionalGenerator, classes: int, per_class: int) -> None:
        super().__init__()
        self.body = body
        self.per_class = per_class
        self.register_buffer("thresholds", torch.zeros(classes, per_class - 1))

    def set_shares(self, counts: np.ndarray) -> None:
        """Set the thresholds from each sub-cluster's samples, ``counts`` ``(classes,
        per_class)``; a class without samples gets even shares, an empty sub-cluster none."""
        normal = NormalDist()
        rows = []
        for row in np.asarray(counts, np.float64):
            share = row / row.sum() if row.sum() > 0 else np.full(len(row), 1.0 / len(row))
            # Clipped: an empty first or last sub-cluster has a cumulative share of 0 or 1.
            cumulative = np.clip(np.cumsum(share)[:-1], 1e-9, 1 - 1e-9)
            rows.append([normal.inv_cdf(float(c)) for c in cumulative])
        self.thresholds.copy_(torch.tensor(rows, dtype=torch.float32))

    def forward(self, z: torch.Tensor, fine: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.body(z, fine)
        return out

    def pick(self, u: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The fine label of class ``y`` ``(N,)`` that each standard-normal ``u`` ``(N, 1)``
        picks: int64 ``(N,)``."""
        sub = (u > self.thresholds[y]).sum(1)
        return y * self.per_class + sub


class SubclassPickingSampler(nn.Module):
    """The exported sampler of a :class:`SubclassGenerator`: ``(z, y)`` -> images, with ``z``
    ``(N, z_dim + 1)``; the last latent value picks the sub-cluster of class ``y``."""

    def __init__(self, generator: SubclassGenerator) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        fine = self.generator.pick(z[:, -1:], y)
        out: torch.Tensor = self.generator(z[:, :-1], fine)
        return out


def subclass_labels(
    models: Models, per_class: int, x: np.ndarray, y: np.ndarray, classes: int, seed: int
) -> np.ndarray:
    """The fine label (``class * per_class + sub``) of each sample: ``per_class`` k-means
    sub-clusters of each class's samples (fewer for a class with fewer samples), with G's (and
    its EMA's) thresholds set from their sizes."""
    fine = np.empty(len(y), np.int64)
    counts = np.zeros((classes, per_class), np.int64)
    for c in range(classes):
        idx = np.flatnonzero(y == c)
        if len(idx) == 0:
            continue
        sub = kmeans(x[idx], min(per_class, len(idx)), seed + c) if per_class > 1 else 0
        fine[idx] = c * per_class + sub
        counts[c] = np.bincount(np.atleast_1d(sub), minlength=per_class)[:per_class]
    for name in ("G", "G_ema"):
        if name in models:
            cast(SubclassGenerator, models[name]).set_shares(counts)
    return fine

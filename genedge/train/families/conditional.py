"""The pieces of label-conditioned GAN training shared by ``cgan`` (real labels) and the
self-conditioned ``dcgan`` (k-means cluster labels): G(z, y), the projection discriminator, and
one training step with mode-seeking pairs.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from genedge.train.families.base import Models, Optimizers
from genedge.train.families.gan import adversarial_step, mode_seeking_loss


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
        return self.body(torch.cat([z, self.embed(y)], dim=1))


class ProjectionDiscriminator(nn.Module):
    """``D(x, y) = head(phi(x)) + <embed(y), phi(x)>``: one logit per sample.

    Args:
        features: The feature extractor ``phi``, with an ``out_features`` attribute.
        num_classes: Number of labels.
    """

    def __init__(self, features: nn.Module, num_classes: int) -> None:
        super().__init__()
        width = int(features.out_features)
        self.features = features
        self.head = nn.Linear(width, 1)
        self.embed = nn.Embedding(num_classes, width)
        # Start with a small class term so D first learns real vs fake, then the classes.
        nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        return self.head(h).squeeze(1) + (self.embed(y) * h).sum(dim=1)


def conditional_step(
    models: Models,
    opts: Optimizers,
    x: torch.Tensor,
    y: torch.Tensor,
    gen: torch.Generator,
    hp: dict[str, Any],
) -> dict[str, float]:
    """One D and one G update of ``G(z, y)`` against ``D(x, y)``; the fakes are drawn for the
    real batch's labels, so classes are learnt as often as the data holds them.

    With ``hp["mode_seeking"] > 0`` (Mao et al. 2019) the fakes come in pairs with one label and
    two latents, and G is penalised when their images are closer than their latents. Without it
    a conditional G learns to ignore z and draws one image per class.
    """
    z = torch.randn(x.shape[0], int(hp["z_dim"]), generator=gen).to(x.device)
    weight = float(hp.get("mode_seeking", 0.0))
    half = x.shape[0] // 2
    if weight <= 0 or half == 0:
        fake = models["G"](z, y)
        return adversarial_step(models, opts, hp, x, fake, lambda t: models["D"](t, y))
    y_fake = torch.cat([y[:half], y[:half], y[2 * half :]])
    fake = models["G"](z, y_fake)

    def discriminate(t: torch.Tensor) -> torch.Tensor:
        return models["D"](t, y if t is x else y_fake)

    return adversarial_step(
        models, opts, hp, x, fake, discriminate, lambda f: mode_seeking_loss(f, z, weight)
    )

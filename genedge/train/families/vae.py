"""The variational autoencoder (Kingma & Welling 2014): an MLP encoder q(z|x) and decoder p(x|z).

The encoder outputs the mean and log-variance of a diagonal Gaussian q(z|x); training maximises
the ELBO ``E_q[log p(x|z)] - KL(q(z|x) || N(0, I))`` with the reparameterisation
``z = mu + exp(logvar / 2) * eps``, ``eps ~ N(0, I)`` drawn outside any exported graph.
Images use a Bernoulli likelihood on pixel intensities in [0, 1] (BCE on the decoder's logits);
points use a Gaussian whose per-dimension variance is learned (or fixed with ``sigma``).

Two graphs are exported: the ``sampler`` (the decoder's mean, z -> x) and the ``encoder``
(x -> mu, logvar), both in model units (see docs/models.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from genedge.runtime.errors import InputError
from genedge.runtime.manifest import GraphSpec, TensorSpec
from genedge.train.families.base import Family, Models, Optimizers, flat_size
from genedge.train.families.config import TrainConfig
from genedge.train.run import DataInfo

#: Floor of the learned Gaussian log standard deviation: keeps the likelihood from collapsing
#: onto single training points.
MIN_LOG_SIGMA = -5.0


@dataclass(frozen=True, kw_only=True)
class VAEConfig(TrainConfig):
    """The VAE's settings (see :meth:`VAEFamily.defaults`).

    Attributes:
        z_dim: Width of the latent.
        hidden: The encoder's hidden widths (the decoder's, reversed).
        likelihood: ``bernoulli`` (images) or ``gaussian`` (points).
        sigma: The Gaussian's standard deviation: ``learned`` or a fixed positive number.
    """

    z_dim: int
    hidden: tuple[int, ...]
    likelihood: str
    sigma: str | float = "learned"


def _mlp(widths: list[int]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return layers


class Encoder(nn.Module):
    """x -> hidden ReLU layers -> (mu, logvar) of q(z|x), each ``(batch, z_dim)``."""

    def __init__(self, shape: tuple[int, ...], hidden: list[int], z_dim: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(1), *_mlp([flat_size(shape), *hidden]))
        self.mu = nn.Linear(hidden[-1] if hidden else flat_size(shape), z_dim)
        self.logvar = nn.Linear(hidden[-1] if hidden else flat_size(shape), z_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.mu(h), self.logvar(h)


class Decoder(nn.Module):
    """z -> hidden ReLU layers -> the mean of p(x|z), shaped like the data.

    With ``bernoulli`` the mean is ``sigmoid(logits)``; otherwise it is linear, and
    ``log_sigma`` holds the Gaussian's per-dimension log standard deviation.
    """

    def __init__(
        self, z_dim: int, hidden: list[int], shape: tuple[int, ...], bernoulli: bool
    ) -> None:
        super().__init__()
        widths = [z_dim, *reversed(hidden)]
        self.net = nn.Sequential(*_mlp(widths), nn.Linear(widths[-1], flat_size(shape)))
        self.shape = tuple(shape)
        self.bernoulli = bernoulli
        if not bernoulli:
            self.log_sigma = nn.Parameter(torch.full((flat_size(shape),), -2.0))

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """The pre-activation output, flat ``(batch, prod(shape))``."""
        logits: torch.Tensor = self.net(z)
        return logits

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.logits(z)
        if self.bernoulli:
            out = torch.sigmoid(out)
        # unflatten keeps the batch axis symbolic in the exported graph.
        # torch leaves Tensor.unflatten unannotated
        shaped: torch.Tensor = out.unflatten(1, self.shape)  # type: ignore[no-untyped-call]
        return shaped


def negative_elbo(
    models: Models, x: torch.Tensor, eps: torch.Tensor, cfg: VAEConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The negative ELBO of a batch, averaged over samples, with its two terms.

    Args:
        models: ``{"encoder": Encoder, "decoder": Decoder}``.
        x: A batch in model units.
        eps: Standard-normal noise ``(batch, z_dim)`` for the reparameterisation.
        cfg: The settings (``sigma``: ``"learned"`` or a fixed Gaussian std).

    Returns:
        ``(loss, reconstruction NLL, KL)``, each the mean over the batch of per-sample sums
        (nats per sample).
    """
    # The decoder, or its DDP Replica, which forwards the Decoder's attributes and methods.
    enc, dec = models["encoder"], cast(Decoder, models["decoder"])
    mu, logvar = enc(x)
    z = mu + torch.exp(0.5 * logvar) * eps
    logits = dec.logits(z)
    target = x.flatten(1)
    if dec.bernoulli:
        rec = F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(1)
    else:
        sigma = cfg.sigma
        if isinstance(sigma, str):  # "learned": build() refuses any other string
            log_sigma = dec.log_sigma.clamp(min=MIN_LOG_SIGMA)
        else:
            log_sigma = torch.tensor(math.log(float(sigma)), device=x.device)
        nll = 0.5 * ((target - logits) / log_sigma.exp()) ** 2 + log_sigma
        rec = (nll + 0.5 * math.log(2 * math.pi)).sum(1)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
    return (rec + kl).mean(), rec.mean(), kl.mean()


class VAEFamily(Family[VAEConfig]):
    name = "vae"
    kinds = ("image", "points")
    # The Bernoulli likelihood needs intensities in [0, 1]; points use the same range.
    model_range = (0.0, 1.0)
    config_type = VAEConfig

    def defaults(self, info: DataInfo) -> VAEConfig:
        points = info.kind == "points"
        return VAEConfig(
            z_dim=2 if points else 16,
            hidden=(128, 128) if points else (512, 256),
            likelihood="gaussian" if points else "bernoulli",
            sigma="learned",
            batch_size=256 if points else 128,
            steps=3000 if points else 6000,
            lr=1e-3,
        )

    def build(self, cfg: VAEConfig, info: DataInfo) -> Models:
        """The encoder and decoder.

        Raises:
            InputError: An unknown ``likelihood``, or a ``sigma`` that is neither
                ``learned`` nor positive.
        """
        shape = tuple(info.sample_shape)
        hidden, z_dim = list(cfg.hidden), cfg.z_dim
        likelihood = cfg.likelihood
        if likelihood not in ("bernoulli", "gaussian"):
            raise InputError(f"likelihood must be bernoulli or gaussian, got {likelihood!r}")
        sigma = cfg.sigma
        if sigma != "learned" and not (isinstance(sigma, float) and sigma > 0):
            raise InputError(f"sigma must be 'learned' or a positive number, got {sigma!r}")
        return {
            "encoder": Encoder(shape, hidden, z_dim),
            "decoder": Decoder(z_dim, hidden, shape, bernoulli=likelihood == "bernoulli"),
        }

    def optimizers(self, models: Models, cfg: VAEConfig) -> Optimizers:
        params = [p for k in ("encoder", "decoder") for p in models[k].parameters()]
        return {"vae": torch.optim.Adam(params, lr=cfg.lr)}

    def train_step(
        self,
        models: Models,
        opts: Optimizers,
        x: torch.Tensor,
        y: torch.Tensor | None,
        gen: torch.Generator,
        cfg: VAEConfig,
    ) -> dict[str, float]:
        eps = torch.randn(x.shape[0], cfg.z_dim, generator=gen).to(x.device)
        loss, rec, kl = negative_elbo(models, x, eps, cfg)
        opts["vae"].zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
        opts["vae"].step()
        return {"loss": loss.item(), "recon": rec.item(), "kl": kl.item()}

    def sampler_module(self, models: Models, cfg: VAEConfig, info: DataInfo) -> nn.Module:
        return models["decoder"].eval()

    def latent_dim(self, cfg: VAEConfig) -> int:
        return cfg.z_dim

    def export_modules(
        self, models: Models, cfg: VAEConfig, info: DataInfo
    ) -> dict[str, nn.Module]:
        return {"sampler": models["decoder"].eval(), "encoder": models["encoder"].eval()}

    def graphs(self, cfg: VAEConfig, info: DataInfo) -> dict[str, GraphSpec]:
        z_dim = cfg.z_dim
        z = TensorSpec("z", "float32", ("batch", z_dim), "latent")
        x_out = TensorSpec("x", "float32", ("batch", *info.sample_shape))
        x_in = TensorSpec("x", "float32", ("batch", *info.sample_shape), "data")
        mu = TensorSpec("mu", "float32", ("batch", z_dim))
        logvar = TensorSpec("logvar", "float32", ("batch", z_dim))
        return {
            "sampler": GraphSpec(None, (z,), (x_out,)),
            "encoder": GraphSpec("encoder.onnx", (x_in,), (mu, logvar)),
        }

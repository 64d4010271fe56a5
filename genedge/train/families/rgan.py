"""The recurrent GAN (Esteban, Hyland & Raetsch 2017, "RGAN"): GRU generator and discriminator.

G reads one latent vector per time step, ``z_t ~ N(0, I)``, through a GRU from an explicit
initial state ``h0``; its outputs set a start level and per-step increments, summed and squashed
by a sigmoid into [0, 1]. D reads a sequence (with its differences and the batch's spread)
through its own GRU and emits one logit per time step. Both play the non-saturating GAN game of
:mod:`genedge.train.families.gan`, with the losses averaged over time steps; D learns five
times slower than G (see docs/models.md).

Because noise enters at every step and the state is an input, one exported graph generates any
batch size and any length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
from torch import nn

from genedge.runtime.manifest import GraphSpec, TensorSpec
from genedge.train.adversarial import adam_pair, adversarial_step, sampling_generator, with_ema
from genedge.train.families.base import Family, Models, Optimizers
from genedge.train.families.config import AdversarialConfig
from genedge.train.run import DataInfo

#: Gain on the first differences D sees: steps of smooth data are small next to their levels.
DIFF_GAIN = 5.0


@dataclass(frozen=True, kw_only=True)
class RGANConfig(AdversarialConfig):
    """RGAN's settings (see :meth:`RGANFamily.defaults`).

    Attributes:
        z_dim: Width of each time step's latent.
        hidden: Width of the GRUs' state.
        layers: Number of GRU layers.
        static_latent: G also reads the first step's noise at every step.
    """

    z_dim: int
    hidden: int
    layers: int
    static_latent: bool = False


class GRUGenerator(nn.Module):
    """``(z, h0) -> x``: z ``(batch, length, z_dim)`` and h0 ``(batch, layers, hidden)`` (batch
    first, like every genedge graph input) to sequences ``(batch, length, features)`` in [0, 1].

    The GRU's first output sets the start level and every output adds an increment, in logit
    units: ``x_t = sigmoid(start(h_0) + sum_{s <= t} step(h_s))``. Emitting increments makes a
    smooth path the easy thing to learn (a direct per-step output lets each step's fresh noise
    show up as jitter); large steps remain possible.
    """

    def __init__(
        self, z_dim: int, hidden: int, layers: int, features: int, static_latent: bool = False
    ) -> None:
        super().__init__()
        # With ``static_latent`` the GRU reads [z_0, g * z_t] at every step: z_0 (the first
        # step's noise) carries what is fixed for a whole sequence (frequency, phase, level)
        # and the learned gain g (starting small) sets how much fresh noise each step adds.
        # Smooth series need little per-step noise; noisy ones can grow g.
        self.static_latent = static_latent
        self.step_gain = nn.Parameter(torch.tensor(0.1)) if static_latent else None
        width = 2 * z_dim if static_latent else z_dim
        self.gru = nn.GRU(width, hidden, num_layers=layers, batch_first=True)
        self.start = nn.Linear(hidden, features)
        self.step = nn.Linear(hidden, features)
        with torch.no_grad():  # start from small increments: a near-constant path
            self.step.weight.mul_(0.1)
            self.step.bias.zero_()
        self.layers, self.hidden = layers, hidden

    def initial_state(self, batch: int, device: torch.device) -> torch.Tensor:
        """The zero state the runtime feeds, ``(batch, layers, hidden)``."""
        return torch.zeros(batch, self.layers, self.hidden, device=device)

    def forward(self, z: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
        if self.step_gain is not None:
            z = torch.cat([z[:, :1].expand_as(z), self.step_gain * z], dim=-1)
        h, _ = self.gru(z, h0.transpose(0, 1).contiguous())
        return torch.sigmoid(self.start(h[:, :1]) + torch.cumsum(self.step(h), dim=1))


class GRUDiscriminator(nn.Module):
    """Sequences ``(batch, length, features)`` -> one logit per step ``(batch, length)``.

    Each step's input is the values, their first differences (scaled by :data:`DIFF_GAIN`, so
    jitter is as visible as a wrong level) and the batch's standard deviation at that step
    (minibatch standard deviation, Karras et al. 2018), so D can tell a collapsed batch of
    identical sequences from real ones; without it a recurrent G tends to ignore its noise.
    """

    def __init__(self, features: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.gru = nn.GRU(2 * features + 1, hidden, num_layers=layers, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        diff = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], dim=1)
        spread = x.std(0, unbiased=False).mean(-1)  # (length,)
        feats = [x, DIFF_GAIN * diff, spread.expand(x.shape[0], -1).unsqueeze(-1)]
        h, _ = self.gru(torch.cat(feats, dim=-1))
        logits: torch.Tensor = self.out(h)
        return logits.squeeze(-1)


class RGANFamily(Family[RGANConfig]):
    name = "rgan"
    kinds = ("sequence",)
    model_range = (0.0, 1.0)
    # The dynamo exporter specialises a GRU's time axis to the example length; TorchScript
    # keeps it symbolic, so one artifact serves every length.
    exporter = "torchscript"
    config_type = RGANConfig

    def defaults(self, info: DataInfo) -> RGANConfig:
        # D learns five times slower than G (d_lr): with equal rates D wins early and G
        # collapses to a constant near the start value of the real sequences.
        return RGANConfig(
            z_dim=16,
            hidden=64,
            layers=1,
            batch_size=64,
            steps=10000,
            lr=1e-3,
            d_lr=2e-4,
            beta1=0.5,
            beta2=0.999,
            static_latent=True,
            lr_decay=0.5,
            ema=0.999,
        )

    def build(self, cfg: RGANConfig, info: DataInfo) -> Models:
        features = int(info.sample_shape[-1])
        models: Models = {
            "G": GRUGenerator(cfg.z_dim, cfg.hidden, cfg.layers, features, cfg.static_latent),
            "D": GRUDiscriminator(features, cfg.hidden, cfg.layers),
        }
        return with_ema(models, cfg)

    def optimizers(self, models: Models, cfg: RGANConfig) -> Optimizers:
        return adam_pair(models, cfg)

    def train_step(
        self,
        models: Models,
        opts: Optimizers,
        x: torch.Tensor,
        y: torch.Tensor | None,
        gen: torch.Generator,
        cfg: RGANConfig,
    ) -> dict[str, float]:
        # G, or its DDP Replica, which forwards GRUGenerator.initial_state.
        G = cast(GRUGenerator, models["G"])
        batch, length = x.shape[0], x.shape[1]
        z = torch.randn(batch, length, cfg.z_dim, generator=gen).to(x.device)
        fake = G(z, G.initial_state(batch, x.device))
        return adversarial_step(models, opts, cfg, x, fake, models["D"])

    def sampler_module(self, models: Models, cfg: RGANConfig, info: DataInfo) -> nn.Module:
        return sampling_generator(models).eval()

    def latent_dim(self, cfg: RGANConfig) -> int:
        return cfg.z_dim

    def graphs(self, cfg: RGANConfig, info: DataInfo) -> dict[str, GraphSpec]:
        z = TensorSpec("z", "float32", ("batch", "length", cfg.z_dim), "latent")
        h0 = TensorSpec("h0", "float32", ("batch", cfg.layers, cfg.hidden), "state")
        x = TensorSpec("x", "float32", ("batch", "length", int(info.sample_shape[-1])))
        return {"sampler": GraphSpec(None, (z, h0), (x,))}

    def output_kind(self, info: DataInfo) -> str:
        return "sequence"

    def sample_shape(self, info: DataInfo) -> tuple[int | str, ...]:
        return ("length", int(info.sample_shape[-1]))

    def default_length(self, info: DataInfo) -> int:
        return int(info.sample_shape[0])

"""The adversarial training pieces every GAN family shares: the non-saturating losses, one
D-then-G step, MSGAN's mode-seeking term, the EMA generator and the learning-rate schedule.

Kept apart from the families so that :mod:`genedge.train.families.gan`,
:mod:`genedge.train.families.conditional`, ``cgan``, ``dcgan`` and ``rgan`` import them
from one place without importing one another.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from genedge.train.families.base import Models, Optimizers
from genedge.train.families.config import AdversarialConfig


def gan_losses(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """D's loss: real -> 1, fake -> 0, on logits."""
    return F.binary_cross_entropy_with_logits(
        d_real, torch.ones_like(d_real)
    ) + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))


def generator_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """G's non-saturating loss, -log D(G(z))."""
    return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))


def with_ema(models: Models, cfg: AdversarialConfig) -> Models:
    """Add ``G_ema``, an exponential moving average of G's weights, when ``cfg.ema > 0``.

    Sampling from the averaged weights removes much of the step-to-step jitter of GAN training
    (the practice of StyleGAN and BigGAN); it is what export and sampling use.
    """
    if cfg.ema > 0:
        ema = copy.deepcopy(models["G"])
        ema.requires_grad_(False)
        models["G_ema"] = ema
    return models


def sampling_generator(models: Models) -> nn.Module:
    """The generator that export and sampling use: ``G_ema`` when there is one, else ``G``."""
    return models.get("G_ema", models["G"])


@torch.no_grad()
def update_ema(models: Models, cfg: AdversarialConfig, step: int) -> None:
    """``ema <- decay * ema + (1 - decay) * G``; buffers (e.g. BatchNorm statistics) copied.

    The decay warms up as ``min(decay, (1 + step) / (10 + step))`` so that short runs are not
    dominated by the random initial weights.
    """
    if "G_ema" not in models:
        return
    decay = min(cfg.ema, (1.0 + step) / (10.0 + step))
    for e, p in zip(models["G_ema"].parameters(), models["G"].parameters(), strict=True):
        e.lerp_(p, 1.0 - decay)
    for eb, b in zip(models["G_ema"].buffers(), models["G"].buffers(), strict=True):
        eb.copy_(b)


def adversarial_step(
    models: Models,
    opts: Optimizers,
    cfg: AdversarialConfig,
    real: torch.Tensor,
    fake: torch.Tensor,
    discriminate: Callable[[torch.Tensor], torch.Tensor],
    g_regulariser: Callable[[torch.Tensor], torch.Tensor] | None = None,
    d_regulariser: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, float]:
    """One D update (real -> 1, detached fake -> 0), one non-saturating G update, then the EMA.

    ``discriminate`` maps a batch to D's logits (it closes over labels, packing, ...);
    ``g_regulariser(fake)``, if given, is added to G's loss; ``d_regulariser(real, d_real)``
    (e.g. :func:`r1_penalty`), if given, to D's, with ``real`` requiring its gradient.
    """
    D = models["D"]
    if cfg.lr_decay > 0:
        scale = lr_scale(cfg, optimizer_steps(opts["G"]))
        set_lr(opts["G"], cfg.lr * scale)
        set_lr(opts["D"], cfg.discriminator_lr * scale)
    if d_regulariser is not None:
        real = real.detach().requires_grad_(True)
    d_real = discriminate(real)
    d_loss = gan_losses(d_real, discriminate(fake.detach()))
    d_extra = d_regulariser(real, d_real) if d_regulariser is not None else None
    opts["D"].zero_grad(set_to_none=True)
    # torch leaves Tensor.backward unannotated
    (d_loss if d_extra is None else d_loss + d_extra).backward()  # type: ignore[no-untyped-call]
    opts["D"].step()
    # D's weight gradients are not needed for G's step: skip computing them.
    D.requires_grad_(False)
    g_loss = generator_loss(discriminate(fake))
    extra = g_regulariser(fake) if g_regulariser is not None else None
    opts["G"].zero_grad(set_to_none=True)
    # torch leaves Tensor.backward unannotated
    (g_loss if extra is None else g_loss + extra).backward()  # type: ignore[no-untyped-call]
    D.requires_grad_(True)
    opts["G"].step()
    update_ema(models, cfg, optimizer_steps(opts["G"]))
    losses = {"d_loss": d_loss.item(), "g_loss": g_loss.item()}
    if extra is not None:
        losses["g_reg"] = extra.item()
    if d_extra is not None:
        losses["d_reg"] = d_extra.item()
    return losses


def r1_penalty(real: torch.Tensor, d_real: torch.Tensor, gamma: float) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): ``gamma / 2 * E |grad_x D(x)|^2`` on real data; it keeps D
    flat around the data, so D cannot win by features G has no gradient to fix."""
    (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
    return 0.5 * gamma * grad.pow(2).flatten(1).sum(1).mean()


def mode_seeking_loss(fake: torch.Tensor, z: torch.Tensor, weight: float) -> torch.Tensor:
    """MSGAN's term (Mao et al. 2019): ``weight / (mean |G(z1) - G(z2)| / |z1 - z2| + 1e-5)``
    over the pairs (first half, second half) of the batch; large when G ignores its noise."""
    half = fake.shape[0] // 2
    dx = (fake[:half] - fake[half : 2 * half]).abs().flatten(1).mean(1)
    dz = (z[:half] - z[half : 2 * half]).abs().flatten(1).mean(1)
    return weight / ((dx / dz).mean() + 1e-5)


def lr_scale(cfg: AdversarialConfig, step: int) -> float:
    """The factor on the learning rates at optimizer step ``step`` (0-based).

    ``lr_decay`` is the share of training, at the end, over which the rate falls linearly to
    zero (0: constant). Annealing the rate lets G settle on the modes instead of orbiting them,
    which is what lifts the share of high-quality samples.
    """
    tail = cfg.lr_decay
    total = cfg.steps
    start = total * (1.0 - tail)
    if tail <= 0 or step < start:
        return 1.0
    return max(0.0, (total - step) / max(1.0, total - start))


def adam_pair(models: Models, cfg: AdversarialConfig) -> Optimizers:
    """Adam for G at ``lr`` and for D at ``cfg.discriminator_lr``, both with ``(beta1, beta2)``."""
    betas = (cfg.beta1, cfg.beta2)
    return {
        "G": torch.optim.Adam(models["G"].parameters(), lr=cfg.lr, betas=betas),
        "D": torch.optim.Adam(models["D"].parameters(), lr=cfg.discriminator_lr, betas=betas),
    }


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    """Set every parameter group's rate (a function of the saved step count: resumable)."""
    for group in opt.param_groups:
        group["lr"] = lr


def optimizer_steps(opt: torch.optim.Optimizer) -> int:
    """How many steps an Adam-style optimizer has taken (kept in its state, so resumable)."""
    state = next(iter(opt.state.values()), None)
    return int(state["step"]) if state and "step" in state else 0

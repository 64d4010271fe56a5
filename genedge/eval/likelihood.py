"""Likelihood figures of a Bernoulli VAE, in pure numpy over its sampler's encoder and decoder
(so an artifact and its run folder give the same numbers)."""

from __future__ import annotations

import math

import numpy as np

from genedge.runtime.vae import VAESampler

#: Keeps Bernoulli log-probabilities finite where float32 sigmoids saturate at 0 or 1.
PROB_EPS = 1e-6


def binarise(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``x`` as 0/1 pixels, thresholded at half the value range."""
    return (x >= (lo + hi) / 2).astype(np.float32)


def bernoulli_logp(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Per-sample ``sum log p(x)`` of binary ``x`` under pixel probabilities ``p``."""
    logp = x * np.log(p) + (1 - x) * np.log1p(-p)
    total: np.ndarray = logp.reshape(logp.shape[0], -1).sum(1)
    return total


def vae_likelihood(
    vae: VAESampler, binary: np.ndarray, data: np.ndarray, k: int, seed: int
) -> tuple[float, float]:
    """Negative ELBO and the IWAE bound on ``-log p(x)`` (Burda et al. 2016), in nats.

    With ``z_j ~ q(z|x)`` and ``log w_j = log p(x|z_j) + log p(z_j) - log q(z_j|x)``, the
    negative ELBO is ``-mean_j log w_j`` and the IWAE bound ``-(logsumexp_j log w_j - log k)``;
    both are averaged over the samples. Pure numpy over the sampler's encoder and decoder, so an
    artifact and its run folder give the same figures.

    Args:
        vae: A Bernoulli VAE (its decoder's raw output is pixel probabilities).
        binary: ``(N, ...)`` binary images in model units (0 or 1).
        data: The same images in data units, as the encoder takes them.
        k: Importance samples per image.
        seed: Seeds the posterior draws.
    """
    mu, logvar = vae.encode(data)
    rng = np.random.default_rng(seed)
    n, d = mu.shape
    log_w = np.empty((n, k))
    std = np.exp(0.5 * logvar)
    for j in range(k):
        eps = rng.standard_normal((n, d)).astype(np.float32)
        z = mu + std * eps
        probs = np.clip(vae.generate(z, raw=True).astype(np.float64), PROB_EPS, 1 - PROB_EPS)
        log_px = bernoulli_logp(binary, probs)
        log_pz = -0.5 * (z.astype(np.float64) ** 2 + math.log(2 * math.pi)).sum(1)
        log_qz = -0.5 * (eps.astype(np.float64) ** 2 + logvar + math.log(2 * math.pi)).sum(1)
        log_w[:, j] = log_px + log_pz - log_qz
    peak = log_w.max(1, keepdims=True)
    lse = peak[:, 0] + np.log(np.exp(log_w - peak).sum(1))
    return float(-log_w.mean()), float(-(lse - math.log(k)).mean())

"""Walks through latent space: spherical interpolation between two seeded latents.

Latents drawn from a high-dimensional standard normal concentrate near a sphere; a straight
line between two of them passes through the low-norm middle, where a generator has rarely been
trained. Spherical interpolation (Shoemake's slerp, as in White 2016, "Sampling Generative
Networks") keeps the path's norm, so every step looks like a sample. Works for any family whose
sampler takes a latent (GAN, DCGAN, VAE, conditional and recurrent models).

Example:
    >>> s = Sampler("gan.onnx")
    >>> frames = interpolate(s, steps=10, seed=0)   # sample(1, seed=0) ... sample(1, seed=1)
"""

from __future__ import annotations

import numpy as np

from genedge.runtime.errors import InputError
from genedge.runtime.sampler import Sampler

#: Below this angle (radians) between the endpoints slerp is numerically a straight line.
_PARALLEL = 1e-6


def slerp(z0: np.ndarray, z1: np.ndarray, t: float | np.ndarray) -> np.ndarray:
    """Spherical linear interpolation between two latents of any (equal) shape.

    The latents are treated as single vectors (flattened), so a sequence model's per-step
    latents move together. Falls back to linear interpolation when they are (anti)parallel
    or zero.

    Args:
        z0: The start, returned exactly at ``t = 0``.
        z1: The end, returned exactly at ``t = 1``.
        t: A fraction, or a 1-D array of fractions.

    Returns:
        float32, ``z0.shape`` for a scalar ``t``, else ``(len(t), *z0.shape)``.
    """
    a, b = np.asarray(z0), np.asarray(z1)
    if a.shape != b.shape:
        raise InputError(f"slerp needs two latents of one shape, got {a.shape} and {b.shape}")
    ts = np.asarray(t, np.float64)
    if ts.ndim > 1:
        raise InputError(f"t must be a number or a 1-D array, got shape {ts.shape}")
    fa, fb = a.reshape(-1).astype(np.float64), b.reshape(-1).astype(np.float64)
    na, nb = np.linalg.norm(fa), np.linalg.norm(fb)
    cos = np.clip(fa @ fb / (na * nb), -1.0, 1.0) if na > 0 and nb > 0 else 1.0
    omega = float(np.arccos(cos))
    tt = ts.reshape(-1, 1)
    if omega < _PARALLEL or np.pi - omega < _PARALLEL:
        path = (1.0 - tt) * fa + tt * fb
    else:
        so = np.sin(omega)
        path = (np.sin((1.0 - tt) * omega) / so) * fa + (np.sin(tt * omega) / so) * fb
    # Exact endpoints: the formula gives them only up to rounding.
    path[ts.reshape(-1) == 0.0] = fa
    path[ts.reshape(-1) == 1.0] = fb
    out = path.astype(np.float32).reshape(-1, *a.shape)
    return out[0] if ts.ndim == 0 else out


def latent_path(
    sampler: Sampler,
    steps: int,
    seed: int = 0,
    end_seed: int | None = None,
    *,
    length: int | None = None,
    truncation: float | None = None,
    spherical: bool = True,
) -> np.ndarray:
    """``steps`` latents from the latent of ``sample(1, seed)`` to that of ``sample(1, end_seed)``.

    Args:
        sampler: Any sampler (its latent shape and noise are used).
        steps: Points on the path, endpoints included (at least 2).
        seed: Seed of the start latent.
        end_seed: Seed of the end latent; defaults to ``seed + 1``.
        length: For sequence models, the number of time steps.
        truncation: As in :meth:`Sampler.sample`.
        spherical: Slerp (default) or a straight line.

    Returns:
        float32 latents ``(steps, *latent shape)``, ready for :meth:`Sampler.generate`.
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 2:
        raise InputError(f"steps must be an integer of at least 2, got {steps!r}")
    end_seed = seed + 1 if end_seed is None else end_seed
    z0 = sampler.latents(1, seed, length=length, truncation=truncation)[0]
    z1 = sampler.latents(1, end_seed, length=length, truncation=truncation)[0]
    t = np.linspace(0.0, 1.0, int(steps))
    if spherical:
        return slerp(z0, z1, t)
    line: np.ndarray = (
        ((1.0 - t)[:, None] * z0.reshape(1, -1) + t[:, None] * z1.reshape(1, -1))
        .astype(np.float32)
        .reshape(-1, *z0.shape)
    )
    return line


def interpolate(
    sampler: Sampler,
    steps: int,
    seed: int = 0,
    end_seed: int | None = None,
    *,
    labels: object = None,
    length: int | None = None,
    truncation: float | None = None,
    spherical: bool = True,
    raw: bool = False,
) -> np.ndarray:
    """Samples along :func:`latent_path`; the first equals ``sampler.sample(1, seed)`` and the
    last ``sampler.sample(1, end_seed)`` (with the same labels, length and truncation).

    Args:
        labels: For conditional models: the class of the whole walk (one label), or one per
            step. Defaults to class 0.

    Returns:
        float32 samples ``(steps, *sample_shape)`` in data units (model units with ``raw``).
    """
    z = latent_path(
        sampler,
        steps,
        seed,
        end_seed,
        length=length,
        truncation=truncation,
        spherical=spherical,
    )
    if labels is None and sampler.manifest.num_classes:
        labels = 0
    return sampler.generate(z, labels, raw=raw)

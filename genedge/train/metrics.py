"""Sample-quality metrics that need no downloaded weights.

2-D toys follow the VEEGAN/PacGAN protocol: a sample is high quality when it lies within
3 standard deviations of its nearest mode; a mode is captured when high-quality samples land on
it; the mode histogram's KL divergence to uniform measures balance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class ModeReport:
    """Mode coverage of 2-D samples around known mode centres."""

    modes_total: int
    modes_captured: int
    high_quality: float
    kl_to_uniform: float
    counts: tuple[int, ...]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def mode_metrics(
    samples: np.ndarray, centres: np.ndarray, std: float, min_count: int | None = None
) -> ModeReport:
    """Modes captured, share of high-quality samples, and KL(mode histogram || uniform).

    Args:
        samples: ``(N, D)`` samples.
        centres: ``(M, D)`` mode centres.
        std: The modes' standard deviation; "high quality" means within ``3 * std``.
        min_count: High-quality samples a mode needs to count as captured. Defaults to
            ``max(1, N / M / 20)`` - a twentieth of its fair share, so a stray sample does
            not count as capturing a mode.
    """
    samples = np.asarray(samples, np.float64)
    centres = np.asarray(centres, np.float64)
    d2 = ((samples[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    nearest = d2.argmin(1)
    dist = np.sqrt(d2[np.arange(len(samples)), nearest])
    hq = dist <= 3 * std
    m = len(centres)
    counts = np.bincount(nearest[hq], minlength=m)
    need = max(1, len(samples) // m // 20) if min_count is None else min_count
    captured = int((counts >= need).sum())
    if counts.sum() > 0:
        p = counts / counts.sum()
        nz = p > 0
        kl = float((p[nz] * np.log(p[nz] * m)).sum())
    else:
        kl = float("inf")
    return ModeReport(m, captured, float(hq.mean()), kl, tuple(int(c) for c in counts))

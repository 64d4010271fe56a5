"""numpy signal processing for audio models: resampling, the STFT and its inverse, and
Griffin-Lim phase recovery. No torch, no scipy: the runtime inverts spectrograms with these,
and the training data are made with the very same STFT, so both sides agree by construction.

Conventions (those of ``librosa.stft(center=True)``): a periodic Hann window of ``n_fft``
samples, hop ``hop``, the signal reflect-padded by ``n_fft // 2`` on both sides, frame ``t``
centred on sample ``t * hop``. A clip of ``frames * hop`` samples gives ``frames`` frames
(the frame centred past its end is dropped) and ``n_fft // 2`` bins (the Nyquist bin is dropped:
the models see a power-of-two height; it is zero on inversion).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

#: Zero crossings of the resampler's windowed sinc on each side (at the lower rate).
RESAMPLE_ZEROS = 16
#: Kaiser window beta of the resampler (stop band ~ -80 dB).
RESAMPLE_BETA = 8.6


def hann(n_fft: int) -> np.ndarray:
    """The periodic Hann window of ``n_fft`` samples, float64."""
    k = np.arange(n_fft, dtype=np.float64)
    w: np.ndarray = 0.5 - 0.5 * np.cos(2.0 * np.pi * k / n_fft)
    return w


def stft(x: np.ndarray, n_fft: int, hop: int, frames: int) -> np.ndarray:
    """Complex spectra of clips ``x`` ``(N, L)``: ``(N, n_fft // 2, frames)``.

    ``L`` should be ``frames * hop``; shorter clips are zero-padded, longer ones cut.
    """
    x = np.asarray(x, dtype=np.float64)
    length = frames * hop
    if x.shape[1] != length:
        x = np.pad(x[:, :length], ((0, 0), (0, max(0, length - x.shape[1]))))
    half = n_fft // 2
    padded = np.pad(x, ((0, 0), (half, half)), mode="reflect")
    starts = np.arange(frames) * hop
    idx = starts[:, None] + np.arange(n_fft)[None, :]
    spec: np.ndarray = np.fft.rfft(padded[:, idx] * hann(n_fft), axis=-1)
    out: np.ndarray = spec[:, :, :half].transpose(0, 2, 1)
    return out


def istft(spec: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Clips ``(N, frames * hop)`` from spectra ``(N, n_fft // 2, frames)`` (:func:`stft`'s
    layout) by windowed overlap-add, normalised by the window's squared envelope."""
    n, half, frames = spec.shape
    full = np.concatenate([spec, np.zeros((n, 1, frames), spec.dtype)], axis=1)
    w = hann(n_fft)
    chunks = np.fft.irfft(full.transpose(0, 2, 1), n=n_fft, axis=-1) * w
    total = (frames - 1) * hop + n_fft
    out = np.zeros((n, total))
    env = np.zeros(total)
    for t in range(frames):
        out[:, t * hop : t * hop + n_fft] += chunks[:, t]
        env[t * hop : t * hop + n_fft] += w * w
    out /= np.maximum(env, 1e-8)
    start = n_fft // 2
    clip: np.ndarray = out[:, start : start + frames * hop]
    return clip


def griffin_lim(
    magnitude: np.ndarray, n_fft: int, hop: int, iterations: int, momentum: float
) -> np.ndarray:
    """Clips whose STFT magnitude is close to ``magnitude`` ``(N, n_fft // 2, frames)``.

    Fast Griffin-Lim (Perraudin et al. 2013, as ``librosa.griffinlim``), from zero phase, so
    the result depends only on each clip's own magnitude: the same at every batch size.
    """
    mag = np.asarray(magnitude, dtype=np.float64)
    frames = mag.shape[2]
    angles = np.ones(mag.shape, dtype=np.complex128)
    previous = np.zeros(mag.shape, dtype=np.complex128)
    for _ in range(iterations):
        rebuilt = stft(istft(mag * angles, n_fft, hop), n_fft, hop, frames)
        angles = rebuilt - (momentum / (1.0 + momentum)) * previous
        angles /= np.abs(angles) + 1e-16
        previous = rebuilt
    out: np.ndarray = istft(mag * angles, n_fft, hop)
    return out


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """One clip ``x`` ``(L,)`` resampled from ``rate_in`` to ``rate_out`` Hz (float64).

    A polyphase Kaiser-windowed sinc with :data:`RESAMPLE_ZEROS` zero crossings at the lower
    rate, so downsampling filters out what the new rate cannot hold.
    """
    x = np.asarray(x, dtype=np.float64)
    if rate_in == rate_out:
        same: np.ndarray = x.copy()
        return same
    g = math.gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    bank, reach = _filter_bank(up, down)
    n_out = int(math.ceil(len(x) * up / down))
    pos = np.arange(n_out, dtype=np.int64) * down
    base, phase = pos // up, pos % up
    taps = bank.shape[1]
    idx = base[:, None] - reach + 1 + np.arange(taps)[None, :]
    valid = (idx >= 0) & (idx < len(x))
    gathered = np.where(valid, x[np.clip(idx, 0, len(x) - 1)], 0.0)
    y: np.ndarray = np.einsum("ij,ij->i", gathered, bank[phase])
    return y


@lru_cache(maxsize=16)
def _filter_bank(up: int, down: int) -> tuple[np.ndarray, int]:
    """Per output phase ``p`` (0..up-1), the taps on input samples ``base - reach + 1 ..
    base + reach`` for an output at input position ``base + p / up``."""
    cutoff = min(1.0, up / down)  # of the input's Nyquist
    reach = int(math.ceil(RESAMPLE_ZEROS / cutoff))
    offsets = np.arange(-reach + 1, reach + 1, dtype=np.float64)
    frac = np.arange(up, dtype=np.float64)[:, None] / up
    t = offsets[None, :] - frac  # input sample time minus output time, in input samples
    window = np.kaiser(2 * reach + 1, RESAMPLE_BETA)
    wpos = np.clip(t + reach, 0, 2 * reach)
    w = np.interp(wpos, np.arange(2 * reach + 1), window)
    bank = cutoff * np.sinc(cutoff * t) * w
    bank.setflags(write=False)
    return bank, reach

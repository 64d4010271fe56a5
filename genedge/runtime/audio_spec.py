"""The manifest's ``audio`` section (schema 2.1, output kind ``audio``): how a model's
spectrograms become sound, and how clips become spectrograms.

An audio model's samples, in data units, are log-magnitude spectrograms ``(1, bins, frames)``:
``log(|STFT(clip)| / (n_fft / 2) + floor)`` with :mod:`genedge.runtime.audio_dsp`'s STFT. The
runtime turns them into clips of ``clip_samples`` at ``sample_rate`` Hz by undoing the log and
recovering a phase with Griffin-Lim, as it inverts min-max scaling for every model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from genedge.runtime.audio_dsp import griffin_lim, stft
from genedge.runtime.errors import ManifestError

#: The transforms this reader inverts.
AUDIO_TRANSFORMS = ("log_stft",)
#: Schema version that introduced the section.
AUDIO_SCHEMA = "2.1"
#: Largest peak of a written clip: headroom below full scale.
PEAK = 0.9
#: Clips whose phase is recovered at once (Griffin-Lim holds a few complex spectra of each).
CLIP_CHUNK = 64


@dataclass(frozen=True)
class AudioSpec:
    """How a spectrogram model's samples are heard.

    Attributes:
        sample_rate: Clip rate in Hz.
        n_fft: STFT window (and FFT) length in samples; ``n_fft // 2`` bins are kept.
        hop: Samples between frames.
        frames: Spectrogram frames; a clip is ``frames * hop`` samples.
        floor: Added to the normalised magnitude before the log (sets the dynamic range).
        transform: ``log_stft`` (the only one so far).
        griffin_lim_iterations: Phase-recovery iterations on sampling.
        griffin_lim_momentum: Fast Griffin-Lim's momentum (0: the classic algorithm).
    """

    sample_rate: int
    n_fft: int
    hop: int
    frames: int
    floor: float = 1e-3
    transform: str = "log_stft"
    griffin_lim_iterations: int = 48
    griffin_lim_momentum: float = 0.99

    @property
    def bins(self) -> int:
        """Frequency bins of a spectrogram (the Nyquist bin dropped)."""
        return self.n_fft // 2

    @property
    def clip_samples(self) -> int:
        """Samples of one clip."""
        return self.frames * self.hop

    @property
    def seconds(self) -> float:
        """Length of one clip in seconds."""
        return self.clip_samples / self.sample_rate

    @property
    def shape(self) -> tuple[int, int, int]:
        """One sample's spectrogram shape ``(1, bins, frames)``."""
        return (1, self.bins, self.frames)

    @property
    def value_range(self) -> tuple[float, float]:
        """The log-magnitude's range: silence (``log(floor)``) to a full-scale sine (~0)."""
        return float(np.log(self.floor)), 0.0

    def spectrograms(self, clips: np.ndarray) -> np.ndarray:
        """Log-magnitude spectrograms ``(N, 1, bins, frames)`` float32 of clips ``(N, L)``."""
        mag = np.abs(stft(clips, self.n_fft, self.hop, self.frames)) / (self.n_fft / 2)
        out: np.ndarray = np.log(mag + self.floor).astype(np.float32)[:, None]
        return out

    def clips(self, spectrograms: np.ndarray) -> np.ndarray:
        """Clips ``(N, clip_samples)`` float32 in [-1, 1] from log-magnitude spectrograms
        ``(N, 1, bins, frames)`` in data units; each clip's peak is scaled to :data:`PEAK`
        when it is louder (quieter clips keep their level)."""
        s = np.asarray(spectrograms, dtype=np.float64).reshape(-1, self.bins, self.frames)
        mag = np.maximum(np.exp(np.minimum(s, 0.0)) - self.floor, 0.0) * (self.n_fft / 2)
        out = np.empty((len(mag), self.clip_samples))
        for at in range(0, len(mag), CLIP_CHUNK):  # bounds Griffin-Lim's complex buffers
            out[at : at + CLIP_CHUNK] = griffin_lim(
                mag[at : at + CLIP_CHUNK],
                self.n_fft,
                self.hop,
                self.griffin_lim_iterations,
                self.griffin_lim_momentum,
            )
        peak = np.abs(out).max(axis=1, keepdims=True)
        out *= np.where(peak > PEAK, PEAK / np.maximum(peak, 1e-12), 1.0)
        return out.astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Any, where: str = "audio") -> AudioSpec:
        """Read and check an ``audio`` section (a manifest's, or a run's data description).

        Raises:
            ManifestError: A missing field, a wrong type or an unknown transform.
        """
        if not isinstance(d, dict):
            raise ManifestError(f"{where}: expected an object")
        missing = [k for k in ("sample_rate", "n_fft", "hop", "frames") if k not in d]
        if missing:
            raise ManifestError(f"{where}: missing field(s) {', '.join(missing)}")
        ints = {k: d[k] for k in ("sample_rate", "n_fft", "hop", "frames")}
        ints["griffin_lim_iterations"] = d.get("griffin_lim_iterations", 48)
        for k, v in ints.items():
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ManifestError(f"{where}.{k} must be a positive integer, got {v!r}")
        if ints["n_fft"] % 2 or ints["hop"] > ints["n_fft"]:
            raise ManifestError(f"{where}: n_fft must be even and at least hop")
        floor, momentum = d.get("floor", 1e-3), d.get("griffin_lim_momentum", 0.99)
        for k, v in (("floor", floor), ("griffin_lim_momentum", momentum)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
                raise ManifestError(f"{where}.{k} must be a number in [0, 1), got {v!r}")
        if floor <= 0:
            raise ManifestError(f"{where}.floor must be positive")
        transform = d.get("transform", "log_stft")
        if transform not in AUDIO_TRANSFORMS:
            raise ManifestError(
                f"{where}: unknown audio transform {transform!r} (this genedge inverts "
                f"{', '.join(AUDIO_TRANSFORMS)}); upgrade genedge"
            )
        return cls(
            transform=transform, floor=float(floor), griffin_lim_momentum=float(momentum), **ints
        )


def spec_for_rate(sample_rate: int, seconds: float) -> AudioSpec:
    """The default spectrogram of clips at ``sample_rate`` lasting about ``seconds``.

    A ~32 ms window (the power of two nearest ``0.032 * sample_rate``, at least 16), a hop of a
    quarter window, and a frame count rounded up to a multiple of 16 (so a convolutional G
    doubles it exactly): 8 kHz and 0.75 s give 128 bins x 96 frames, 0.768 s.
    """
    n_fft = max(16, 2 ** round(np.log2(0.032 * sample_rate)))
    hop = n_fft // 4
    frames = max(16, int(np.ceil(seconds * sample_rate / hop / 16 - 1e-9)) * 16)
    return AudioSpec(sample_rate=int(sample_rate), n_fft=int(n_fft), hop=hop, frames=frames)


def audio_rows(spec: AudioSpec | None) -> list[tuple[str, str]]:
    """``genedge info``'s rows for an audio model; none for other models."""
    if spec is None:
        return []
    return [
        (
            "audio",
            f"{spec.sample_rate} Hz mono clips of {spec.seconds:.3f} s "
            f"({spec.clip_samples} samples)",
        ),
        (
            "spectrogram",
            f"log |STFT| + {spec.floor:g}: n_fft {spec.n_fft}, hop {spec.hop}, {spec.bins} bins x "
            f"{spec.frames} frames; inverted by Griffin-Lim, {spec.griffin_lim_iterations} "
            f"iterations (momentum {spec.griffin_lim_momentum:g})",
        ),
    ]

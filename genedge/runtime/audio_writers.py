"""Write an audio model's samples: WAV clips (a folder of one per sample, or one file) and
spectrogram grids, all written atomically.

The samples the sampler returns are log-magnitude spectrograms in data units; these writers
turn them into clips with the manifest's :class:`~genedge.runtime.audio_spec.AudioSpec`
(Griffin-Lim), chunk by chunk, so memory stays flat for any count.
"""

from __future__ import annotations

import wave
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from genedge.runtime.atomic import atomic_new_folder, atomic_path
from genedge.runtime.audio_spec import AudioSpec
from genedge.runtime.errors import OutputError
from genedge.runtime.images import encode_png, make_grid, to_uint8
from genedge.runtime.manifest import Manifest

Chunks = Iterable[tuple[np.ndarray, np.ndarray | None]]

#: Silence between the clips of one joined ``.wav``, in seconds.
GAP_SECONDS = 0.25


def audio_spec(manifest: Manifest) -> AudioSpec:
    """The manifest's audio section.

    Raises:
        OutputError: The model does not make audio.
    """
    if manifest.audio is None:
        raise OutputError(
            f"a .wav of clips needs an audio model, but this one makes {manifest.output_kind} "
            "samples"
        )
    return manifest.audio


def pcm16(clip: np.ndarray) -> bytes:
    """A float clip in [-1, 1] as little-endian 16-bit PCM bytes (clipped)."""
    data: bytes = np.rint(np.clip(clip, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    return data


def write_clip(path: Path, clip: np.ndarray, sample_rate: int) -> None:
    """One mono 16-bit clip at ``path`` (not atomic by itself: for files in a temporary
    folder, or inside :func:`~genedge.runtime.atomic.atomic_path`)."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm16(clip))


def write_joined_wav(path: Path, chunks: Chunks, manifest: Manifest) -> Path:
    """Every sample's clip in one ``.wav``, :data:`GAP_SECONDS` of silence between them (a
    single sample is just its clip)."""
    spec = audio_spec(manifest)
    gap = b"\0\0" * int(round(GAP_SECONDS * spec.sample_rate))
    with atomic_path(path) as tmp, wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(spec.sample_rate)
        first = True
        for x, _ in chunks:
            for clip in spec.clips(x):
                if not first:
                    w.writeframes(gap)
                w.writeframes(pcm16(clip))
                first = False
    return path


def write_wav_folder(path: Path, chunks: Chunks, manifest: Manifest) -> Path:
    """One ``.wav`` per sample in a new folder (``000000-class7.wav`` for conditional models),
    renamed into place when complete."""
    spec = audio_spec(manifest)
    with atomic_new_folder(path) as tmp:
        i = 0
        for x, y in chunks:
            for k, clip in enumerate(spec.clips(x)):
                tag = "" if y is None else f"-class{int(y[k])}"
                write_clip(tmp / f"{i:06d}{tag}.wav", clip, spec.sample_rate)
                i += 1
    return path


def spectrogram_grid(
    x: np.ndarray, value_range: tuple[float, float], ncols: int | None = None
) -> np.ndarray:
    """Spectrograms ``(N, 1, bins, frames)`` as one grey grid image, low frequencies at the
    bottom of each tile, dark = loud (tiles scaled up to at least ~128 px high)."""
    flipped = np.ascontiguousarray(np.asarray(x)[:, :, ::-1, :])
    imgs = 255 - to_uint8(flipped, value_range)
    grid = make_grid(imgs, ncols or min(8, max(1, len(imgs))))
    factor = max(1, -(-128 // x.shape[2]))
    out: np.ndarray = np.repeat(np.repeat(grid, factor, axis=0), factor, axis=1)
    return out


def render_spectrograms(x: np.ndarray, manifest: Manifest, ncols: int | None = None) -> bytes:
    """PNG bytes of a grid of an audio model's spectrogram samples."""
    return encode_png(spectrogram_grid(x, manifest.value_range, ncols))

"""Folders of WAV clips as audio data: read with the standard library's ``wave`` (8, 16, 24
and 32-bit PCM, any rate, any channel count, mixed down to mono), resampled, centred and cut
or padded to one length, then turned into log-magnitude spectrograms (the samples an audio
model learns; :class:`~genedge.runtime.audio_spec.AudioSpec` says how, and the runtime
inverts it).

Labels come from sub-folder names (``digits/7/a.wav``) or else from a ``{label}_`` file-name
prefix (``7_a.wav``) when every file has one; otherwise the clips are unlabelled.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genedge.runtime.audio_dsp import resample
from genedge.runtime.audio_spec import PEAK, AudioSpec, spec_for_rate
from genedge.runtime.errors import DataError
from genedge.train.data.dataset import Dataset, make_dataset

WAV_SUFFIXES: tuple[str, ...] = (".wav",)
"""Audio files picked up from a folder (case-insensitive)."""

#: Defaults of the ``sample_rate`` and ``clip_seconds`` data options.
DEFAULT_RATE = 8000
DEFAULT_SECONDS = 0.75
#: Frames quieter than this, relative to the clip's loudest, count as silence when centring.
SILENCE_DB = -30.0


@dataclass(frozen=True)
class AudioDataset(Dataset):
    """Audio data: ``x`` holds log-magnitude spectrograms ``(N, 1, bins, frames)`` and
    ``audio`` how they were made (and how to hear them).

    Attributes:
        audio: The spectrogram transform and clip format.
        clips: The fixed-length clips ``(N, clip_samples)`` the spectrograms are of.
    """

    audio: AudioSpec | None = None
    clips: np.ndarray | None = None


def check_audio_options(sample_rate: object, clip_seconds: object) -> tuple[int, float]:
    """The ``sample_rate`` and ``clip_seconds`` data options, defaults filled in.

    Raises:
        DataError: A rate that is not a whole number in 1000..48000, or a length outside
            0.1..10 seconds.
    """
    rate = DEFAULT_RATE if sample_rate is None else sample_rate
    seconds = DEFAULT_SECONDS if clip_seconds is None else clip_seconds
    if isinstance(rate, float) and rate.is_integer():
        rate = int(rate)
    if isinstance(rate, bool) or not isinstance(rate, int) or not 1000 <= rate <= 48000:
        raise DataError(f"sample_rate must be a whole number of Hz in 1000..48000, got {rate!r}")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise DataError(f"clip_seconds must be a number of seconds, got {seconds!r}")
    if not 0.1 <= float(seconds) <= 10.0:
        raise DataError(f"clip_seconds must be 0.1..10 seconds, got {seconds!r}")
    return rate, float(seconds)


def is_audio_folder(path: Path) -> bool:
    """Whether ``path`` is a folder with ``.wav`` files at its top level or one level down."""
    if not path.is_dir():
        return False
    if _wav_files(path):
        return True
    return any(_wav_files(sub) for sub in _subfolders(path))


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """A WAV file's PCM as mono float64 in [-1, 1] and its rate.

    Raises:
        DataError: The file is unreadable, not PCM, or holds no samples (naming it).
    """
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError, OSError) as e:
        raise DataError(
            f"cannot read audio {path}: {e}; genedge reads uncompressed PCM .wav "
            "(8, 16, 24 or 32-bit): convert it (e.g. sox IN -b 16 OUT.wav) or remove it"
        ) from None
    if width not in (1, 2, 3, 4):
        raise DataError(f"cannot read audio {path}: {8 * width}-bit samples are not PCM 8/16/24/32")
    frames = len(raw) // (width * channels)
    if frames == 0 or rate <= 0:
        raise DataError(f"audio file {path} is empty (no samples); remove it")
    data = np.frombuffer(raw[: frames * width * channels], dtype=np.uint8)
    values = _pcm_values(data, width).reshape(frames, channels)
    return values.mean(axis=1), rate


def _pcm_values(data: np.ndarray, width: int) -> np.ndarray:
    """Little-endian PCM bytes as floats in [-1, 1): 8-bit is unsigned, wider is signed."""
    if width == 1:
        return (data.astype(np.float64) - 128.0) / 128.0
    if width == 3:
        b = data.reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        return v / float(1 << 23)
    dtype = "<i2" if width == 2 else "<i4"
    return data.view(dtype).astype(np.float64) / float(1 << (8 * width - 1))


def fit_clip(x: np.ndarray, length: int, hop: int) -> np.ndarray:
    """``x`` centred on its sound (frames within :data:`SILENCE_DB` of the loudest) and cut or
    zero-padded to ``length`` samples, its peak scaled to :data:`PEAK` (silence stays 0)."""
    peak = float(np.abs(x).max()) if len(x) else 0.0
    if peak <= 0:
        return np.zeros(length)
    x = x * (PEAK / peak)
    n = len(x) // hop
    if n > 0:
        energy = (x[: n * hop].reshape(n, hop) ** 2).mean(axis=1)
        loud = np.flatnonzero(energy >= energy.max() * 10 ** (SILENCE_DB / 10))
        lo, hi = int(loud[0]) * hop, int(loud[-1] + 1) * hop
    else:
        lo, hi = 0, len(x)
    centre = (lo + hi) // 2
    start = centre - length // 2
    out = np.zeros(length)
    src_lo, src_hi = max(0, start), min(len(x), start + length)
    out[src_lo - start : src_hi - start] = x[src_lo:src_hi]
    return out


def read_audio_folder(
    path: Path,
    *,
    sample_rate: int | None = None,
    clip_seconds: float | None = None,
    seed: int = 0,
    n: int | None = None,
    name: str | None = None,
) -> AudioDataset:
    """A folder of WAV clips as an :class:`AudioDataset` (see the module's docstring).

    Raises:
        DataError: No ``.wav`` files, a file that cannot be read (naming it), or bad options.
    """
    rate, seconds = check_audio_options(sample_rate, clip_seconds)
    spec = spec_for_rate(rate, seconds)
    files, labels, names = _labelled_files(path)
    clips = np.empty((len(files), spec.clip_samples), dtype=np.float64)
    for i, f in enumerate(files):
        x, r = read_wav(f)
        clips[i] = fit_clip(resample(x, r, rate), spec.clip_samples, spec.hop)
    return audio_dataset(name or str(path), clips, labels, names, spec, seed=seed, n=n)


def audio_dataset(
    name: str,
    clips: np.ndarray,
    labels: np.ndarray | None,
    class_names: tuple[str, ...],
    spec: AudioSpec,
    *,
    seed: int,
    n: int | None,
    notes: tuple[str, ...] = (),
) -> AudioDataset:
    """Clips of ``spec.clip_samples`` as an :class:`AudioDataset` of their spectrograms."""
    # float32 first, so clips read from files and from a cache give the same spectrograms.
    clips = np.asarray(clips, dtype=np.float32)
    ds = make_dataset(
        name,
        spec.spectrograms(clips),
        y=labels,
        class_names=class_names,
        value_range=spec.value_range,
        seed=seed,
        n=None,
        notes=notes,
    )
    idx = np.arange(len(clips))
    if n is not None:
        if not 1 <= n <= len(clips):
            raise DataError(f"n={n} is out of range for {name}: it has {len(clips)} clips")
        idx = np.random.default_rng(seed).permutation(len(clips))[:n]
    return AudioDataset(
        name=ds.name,
        x=ds.x[idx],
        kind="audio",
        value_range=ds.value_range,
        y=None if ds.y is None else ds.y[idx],
        num_classes=ds.num_classes,
        class_names=ds.class_names,
        notes=ds.notes,
        audio=spec,
        clips=clips[idx].astype(np.float32),
    )


def _labelled_files(path: Path) -> tuple[list[Path], np.ndarray | None, tuple[str, ...]]:
    """The folder's clips with labels from sub-folders, else from ``{label}_`` prefixes."""
    top = _wav_files(path)
    if not top:
        classes = [(sub.name, _wav_files(sub)) for sub in _subfolders(path)]
        classes = [(c, fs) for c, fs in classes if fs]
        if not classes:
            raise DataError(
                f"no .wav files in folder {path}: put clips in it, or one subfolder of clips "
                "per class"
            )
        files = [f for _, fs in classes for f in fs]
        y = np.concatenate([np.full(len(fs), k, np.int64) for k, (_, fs) in enumerate(classes)])
        return files, y, tuple(c for c, _ in classes)
    prefixes = [f.name.split("_", 1)[0] for f in top if "_" in f.name]
    if len(prefixes) == len(top) and all(prefixes):
        names = tuple(sorted(set(prefixes), key=_label_order))
        y = np.array([names.index(p) for p in prefixes], dtype=np.int64)
        return top, y, names
    return top, None, ()


def _label_order(label: str) -> tuple[int, int | str]:
    """Numeric labels in numeric order (2 before 10), then the others by name."""
    return (0, int(label)) if label.isdigit() else (1, label)


def _wav_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in WAV_SUFFIXES and not p.name.startswith(".")
    )


def _subfolders(folder: Path) -> list[Path]:
    subs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(subs, key=lambda p: _label_order(p.name))

"""Audio data: WAV folders of every PCM width, mono or stereo, at any rate, resampled, centred,
cut or padded, labelled by sub-folder or file-name prefix, and one clear error per bad file."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from genedge.runtime.audio_dsp import resample
from genedge.runtime.errors import DataError
from genedge.train.data import AudioDataset, load_dataset
from genedge.train.data.audio import fit_clip, read_wav

RATE, SECONDS = 2000, 0.25  # spectrograms (1, 32, 32): n_fft 64, hop 16


def write_wav(path: Path, x: np.ndarray, rate: int, width: int = 2, channels: int = 1) -> Path:
    """Float samples in [-1, 1] (``(L,)`` or ``(L, channels)``) as PCM of ``width`` bytes."""
    x = np.asarray(x, np.float64).reshape(len(x), -1 if len(x) else 1)
    if x.shape[1] != channels:
        x = np.repeat(x[:, :1], channels, axis=1)
    scale = float(1 << (8 * width - 1)) - 1
    if width == 1:
        raw = np.rint(x * 127 + 128).astype(np.uint8).tobytes()
    elif width == 3:
        v = np.rint(x * scale).astype(np.int32).reshape(-1)
        b = v.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
        raw = b.tobytes()
    else:
        raw = np.rint(x * scale).astype("<i2" if width == 2 else "<i4").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(raw)
    return path


def tone(freq: float, rate: int, seconds: float = 0.15, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return amp * np.sin(2 * np.pi * freq * t)


def peak_hz(ds: AudioDataset, i: int) -> float:
    assert ds.audio is not None
    spectrum = np.exp(ds.x[i, 0]).sum(axis=1)
    return float(np.argmax(spectrum) * ds.audio.sample_rate / ds.audio.n_fft)


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_every_pcm_width_reads_back(tmp_path: Path, width: int) -> None:
    x = tone(440, 8000)
    back, rate = read_wav(write_wav(tmp_path / "a.wav", x, 8000, width, channels=2))
    assert rate == 8000 and back.shape == x.shape
    assert np.abs(back - x).max() < 2.0 / 2 ** (8 * width - 1) + (1 / 127 if width == 1 else 0)


def test_folder_of_class_subfolders_resampled_mixed_formats(tmp_path: Path) -> None:
    # Two classes, files at three rates, widths and channel counts: a low and a high tone.
    for k, (freq, rate, width, ch) in enumerate(
        [(250, 8000, 2, 1), (250, 11025, 3, 2), (700, 16000, 4, 1), (700, 44100, 1, 2)]
    ):
        sub = tmp_path / ("low" if freq == 250 else "high")
        sub.mkdir(exist_ok=True)
        write_wav(sub / f"{k}.wav", tone(freq, rate), rate, width, ch)
    ds = load_dataset(str(tmp_path), sample_rate=RATE, clip_seconds=SECONDS)
    assert isinstance(ds, AudioDataset) and ds.kind == "audio"
    assert ds.x.shape == (4, 1, 32, 32) and ds.class_names == ("high", "low")
    assert ds.y is not None and ds.y.tolist() == [0, 0, 1, 1]
    assert ds.clips is not None and ds.clips.shape == (4, 512)
    for i in range(4):
        want = 700 if ds.y[i] == 0 else 250
        assert abs(peak_hz(ds, i) - want) <= 2000 / 64  # within one bin


def test_labels_from_file_name_prefixes_in_numeric_order(tmp_path: Path) -> None:
    for label in (10, 2, 2):
        write_wav(tmp_path / f"{label}_{np.random.default_rng(label).integers(1e6)}x{label}.wav",
                  tone(300, 4000), 4000)  # fmt: skip
    write_wav(tmp_path / "2_other.wav", tone(300, 4000), 4000)
    ds = load_dataset(str(tmp_path), sample_rate=RATE, clip_seconds=SECONDS)
    assert ds.class_names == ("2", "10") and sorted(ds.y.tolist()) == [0, 0, 1]  # type: ignore[union-attr]


def test_unprefixed_files_are_unlabelled(tmp_path: Path) -> None:
    write_wav(tmp_path / "a.wav", tone(300, 4000), 4000)
    write_wav(tmp_path / "b_c.wav", tone(300, 4000), 4000)
    ds = load_dataset(str(tmp_path), sample_rate=RATE, clip_seconds=SECONDS)
    assert ds.y is None and ds.num_classes == 0 and len(ds) == 2


def test_clips_are_centred_on_their_sound_and_cut_or_padded() -> None:
    x = np.zeros(3000)
    x[2000:2200] = tone(200, 2000, 0.1)
    clip = fit_clip(x, 600, 16)
    loud = np.flatnonzero(np.abs(clip) > 0.01)
    assert len(clip) == 600 and abs((loud[0] + loud[-1]) / 2 - 300) < 20
    assert np.isclose(np.abs(clip).max(), 0.9)
    long = fit_clip(tone(200, 2000, 2.0), 600, 16)
    assert len(long) == 600 and np.abs(long).max() > 0.5
    assert not fit_clip(np.zeros(100), 600, 16).any()


def test_resampler_keeps_tones_and_removes_what_the_new_rate_cannot_hold() -> None:
    t = np.arange(22050) / 22050
    kept = resample(np.sin(2 * np.pi * 1000 * t), 22050, 8000)
    ref = np.sin(2 * np.pi * 1000 * np.arange(len(kept)) / 8000)
    assert len(kept) == 8000 and np.abs(kept - ref)[200:-200].max() < 2e-3
    gone = resample(np.sin(2 * np.pi * 5000 * t), 22050, 8000)
    assert np.abs(gone[200:-200]).max() < 1e-3


def test_bad_files_are_one_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "ok").mkdir()
    write_wav(tmp_path / "ok" / "a.wav", tone(300, 4000), 4000)
    empty = write_wav(tmp_path / "ok" / "empty.wav", np.zeros(0), 4000)
    with pytest.raises(DataError, match="empty.wav is empty"):
        load_dataset(str(tmp_path), sample_rate=RATE)
    empty.unlink()
    garbage = tmp_path / "ok" / "b.wav"
    garbage.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(DataError, match=r"cannot read audio .*b\.wav"):
        load_dataset(str(tmp_path), sample_rate=RATE)
    # A float WAV (format tag 3) is not PCM.
    data = np.zeros(10, "<f4").tobytes()
    fmt = (3).to_bytes(2, "little") + (1).to_bytes(2, "little") + (8000).to_bytes(4, "little")
    fmt += (32000).to_bytes(4, "little") + (4).to_bytes(2, "little") + (32).to_bytes(2, "little")
    body = b"WAVEfmt " + len(fmt).to_bytes(4, "little") + fmt + b"data"
    body += len(data).to_bytes(4, "little") + data
    garbage.write_bytes(b"RIFF" + len(body).to_bytes(4, "little") + body)
    with pytest.raises(DataError, match=r"b\.wav.*PCM"):
        load_dataset(str(tmp_path), sample_rate=RATE)


def test_audio_options_are_checked_and_refused_for_other_data(tmp_path: Path) -> None:
    write_wav(tmp_path / "a.wav", tone(300, 4000), 4000)
    with pytest.raises(DataError, match="sample_rate must be"):
        load_dataset(str(tmp_path), sample_rate=10)
    with pytest.raises(DataError, match="clip_seconds must be"):
        load_dataset(str(tmp_path), clip_seconds=60)
    with pytest.raises(DataError, match="are for audio"):
        load_dataset("ring8", sample_rate=8000)

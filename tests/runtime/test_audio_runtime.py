"""The torch-free audio path: STFT and its inverse, Griffin-Lim, the manifest's audio section
(schema 2.1) and the writers (a folder of clips, one joined clip, a spectrogram grid)."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest

from genedge.runtime.audio_dsp import griffin_lim, istft, stft
from genedge.runtime.audio_spec import AudioSpec, spec_for_rate
from genedge.runtime.errors import ManifestError, OutputError
from genedge.runtime.images import decode_png
from genedge.runtime.manifest import GraphSpec, Manifest, Preprocessing, TensorSpec
from genedge.runtime.writers import write_samples

SPEC = spec_for_rate(2000, 0.25)


def chirp(n: int, length: int, rate: int = 2000) -> np.ndarray:
    t = np.arange(length) / rate
    f = 200 + 300 * np.arange(n)[:, None] / max(1, n - 1)
    return 0.5 * np.sin(2 * np.pi * (f * t + 400 * t**2))


def audio_manifest(spec: AudioSpec = SPEC, classes: int = 0) -> Manifest:
    z = TensorSpec("z", "float32", ("batch", 4), "latent")
    x = TensorSpec("x", "float32", ("batch", *spec.shape))
    lo, hi = spec.value_range
    return Manifest(
        family="audio",
        graphs={"sampler": GraphSpec(None, (z,), (x,))},
        latent_dim=4,
        output_kind="audio",
        sample_shape=spec.shape,
        preprocessing=Preprocessing("minmax", lo, hi, -1.0, 1.0),
        num_classes=classes,
        audio=spec,
    )


def test_default_spectrogram_for_8khz_and_small_rates() -> None:
    s = spec_for_rate(8000, 0.75)
    assert (s.n_fft, s.hop, s.frames, s.shape, s.clip_samples) == (256, 64, 96, (1, 128, 96), 6144)
    assert SPEC.shape == (1, 32, 32) and SPEC.clip_samples == 512
    # A model's own length reads back as the same spectrogram.
    assert spec_for_rate(s.sample_rate, s.seconds) == s


def test_stft_inverts_and_griffin_lim_recovers_a_phase() -> None:
    x = chirp(3, SPEC.clip_samples)
    spec = stft(x, SPEC.n_fft, SPEC.hop, SPEC.frames)
    assert spec.shape == (3, SPEC.bins, SPEC.frames)
    back = istft(spec, SPEC.n_fft, SPEC.hop)
    assert np.abs(back - x)[:, 32:-32].max() < 0.02  # the dropped Nyquist bin only
    mag = np.abs(spec)

    def convergence(iterations: int) -> float:
        y = griffin_lim(mag, SPEC.n_fft, SPEC.hop, iterations, 0.99)
        got = np.abs(stft(y, SPEC.n_fft, SPEC.hop, SPEC.frames))
        return float(np.linalg.norm(got - mag) / np.linalg.norm(mag))

    assert convergence(32) < 0.2 < convergence(0)
    # Each clip depends on its own magnitude only: the same alone as in a batch.
    one = griffin_lim(mag[1:2], SPEC.n_fft, SPEC.hop, 8, 0.99)
    assert np.allclose(one[0], griffin_lim(mag, SPEC.n_fft, SPEC.hop, 8, 0.99)[1])


def test_clips_come_back_from_log_spectrograms_at_a_safe_level() -> None:
    x = chirp(2, SPEC.clip_samples)
    clips = SPEC.clips(SPEC.spectrograms(x))
    assert clips.shape == (2, SPEC.clip_samples) and clips.dtype == np.float32
    assert np.abs(clips).max() <= 0.9 + 1e-6
    again = SPEC.spectrograms(clips)
    assert np.abs(again - SPEC.spectrograms(x)).mean() < 0.6


def test_manifest_audio_section_round_trips_as_2_1_and_is_checked() -> None:
    m = audio_manifest()
    d = json.loads(m.to_json())
    assert d["schema_version"] == "2.1" and d["audio"]["n_fft"] == SPEC.n_fft
    back = Manifest.from_json(m.to_json())
    assert back.audio == SPEC and back.output_kind == "audio"
    plain = Manifest.from_dict({**d, "output_kind": "image", "audio": None})
    assert plain.audio is None and "audio" not in plain.to_dict()
    assert plain.to_dict()["schema_version"] == "2.1"  # as read; new non-audio exports say 2.0
    with pytest.raises(ManifestError, match="go together"):
        Manifest.from_dict({k: v for k, v in d.items() if k != "audio"})
    with pytest.raises(ManifestError, match="unknown audio transform"):
        Manifest.from_dict({**d, "audio": {**d["audio"], "transform": "mel"}})
    with pytest.raises(ManifestError, match="positive integer"):
        Manifest.from_dict({**d, "audio": {**d["audio"], "hop": 0}})


def test_writers_make_a_clip_folder_a_joined_clip_and_a_grid(tmp_path: Path) -> None:
    m = audio_manifest()
    x = SPEC.spectrograms(chirp(3, SPEC.clip_samples))
    chunks = [(x[:2], np.array([0, 1])), (x[2:], np.array([1]))]
    folder = write_samples(tmp_path / "clips", chunks, m, 3)
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["000000-class0.wav", "000001-class1.wav", "000002-class1.wav"]
    with wave.open(str(folder / names[0])) as w:
        assert (w.getframerate(), w.getnframes(), w.getsampwidth()) == (2000, 512, 2)
    joined = write_samples(tmp_path / "all.wav", [(x, None)], m, 3)
    with wave.open(str(joined)) as w:
        assert w.getnframes() == 3 * 512 + 2 * 500  # 0.25 s gaps at 2 kHz
    grid = decode_png(write_samples(tmp_path / "g.png", [(x, None)], m, 3).read_bytes())
    assert grid.ndim == 2 and grid.shape[0] >= 128
    with pytest.raises(OutputError, match="not an empty folder"):
        write_samples(tmp_path / "clips", chunks, m, 3)

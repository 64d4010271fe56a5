"""The rgan family: it learns smooth, varied sine-like sequences; one exported artifact, checked at
two batch sizes and two lengths, samples any length; sequences write to .npy, .csv and .wav."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from genedge.cli import app
from genedge.export.onnx_export import ExportResult, export_run
from genedge.runtime import Sampler
from genedge.runtime.errors import InputError, OutputError
from genedge.runtime.interpolate import interpolate
from genedge.runtime.writers import write_samples
from genedge.train.data import load_dataset
from genedge.train.reference import torch_sampler
from genedge.train.run_folder import load_trained

if TYPE_CHECKING:
    from conftest import ShortRun

STEPS = 800
LENGTH, FEATURES = 24, 5

# Two intra-op threads on two shared cores slow small recurrent nets down many times over.
pytestmark = pytest.mark.usefixtures("pinned_threads")


@pytest.fixture(scope="module")
def rgan_run(tmp_path_factory: pytest.TempPathFactory, short_run: ShortRun) -> Path:
    return short_run(tmp_path_factory.mktemp("runs") / "rgan-sines", "rgan", "sines", STEPS)


@pytest.fixture(scope="module")
def exported(rgan_run: Path, tmp_path_factory: pytest.TempPathFactory) -> ExportResult:
    return export_run(rgan_run, tmp_path_factory.mktemp("artifacts") / "rgan.onnx")


@pytest.fixture(scope="module")
def sampler(exported: ExportResult) -> Sampler:
    return Sampler(exported.path, backend="cpu")


def genedge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "genedge", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )


def stats(x: np.ndarray, real: np.ndarray) -> dict[str, float]:
    """Statistics of sequences (n, T, F): mean absolute step, roughness (mean absolute second
    difference), spread across samples, spread over time, and the Wasserstein-1 distance of
    their pooled values to those of ``real`` (same count; uniform noise is close by this one
    measure, as the data's values are spread evenly over [0, 1])."""
    return {
        "step": float(np.abs(np.diff(x, axis=1)).mean()),
        "rough": float(np.abs(np.diff(x, 2, axis=1)).mean()),
        "across": float(x.std(axis=0).mean()),
        "over_time": float(x.std(axis=1).mean()),
        "w1": float(np.abs(np.sort(x, axis=None) - np.sort(real, axis=None)).mean()),
    }


# --- learning ----------------------------------------------------------------------------------


def test_learns_smooth_varied_sequences(rgan_run: Path) -> None:
    data = load_dataset("sines", seed=1).x[:2000]  # other draws than the training set's
    cfg, family, models, _ = load_trained(rgan_run)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)  # the loop's initial weights
        init_models = family.build(family.from_hparams(cfg.hparams), cfg.data_info)
    real = stats(load_dataset("sines", seed=2).x[:2000], data)
    noise = stats(np.random.default_rng(0).uniform(0, 1, data.shape), data)
    fake = stats(torch_sampler(cfg, family, models).sample(2000, seed=1), data)
    init = stats(torch_sampler(cfg, family, init_models).sample(2000, seed=1), data)
    for name, s in (("real", real), ("trained", fake), ("init", init), ("noise", noise)):
        print(f"{name:8s}", ", ".join(f"{k} {v:.4f}" for k, v in s.items()))
    # Smooth like the data, far from noise.
    assert 0.5 * real["step"] < fake["step"] < 2 * real["step"] < 0.25 * noise["step"]
    assert fake["rough"] < 0.05 * noise["rough"]
    # Varied like the data (no collapse onto one sequence) and moving over time, unlike at init.
    assert fake["across"] > 0.5 * real["across"] > 2 * init["across"]
    assert fake["over_time"] > 0.5 * real["over_time"] > 2 * init["over_time"]
    # Closer to the data's values than at init (a short run is far from a full match).
    assert fake["w1"] < 0.75 * init["w1"]


def test_samples_come_from_the_moving_average_of_g(rgan_run: Path) -> None:
    cfg, family, models, _ = load_trained(rgan_run)
    assert family.from_hparams(cfg.hparams).ema == 0.999
    averaged = torch_sampler(cfg, family, models).sample(64, seed=3)
    raw = torch_sampler(cfg, family, {**models, "G_ema": models["G"]}).sample(64, seed=3)
    # The checkpoint holds both; export and sampling read the average, which trails G.
    assert not np.allclose(averaged, raw, atol=1e-3)
    for e, g in zip(models["G_ema"].parameters(), models["G"].parameters(), strict=True):
        assert e.shape == g.shape and not e.requires_grad


# --- export and sampling -----------------------------------------------------------------------


def test_export_checks_two_batch_sizes_and_two_lengths(exported: ExportResult) -> None:
    assert exported.report.passed
    cases = {(c.graph, c.batch, c.length) for c in exported.report.cases}
    assert cases == {("sampler", b, t) for b in (1, 37) for t in (LENGTH, 2 * LENGTH + 3)}
    m = exported.manifest
    assert m.output_kind == "sequence" and m.default_length == LENGTH
    assert m.sample_shape == ("length", FEATURES)
    assert [(t.name, t.role, t.shape) for t in m.sampler.inputs] == [
        ("z", "latent", ("batch", "length", 16)),
        ("h0", "state", ("batch", 1, 64)),
    ]


def test_export_lengths_can_be_chosen(rgan_run: Path, tmp_path: Path) -> None:
    args = ["export", str(rgan_run), "-o", str(tmp_path / "r.onnx"), "--lengths", "3,100"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    lengths = {c["length"] for c in Sampler(tmp_path / "r.onnx").manifest.parity["cases"]}
    assert lengths == {3, 100}


def test_one_artifact_samples_any_length(sampler: Sampler) -> None:
    assert sampler.sample(3, seed=0).shape == (3, LENGTH, FEATURES)
    for length in (1, 7, 100):
        x = sampler.sample(5, seed=0, length=length)
        assert x.shape == (5, length, FEATURES) and x.dtype == np.float32
        assert np.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0
    # Causal: the first sample's first 10 steps see the same noise in both draws (later ones
    # do not, as the noise fills each sample's steps in turn), so they come out the same.
    short, long = sampler.sample(2, seed=3, length=10), sampler.sample(2, seed=3, length=30)
    np.testing.assert_allclose(short[0], long[0, :10], atol=1e-6)
    assert not np.allclose(short[1], long[1, :10])
    with pytest.raises(InputError, match="length"):
        sampler.sample(2, seed=0, length=0)


def test_interpolation_between_sequences(sampler: Sampler) -> None:
    walk = interpolate(sampler, 5, seed=0, length=30)
    assert walk.shape == (5, 30, FEATURES)
    assert np.array_equal(walk[0], sampler.sample(1, seed=0, length=30)[0])
    assert np.array_equal(walk[-1], sampler.sample(1, seed=1, length=30)[0])


# --- output files --------------------------------------------------------------------------------


def test_wav_is_valid_pcm(sampler: Sampler, tmp_path: Path) -> None:
    path = tmp_path / "s.wav"
    write_samples(
        path,
        sampler.iter_samples(6, 0, batch_size=4),
        sampler.manifest,
        6,
        sample_rate=16000,
        feature=2,
    )
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 16000)
        assert w.getnframes() == 6 * LENGTH
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    x = sampler.sample(6, 0)[:, :, 2].reshape(-1)
    np.testing.assert_allclose(pcm / 32767, 2 * x - 1, atol=1 / 32767 + 1e-6)
    with pytest.raises(InputError, match="feature must be 0..4"):
        write_samples(path, sampler.iter_samples(2, 0), sampler.manifest, 2, feature=5)


def test_csv_round_trips_through_load_dataset(sampler: Sampler, tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    write_samples(path, sampler.iter_samples(7, 0, length=9), sampler.manifest, 7)
    ds = load_dataset(str(path))
    assert ds.kind == "sequence" and ds.x.shape == (7, 9, FEATURES)
    # The loader drops the writer's `sequence` id and `t` index columns.
    np.testing.assert_allclose(ds.x, sampler.sample(7, 0, length=9), atol=1e-6)


def test_wav_needs_sequences(gan_image_onnx: Path, tmp_path: Path) -> None:
    s = Sampler(gan_image_onnx)
    with pytest.raises(OutputError, match="a .wav holds sequences"):
        write_samples(tmp_path / "g.wav", s.iter_samples(2, 0), s.manifest, 2)


def test_cli_sample_wav_and_errors(exported: ExportResult, tmp_path: Path) -> None:
    out = tmp_path / "a.wav"
    args = ["sample", str(exported.path), "-n", "4", "--length", "50", "--out", str(out)]
    r = CliRunner().invoke(app, [*args, "--sample-rate", "22050", "--feature", "1"])
    assert r.exit_code == 0, r.output
    with wave.open(str(out), "rb") as w:
        assert w.getframerate() == 22050 and w.getnframes() == 4 * 50
    r = genedge("sample", str(exported.path), "--out", str(tmp_path / "b.wav"), "--feature", "9")
    assert r.returncode == 2 and not (tmp_path / "b.wav").exists()
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "feature must be 0..4" in lines[0], r.stderr

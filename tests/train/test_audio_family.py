"""The audio family: learns which tone each class is, exports with its audio section, samples
torch-free to WAV clips, and is measured by ``genedge eval`` as heard."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from typer.testing import CliRunner

from genedge.runtime.errors import DataError
from genedge.train.data import load_dataset
from genedge.train.families import get_family
from genedge.train.settings import data_info

if TYPE_CHECKING:
    from conftest import ShortRun

pytestmark = pytest.mark.usefixtures("pinned_threads")

RATE, SECONDS = 2000, 0.25
SMALL = {"g_width": 8, "d_width": 8, "batch_size": 16, "z_dim": 8, "embed_dim": 8,
         "sample_rate": RATE, "clip_seconds": SECONDS, "lr_decay": 0.0}  # fmt: skip


def _tones(folder: Path) -> Path:
    """Two classes of clips: 'high' (700 Hz) and 'low' (250 Hz), jittered in pitch, length,
    level and position, with a little noise."""
    from test_audio_data import write_wav

    rng = np.random.default_rng(0)
    for name, base in (("high", 700.0), ("low", 250.0)):
        (folder / name).mkdir(parents=True)
        for i in range(24):
            rate = int(rng.choice([4000, 8000]))
            t = np.arange(int(rate * rng.uniform(0.08, 0.2))) / rate
            x = rng.uniform(0.2, 0.8) * np.sin(2 * np.pi * base * rng.uniform(0.95, 1.05) * t)
            pad = np.zeros(int(rng.integers(0, rate // 10)))
            x = np.concatenate([pad, x, pad[: len(pad) // 2]])
            write_wav(folder / name / f"{i}.wav", x + 0.003 * rng.standard_normal(len(x)), rate)
    return folder


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tones(tmp_path_factory.mktemp("tones") / "data")


@pytest.fixture(scope="module")
def tone_run(tones: Path, tmp_path_factory: pytest.TempPathFactory, short_run: ShortRun) -> Path:
    return short_run(tmp_path_factory.mktemp("audio") / "run", "audio", str(tones), 200, **SMALL)


def _peak_bins(x: np.ndarray) -> np.ndarray:
    return np.exp(x[:, 0]).sum(axis=2).argmax(axis=1)


def test_learns_which_tone_each_class_is(tone_run: Path) -> None:
    from genedge.train.reference import load_torch_sampler

    sampler = load_torch_sampler(tone_run)
    assert sampler.manifest.output_kind == "audio" and sampler.manifest.num_classes == 2
    high = _peak_bins(sampler.sample(32, seed=0, labels=0))
    low = _peak_bins(sampler.sample(32, seed=0, labels=1))
    # 700 Hz is bin 22, 250 Hz bin 8 (31.25 Hz bins): most samples sound their class's tone.
    assert (np.abs(high - 22) <= 2).mean() > 0.7, high
    assert (np.abs(low - 8) <= 2).mean() > 0.7, low


def test_exports_and_samples_clips_torch_free(tone_run: Path, tmp_path: Path) -> None:
    import wave

    from genedge.cli import app
    from genedge.export.onnx_export import export_run
    from genedge.runtime import Sampler

    res = export_run(tone_run, tmp_path / "audio.onnx")
    assert res.report.passed and res.manifest.schema_version == "2.1"
    assert res.manifest.audio is not None and res.manifest.audio.sample_rate == RATE
    with Sampler(tmp_path / "audio.onnx", backend="cpu", threads=1) as s:
        assert s.sample(3, seed=0).shape == (3, 1, 32, 32)
    runner = CliRunner()
    got = runner.invoke(app, ["sample", str(tmp_path / "audio.onnx"), "-n", "4", "--class", "1",
                              "--out", str(tmp_path / "clips"), "--threads", "1"])  # fmt: skip
    assert got.exit_code == 0, got.output
    clips = sorted((tmp_path / "clips").iterdir())
    assert [c.name for c in clips][0] == "000000-class1.wav" and len(clips) == 4
    with wave.open(str(clips[0])) as w:
        assert (w.getframerate(), w.getnframes()) == (RATE, 512)


def test_eval_reports_heard_metrics_beside_real_ones(tone_run: Path, tones: Path) -> None:
    from genedge.eval.evaluate import evaluate

    report = evaluate(tone_run, str(tones), n=24, seed=0, threads=1)
    keys = {m.key for m in report.metrics}
    assert {"fd", "inception", "classes_covered", "label_accuracy"} <= keys
    acc = report.metric("label_accuracy")
    assert acc.floor is not None and acc.floor > 0.9 and acc.value > 0.6
    assert report.metric("classes_covered").value == 2
    assert 1.0 <= report.metric("inception").value <= 2.0


def test_unconditional_on_request_and_non_audio_refused(tones: Path) -> None:
    family = get_family("audio")
    info = data_info(load_dataset(str(tones), sample_rate=RATE, clip_seconds=SECONDS))
    cfg = family.config({"conditional": False}, info)
    (inputs,) = [g.inputs for g in family.graphs(cfg, info).values()]
    assert [t.role for t in inputs] == ["latent"]
    assert [t.role for t in family.graphs(family.defaults(info), info)["sampler"].inputs] == [
        "latent",
        "label",
    ]
    with pytest.raises(DataError, match="learns audio data"):
        family.check_data(data_info(load_dataset("ring8", n=100)))

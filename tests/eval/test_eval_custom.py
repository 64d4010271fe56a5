"""``genedge eval`` on artifacts exported from a user's module (docs/byom.md), including data
without labels: the metrics that need labels are listed as unavailable, with the reason, and
the rest are computed."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from genedge.eval import evalnets
from genedge.eval.evaluate import evaluate
from genedge.export import export_module

sys.path.insert(0, str(Path(__file__).parents[1] / "export"))
sys.path.insert(0, str(Path(__file__).parents[1]))
import byom_models as bm  # noqa: E402
from test_cli import genedge  # noqa: E402

pytestmark = pytest.mark.usefixtures("pinned_threads")

IMAGE = {"value_range": (0, 255), "model_range": (-1, 1)}
SHAPE = (1, 8, 8)
#: Metrics computed on unlabelled images (pixel-PCA features).
FEATURE_METRICS = {"fd", "precision", "recall", "density", "coverage"}


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(evalnets.CACHE_ENV, str(tmp_path / "cache"))


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """An unlabelled image set, as a .npy file (N, 1, 8, 8) in 0..255."""
    rng = np.random.default_rng(0)
    path = tmp_path / "faces.npy"
    np.save(path, rng.uniform(0, 255, (120, *SHAPE)).astype(np.float32))
    return path


@pytest.fixture
def cgan(tmp_path: Path, torch_seed: int) -> Path:
    G = bm.LabelGenerator(n_classes=3, latent_dim=8, img_shape=SHAPE)
    out = tmp_path / "c.onnx"
    export_module(G, out, latent_shape=(8,), num_classes=3, **IMAGE)
    return out


def test_unlabelled_images_compute_the_feature_metrics_and_say_what_is_missing(
    tmp_path: Path, images: Path, torch_seed: int
) -> None:
    out = tmp_path / "g.onnx"
    export_module(bm.MLPGenerator(latent_dim=8, img_shape=SHAPE), out, latent_shape=(8,), **IMAGE)
    report = evaluate(out, str(images), n=40, seed=0, backend="cpu", threads=1)
    assert {m.key for m in report.metrics} == FEATURE_METRICS
    assert all(np.isfinite(m.value) and m.floor is not None for m in report.metrics)
    assert {u.key for u in report.unavailable} == {"classes_covered", "class_kl"}
    assert all("faces.npy has no labels" in u.reason for u in report.unavailable)
    assert report.to_dict()["unavailable"][0]["key"] == "classes_covered"


def test_a_conditional_module_on_unlabelled_data_is_evaluated_not_refused(
    cgan: Path, images: Path
) -> None:
    report = evaluate(cgan, str(images), n=40, seed=0, backend="cpu", threads=1)
    assert {m.key for m in report.metrics} == FEATURE_METRICS
    missing = {u.key: u.reason for u in report.unavailable}
    assert set(missing) == {"classes_covered", "class_kl", "label_accuracy", "cas"}
    assert "the model's classes have nothing to be checked against" in missing["cas"]


def test_eval_cli_lists_the_unavailable_metrics(cgan: Path, images: Path) -> None:
    r = genedge("eval", str(cgan), "--data", str(images), "-n", "40", "--backend", "cpu")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert "Fréchet distance (pixel PCA)" in r.stdout
    lines = {ln.split(": ")[1]: ln for ln in r.stdout.splitlines() if ln.startswith("unavailable")}
    assert set(lines) == {
        "classes covered", "KL(predicted classes || data)", "label accuracy",
        "classification accuracy score",
    }  # fmt: skip
    assert "faces.npy has no labels, so no classifier can be trained" in lines["label accuracy"]


def test_labelled_data_with_other_classes_is_still_one_line(cgan: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    path = tmp_path / "five.npz"
    x = rng.uniform(0, 255, (60, *SHAPE)).astype(np.float32)
    np.savez(path, x=x, y=np.arange(60) % 5)
    r = genedge("eval", str(cgan), "--data", str(path), "-n", "20", "--backend", "cpu")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and "conditional on 3 classes but " in r.stderr
    assert r.stderr.endswith("five.npz has 5 labelled classes\n")

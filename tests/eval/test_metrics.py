"""Offline quality metrics on known cases, the classifier cache, and ``genedge eval``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genedge.eval import evalnets
from genedge.eval.metrics import (
    class_histogram,
    density_coverage,
    frechet_distance,
    manifold_metrics,
    precision_recall,
)
from genedge.train.data import load_dataset

pytestmark = pytest.mark.usefixtures("pinned_threads")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> None:
    # One cache for the whole module, so the digits classifier is trained once.
    monkeypatch.setenv(evalnets.CACHE_ENV, str(tmp_path_factory.getbasetemp() / "cache"))


# --- numpy metrics on planted sets -----------------------------------------------------------


def test_frechet_distance_of_identical_and_shifted_gaussians() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((20000, 4))
    b = rng.standard_normal((20000, 4))
    shift = np.array([3.0, 0.0, -1.0, 0.5])
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a, b) < 0.01
    assert frechet_distance(a, b + shift) == pytest.approx((shift**2).sum(), rel=0.02)
    # A collapse (singular covariance) stays real and finite: |mu|^2 + Tr(S_a).
    assert frechet_distance(a, np.zeros_like(a)) == pytest.approx(4.0, rel=0.02)


def test_precision_recall_on_a_planted_line() -> None:
    real = np.arange(100.0)[:, None]  # k=3 radius: 2 inside, 3 at the ends
    fake = np.concatenate([real[:50], np.full((50, 1), 1000.0)])
    precision, recall = precision_recall(real, fake, k=3)
    assert precision == 0.5  # the copies lie on the real manifold, the far cluster does not
    # Real 0..49 are copies; 50..52 lie within radius 3 of fake 49 (the far cluster's radius
    # is 0, as its points coincide).
    assert recall == 0.53
    # k=5 radii: 3 inside, so real balls 0..52 hold a copy, 53..99 none.
    assert density_coverage(real, fake, k=5)[1] == 0.53


def test_manifold_metrics_match_for_real_and_fail_for_collapse() -> None:
    rng = np.random.default_rng(1)
    real, other = rng.standard_normal((2, 2000, 2))
    same = manifold_metrics(real, other)
    assert min(same.precision, same.recall, same.coverage) > 0.9
    assert same.density == pytest.approx(1.0, abs=0.15)
    collapsed = manifold_metrics(real, np.zeros((2000, 2)))
    assert collapsed.precision == 1.0  # on the manifold...
    assert collapsed.recall == 0.0  # ...but covering none of it
    assert collapsed.coverage < 0.01


def test_class_histogram() -> None:
    mix = np.full(10, 0.1)
    one = class_histogram(np.full(500, 3), mix)
    assert (one.classes_covered, one.counts[3]) == (1, 500)
    assert one.kl_to_data == pytest.approx(np.log(10))
    even = class_histogram(np.arange(500) % 10, mix)
    assert (even.classes_covered, even.kl_to_data) == (10, pytest.approx(0.0))


# --- classifier features on digits ----------------------------------------------------------


@pytest.fixture(scope="module")
def digits_classifier(tmp_path_factory: pytest.TempPathFactory) -> evalnets.FittedClassifier:
    ds = load_dataset("digits")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(evalnets.CACHE_ENV, str(tmp_path_factory.getbasetemp() / "cache"))
        return evalnets.cached_classifier("digits", ds.x, ds.y, ds.num_classes, ds.value_range)


def test_classifier_cache_is_reused(
    digits_classifier: evalnets.FittedClassifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = load_dataset("digits")
    weights = evalnets.cache_dir() / f"{digits_classifier.info['key']}.safetensors"
    sidecar = json.loads(weights.with_suffix(".json").read_text())
    assert sidecar["data"] == "digits" and sidecar["train_accuracy"] > 0.95

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached classifier was retrained")

    monkeypatch.setattr(evalnets, "fit_classifier", no_training)
    again = evalnets.cached_classifier("digits", ds.x, ds.y, ds.num_classes, ds.value_range)
    np.testing.assert_array_equal(again.features(ds.x[:50]), digits_classifier.features(ds.x[:50]))
    # Different data, different key: a stale classifier is never reused.
    with pytest.raises(AssertionError, match="retrained"):
        evalnets.cached_classifier("digits", ds.x[:-1], ds.y[:-1], 10, ds.value_range)


def test_image_metrics_on_digits(digits_classifier: evalnets.FittedClassifier) -> None:
    ds = load_dataset("digits")
    order = np.random.default_rng(0).permutation(len(ds))
    a, b, c = (ds.x[order[k * 599 : (k + 1) * 599]] for k in range(3))
    fa, fb, fc = (digits_classifier.features(x) for x in (a, b, c))
    floor, real = frechet_distance(fa, fb), frechet_distance(fa, fc)
    assert real < 2 * floor
    noise = np.random.default_rng(0).uniform(0, 16, a.shape).astype(np.float32)
    assert frechet_distance(fa, digits_classifier.features(noise)) > 20 * floor
    collapsed = np.repeat(c[:1], len(c), axis=0)  # a sampler that always draws one image
    fcol = digits_classifier.features(collapsed)
    assert frechet_distance(fa, fcol) > 10 * floor
    report = manifold_metrics(fa, fcol)
    assert report.recall == 0.0 and report.coverage < 0.05
    mix = np.bincount(ds.y) / len(ds)
    assert class_histogram(digits_classifier.predict(collapsed), mix).classes_covered == 1
    assert class_histogram(digits_classifier.predict(c), mix).classes_covered == 10


# --- TimeGAN scores --------------------------------------------------------------------------


def test_timegan_scores_tell_real_from_noise() -> None:
    x = load_dataset("sines", n=1200).x
    a, b = x[:600], x[600:]
    noise = np.random.default_rng(0).uniform(0, 1, b.shape).astype(np.float32)
    assert evalnets.discriminative_score(a, b, steps=200) < 0.1
    assert evalnets.discriminative_score(a, noise, steps=200) > 0.4
    floor = evalnets.predictive_score(a, b, steps=200)
    assert evalnets.predictive_score(noise, b, steps=200) > 3 * floor


# --- evaluate and the CLI on a tiny exported GAN -----------------------------------------------


@pytest.fixture(scope="module")
def tiny_gan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from genedge.export.onnx_export import export_run
    from genedge.train.loop import train

    root = tmp_path_factory.mktemp("eval")
    train(root / "run", "gan", "ring8", overrides={"steps": 50}, device="cpu", threads=1)
    export_run(root / "run", root / "gan.onnx")
    return root / "gan.onnx"


def test_evaluate_toy_has_mode_rows_with_real_floor(tiny_gan: Path) -> None:
    from genedge.eval.evaluate import evaluate

    report = evaluate(tiny_gan, "ring8", n=400, seed=0, threads=1)
    modes = report.metric("modes_captured")
    assert modes.floor == 8 and modes.value < 8  # 50 steps capture no ring yet
    assert report.metric("high_quality").floor > 0.95
    fd = report.metric("fd")
    assert fd.floor < 0.1 < fd.value and fd.ratio == pytest.approx(fd.value / fd.floor)
    assert report.metric("mode_kl").ratio is None
    assert json.loads(json.dumps(report.to_dict()))["n"] == 400


def genedge(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    env[evalnets.CACHE_ENV] = str(cache)
    return subprocess.run(
        [sys.executable, "-m", "genedge", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_cli_eval_prints_floor_and_writes_json(tiny_gan: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    r = genedge(
        "eval", str(tiny_gan), "--data", "ring8", "-n", "300", "--threads", "1", "--json",
        str(out), cache=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "floor" in r.stdout and "modes captured" in r.stdout
    report = json.loads(out.read_text())
    assert report["family"] == "gan" and report["n"] == 300
    assert {m["key"] for m in report["metrics"]} >= {"fd", "recall", "modes_captured"}
    assert all(m["floor"] is not None for m in report["metrics"])


@pytest.mark.parametrize(
    ("data", "message"),
    [("ring9", "unknown dataset 'ring9'"), ("digits", "shaped (2,)")],
)
def test_cli_eval_errors(tiny_gan: Path, tmp_path: Path, data: str, message: str) -> None:
    r = genedge("eval", str(tiny_gan), "--data", data, "-n", "100", cache=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], r.stderr


def _tiny_export(root: Path, family: str, data: str, steps: int) -> tuple[Path, Path]:
    from genedge.export.onnx_export import export_run
    from genedge.train.loop import train

    run, onnx = root / f"{family}-run", root / f"{family}.onnx"
    train(run, family, data, overrides={"steps": steps}, device="cpu", threads=1)
    export_run(run, onnx)
    return run, onnx


def test_vae_likelihood_same_for_run_and_artifact(tmp_path: Path) -> None:
    from genedge.eval.evaluate import evaluate

    run, onnx = _tiny_export(tmp_path, "vae", "digits", 100)
    by_run, by_onnx = (evaluate(s, "digits", n=200, threads=1) for s in (run, onnx))
    elbo, nll = by_onnx.metric("neg_elbo"), by_onnx.metric("iwae_nll")
    assert 0 < nll.value <= elbo.value  # the IWAE bound is the tighter one
    assert nll.floor == elbo.floor and "baseline" in nll.note
    assert by_run.metric("iwae_nll").value == pytest.approx(nll.value, rel=1e-4)
    assert by_onnx.metric("fd").floor == by_run.metric("fd").floor


def test_conditional_model_gets_label_accuracy_and_cas(tmp_path: Path) -> None:
    from genedge.eval.evaluate import evaluate

    _, onnx = _tiny_export(tmp_path, "cgan", "digits", 20)
    report = evaluate(onnx, "digits", n=300, threads=1)
    acc, cas = report.metric("label_accuracy"), report.metric("cas")
    assert acc.floor > 0.9 and 0.0 <= acc.value <= 1.0
    assert cas.floor > 0.8 and cas.value < cas.floor  # 20 steps cannot match real training data
    assert report.metric("classes_covered").floor == 10
    recall, spread = report.metric("class_recall"), report.metric("class_spread")
    assert 0.0 <= recall.value <= 1.0 and recall.floor is not None and recall.floor > 0.5
    assert spread.value >= 0 and spread.floor is not None and spread.floor > 0
    assert spread.better == "closer"

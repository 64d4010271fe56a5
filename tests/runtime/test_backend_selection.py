"""``backend="auto"``: the order it tries, what it says about its choice, and backend options."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import onnxruntime as ort
import pytest

from genedge.runtime import Sampler
from genedge.runtime import backends as registry
from genedge.runtime.backends import (
    auto_order,
    check_backend_options,
    create_backend,
    select_backend,
)
from genedge.runtime.errors import BackendUnavailableError, InputError

NO_CUDA = "CUDAExecutionProvider" not in ort.get_available_providers()


def test_auto_order_tries_the_tensorrt_ep_only_with_an_engine_cache() -> None:
    assert auto_order() == ["tensorrt", "cuda", "cpu"]
    assert auto_order({"cuda_graph": True}) == ["tensorrt", "cuda", "cpu"]
    assert auto_order({"trt_engine_cache_path": "/tmp/c"}) == [
        "tensorrt",
        "ort-tensorrt",
        "cuda",
        "cpu",
    ]


@pytest.fixture()
def fake_registry(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every backend a stand-in that records its options and is unavailable, but the CPU."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def make(name: str):
        def factory(path: Path, threads: int | None = None, **kw: Any) -> Any:
            calls.append((name, kw))
            if name != "cpu":
                raise BackendUnavailableError(f"no {name} here")
            return type("B", (), {"name": name})()

        return factory

    for name in registry.REGISTRY:
        monkeypatch.setitem(registry.REGISTRY, name, make(name))
    return calls


def test_auto_never_tries_the_tensorrt_ep_implicitly(fake_registry: list, tmp_path: Path) -> None:
    backend, skipped = select_backend(tmp_path / "m.onnx", cuda_graph=True, device_id=1)
    assert backend.name == "cpu"
    assert [name for name, _ in fake_registry] == ["tensorrt", "cuda", "cpu"]
    assert skipped[:2] == [("tensorrt", "no tensorrt here"), ("cuda", "no cuda here")]
    assert [name for name, _ in skipped[2:]] == ["openvino"]  # not calibrated / not installed
    # each candidate gets only the options it takes
    kw = dict(fake_registry)
    assert kw["tensorrt"] == {"device_id": 1}
    assert kw["cuda"] == {"cuda_graph": True, "device_id": 1}
    assert kw["cpu"] == {}


def test_auto_tries_the_tensorrt_ep_when_given_a_cache(fake_registry: list, tmp_path: Path) -> None:
    select_backend(tmp_path / "m.onnx", trt_engine_cache_path=str(tmp_path), fp16=True)
    assert [name for name, _ in fake_registry] == ["tensorrt", "ort-tensorrt", "cuda", "cpu"]
    assert dict(fake_registry)["ort-tensorrt"] == {
        "trt_engine_cache_path": str(tmp_path),
        "fp16": True,
    }


def test_no_backend_at_all_lists_every_reason(
    fake_registry: list, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def cpu(path: Path, threads: int | None = None, **kw: Any) -> Any:
        raise BackendUnavailableError("cpu broke")

    monkeypatch.setitem(registry.REGISTRY, "cpu", cpu)
    with pytest.raises(
        BackendUnavailableError, match="tensorrt: no tensorrt here; cuda: .*cpu broke"
    ):
        select_backend(tmp_path / "m.onnx")


@pytest.mark.skipif(not NO_CUDA, reason="onnxruntime-gpu is installed here")
def test_sampler_auto_says_what_it_chose_and_why(
    gan_points_onnx: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="genedge.runtime"):
        s = Sampler(gan_points_onnx)
    assert s.backend == "cpu"
    assert s.backend_selection.startswith("cpu (auto; skipped tensorrt: ")
    assert "cuda: onnxruntime" in s.backend_selection
    assert "ort-tensorrt" not in s.backend_selection
    assert s.describe()["selection"] == s.backend_selection
    assert f"{gan_points_onnx.name}: backend cpu (auto" in caplog.text
    asked = Sampler(gan_points_onnx, backend="cpu")
    assert asked.backend_selection == "cpu (asked for)"


@pytest.mark.parametrize(
    ("backend", "options", "message"),
    [
        ("auto", {"bogus": 1}, "unknown backend option 'bogus'; known: cuda_graph, device_id"),
        ("cpu", {"threads": 2}, "unknown backend option 'threads'"),
        ("cpu", {"cuda_graph": True}, "'cuda_graph' does not apply to the cpu backend"),
        ("tensorrt", {"cuda_graph": True}, "does not apply to the tensorrt backend"),
        ("cuda", {"device_id": -1}, "'device_id' must be a GPU index"),
        ("cuda", {"device_id": True}, "'device_id' must be a GPU index"),
        ("cuda", {"cuda_graph": "yes"}, "'cuda_graph' must be True or False"),
        ("cuda", {"provider_options": ["a"]}, "'provider_options' must be a dict"),
        ("tensorrt", {"precision": "int8"}, "'precision' must be 'fp16' or 'fp32'"),
        ("ort-tensorrt", {"trt_engine_cache_path": ""}, "must be a folder"),
    ],
)
def test_bad_backend_options_are_input_errors(
    gan_points_onnx: Path, backend: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        Sampler(gan_points_onnx, backend=backend, backend_options=options)


def test_good_options_are_accepted_and_passed_on(gan_points_onnx: Path) -> None:
    assert check_backend_options("cuda", {"device_id": 0, "cuda_graph": False}) == {
        "device_id": 0,
        "cuda_graph": False,
    }
    b = create_backend("cpu", gan_points_onnx, optimized_model_cache=False)
    assert b.describe()["optimized_model_cache"] == "off"
    if NO_CUDA:
        with pytest.raises(BackendUnavailableError, match="has no CUDAExecutionProvider"):
            Sampler(gan_points_onnx, backend="cuda", backend_options={"cuda_graph": True})


def test_tensorrt_fp16_and_precision_must_agree(gan_points_onnx: Path) -> None:
    with pytest.raises(InputError, match="disagree"):
        create_backend("tensorrt", gan_points_onnx, fp16=True, precision="fp32")


def test_vae_sampler_passes_options_to_both_graphs(tmp_path: Path) -> None:
    """The encoder companion gets the decoder's backend options (here: no optimised-model cache
    beside either graph)."""
    from genedge.export.onnx_export import export_run
    from genedge.runtime.vae import VAESampler
    from genedge.train.loop import train

    run = tmp_path / "run"
    train(run, "vae", "ring8", overrides={"steps": 5}, device="cpu", threads=1)
    out = tmp_path / "art" / "vae.onnx"
    out.parent.mkdir()
    export_run(run, out)
    vae = VAESampler(out, backend="cpu", backend_options={"optimized_model_cache": False})
    mu, _ = vae.encode(vae.sample(4, seed=0))
    assert mu.shape[0] == 4
    assert not (out.parent / ".genedge-ort-cache").exists()
    VAESampler(out, backend="cpu")
    assert len(list((out.parent / ".genedge-ort-cache").glob("*.ort-opt.onnx"))) == 2
    with pytest.raises(InputError, match="unknown backend option"):
        VAESampler(out, backend="cpu", backend_options={"warp": 9})

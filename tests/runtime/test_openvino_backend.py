"""The OpenVINO backend: parity with onnxruntime, precision, options, and loaded only when asked."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from genedge.runtime import Sampler
from genedge.runtime import backends as registry
from genedge.runtime.backends import Backend, backend_status, create_backend
from genedge.runtime.backends import openvino_backend as ovb
from genedge.runtime.errors import BackendUnavailableError, InputError
from genedge.runtime.vae import VAESampler

if TYPE_CHECKING:
    from conftest import ShortRun

pytest.importorskip("openvino")

#: One torch thread for the module's training fixture (see tests/conftest.py).
pytestmark = pytest.mark.usefixtures("pinned_threads")
#: What f32 OpenVINO may differ from onnxruntime by, in the model's own range.
ATOL = 1e-4


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, short_run: ShortRun, digits_npz: Path
) -> Callable[[str], Path]:
    """Artifacts of a conv generator, a conditional GAN and a VAE, trained a few steps on
    8x8 digits (graph structure, not quality); torch's global RNG put back after each."""
    import torch

    from genedge.export.onnx_export import export_run

    made: dict[str, Path] = {}

    def artifact(family: str) -> Path:
        if family not in made:
            folder = tmp_path_factory.mktemp(f"ov-{family}")
            with torch.random.fork_rng(devices=[]):
                run = short_run(folder / "run", family, str(digits_npz), 5)
            made[family] = folder / f"{family}.onnx"
            export_run(run, made[family], quality_check=False)
        return made[family]

    return artifact


@pytest.mark.parametrize("family", ["gan", "dcgan", "cgan"])
@pytest.mark.parametrize("batch", [1, 7])
def test_f32_samples_match_onnxruntime(
    trained: Callable[[str], Path], family: str, batch: int
) -> None:
    path = trained(family)
    ref = Sampler(path, backend="cpu", threads=1)
    ov = Sampler(path, backend="openvino", threads=1)
    assert ov.backend == "openvino" and ov.backend_selection == "openvino (asked for)"
    want, labels = ref.sample_labelled(batch, seed=5, raw=True)
    got, same_labels = ov.sample_labelled(batch, seed=5, raw=True)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)
    if family == "cgan":
        assert labels is not None and np.array_equal(labels, same_labels)
        np.testing.assert_allclose(
            ov.sample(batch, seed=5, labels=3, raw=True),
            ref.sample(batch, seed=5, labels=3, raw=True),
            rtol=0,
            atol=ATOL,
        )


def test_vae_decoder_and_encoder_match_onnxruntime(trained: Callable[[str], Path]) -> None:
    path = trained("vae")
    ref = VAESampler(path, backend="cpu", threads=1)
    ov = VAESampler(path, backend="openvino", threads=1)
    for batch in (1, 7):
        x = ref.sample(batch, seed=2, raw=True)
        np.testing.assert_allclose(ov.sample(batch, seed=2, raw=True), x, rtol=0, atol=ATOL)
        mu_ref, _ = ref.encode(ref.sample(batch, seed=2))
        mu_ov, _ = ov.encode(ref.sample(batch, seed=2))
        np.testing.assert_allclose(mu_ov, mu_ref, rtol=0, atol=ATOL)


def test_backend_metadata_describe_and_owned_outputs(gan_image_onnx: Path) -> None:
    b = create_backend("openvino", gan_image_onnx, threads=2)
    assert isinstance(b, Backend)
    ort_b = create_backend("cpu", gan_image_onnx, threads=2)
    assert [t.name for t in b.inputs] == [t.name for t in ort_b.inputs]
    assert b.inputs[0].shape == ort_b.inputs[0].shape  # the manifest's axis name, "batch"
    assert [t.dtype for t in b.outputs] == ["float32"]
    info = b.describe()
    assert info["precision"] == info["precision_used"] == "fp32"
    assert info["threads"] == 2 and info["device"] == "CPU"
    feed = Sampler(gan_image_onnx, backend="cpu").feed(3, seed=0)
    first = b.run(feed)[0]
    kept = first.copy()
    first *= 2  # the caller owns the array: the sampler scales outputs in place
    other = Sampler(gan_image_onnx, backend="cpu").feed(3, seed=1)
    b.run(other)
    np.testing.assert_array_equal(first, kept * 2)  # not a view the next call overwrites
    np.testing.assert_array_equal(b.run(feed)[0], kept)
    b.close()


def test_bf16_without_bf16_units_runs_f32_and_says_so(
    gan_image_onnx: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    why = "this CPU has no bf16 units (test)"
    monkeypatch.setattr(ovb, "bf16_support", lambda: (False, why))
    monkeypatch.setattr(ovb, "_warned", set())
    opts = {"precision": "bf16", "optimized_model_cache": False}
    with caplog.at_level(logging.WARNING, logger="genedge.runtime"):
        s = Sampler(gan_image_onnx, backend="openvino", threads=1, backend_options=opts)
        Sampler(gan_image_onnx, backend="openvino", threads=1, backend_options=opts)
    info = s.describe()
    assert info["precision"] == "bf16" and info["precision_used"] == "fp32"
    assert why in str(info["precision_note"])
    assert caplog.text.count(why) == 1  # warned once, not per sampler
    ref = Sampler(gan_image_onnx, backend="cpu", threads=1).sample(4, seed=0, raw=True)
    np.testing.assert_allclose(s.sample(4, seed=0, raw=True), ref, atol=ATOL)


def test_bf16_where_the_cpu_has_it_runs_bf16(gan_image_onnx: Path) -> None:
    ok, why = ovb.bf16_support()
    if not ok:
        pytest.skip(why)
    s = Sampler(
        gan_image_onnx, backend="openvino", threads=1, backend_options={"precision": "bf16"}
    )
    assert s.describe()["precision_used"] == "bf16"
    ref = Sampler(gan_image_onnx, backend="cpu", threads=1).sample(64, seed=0, raw=True)
    err = np.abs(s.sample(64, seed=0, raw=True) - ref).max()
    assert 0 < err < 0.1  # bf16 rounding is visible, and small in tanh's [-1, 1]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cuda_graph": True}, "'cuda_graph' does not apply to the openvino backend"),
        ({"precision": "fp16"}, "'precision' must be 'fp32' or 'bf16' or 'default'"),
        ({"batch_size_hint": 64}, "'batch_size_hint' applies only to backend 'auto'"),
        ({"optimized_model_cache": 3}, "must be True, False or a folder"),
        ({"warp": 1}, "unknown backend option 'warp'"),
    ],
)
def test_bad_options_are_refused(gan_image_onnx: Path, options: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        Sampler(gan_image_onnx, backend="openvino", backend_options=options)


def test_model_cache_beside_the_artifact_or_off(gan_image_onnx: Path, tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(gan_image_onnx.read_bytes())
    b = create_backend("openvino", path, optimized_model_cache=False)
    assert b.describe()["model_cache"] == "off"
    assert not (tmp_path / ovb.OV_CACHE_DIR).exists()
    b = create_backend("openvino", path)
    assert b.describe()["model_cache"] == f"on {tmp_path / ovb.OV_CACHE_DIR}"
    assert any((tmp_path / ovb.OV_CACHE_DIR).iterdir())
    again = create_backend("openvino", path)  # compiled from the cache
    feed = Sampler(path, backend="cpu").feed(2, seed=0)
    np.testing.assert_array_equal(again.run(feed)[0], b.run(feed)[0])


def test_missing_openvino_is_one_line(
    gan_image_onnx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    with pytest.raises(BackendUnavailableError) as e:
        Sampler(gan_image_onnx, backend="openvino")
    assert str(e.value) == "openvino is not installed: pip install 'genedge[openvino]'"
    monkeypatch.setattr(ovb.importlib.util, "find_spec", lambda name: None)
    assert backend_status()["openvino"].startswith("not available: openvino is not installed")


def test_registry_and_status_name_it_but_auto_never_tries_it_uncalibrated() -> None:
    assert "openvino" in registry.BACKEND_NAMES and "openvino" in registry.REGISTRY
    assert "openvino" not in registry.auto_order()
    assert backend_status()["openvino"].startswith("available")


def test_default_sampler_never_imports_openvino(gan_image_onnx: Path) -> None:
    code = (
        "import sys\n"
        "from genedge.runtime import Sampler\n"
        f"s = Sampler({str(gan_image_onnx)!r})\n"
        "x = s.sample(8, seed=0)\n"
        "print(s.backend, sorted(m for m in sys.modules if m.split('.')[0] == 'openvino'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "cpu []", out.stdout + out.stderr


def test_dcgan_upsampling_runs_as_phase_convolutions_and_stays_exact(
    trained: Callable[[str], Path],
) -> None:
    from genedge.runtime.backends.openvino_backend import OpenVinoBackend

    path = trained("dcgan")
    feed = Sampler(path, backend="cpu", threads=1).feed(9, seed=1)
    rewritten = OpenVinoBackend(path, threads=1, cache=False, rewrite=True)
    plain = OpenVinoBackend(path, threads=1, cache=False)
    assert rewritten.rewritten >= 1 and plain.rewritten == 0
    assert rewritten.describe()["upsampling_rewritten"] == rewritten.rewritten
    np.testing.assert_allclose(rewritten.run(feed)[0], plain.run(feed)[0], rtol=0, atol=1e-5)
    mlp = OpenVinoBackend(trained("gan"), threads=1, cache=False, rewrite=True)
    assert mlp.rewritten == 0  # nothing to rewrite: compiled from the path as before

"""Sampling from an artifact: units, determinism, chunking, threads, and input errors."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from genedge.runtime import InputError, Sampler
from genedge.runtime.errors import BackendUnavailableError

PROVIDERS = set(ort.get_available_providers())
NO_TENSORRT = "the tensorrt package is not installed (pip install genedge[tensorrt])"
TENSORRT_INSTALLED = importlib.util.find_spec("tensorrt") is not None


def test_sample_shape_dtype_and_data_units(gan_image_onnx: Path) -> None:
    s = Sampler(gan_image_onnx)
    x = s.sample(10, seed=0)
    assert x.dtype == np.float32 and x.shape == (10, 1, 8, 8)
    # digits are 0..16: tanh's [-1, 1] must come back in those units
    assert x.min() >= -1e-4 and x.max() <= 16 + 1e-4
    raw = s.sample(10, seed=0, raw=True)
    assert raw.min() >= -1 and raw.max() <= 1
    np.testing.assert_allclose(x, (raw + 1) * 8, rtol=0, atol=1e-5)


def test_same_seed_same_samples_other_seed_other_samples(gan_points_onnx: Path) -> None:
    s = Sampler(gan_points_onnx)
    a, b, c = s.sample(50, seed=3), s.sample(50, seed=3), s.sample(50, seed=4)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3


@pytest.mark.parametrize("batch_size", [1, 7, 64, 1000])
def test_batch_size_never_changes_the_samples(gan_points_onnx: Path, batch_size: int) -> None:
    s = Sampler(gan_points_onnx)
    whole = s.sample(130, seed=11)
    np.testing.assert_allclose(s.sample(130, seed=11, batch_size=batch_size), whole, atol=1e-6)


def test_iter_samples_streams_bounded_chunks(gan_points_onnx: Path) -> None:
    s = Sampler(gan_points_onnx)
    chunks = list(s.iter_samples(1000, seed=1, batch_size=128))
    assert [len(x) for x, _ in chunks] == [128] * 7 + [104]
    np.testing.assert_allclose(
        np.concatenate([x for x, _ in chunks]), s.sample(1000, seed=1), atol=1e-6
    )


def test_generate_on_the_sampled_latents_reproduces_sample(gan_points_onnx: Path) -> None:
    s = Sampler(gan_points_onnx)
    z = s.latents(20, seed=5)
    assert z.shape == (20, s.manifest.latent_dim) and z.dtype == np.float32
    np.testing.assert_allclose(s.generate(z), s.sample(20, seed=5), atol=1e-6)
    np.testing.assert_allclose(s.generate(z.astype(np.float64)), s.sample(20, seed=5), atol=1e-6)


def test_truncation_bounds_latents(gan_points_onnx: Path) -> None:
    s = Sampler(gan_points_onnx)
    z = s.latents(5000, seed=0, truncation=0.5)
    assert np.abs(z).max() <= 0.5
    assert z.std() < 0.35  # a truncated normal on [-0.5, 0.5] has std ~0.28
    full = s.latents(5000, seed=0)
    assert np.abs(full).max() > 2.5


def test_many_threads_get_exactly_the_sequential_results(gan_image_onnx: Path) -> None:
    s = Sampler(gan_image_onnx, threads=1)
    seeds = list(range(40))
    expected = {seed: s.sample(9, seed=seed) for seed in seeds}
    got: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def work(part: list[int]) -> None:
        try:
            for seed in part:
                got[seed] = s.sample(9, seed=seed, batch_size=4)
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(seeds[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for seed in seeds:
        np.testing.assert_allclose(got[seed], expected[seed], atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "n must be positive"),
        ({"n": -5}, "n must be positive"),
        ({"n": 2.5}, "n must be an integer"),
        ({"n": 10**12}, "more than genedge samples"),
        ({"n": 4, "seed": -1}, "seed must be >= 0"),
        ({"n": 4, "seed": "abc"}, "seed must be an integer"),
        ({"n": 4, "labels": [1, 2, 3, 4]}, "takes no labels"),
        ({"n": 4, "length": 10}, "length applies only to sequence"),
        ({"n": 4, "batch_size": 0}, "batch_size must be a positive integer"),
        ({"n": 4, "truncation": -1.0}, "truncation must be a positive number"),
    ],
)
def test_bad_arguments_raise_input_error(gan_points_onnx: Path, kwargs: dict, message: str) -> None:
    s = Sampler(gan_points_onnx)
    with pytest.raises(InputError, match=message):
        s.sample(**kwargs)


@pytest.mark.parametrize(
    ("z", "message"),
    [
        (np.zeros((3, 5), np.float32), r"latents must be shaped \(n, 2\)"),
        (np.zeros((3,), np.float32), "latents must be shaped"),
        (np.zeros((3, 2), np.int64), "must be floating point"),
        (np.full((3, 2), np.nan, np.float32), "NaN or Inf"),
        (np.zeros((0, 2), np.float32), "empty"),
    ],
)
def test_bad_latents_raise_input_error(gan_points_onnx: Path, z: np.ndarray, message: str) -> None:
    with pytest.raises(InputError, match=message):
        Sampler(gan_points_onnx).generate(z)


def test_unknown_backend_is_a_clear_error(gan_points_onnx: Path) -> None:
    with pytest.raises(InputError, match="unknown backend 'gpu9'"):
        Sampler(gan_points_onnx, backend="gpu9")


def _missing_provider(provider: str) -> str:
    return (
        f"onnxruntime {ort.__version__} has no {provider}; install genedge[gpu] "
        "(onnxruntime-gpu) on a machine with an NVIDIA GPU"
    )


@pytest.mark.parametrize(
    ("name", "provider"),
    [("cuda", "CUDAExecutionProvider"), ("ort-tensorrt", "TensorrtExecutionProvider")],
)
def test_onnxruntime_gpu_backends_without_their_provider_say_what_to_install(
    gan_points_onnx: Path, name: str, provider: str
) -> None:
    if provider in PROVIDERS:
        pytest.skip(f"onnxruntime has {provider} here")
    with pytest.raises(BackendUnavailableError) as e:
        Sampler(gan_points_onnx, backend=name)
    assert str(e.value) == _missing_provider(provider)


@pytest.mark.skipif(TENSORRT_INSTALLED, reason="tensorrt is installed here")
def test_tensorrt_backend_without_tensorrt_says_what_to_install(gan_points_onnx: Path) -> None:
    with pytest.raises(BackendUnavailableError) as e:
        Sampler(gan_points_onnx, backend="tensorrt")
    assert str(e.value) == NO_TENSORRT


def test_auto_picks_the_cpu_without_gpu_packages_and_says_why(gan_points_onnx: Path) -> None:
    if "CUDAExecutionProvider" in PROVIDERS or TENSORRT_INSTALLED:
        pytest.skip("GPU packages are installed here (the next test covers that)")
    s = Sampler(gan_points_onnx, backend="auto")
    assert s.backend == "cpu"
    assert s.backend_selection == (
        f"cpu (auto; skipped tensorrt: {NO_TENSORRT}; "
        f"cuda: {_missing_provider('CUDAExecutionProvider')}; "
        f"openvino: not calibrated: run `genedge calibrate {gan_points_onnx.name}`)"
    )
    np.testing.assert_array_equal(
        s.sample(64, seed=0), Sampler(gan_points_onnx, backend="cpu").sample(64, seed=0)
    )


@pytest.mark.gpu
@pytest.mark.skipif("CUDAExecutionProvider" not in PROVIDERS, reason="no onnxruntime-gpu here")
def test_auto_picks_cuda_with_onnxruntime_gpu_and_matches_the_cpu(gan_points_onnx: Path) -> None:
    """With onnxruntime-gpu on a GPU machine, auto skips TensorRT (this artifact has no compiled
    engine) and runs on CUDA, with the CPU's samples up to TF32 rounding."""
    s = Sampler(gan_points_onnx, backend="auto")
    assert s.backend == "cuda", s.backend_selection
    assert s.backend_selection.startswith("cuda (auto; skipped tensorrt: ")
    cpu = Sampler(gan_points_onnx, backend="cpu")
    np.testing.assert_allclose(
        s.sample(256, seed=0, raw=True), cpu.sample(256, seed=0, raw=True), atol=5e-3, rtol=5e-3
    )


def test_default_chunks_are_even() -> None:
    """The default batch splits a request into equal calls (an engine re-plans each new
    shape), never more calls than the memory limit needs; a batch size given is kept."""
    from genedge.runtime.batching import balanced_batch_size

    assert balanced_batch_size(1024, 312) == 256
    assert balanced_batch_size(1000, 312) == 250
    assert balanced_batch_size(1001, 312) == 251  # 4 calls: 251, 251, 251, 248
    assert balanced_batch_size(100, 312) == 100 and balanced_batch_size(1, 1) == 1
    for n, limit in ((1024, 312), (1001, 312), (7, 3), (10**6, 4096)):
        bs = balanced_batch_size(n, limit)
        assert bs <= limit and -(-n // bs) == -(-n // limit)


def test_the_sampler_splits_evenly_by_default(
    gan_points_onnx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import genedge.runtime.sampler as sampler_module

    monkeypatch.setattr(sampler_module, "default_batch_size", lambda *_: 312)
    s = Sampler(gan_points_onnx)
    assert [len(x) for x, _ in s.iter_samples(1024, seed=1)] == [256] * 4
    assert [len(x) for x, _ in s.iter_samples(1024, seed=1, batch_size=312)] == [312] * 3 + [88]

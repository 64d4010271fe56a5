"""Sampling from an artifact: units, determinism, chunking, threads, and input errors."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from genedge.runtime import InputError, Sampler


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


def test_gpu_backends_report_not_available_without_a_gpu(gan_points_onnx: Path) -> None:
    from genedge.runtime.errors import BackendUnavailableError

    for name in ("cuda", "ort-tensorrt", "tensorrt"):
        try:
            Sampler(gan_points_onnx, backend=name)
        except BackendUnavailableError as e:
            assert str(e)  # a reason, e.g. "onnxruntime ... has no CUDAExecutionProvider"
        else:  # pragma: no cover - only on a GPU machine with the extras installed
            pytest.skip(f"{name} is available here")
    assert Sampler(gan_points_onnx, backend="auto").backend in ("cpu", "cuda", "tensorrt")

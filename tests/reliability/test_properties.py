"""Property-based: random requests, latents and file bytes get a clean result or a clean error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from genedge.runtime import GenedgeError, Sampler
from genedge.runtime.artifact import read_manifest
from genedge.runtime.manifest import Manifest

FAST = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def sampler(gan_image_onnx: Path) -> Sampler:
    return Sampler(gan_image_onnx, threads=1)


@FAST
@given(n=st.integers(1, 300), seed=st.integers(0, 2**63 - 1), bs=st.integers(1, 300))
def test_any_valid_request_is_deterministic_and_chunk_invariant(
    sampler: Sampler, n: int, seed: int, bs: int
) -> None:
    a = sampler.sample(n, seed=seed, batch_size=bs)
    assert a.shape == (n, 1, 8, 8) and a.dtype == np.float32 and np.isfinite(a).all()
    np.testing.assert_allclose(a, sampler.sample(n, seed=seed), atol=1e-5)


@FAST
@given(
    n=st.one_of(
        st.integers(-(10**12), 10**12),
        st.floats(allow_nan=True),
        st.text(max_size=3),
        st.none(),
        st.booleans(),
    ),
    seed=st.one_of(st.none(), st.integers(-5, 10), st.floats(), st.text(max_size=2)),
    labels=st.one_of(st.none(), st.lists(st.integers(-3, 12), max_size=4)),
)
def test_any_request_gives_samples_or_a_genedge_error(sampler: Sampler, n, seed, labels) -> None:
    try:
        x = sampler.sample(n, seed=seed, labels=labels, batch_size=64)
    except GenedgeError as e:
        assert str(e)
    except MemoryError:  # pragma: no cover - refused before allocation, must not happen
        pytest.fail("allocated before validating n")
    else:
        assert isinstance(n, int) and n > 0 and labels is None
        assert x.shape[0] == n


@FAST
@given(
    z=hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64, np.float16, np.int32, np.uint8, np.bool_]),
        shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=120),
    )
)
def test_any_latent_array_gives_samples_or_a_genedge_error(sampler: Sampler, z) -> None:
    try:
        x = sampler.generate(z)
    except GenedgeError as e:
        assert str(e)
    else:
        assert z.ndim == 2 and z.shape[1] == 100 and z.dtype.kind == "f"
        assert x.shape == (z.shape[0], 1, 8, 8)


@FAST
@given(data=st.binary(max_size=3000))
def test_random_file_bytes_are_a_clean_error(tmp_path_factory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "m.onnx"
    path.write_bytes(data)
    with pytest.raises(GenedgeError):
        Sampler(path)


@FAST
@given(cut=st.integers(0, 10**6), flip=st.integers(0, 10**6), bit=st.integers(0, 7))
def test_damaged_artifacts_are_a_clean_error_or_still_valid(
    gan_image_onnx: Path, tmp_path_factory, cut: int, flip: int, bit: int
) -> None:
    data = bytearray(gan_image_onnx.read_bytes())
    data = data[: max(1, cut % (len(data) + 1))]
    data[flip % len(data)] ^= 1 << bit
    path = tmp_path_factory.mktemp("damaged") / "m.onnx"
    path.write_bytes(bytes(data))
    try:
        s = Sampler(path, threads=1)
        x = s.sample(4, seed=0)
    except GenedgeError as e:
        assert str(e)
    else:  # a flipped bit inside a weight still gives a loadable model
        assert x.shape[0] == 4


@FAST
@given(
    doc=st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5)),
        lambda c: st.one_of(
            st.lists(c, max_size=3), st.dictionaries(st.text(max_size=8), c, max_size=4)
        ),
        max_leaves=12,
    )
)
def test_random_manifest_json_is_a_clean_error(doc) -> None:
    import json

    try:
        Manifest.from_json(json.dumps(doc))
    except GenedgeError as e:
        assert str(e)


def test_manifest_of_the_fixture_is_valid(gan_image_onnx: Path) -> None:
    assert read_manifest(gan_image_onnx).family == "gan"

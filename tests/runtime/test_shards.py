"""Positional noise and sharded generation: sample i depends only on (seed, i) for "blocks64"
artifacts, legacy "stream" artifacts keep their samples, and shards concatenate into the
single run byte for byte."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from genedge.runtime import Sampler
from genedge.runtime.errors import InputError
from genedge.runtime.feeds import role_feed
from genedge.runtime.noise import NoiseDraw, draw_noise
from genedge.runtime.shards import merge_npy, parse_shard, shard_range
from genedge.runtime.writers import write_samples

sys.path.insert(0, str(Path(__file__).parent))
import tiny_artifacts as ta  # noqa: E402

KINDS = {
    "plain": {},
    "conditional+noise": {"labels": True, "noise": True},
    "sequence": {"sequence": True},
    "psi-input": {"truncation_input": True},
}


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """Every kind of tiny artifact, as a new (blocks64) and as a legacy (1.3, stream) file."""
    folder = tmp_path_factory.mktemp("shards")
    out = {}
    for name, kw in KINDS.items():
        for scheme in ("blocks64", "stream"):
            path = folder / f"{name}-{scheme}.onnx"
            out[name, scheme] = ta.build(path, legacy=scheme == "stream", **kw)
    return out


def _open(artifacts: dict[tuple[str, str], Path], kind: str, scheme: str) -> Sampler:
    s = Sampler(artifacts[kind, scheme], backend="cpu", threads=1)
    assert s.manifest.noise_scheme == scheme
    return s


# -- shard ranges ----------------------------------------------------------------------------


def test_shard_ranges_cover_the_run_once_in_order_and_balanced() -> None:
    for n in (1, 7, 64, 100, 1000):
        for shards in (1, 2, 3, 7, 16):
            ranges = [shard_range(n, k, shards) for k in range(shards)]
            assert ranges[0][0] == 0
            for (s0, c0), (s1, _) in zip(ranges, ranges[1:], strict=False):
                assert s0 + c0 == s1
            assert sum(c for _, c in ranges) == n
            assert max(c for _, c in ranges) - min(c for _, c in ranges) <= 1
    assert shard_range(10, 0, 3) == (0, 4) and shard_range(10, 2, 3) == (7, 3)
    assert shard_range(2, 3, 4) == (2, 0)  # more shards than samples: some hold none


def test_parse_shard_refuses_what_is_not_k_of_n() -> None:
    assert parse_shard("0/4") == (0, 4) and parse_shard(" 3 / 4 ") == (3, 4)
    for bad, msg in (
        ("4/4", "shards count from 0 to 3"),
        ("1/0", "at least 1"),
        ("-1/4", "K/N with whole numbers"),
        ("a/b", "K/N"),
        ("2", "K/N"),
    ):
        with pytest.raises(InputError, match=msg):
            parse_shard(bad)
    with pytest.raises(InputError, match="does not exist"):
        shard_range(10, 5, 5)


# -- draws ----------------------------------------------------------------------------------


def test_any_split_of_a_draw_gives_the_same_values() -> None:
    for scheme in ("blocks64", "stream"):
        for psi in (None, 0.7):
            whole = draw_noise(scheme, 9, 0, 0, 300, (5,), psi)
            d = NoiseDraw(scheme, 9, 0, 3, (5,), psi)
            parts = [d.take(m) for m in (1, 60, 1, 64, 100, 71)]
            np.testing.assert_array_equal(np.concatenate(parts), whole[3:])


def test_the_first_64_samples_are_the_same_under_both_schemes() -> None:
    """SeedSequence([seed, 0, 0]) == SeedSequence(seed): a seed's first block is its old stream,
    so small seeded requests keep their samples across the 2.0 switch."""
    for seed in (0, 7, 2**40 + 3):
        a = draw_noise("stream", seed, 0, 0, 100, (8,))
        b = draw_noise("blocks64", seed, 0, 0, 100, (8,))
        np.testing.assert_array_equal(a[:64], b[:64])
        assert not np.array_equal(a[64:], b[64:])


# -- the sampler -----------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["blocks64", "stream"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_sample_from_start_is_the_slice_of_the_whole_run(
    artifacts: dict[tuple[str, str], Path], kind: str, scheme: str
) -> None:
    s = _open(artifacts, kind, scheme)
    psi = 0.8 if kind == "plain" else None
    whole, ys = s.sample_labelled(150, seed=4, truncation=psi, raw=True)
    for start, bs in ((0, 150), (1, None), (63, 7), (64, 64), (100, 1)):
        part, yp = s.sample_labelled(150 - start, seed=4, start=start, truncation=psi, raw=True)
        np.testing.assert_array_equal(part, whole[start:])
        np.testing.assert_array_equal(
            s.sample(150 - start, seed=4, start=start, truncation=psi, batch_size=bs, raw=True),
            whole[start:],
        )
        if ys is not None:
            np.testing.assert_array_equal(yp, ys[start:])  # balanced labels are positional
    feed = s.feed(20, seed=4, start=70, truncation=psi)
    np.testing.assert_array_equal(
        feed["z"], s.latents(90, seed=4, truncation=None if kind == "psi-input" else psi)[70:]
    )


@pytest.mark.parametrize("scheme", ["blocks64", "stream"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_shards_concatenate_into_the_single_run(
    artifacts: dict[tuple[str, str], Path], kind: str, scheme: str, tmp_path: Path
) -> None:
    s = _open(artifacts, kind, scheme)
    n, shards = 203, 4
    write_samples(tmp_path / "all.npy", s.iter_samples(n, 11, batch_size=50), s.manifest, n)
    parts = []
    for k in range(shards):
        start, count = shard_range(n, k, shards)
        chunks = s.iter_samples(count, 11, start=start, batch_size=30)
        parts.append(write_samples(tmp_path / f"part{k}.npy", chunks, s.manifest, count))
    assert merge_npy(parts, tmp_path / "merged.npy") == n
    assert (tmp_path / "merged.npy").read_bytes() == (tmp_path / "all.npy").read_bytes()


def test_legacy_artifacts_keep_their_exact_samples(
    artifacts: dict[tuple[str, str], Path],
) -> None:
    """A 1.3 manifest (no noise_scheme) draws every sample in turn from PCG64(seed), and noise
    input k from PCG64(SeedSequence([seed, k])), as genedge 1.x did."""
    s = _open(artifacts, "conditional+noise", "stream")
    assert s.manifest.schema_version == "1.3"
    feed = s.feed(300, seed=5)
    z = np.random.Generator(np.random.PCG64(5)).standard_normal((300, ta.LATENT), np.float32)
    noise = np.random.Generator(np.random.PCG64(np.random.SeedSequence([5, 1])))
    np.testing.assert_array_equal(feed["z"], z)
    np.testing.assert_array_equal(feed["n1"], noise.standard_normal((300, ta.NOISE), np.float32))
    x = s.sample(300, seed=5, raw=True, batch_size=64)
    np.testing.assert_allclose(x[:, : ta.LATENT], np.tanh(z), atol=1e-6)  # onnxruntime's tanh
    new = _open(artifacts, "conditional+noise", "blocks64")
    assert not np.array_equal(new.sample(300, seed=5, raw=True), x)


@pytest.mark.parametrize("scheme", ["blocks64", "stream"])
def test_parity_feeds_follow_the_scheme(
    artifacts: dict[tuple[str, str], Path], scheme: str
) -> None:
    """Export parity and calibration (role_feed) see exactly what sampling feeds."""
    s = _open(artifacts, "conditional+noise", scheme)
    feed = role_feed(s.manifest.sampler, s.manifest, 130, 3)
    for name, arr in s.feed(130, seed=3).items():
        np.testing.assert_array_equal(feed[name], arr)


def test_generate_draws_the_noise_inputs_as_sample_does(
    artifacts: dict[tuple[str, str], Path],
) -> None:
    s = _open(artifacts, "conditional+noise", "blocks64")
    np.testing.assert_array_equal(
        s.generate(s.latents(140, seed=2), seed=2, batch_size=33), s.sample(140, seed=2)
    )


def test_start_needs_a_seed_and_a_whole_number(
    artifacts: dict[tuple[str, str], Path],
) -> None:
    s = _open(artifacts, "plain", "blocks64")
    with pytest.raises(InputError, match="needs a seed"):
        s.sample(3, start=5)
    with pytest.raises(InputError, match="needs a seed"):
        list(s.iter_samples(3, start=5))
    with pytest.raises(InputError, match="start must be a whole number"):
        s.sample(3, seed=0, start=-1)
    assert s.sample(3).shape == (3, ta.LATENT)  # unseeded requests are unchanged


def test_merge_refuses_parts_of_other_runs(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.zeros((2, 3), np.float32))
    np.save(tmp_path / "b.npy", np.zeros((2, 4), np.float32))
    with pytest.raises(InputError, match="same shape"):
        merge_npy([tmp_path / "a.npy", tmp_path / "b.npy"], tmp_path / "m.npy")
    with pytest.raises(InputError, match="no such file"):
        merge_npy([tmp_path / "a.npy", tmp_path / "c.npy"], tmp_path / "m.npy")
    with pytest.raises(InputError, match="nothing to merge"):
        merge_npy([], tmp_path / "m.npy")
    assert not (tmp_path / "m.npy").exists()

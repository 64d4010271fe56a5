"""Bring your own generator: export_module, verify_module and wrap_onnx on generators as users
bring them (tests/export/byom_models.py), random weights."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from genedge.export import export_module, verify_module, wrap_onnx
from genedge.export.module_checks import ModuleCheckError
from genedge.runtime import Sampler, read_manifest
from genedge.runtime.errors import InputError, ManifestError
from genedge.runtime.interpolate import interpolate

sys.path.insert(0, str(Path(__file__).parent))
import byom_models as bm  # noqa: E402

pytestmark = pytest.mark.usefixtures("pinned_threads")

IMAGE = {"value_range": (0, 255), "model_range": (-1, 1)}


@pytest.fixture
def dcgan(torch_seed: int) -> torch.nn.Module:
    """The pytorch/examples DCGAN generator (ngf=8 to keep it quick), trained-looking BN."""
    return bm.randomise_batchnorm(bm.ExamplesDCGAN(ngf=8)).eval()


def _torch_samples(
    module: torch.nn.Module, feed: dict[str, np.ndarray], names: list[str]
) -> np.ndarray:
    with torch.no_grad():
        out = module(*(torch.from_numpy(feed[n]) for n in names))
    return out.numpy()


def _only(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_examples_dcgan_end_to_end(dcgan: torch.nn.Module, tmp_path: Path) -> None:
    out = tmp_path / "g.onnx"
    result = export_module(dcgan, out, latent_shape=(100, 1, 1), **IMAGE)
    assert result.report.passed and [c.batch for c in result.report.cases] == [1, 37]
    m = read_manifest(out)
    assert m.family == "custom" and m.sample_shape == (3, 64, 64) and m.latent_dim == 100
    assert m.provenance["source"] == "module"
    assert m.provenance["class"].endswith("ExamplesDCGAN")
    s = Sampler(out, backend="cpu", threads=1)
    x = s.sample(6, seed=3)
    assert x.shape == (6, 3, 64, 64) and x.min() >= 0 and x.max() <= 255
    np.testing.assert_array_equal(x, s.sample(6, seed=3, batch_size=4))
    # The runtime's samples are the module's output on the runtime's own latents, rescaled.
    feed = s.feed(6, seed=3)
    ref = (_torch_samples(dcgan, feed, ["z"]) + 1) * 127.5
    np.testing.assert_allclose(x, ref, atol=1e-3)
    # Latents of the model's own 4-D shape, or flat, both generate.
    z = s.latents(6, seed=3)
    assert z.shape == (6, 100, 1, 1)
    np.testing.assert_array_equal(s.generate(z), x)
    np.testing.assert_array_equal(s.generate(z.reshape(6, 100)), x)
    frames = interpolate(s, steps=5, seed=0)
    assert frames.shape == (5, 3, 64, 64)
    np.testing.assert_allclose(frames[0], s.sample(1, seed=0)[0], atol=1e-4)
    assert verify_module(out, dcgan).passed


def test_verify_module_fails_for_other_weights(dcgan: torch.nn.Module, tmp_path: Path) -> None:
    out = tmp_path / "g.onnx"
    export_module(dcgan, out, latent_shape=(100, 1, 1), **IMAGE)
    other = bm.randomise_batchnorm(bm.ExamplesDCGAN(ngf=8), seed=1)
    report = verify_module(out, other)
    assert not report.passed and report.max_abs > 0.01


def test_reduced_precision_needs_data_for_its_gate(dcgan: torch.nn.Module, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="quality gate needs data"):
        export_module(
            dcgan, tmp_path / "g.onnx", latent_shape=(100, 1, 1), precision="int8", **IMAGE
        )
    assert _only(tmp_path) == []
    for precision in ("fp16", "int8"):
        out = tmp_path / f"{precision}.onnx"
        r = export_module(
            dcgan, out, latent_shape=(100, 1, 1), precision=precision, quality_check=False, **IMAGE
        )
        assert r.report.passed and read_manifest(out).precision == precision
        assert Sampler(out, backend="cpu").sample(2, seed=0).shape == (2, 3, 64, 64)


def test_conditional_generator_takes_labels(torch_seed: int, tmp_path: Path) -> None:
    G = bm.randomise_batchnorm(bm.LabelGenerator()).eval()
    out = tmp_path / "c.onnx"
    export_module(G, out, latent_shape=(32,), num_classes=10, **IMAGE)
    assert verify_module(out, G).passed
    s = Sampler(out, backend="cpu")
    assert s.manifest.num_classes == 10
    x, y = s.sample_labelled(20, seed=0)
    assert list(y) == [i % 10 for i in range(20)]
    x3 = s.sample(4, seed=0, labels=3)
    feed = s.feed(4, seed=0, labels=3)
    assert list(feed["labels"]) == [3, 3, 3, 3]
    np.testing.assert_allclose(
        x3, (_torch_samples(G, feed, ["z", "labels"]) + 1) * 127.5, atol=1e-3
    )
    assert not np.allclose(x3, s.sample(4, seed=0, labels=4))


def test_noise_inside_forward_is_refused_then_accepted_as_an_input(
    torch_seed: int, tmp_path: Path
) -> None:
    noisy = bm.NoisyDCGAN(ngf=8)
    with pytest.raises(ModuleCheckError) as e:
        export_module(noisy, tmp_path / "n.onnx", latent_shape=(100, 1, 1), **IMAGE)
    msg = str(e.value)
    assert "draws its own noise at node" in msg and "RandomNormalLike" in msg
    assert "docs/byom.md" in msg and "\n" not in msg
    assert _only(tmp_path) == []
    fixed = bm.randomise_batchnorm(bm.NoiseAsInputDCGAN(ngf=8))
    out = tmp_path / "n.onnx"
    export_module(fixed, out, latent_shape=(100, 1, 1), noise={"noise": (100, 1, 1)}, **IMAGE)
    s = Sampler(out, backend="cpu")
    roles = [t.role for t in s.manifest.sampler.inputs]
    assert roles == ["latent", "noise"]
    a = s.sample(5, seed=7)
    np.testing.assert_array_equal(a, s.sample(5, seed=7, batch_size=2))
    assert not np.allclose(a, s.sample(5, seed=8))
    feed = s.feed(5, seed=7)
    # The noise stream is its own: the latents are those of an artifact without noise.
    np.testing.assert_array_equal(feed["z"], s.latents(5, seed=7))
    assert not np.allclose(feed["noise"], feed["z"])


def test_style_like_noise_maps_and_truncation_psi(torch_seed: int, tmp_path: Path) -> None:
    G = bm.StyleLike().eval()
    with torch.no_grad():
        G.w_avg.copy_(torch.randn(16))
    out = tmp_path / "s.onnx"
    export_module(
        G,
        out,
        latent_shape=(16,),
        noise={"noise0": (1, 4, 4), "noise1": (1, 8, 8)},
        truncation=True,
        value_range=(0, 1),
        model_range=(-1, 1),
    )
    assert verify_module(out, G).passed
    s = Sampler(out, backend="cpu")
    a = s.sample(6, seed=2)
    np.testing.assert_array_equal(a, s.sample(6, seed=2, batch_size=4))
    np.testing.assert_array_equal(a, s.generate(s.latents(6, seed=2), seed=2))
    feed = s.feed(6, seed=2, truncation=0.5)
    assert np.all(feed["psi"] == 0.5) and np.all(s.feed(6, seed=2)["psi"] == 1.0)
    # psi is the graph's: the latents stay untruncated, the output moves.
    np.testing.assert_array_equal(feed["z"], s.feed(6, seed=2)["z"])
    half = s.sample(6, seed=2, truncation=0.5)
    names = ["z", "noise0", "noise1", "psi"]
    np.testing.assert_allclose(half, (_torch_samples(G, feed, names) + 1) / 2, atol=1e-5)
    assert not np.allclose(half, a)


@pytest.mark.parametrize(
    ("make", "kwargs", "shape"),
    [
        (bm.MLPGenerator, {"latent_shape": (100,), **IMAGE}, (1, 28, 28)),
        (bm.vae_decoder, {"latent_shape": (20,), "value_range": (0, 1)}, (784,)),
        (
            bm.ESPCN,
            {"latent_shape": (1, 8, 8), "value_range": (0, 1), "model_range": (-1, 1)},
            (1, 24, 24),
        ),
        (bm.UpsampleConvGenerator, {"latent_shape": (100,), **IMAGE}, (1, 32, 32)),
        (bm.wide_mlp, {"latent_shape": (32,), **IMAGE}, (3, 12, 20)),
    ],
    ids=[
        "pytorch-gan-mlp", "examples-vae-decoder", "examples-espcn", "pytorch-gan-dcgan-upsample",
        "pytorch-gan-mlp-non-square",
    ],
)  # fmt: skip
def test_public_architectures_export_and_match_torch(
    make: type, kwargs: dict, shape: tuple[int, ...], torch_seed: int, tmp_path: Path
) -> None:
    G = bm.randomise_batchnorm(make()).eval()
    out = tmp_path / "g.onnx"
    assert export_module(G, out, **kwargs).report.passed
    assert verify_module(out, G).passed
    s = Sampler(out, backend="cpu")
    assert s.manifest.sample_shape == shape
    x = s.sample(9, seed=1, raw=True)
    np.testing.assert_allclose(x, _torch_samples(G, s.feed(9, seed=1), ["z"]), atol=1e-5)


@pytest.mark.parametrize(
    ("make", "kwargs", "words"),
    [
        (bm.FrozenBatch, {"latent_shape": (100,), **IMAGE}, "batch size fixed in forward"),
        (bm.BatchStatistics, {"latent_shape": (100,), **IMAGE}, "batch's own statistics"),
        (
            bm.vae_decoder,
            {"latent_shape": (20,), "value_range": (0, 1), "model_range": (-1, -0.5)},
            "far outside the model range",
        ),
        (bm.MLPGenerator, {"latent_shape": (64,), **IMAGE}, "check --latent"),
    ],
    ids=["frozen-batch", "batch-statistics", "wrong-range", "wrong-latent"],
)
def test_mistakes_are_one_line_refusals_that_write_nothing(
    make: type, kwargs: dict, words: str, torch_seed: int, tmp_path: Path
) -> None:
    with pytest.raises(ModuleCheckError, match=words) as e:
        export_module(make(), tmp_path / "g.onnx", **kwargs)
    assert "\n" not in str(e.value)
    assert _only(tmp_path) == []


def test_unsupported_op_is_named(torch_seed: int, tmp_path: Path) -> None:
    lib = torch.library.Library("genedge_test", "DEF")  # noqa: F841  # keeps the op alive
    lib.define("fused_act(Tensor x) -> Tensor")
    lib.impl("fused_act", lambda x: torch.tanh(x), "CompositeExplicitAutograd")
    lib.impl("fused_act", lambda x: torch.empty_like(x), "Meta")

    class Fused(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(8, 16)

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return torch.ops.genedge_test.fused_act(self.fc(z))

    with pytest.raises(ModuleCheckError, match="fused_act") as e:
        export_module(Fused(), tmp_path / "g.onnx", latent_shape=(8,), value_range=(-1, 1))
    assert "cannot convert Fused" in str(e.value)
    assert _only(tmp_path) == []


# --- wrap: a plain ONNX file ------------------------------------------------------------------


@pytest.fixture
def plain(dcgan: torch.nn.Module, tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "plain.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            dcgan,
            (torch.zeros(2, 100, 1, 1),),
            str(path),
            input_names=["input"],
            output_names=["out"],
            dynamic_axes={"input": {0: "N"}, "out": {0: "N"}},
            dynamo=False,
        )
    yield path


def test_plain_onnx_is_refused_with_a_pointer_to_wrap(plain: Path) -> None:
    with pytest.raises(ManifestError, match="genedge wrap plain.onnx"):
        Sampler(plain)


def test_wrap_a_plain_onnx_file(plain: Path, dcgan: torch.nn.Module, tmp_path: Path) -> None:
    out = tmp_path / "w.onnx"
    before = plain.read_bytes()
    r = wrap_onnx(plain, out, value_range=(0, 255), model_range=(-1, 1), against=dcgan)
    assert r.report.passed and r.report.reference == "torch"
    assert plain.read_bytes() == before
    m = read_manifest(out)
    assert m.provenance["source"] == "onnx" and m.provenance["file"] == "plain.onnx"
    assert [(t.name, t.role, t.shape) for t in m.sampler.inputs] == [
        ("input", "latent", ("batch", 100, 1, 1))
    ]
    s = Sampler(out, backend="cpu")
    x = s.sample(3, seed=0)
    np.testing.assert_allclose(
        x, (_torch_samples(dcgan, s.feed(3, seed=0), ["input"]) + 1) * 127.5, atol=1e-3
    )
    # Without a module it is checked against itself, at two batch sizes.
    r2 = wrap_onnx(plain, tmp_path / "w2.onnx", value_range=(0, 255), model_range=(-1, 1))
    assert r2.report.passed and "given file" in r2.report.reference


def test_wrap_refuses_a_fixed_batch_and_unknown_names(
    dcgan: torch.nn.Module, tmp_path: Path
) -> None:
    fixed = tmp_path / "fixed.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(dcgan, (torch.zeros(2, 100, 1, 1),), str(fixed), dynamo=False)
    with pytest.raises(ModuleCheckError, match="fixed batch axis"):
        wrap_onnx(fixed, tmp_path / "w.onnx", value_range=(0, 1))
    with pytest.raises(InputError, match="has no input 'zz'"):
        wrap_onnx(fixed, tmp_path / "w.onnx", latent="zz", value_range=(0, 1))
    assert _only(tmp_path) == ["fixed.onnx"]

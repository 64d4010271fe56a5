"""Tests for the dcgan family: exact sizes for any image, learning on digits, eval-mode export,
self-conditioning on k-means clusters."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np
import onnx
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize
from typer.testing import CliRunner

from genedge.cli import app
from genedge.runtime.errors import DataError, InputError
from genedge.train.families import get_family
from genedge.train.families.dcgan import D_NORMS, discriminator_blocks, upsample_plan
from genedge.train.run import DataInfo

if TYPE_CHECKING:
    from conftest import ShortRun

STEPS = 300

# Small convs gain nothing from a second thread, and lose a lot on a shared machine.
pytestmark = pytest.mark.usefixtures("pinned_threads")


def _image_info(shape: tuple[int, int, int]) -> DataInfo:
    return DataInfo(name="test", kind="image", sample_shape=shape, value_range=(0.0, 1.0))


@pytest.mark.parametrize(
    ("height", "width", "plan"),
    [
        (28, 28, (2, 7, 7)),
        (8, 8, (2, 2, 2)),
        (12, 12, (2, 3, 3)),
        (20, 20, (2, 5, 5)),
        (13, 13, (0, 13, 13)),
        (64, 48, (4, 4, 3)),
        (256, 256, (4, 16, 16)),
    ],
)
def test_upsample_plan(height: int, width: int, plan: tuple[int, int, int]) -> None:
    assert upsample_plan(height, width) == plan


@pytest.mark.usefixtures("torch_seed")
@pytest.mark.parametrize(
    "shape",
    [(1, 28, 28), (1, 8, 8), (1, 12, 12), (3, 20, 20), (3, 13, 13), (1, 6, 10), (1, 1, 5)],
)
def test_generator_output_is_exactly_the_data_size(shape: tuple[int, int, int]) -> None:
    family = get_family("dcgan")
    info = _image_info(shape)
    hp = family.defaults(info)
    models = family.build(hp, info)
    G, D = models["G"].eval(), models["D"].eval()
    for n in (1, 5):
        with torch.no_grad():
            x = G(torch.randn(n, hp.z_dim))
            assert tuple(x.shape) == (n, *shape)
            assert tuple(D(x).shape) == (n,)
        assert float(x.abs().max()) <= 1.0
    convt = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(convt) == upsample_plan(*shape[1:])[0]
    for m in convt:
        assert (m.kernel_size, m.stride, m.padding, m.output_padding) == (
            (4, 4),
            (2, 2),
            (1, 1),
            (0, 0),
        )


def _spectral_norms(weights: list[torch.Tensor]) -> list[float]:
    """The largest singular value of each conv weight, as a (out, in * kh * kw) matrix."""
    with torch.no_grad():
        return [float(torch.linalg.matrix_norm(w.flatten(1), ord=2)) for w in weights]


@pytest.mark.usefixtures("torch_seed")
@pytest.mark.parametrize("norm", D_NORMS)
def test_discriminator_norms_shape_d_and_it_learns(norm: str) -> None:
    """``spectral`` gives every conv of D a weight of spectral norm 1, ``batch`` a BatchNorm
    after every block but the first, ``none`` neither; with each, D learns to tell digits from
    G's samples."""
    from genedge.train.data import load_dataset

    family = get_family("dcgan")
    info = _image_info((1, 8, 8))
    hp = family.config({"d_norm": norm}, info)
    assert hp.clusters == 0  # the plain D(x)
    models = family.build(hp, info)
    D, G = models["D"], models["G"]
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == discriminator_blocks(info.sample_shape) == 2
    batchnorms = [m for m in D.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(batchnorms) == (len(convs) - 1 if norm == "batch" else 0)
    assert [parametrize.is_parametrized(m, "weight") for m in convs] == [norm == "spectral"] * 2

    real = torch.from_numpy(load_dataset("digits").x[:512] / np.float32(8) - 1)
    z = torch.randn(256, hp.z_dim, generator=torch.Generator().manual_seed(1))

    def logit_gap() -> float:
        """Mean D logit on real digits minus that on G's samples (eval mode)."""
        D.eval()
        G.eval()
        with torch.no_grad():
            gap = float(D(real[:256]).mean() - D(G(z)).mean())
        D.train()
        G.train()
        return gap

    opts = family.optimizers(models, hp)
    gen = torch.Generator().manual_seed(0)
    gap_before = logit_gap()
    losses = []
    for _ in range(40):
        batch = real[torch.randint(0, len(real), (64,), generator=gen)]
        losses.append(family.train_step(models, opts, batch, None, gen, hp)["d_loss"])
    gap_after = logit_gap()
    # Measured (seed 0, one thread): D's loss over the first 5 -> last 5 of 40 steps, and the
    # real-minus-fake logit gap: batch 1.13 -> 0.94, gap 0.01 -> 2.24; spectral 1.37 -> 1.23,
    # gap -0.03 -> 0.63; none 1.38 -> 1.34, gap 0.00 -> 0.15.
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.03, losses
    assert np.mean(losses[-5:]) < math.log(4), losses  # better than chance
    assert gap_after > gap_before + 0.1, (gap_before, gap_after)

    sigmas = _spectral_norms([m.weight for m in convs])  # as D uses them: normalised, if so
    if norm == "spectral":
        # Each use of the weight in training mode runs one power iteration; 40 steps of weight
        # updates leave the estimate a few % off (measured 1.04, 1.07), 300 more iterations
        # settle it (measured 1.000, 1.000; 50 left 1.018).
        with torch.no_grad():
            for _ in range(300):
                for m in convs:
                    m.weight  # noqa: B018 - a power iteration
        sigmas = _spectral_norms([m.weight for m in convs])
        assert sigmas == pytest.approx([1.0, 1.0], abs=0.01), sigmas
        raw = _spectral_norms([m.parametrizations.weight.original for m in convs])
        # Measured: 0.16, 0.59 before normalisation, so the 1.0 is the normalisation's.
        assert max(raw) < 0.9, raw
    else:
        # Measured: batch 0.18, 0.66; none 0.24, 0.87.
        assert max(abs(s - 1.0) for s in sigmas) > 0.1, sigmas


@pytest.mark.usefixtures("torch_seed")
def test_unknown_discriminator_norm_is_refused() -> None:
    family = get_family("dcgan")
    info = _image_info((1, 8, 8))
    with pytest.raises(InputError, match="d_norm must be one of"):
        family.build(family.config({"d_norm": "layer"}, info), info)


def test_points_are_refused(tmp_path: Path) -> None:
    from genedge.train.loop import train

    with pytest.raises(DataError, match="dcgan family learns image"):
        train(tmp_path / "run", "dcgan", "ring8", overrides={"steps": 1}, device="cpu")
    assert not (tmp_path / "run").exists()


# --- a short run on scikit-learn's 8x8 digits -------------------------------------------------


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory, short_run: ShortRun) -> Path:
    return short_run(tmp_path_factory.mktemp("dcgan") / "digits", "dcgan", "digits", STEPS)


def _distances(x: np.ndarray, real: np.ndarray) -> tuple[float, float]:
    """Mean-image L2 distance and pixel-histogram total variation distance, in data units."""
    mean_l2 = float(np.linalg.norm(x.mean(0) - real.mean(0)))
    bins = np.linspace(0.0, 16.0, 9)
    h_fake = np.histogram(np.clip(x, 0, 16), bins)[0] / x.size
    h_real = np.histogram(real, bins)[0] / real.size
    return mean_l2, float(0.5 * np.abs(h_fake - h_real).sum())


def test_learns_digits(digits_run: Path) -> None:
    """The trained generator is much closer to real digits than the one it started as."""
    from genedge.train.data import load_dataset
    from genedge.train.families import get_family
    from genedge.train.reference import load_torch_sampler, torch_sampler
    from genedge.train.run import load_config

    real = load_dataset("digits").x
    cfg = load_config(digits_run)
    family = get_family("dcgan")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)  # the loop builds its initial weights under this seed
        hp = family.from_hparams(cfg.hparams)
        untrained = torch_sampler(cfg, family, family.build(hp, cfg.data_info))
    before = _distances(untrained.sample(1000, seed=1), real)
    after = _distances(load_torch_sampler(digits_run).sample(1000, seed=1), real)
    # Measured (seed 0, 300 steps, 35 clusters): mean-image L2 41.7 -> 3.2, histogram TV
    # 0.90 -> 0.069.
    assert after[0] < 0.3 * before[0], (before, after)
    assert after[1] < 0.25 * before[1], (before, after)
    assert (digits_run / "samples" / "latest.png").stat().st_size > 0


def test_export_parity_eval_mode_batchnorm(digits_run: Path, tmp_path: Path) -> None:
    from genedge.export.lint import lint_graph
    from genedge.export.onnx_export import export_run
    from genedge.runtime import Sampler

    out = tmp_path / "dcgan.onnx"
    result = export_run(digits_run, out)
    assert result.report.passed
    assert sorted(c.batch for c in result.report.cases) == [1, 37]
    model = onnx.load(str(out))
    assert lint_graph(model) == []
    for node in model.graph.node:
        if node.op_type == "BatchNormalization":
            modes = [a.i for a in node.attribute if a.name == "training_mode"]
            assert modes in ([], [0]), node.name
    sampler = Sampler(out, backend="cpu")
    x = sampler.sample(50, seed=0)
    assert x.shape == (50, 1, 8, 8)
    # tanh keeps samples in the data range (up to float rounding in the runtime's rescale).
    assert x.min() >= -1e-4 and x.max() <= 16.0 + 1e-4
    assert sampler.manifest.family == "dcgan" and sampler.manifest.num_classes == 0
    np.testing.assert_allclose(x, sampler.sample(50, seed=0, batch_size=7), atol=1e-5)
    shown = CliRunner().invoke(app, ["info", str(out)], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    clusters = sampler.manifest.clusters
    assert f"picks one of {clusters} k-means clusters" in shown.output


def test_odd_size_rgb_images_train_and_export(tmp_path: Path) -> None:
    """A 3-channel 12x12 set (not base * 2**k with base 4) trains and exports with parity."""
    from genedge.export.onnx_export import export_run
    from genedge.runtime import Sampler
    from genedge.train.loop import train

    rng = np.random.default_rng(0)
    data = tmp_path / "rgb12.npz"
    np.savez(data, x=rng.integers(0, 256, (64, 3, 12, 12), dtype=np.uint8))
    run = tmp_path / "run"
    train(run, "dcgan", str(data), overrides={"steps": 3, "batch_size": 8}, device="cpu")
    result = export_run(run, tmp_path / "rgb12.onnx", batch_sizes=(2, 5))
    assert result.report.passed
    x = Sampler(tmp_path / "rgb12.onnx", backend="cpu").sample(3, seed=0)
    assert x.shape == (3, 3, 12, 12)
    assert x.min() >= -1e-3 and x.max() <= 255.0 + 1e-3


# --- self-conditioning on k-means clusters ----------------------------------------------------


def test_default_clusters_follow_the_data_size() -> None:
    from genedge.train.families.conditional import default_clusters

    assert [default_clusters(n) for n in (0, 99, 100, 1797, 5000, 60000)] == [0, 0, 2, 35, 50, 50]
    family = get_family("dcgan")
    info = DataInfo("t", "image", (1, 8, 8), (0.0, 1.0), size=1000)
    hp = family.defaults(info)
    assert (hp.clusters, hp.mode_seeking, family.latent_dim(hp)) == (20, 0.5, 65)
    with pytest.raises(InputError, match="clusters must be 0"):
        family.build(dataclasses.replace(hp, clusters=1), info)
    with pytest.raises(InputError, match="clusters must be 0"):
        family.build(dataclasses.replace(hp, clusters=1001), info)


@pytest.mark.usefixtures("torch_seed")
def test_latent_picks_each_cluster_by_its_share_of_the_data() -> None:
    from genedge.train.families.conditional import ClusterPickingSampler

    family = get_family("dcgan")
    info = DataInfo("t", "image", (1, 8, 8), (0.0, 1.0), size=600)
    hp = family.config({"clusters": 4}, info)
    models = family.build(hp, info)
    # Four planted blobs of 60, 120, 180 and 240 images: the clusters k-means must find.
    rng = np.random.default_rng(0)
    sizes = [60, 120, 180, 240]
    x = np.concatenate([np.full((n, 1, 8, 8), -0.75 + 0.5 * i) for i, n in enumerate(sizes)])
    x = (x + rng.normal(0, 0.05, x.shape)).astype(np.float32)
    labels = rng.integers(0, 10, len(x))  # the data's own labels are never used
    clusters = family.training_labels(models, hp, x, labels, seed=0)
    assert sorted(np.bincount(clusters).tolist()) == sizes
    g = models["G"]
    torch.testing.assert_close(g.thresholds, models["G_ema"].thresholds)
    u = torch.from_numpy(np.random.default_rng(1).standard_normal((200000, 1)).astype(np.float32))
    shares = np.bincount(g.pick(u).numpy(), minlength=4) / len(u)
    np.testing.assert_allclose(shares, np.bincount(clusters) / len(x), atol=0.005)
    # The exported sampler reads the cluster from the latent's last value: anywhere inside
    # cluster k's share of N(0, 1) it draws G's images of cluster k, for the same noise.
    sampler = ClusterPickingSampler(g).eval()
    noise = torch.randn(5, hp.z_dim)
    share = np.bincount(clusters) / len(x)
    start = np.concatenate([[0.0], np.cumsum(share)[:-1]])
    with torch.no_grad():
        by_cluster = [g(noise, torch.full((5,), k)) for k in range(4)]
        for k in range(4):
            for at in (0.05, 0.5, 0.95):
                u = NormalDist().inv_cdf(start[k] + at * share[k])
                drawn = sampler(torch.cat([noise, torch.full((5, 1), u)], dim=1))
                torch.testing.assert_close(drawn, by_cluster[k], rtol=0, atol=0)
    # ... and the clusters' images differ, so the picks above were told apart.
    for a in range(4):
        for b in range(a):
            assert (by_cluster[a] - by_cluster[b]).abs().max() > 1e-3


@pytest.mark.usefixtures("torch_seed")
def test_plain_dcgan_ignores_labels() -> None:
    family = get_family("dcgan")
    info = DataInfo("t", "image", (1, 8, 8), (0.0, 1.0), size=1000)
    hp = family.config({"clusters": 0}, info)
    models = family.build(hp, info)
    x = np.zeros((10, 1, 8, 8), np.float32)
    assert family.training_labels(models, hp, x, np.arange(10), seed=0) is None
    assert family.latent_dim(hp) == hp.z_dim

"""cgan's sub-clusters (each class split into k-means sub-clusters, picked by one latent value)
and its R1 option: labels, thresholds, the sampler's pick, export and resumable settings."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch

from genedge.runtime.errors import InputError
from genedge.train.families import get_family
from genedge.train.families.conditional import SubclassGenerator, subclass_labels

if TYPE_CHECKING:
    from conftest import ShortRun

pytestmark = pytest.mark.usefixtures("pinned_threads")


def _points_info(classes: int = 3):
    from genedge.train.run import DataInfo

    return DataInfo("p", "points", (2,), (0.0, 1.0), num_classes=classes, size=600)


@pytest.mark.usefixtures("torch_seed")
def test_fine_labels_split_each_class_and_thresholds_follow_their_shares() -> None:
    family = get_family("cgan")
    info = _points_info()
    hp = family.config({"subclusters": 2}, info)
    models = family.build(hp, info)
    # Class c holds two blobs, one with 3x the other's samples.
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 200)
    big = rng.random(600) < 0.75
    x = np.stack([y * 10.0, np.where(big, 0.0, 5.0)], 1) + 0.1 * rng.standard_normal((600, 2))
    fine = family.training_labels(models, hp, x.astype(np.float32), y, seed=0)
    assert fine is not None and fine.min() >= 0 and fine.max() < 6
    assert np.array_equal(fine // 2, y)  # a sub-cluster never leaves its class
    for c in range(3):  # each sub-cluster is one blob
        sub = fine[y == c] % 2
        assert {len(set(sub[big[y == c]])), len(set(sub[~big[y == c]]))} == {1}
    g = models["G"]
    assert isinstance(g, SubclassGenerator) and tuple(g.thresholds.shape) == (3, 1)
    u = torch.randn(20000, 1, generator=torch.Generator().manual_seed(0))
    for c in range(3):
        picked = g.pick(u, torch.full((20000,), c))
        assert set(picked.unique().tolist()) <= {2 * c, 2 * c + 1}
        share = (picked == 2 * c + np.bincount(fine[y == c] % 2).argmax()).float().mean()
        assert share.item() == pytest.approx(big[y == c].mean(), abs=0.02)
    assert torch.equal(models["G_ema"].thresholds, g.thresholds)


def test_a_class_without_samples_gets_even_shares_and_small_classes_fewer_clusters() -> None:
    body = torch.nn.Identity()
    g = SubclassGenerator(body, 2, 3)  # type: ignore[arg-type]
    x = np.arange(4, dtype=np.float32)[:, None]
    y = np.zeros(4, np.int64)  # class 1 has no samples; class 0 has 4 for 3 sub-clusters
    fine = subclass_labels({"G": g}, 3, x, y, 2, seed=0)
    assert set(fine.tolist()) == {0, 1, 2}
    even = g.thresholds[1]
    assert even.tolist() == pytest.approx([-0.4307, 0.4307], abs=1e-3)  # N(0,1) thirds
    assert torch.isfinite(g.thresholds).all()


@pytest.mark.usefixtures("torch_seed")
def test_subclusters_setting_is_checked_and_widens_the_latent() -> None:
    family = get_family("cgan")
    info = _points_info()
    for bad in (1, -2):
        with pytest.raises(InputError, match="subclusters must be 0"):
            family.build(family.config({"subclusters": bad}, info), info)
    off = family.config({"subclusters": 0}, info)
    on = family.config({"subclusters": 4}, info)
    assert family.latent_dim(on) == family.latent_dim(off) + 1
    assert family.graphs(on, info)["sampler"].inputs[0].shape == ("batch", on.z_dim + 1)
    # Runs made before the setting existed read back as off.
    older = {k: v for k, v in family.config_dict(off).items() if k not in ("subclusters", "r1")}
    assert family.from_hparams(older).subclusters == 0


def test_subclustered_run_exports_samples_its_classes_and_keeps_r1(
    tmp_path: Path, short_run: ShortRun
) -> None:
    from genedge.export.onnx_export import export_run
    from genedge.runtime import Sampler

    run = short_run(tmp_path / "run", "cgan", "ring8", 100, subclusters=3, r1=0.5)
    losses = [line for line in (run / "metrics.jsonl").read_text().splitlines() if "d_reg" in line]
    assert losses  # R1 ran
    result = export_run(run, tmp_path / "m.onnx")
    assert result.report.passed
    x, y = Sampler(result.path).sample_labelled(400, seed=0)
    modes = np.array([[2 * np.cos(a), 2 * np.sin(a)] for a in np.arange(8) * np.pi / 4])
    nearest = ((x[:, None, :] - modes[None]) ** 2).sum(-1).argmin(1)
    assert (nearest == y).mean() > 0.8

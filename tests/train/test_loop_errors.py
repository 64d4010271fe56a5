"""Training refuses bad requests with clear errors and guards against divergence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genedge.runtime.errors import DataError, GenedgeError, InputError
from genedge.train.loop import TrainingDiverged, train


def test_unknown_family(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown model family 'diffusion'"):
        train(tmp_path / "r", "diffusion", "ring8")


def test_unknown_setting(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="has no setting 'warp'"):
        train(tmp_path / "r", "gan", "ring8", overrides={"warp": 9})


def test_existing_run_is_not_overwritten(tmp_path: Path) -> None:
    train(tmp_path / "r", "gan", "ring8", overrides={"steps": 2}, device="cpu")
    with pytest.raises(InputError, match="already holds a run"):
        train(tmp_path / "r", "gan", "ring8", overrides={"steps": 2}, device="cpu")


def test_nan_data_is_refused(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(100, 2)).astype(np.float32)
    x[3, 1] = np.nan
    np.save(tmp_path / "bad.npy", x)
    with pytest.raises(DataError, match="NaN"):
        train(tmp_path / "r", "gan", str(tmp_path / "bad.npy"))


def test_divergence_stops_with_the_step_and_keeps_the_last_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from genedge.train.families.gan import GANFamily

    real_step = GANFamily.train_step
    calls = [0]

    def flaky(self, *args, **kwargs):
        calls[0] += 1
        losses = real_step(self, *args, **kwargs)
        return {**losses, "d_loss": float("nan")} if calls[0] >= 15 else losses

    monkeypatch.setattr(GANFamily, "train_step", flaky)
    with pytest.raises(TrainingDiverged, match=r"diverged at step 15 \(d_loss=nan"):
        train(
            tmp_path / "r",
            "gan",
            "ring8",
            overrides={"steps": 50},
            device="cpu",
            checkpoint_every=10,
            sample_every=10**6,
        )
    assert isinstance(TrainingDiverged("x"), GenedgeError)
    kept = [p.name for p in (tmp_path / "r" / "checkpoints").glob("step-*.json")]
    assert kept == ["step-00000010.json"]

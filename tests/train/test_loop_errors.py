"""Training refuses bad requests with clear errors and guards against divergence."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from genedge.runtime.errors import DataError, InputError
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


def _diverge_at_step_15(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the gan family's D loss NaN from its 15th step on."""
    from genedge.train.families.gan import GANFamily

    real_step = GANFamily.train_step
    calls = [0]

    def flaky(self, *args, **kwargs):
        calls[0] += 1
        losses = real_step(self, *args, **kwargs)
        return {**losses, "d_loss": float("nan")} if calls[0] >= 15 else losses

    monkeypatch.setattr(GANFamily, "train_step", flaky)


def test_divergence_stops_with_the_step_and_keeps_the_last_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _diverge_at_step_15(monkeypatch)
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
    kept = [p.name for p in (tmp_path / "r" / "checkpoints").glob("step-*.json")]
    assert kept == ["step-00000010.json"]


def test_cli_reports_divergence_in_one_line_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``genedge train`` treats divergence as an error the user can act on: one line with the
    step and a hint on stderr, exit code 2, no traceback; the last good checkpoint stays."""
    from genedge.cli import main

    _diverge_at_step_15(monkeypatch)
    run = tmp_path / "r"
    argv = ["genedge", "train", "gan", "--data", "ring8", "--out", str(run), "--steps", "50"]
    argv += ["--device", "cpu", "--checkpoint-every", "10", "--sample-every", "1000000", "-q"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: training diverged at step 15 (d_loss=nan"), err
    assert "the last good checkpoint is kept" in lines[0]
    assert "Traceback" not in out + err
    assert [p.name for p in (run / "checkpoints").glob("step-*.json")] == ["step-00000010.json"]

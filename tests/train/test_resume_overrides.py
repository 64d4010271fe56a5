"""--resume keeps the run's settings: only ``steps`` may change; anything else given must equal
the run's value, and is refused (naming it) when it differs instead of being dropped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from genedge.runtime.errors import InputError
from genedge.train.loop import train
from genedge.train.run_folder import load_trained

KW: dict[str, Any] = dict(device="cpu", threads=1, sample_every=10**6, checkpoint_every=10**6)


@pytest.fixture
def run(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    train(out, "gan", "ring8", overrides={"steps": 2, "batch_size": 32}, **KW)
    return out


def _hparams(run: Path) -> dict[str, Any]:
    return json.loads((run / "run.json").read_text())["hparams"]


def test_a_changed_override_is_refused_by_name(run: Path) -> None:
    lr = _hparams(run)["lr"]
    with pytest.raises(InputError) as info:
        train(run, resume=True, overrides={"steps": 4, "lr": 0.123}, **KW)
    assert str(info.value) == (
        f"--resume keeps the run's settings; lr=0.123 differs from the run's {lr}: "
        "start a new run, or leave it out"
    )
    with pytest.raises(InputError, match=r"batch_size=64 differs.* 32; .*g_hidden=\[8\] differs"):
        train(run, resume=True, overrides={"batch_size": 64, "g_hidden": [8]}, **KW)
    with pytest.raises(InputError, match="family='vae' differs from the run's 'gan'"):
        train(run, "vae", resume=True, **KW)
    with pytest.raises(InputError, match="data='grid25' differs from the run's 'ring8'"):
        train(run, data="grid25", resume=True, **KW)
    with pytest.raises(InputError, match="gan has no setting 'warp'"):
        train(run, resume=True, overrides={"warp": 1}, **KW)
    with pytest.raises(InputError, match=r"sequence_id='id' differs from the run's \(unset\)"):
        train(run, resume=True, overrides={"sequence_id": "id"}, **KW)
    _, _, _, step = load_trained(run)
    assert step == 2  # nothing trained on


def test_overrides_equal_to_the_run_and_more_steps_are_fine(run: Path) -> None:
    hp = _hparams(run)
    same = {k: hp[k] for k in ("lr", "batch_size", "g_hidden", "lr_decay")}
    same["g_hidden"] = tuple(same["g_hidden"])  # a tuple is the list run.json holds
    train(run, "gan", "ring8", resume=True, overrides={"steps": 4, "beta1": None, **same}, **KW)
    _, _, _, step = load_trained(run)
    assert step == 4
    assert _hparams(run) == hp  # run.json keeps the run's settings


def test_cli_resume_with_another_lr_is_one_line(run: Path) -> None:
    lr = _hparams(run)["lr"]
    r = subprocess.run(
        [sys.executable, "-m", "genedge", "train", "gan", "--out", str(run), "--resume"]
        + ["--steps", "4", "--lr", "0.5", "--device", "cpu", "--threads", "1", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "300", "NO_COLOR": "1"},
    )
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and f"lr=0.5 differs from the run's {lr}" in lines[0], r.stderr

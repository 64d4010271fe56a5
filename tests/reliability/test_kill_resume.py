"""Killed at any moment, a run resumes to the same weights; SIGTERM/SIGINT save a checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from genedge.train.checkpoint import list_checkpoints
from genedge.train.loop import train
from genedge.train.run_folder import load_trained

STEPS = 600
# CPU results depend on torch's thread count: the killed subprocess and the in-process runs
# pin the same one, whatever an earlier test or the machine's core count left as default.
THREADS = 1
KW = dict(seed=3, device="cpu", sample_every=10**6, checkpoint_every=50, threads=THREADS)


def _launch(run: Path) -> subprocess.Popen[str]:
    code = (
        "import sys\nfrom genedge.train.loop import train\n"
        f"train(sys.argv[1], 'gan', 'ring8', overrides={{'steps': {STEPS}}}, seed=3, "
        f"device='cpu', sample_every=10**6, checkpoint_every=50, threads={THREADS})\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, str(run)],
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for_checkpoint(run: Path, proc: subprocess.Popen[str], at_least: int) -> None:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        ckpts = list_checkpoints(run / "checkpoints")
        if ckpts and int(ckpts[0].stem.split("-")[1]) >= at_least:
            return
        if proc.poll() is not None:
            pytest.fail(f"training ended early: {proc.stderr.read()}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail("no checkpoint appeared in time")


def _weights(run: Path) -> dict[str, torch.Tensor]:
    _, _, models, step = load_trained(run)
    assert step == STEPS
    return {f"{k}.{n}": p for k, m in models.items() for n, p in m.state_dict().items()}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, torch.Tensor]:
    run = tmp_path_factory.mktemp("full") / "run"
    train(run, "gan", "ring8", overrides={"steps": STEPS}, **KW)
    return _weights(run)


def test_sigkill_then_resume_matches_an_uninterrupted_run(
    tmp_path: Path, uninterrupted: dict[str, torch.Tensor]
) -> None:
    run = tmp_path / "run"
    proc = _launch(run)
    _wait_for_checkpoint(run, proc, 100)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = int(list_checkpoints(run / "checkpoints")[0].stem.split("-")[1])
    assert killed_at < STEPS
    train(run, resume=True, **KW)
    for k, v in _weights(run).items():
        torch.testing.assert_close(v, uninterrupted[k], rtol=0, atol=0, msg=k)
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps))  # no duplicated log lines from before the kill


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_save_a_checkpoint_before_exiting(
    tmp_path: Path, sig: int, uninterrupted: dict[str, torch.Tensor]
) -> None:
    run = tmp_path / "run"
    proc = _launch(run)
    _wait_for_checkpoint(run, proc, 100)
    os.kill(proc.pid, sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "checkpoint saved" in stderr and "--resume" in stderr
    stopped_at = int(list_checkpoints(run / "checkpoints")[0].stem.split("-")[1])
    assert 100 <= stopped_at < STEPS
    train(run, resume=True, **KW)
    for k, v in _weights(run).items():
        torch.testing.assert_close(v, uninterrupted[k], rtol=0, atol=0, msg=k)

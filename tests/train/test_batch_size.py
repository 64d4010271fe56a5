"""A batch larger than the data is refused (it used to train on fewer samples per step than
asked and log a samples_per_s for the batch asked); samples_per_s counts what each step used."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from genedge.runtime.errors import InputError
from genedge.train.loop import check_batch_fits, train

KW = dict(device="cpu", threads=1, sample_every=10**6, checkpoint_every=10**6)


@pytest.fixture
def points(tmp_path: Path) -> Path:
    path = tmp_path / "pts.npy"
    np.save(path, np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32))
    return path


def test_a_batch_larger_than_the_data_is_refused(tmp_path: Path, points: Path) -> None:
    run = tmp_path / "run"
    with pytest.raises(
        InputError, match=r"^batch_size 64 is larger than the data \(50 samples\); .*50 or less$"
    ):
        train(run, "gan", str(points), overrides={"steps": 2, "batch_size": 64}, **KW)
    assert not (run / "run.json").exists()
    # The family's default batch (256 for points) is held to the same rule.
    with pytest.raises(InputError, match=r"batch_size 256 is larger than the data \(50 samples"):
        train(run, "gan", str(points), overrides={"steps": 2}, **KW)
    train(run, "gan", str(points), overrides={"steps": 2, "batch_size": 50}, **KW)


def test_under_ddp_the_limit_is_each_process_share() -> None:
    check_batch_fits(50, 1, 50)
    check_batch_fits(52, 2, 51)  # shards are padded to 26 each
    with pytest.raises(InputError) as info:
        check_batch_fits(64, 2, 51)
    assert str(info.value) == (
        "batch_size 64 is 32 per process, larger than each process's share of the data "
        "(26 of 51 samples over 2 processes); pass --batch-size 52 or less"
    )


def test_samples_per_s_is_steps_per_s_times_the_batch(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(run, "gan", "ring8", overrides={"steps": 20, "batch_size": 32}, log_every=5, **KW)
    lines = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert [ln["step"] for ln in lines] == [5, 10, 15, 20]
    for ln in lines:
        assert ln["samples_per_s"] == pytest.approx(32 * ln["steps_per_s"], rel=0.01, abs=1)

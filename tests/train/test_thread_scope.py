"""train() and evaluate() leave torch's thread count and global RNG as they found them, and a
run records its thread count so that --resume reproduces it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from genedge.runtime.errors import InputError
from genedge.train.loop import train
from genedge.train.threads import torch_scope

KW: dict[str, Any] = dict(device="cpu", sample_every=10**6, checkpoint_every=10**6)
OUTSIDE = 3  # a thread count no test here trains with


@pytest.fixture
def outside() -> Iterator[torch.Tensor]:
    """Torch at OUTSIDE threads and a known global RNG state; both put back afterwards."""
    threads, state = torch.get_num_threads(), torch.random.get_rng_state()
    torch.set_num_threads(OUTSIDE)
    torch.manual_seed(1234)
    try:
        yield torch.random.get_rng_state()
    finally:
        torch.set_num_threads(threads)
        torch.random.set_rng_state(state)


def _unchanged(rng_before: torch.Tensor) -> None:
    assert torch.get_num_threads() == OUTSIDE
    assert torch.equal(torch.random.get_rng_state(), rng_before)


def test_train_restores_threads_and_global_rng(tmp_path: Path, outside: torch.Tensor) -> None:
    seen: list[int] = []
    train(
        tmp_path / "r",
        "gan",
        "ring8",
        overrides={"steps": 2},
        threads=1,
        on_start=lambda info: seen.append(torch.get_num_threads()),
        **KW,
    )
    assert seen == [1]
    _unchanged(outside)


def test_train_restores_them_when_it_raises(tmp_path: Path, outside: torch.Tensor) -> None:
    with pytest.raises(InputError, match="has no setting 'warp'"):
        train(tmp_path / "a", "gan", "ring8", overrides={"warp": 9}, threads=1, **KW)
    _unchanged(outside)

    def fail(info: dict[str, Any]) -> None:
        raise KeyboardInterrupt  # after the models are seeded and built

    with pytest.raises(KeyboardInterrupt):
        train(
            tmp_path / "b", "gan", "ring8", overrides={"steps": 2}, threads=1, on_start=fail, **KW
        )
    _unchanged(outside)


def test_evaluate_restores_threads(tmp_path: Path, outside: torch.Tensor) -> None:
    from genedge.eval.evaluate import evaluate

    run = tmp_path / "r"
    train(run, "gan", "ring8", overrides={"steps": 2}, threads=1, **KW)
    evaluate(run, "ring8", n=50, threads=1)
    _unchanged(outside)


def test_torch_scope_restores_on_error(outside: torch.Tensor) -> None:
    with pytest.raises(RuntimeError), torch_scope(threads=1, seed=5):
        assert torch.get_num_threads() == 1
        torch.rand(3)
        raise RuntimeError("boom")
    _unchanged(outside)
    with pytest.raises(InputError, match="threads must be a positive whole number, got 0"):
        train(Path("unused"), "gan", "ring8", threads=0, **KW)


def test_the_run_records_its_threads_and_resume_uses_them(
    tmp_path: Path, outside: torch.Tensor
) -> None:
    run = tmp_path / "r"
    train(run, "gan", "ring8", overrides={"steps": 2}, threads=1, **KW)
    assert json.loads((run / "run.json").read_text())["provenance"]["threads"] == 1

    launches: list[tuple[int, list[str]]] = []

    def on_start(info: dict[str, Any]) -> None:
        launches.append((torch.get_num_threads(), info["notes"]))

    # No --threads: the run's own count, so the result matches an uninterrupted run.
    train(run, resume=True, overrides={"steps": 4}, on_start=on_start, **KW)
    assert launches[-1] == (1, [])
    # Another count is honoured, with a note that the result is no longer bit-identical.
    train(run, resume=True, overrides={"steps": 6}, threads=2, on_start=on_start, **KW)
    threads, notes = launches[-1]
    assert threads == 2
    assert len(notes) == 1 and "1 torch thread(s)" in notes[0] and "bit-identical" in notes[0]
    # The record keeps the thread count the run started with.
    assert json.loads((run / "run.json").read_text())["provenance"]["threads"] == 1
    _unchanged(outside)

"""genedge.bench.text_bench on a tiny text model: the result's structure, both sides decoding
the same text, the overhead table and the rendering (few rounds; no timing assertions)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genedge.bench.text_bench import TextBenchResult, render, run_text_bench, verdict_lines
from genedge.runtime.errors import InputError

pytestmark = pytest.mark.usefixtures("pinned_threads")

SMALL = {"embed": 16, "hidden": 32, "layers": 1, "length": 32, "batch_size": 8, "steps": 5}
TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\n\nJULIET:\nAy me.\n\n"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from genedge.export.text_export import export_text_run
    from genedge.train.loop import train

    root = tmp_path_factory.mktemp("text-bench")
    data = root / "corpus.txt"
    data.write_text(TEXT * 30, encoding="utf-8")
    run = root / "run"
    train(run, "text", str(data), overrides=SMALL, device="cpu", sample_every=10**6)
    out = root / "text.onnx"
    export_text_run(run, out)
    return run, out


def test_result_has_both_sides_at_each_batch(tiny: tuple[Path, Path]) -> None:
    import torch

    run, path = tiny
    threads_before = torch.get_num_threads()
    r = run_text_bench(
        path, run, batch_sizes=(1, 3), length=6, budget_s=0.02, threads=1, warmup_s=0.0
    )
    assert torch.get_num_threads() == threads_before  # the bench put torch's threads back
    assert isinstance(r, TextBenchResult)
    assert [(x.backend, x.batch) for x in r.rows] == [
        ("cpu", 1),
        ("torch", 1),
        ("cpu", 3),
        ("torch", 3),
    ]
    for x in r.rows:
        assert x.length == 6 and x.latency.calls >= 1 and x.chars_per_s > 0
        if x.backend == "cpu":
            torch_row = r.row("torch", x.batch)
            assert torch_row is not None and x.speedup_vs_torch is not None
            assert x.speedup_vs_torch == pytest.approx(x.chars_per_s / torch_row.chars_per_s)
        else:
            assert x.speedup_vs_torch is None
    assert r.same_text == {1: True, 3: True}  # the same decode, the same seed: the same text
    assert [o.batch for o in r.overhead] == [1, 3]
    for o in r.overhead:
        assert o.step_ms > 0 and o.graph_ms > 0 and o.sampling_ms > 0
        assert o.torch_graph_ms is not None and o.torch_graph_ms > 0
        assert o.sampling_share == pytest.approx(o.sampling_ms / o.step_ms)
        assert o.graph_speedup == pytest.approx(o.torch_graph_ms / o.graph_ms)
        torch_row = r.row("torch", o.batch)
        assert torch_row is not None
        assert o.torch_step_ms == pytest.approx(torch_row.latency.median_ms / 6)
        assert o.graph_gflops == pytest.approx(r.step_flops * o.batch / (o.graph_ms * 1e6))
    # SMALL's GRU: 3 gates x (16 x 32 + 32 x 32) multiply-adds, then 32 x vocab for the logits.
    from genedge.runtime import TextSampler

    vocab = len(TextSampler(path).vocab)
    assert r.step_flops == 2.0 * (3 * (16 * 32 + 32 * 32) + 32 * vocab)
    assert r.gemm_ceiling_gflops is not None and r.gemm_ceiling_gflops > 0
    assert r.meets_target(1) in (True, False) and r.meets_target(2) is None
    d = json.loads(r.to_json())
    assert d["same_text"] == {"1": True, "3": True} and set(d["target"]) == {"speedup", "1", "3"}
    decode, overhead = render(r)
    assert len(decode.rows) == 4 and all(len(row) == len(decode.columns) for row in decode.rows)
    assert len(overhead.rows) == 2 and all(len(x) == len(overhead.columns) for x in overhead.rows)
    assert len(verdict_lines(r)) == 2


def test_without_a_run_only_the_runtime_is_timed(tiny: tuple[Path, Path]) -> None:
    _, path = tiny
    r = run_text_bench(path, batch_sizes=(2,), length=4, budget_s=0.02, threads=1, warmup_s=0.0)
    assert [(x.backend, x.batch, x.speedup_vs_torch) for x in r.rows] == [("cpu", 2, None)]
    assert r.same_text == {} and r.meets_target(2) is None
    assert r.overhead[0].torch_graph_ms is None and r.overhead[0].graph_speedup is None
    assert verdict_lines(r) == []


def test_bad_settings_are_refused(tiny: tuple[Path, Path]) -> None:
    _, path = tiny
    with pytest.raises(InputError):
        run_text_bench(path, batch_sizes=(0,))
    with pytest.raises(InputError):
        run_text_bench(path, length=0)
    with pytest.raises(InputError):
        run_text_bench(path, temperature=0.0)

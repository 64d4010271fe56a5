"""Decoding speed of a text artifact: characters per second through the runtime's
:class:`~genedge.runtime.text.TextSampler` on onnxruntime, against PyTorch eager running the
same step-by-step decode, and where a decoding step's time goes.

Both sides run the very same decoding loop (the runtime's, with its numpy sampling and
per-sequence noise); only the graph call differs: onnxruntime's session, or the trained
module eagerly through :class:`genedge.train.reference.TorchBackend`. A timed call decodes
``length`` characters for ``batch`` sequences from the model's start character; calls run in
interleaved blocks (:func:`genedge.bench.interleave.time_interleaved`), and characters per
second are ``batch * length / median call``.

The overhead table splits one decoding step at each batch size: the graph call alone
(``T = 1``, onnxruntime and PyTorch), the numpy sampling alone
(:func:`genedge.runtime.text_decoding.choose` on real logits), and the whole step (a decode call's
median over its length); the rest is the loop's Python (assembling text, stop strings). The
graph's arithmetic rate (GFLOP/s, from the GRU's sizes in the training provenance) sits beside
onnxruntime's rate on a large float32 GEMM on the same machine and threads: when the graph runs
near that ceiling, a faster decode needs less arithmetic (lower precision), not less overhead.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from genedge.bench.ceilings import _ceil_or_none, onnxruntime_gemm_ceiling
from genedge.bench.interleave import Runner, time_interleaved
from genedge.bench.machine import machine_info
from genedge.bench.stats import LatencyStats
from genedge.runtime.errors import InputError
from genedge.runtime.text import TextSampler
from genedge.runtime.text_decoding import check_settings, choose, sequence_stream

#: Batch sizes of the issue's target.
BATCH_SIZES = (1, 64)
#: Characters decoded per timed call.
LENGTH = 128
#: The issue's target: this many times PyTorch eager's characters per second.
TARGET_SPEEDUP = 3.0
#: Decoding temperature of the timed calls (sampling on, so its cost counts).
TEMPERATURE = 0.8


@dataclass(frozen=True)
class DecodeRow:
    """One backend at one batch size.

    Attributes:
        backend: ``cpu`` (onnxruntime through the runtime) or ``torch`` (PyTorch eager).
        batch: Sequences decoded together.
        length: Characters per sequence per call.
        latency: Per-call statistics (ms) of decoding ``batch x length`` characters.
        chars_per_s: ``batch * length`` over the median call.
        speedup_vs_torch: ``chars_per_s`` over torch's at this batch (``None`` for torch or
            without a torch row).
    """

    backend: str
    batch: int
    length: int
    latency: LatencyStats
    chars_per_s: float
    speedup_vs_torch: float | None = None


@dataclass(frozen=True)
class StepOverhead:
    """Where one decoding step's time goes at one batch size (median milliseconds).

    Attributes:
        batch: Sequences per step.
        step_ms: A whole step of the runtime's decode (graph, sampling, text): its decode
            call's median over ``length``.
        graph_ms: One ``T = 1`` graph call on onnxruntime.
        torch_graph_ms: The same call on PyTorch eager (``None`` without a torch side).
        sampling_ms: :func:`~genedge.runtime.text_decoding.choose` alone on that call's logits.
        sampling_share: ``sampling_ms / step_ms``.
        graph_speedup: ``torch_graph_ms / graph_ms``: the most the whole decode could gain
            over PyTorch with no time outside the graph.
        graph_gflops: The onnxruntime graph call's arithmetic rate (``None`` when the
            artifact does not say its model's sizes).
        torch_step_ms: A whole step of PyTorch's decode (``None`` without a torch side).
    """

    batch: int
    step_ms: float
    graph_ms: float
    torch_graph_ms: float | None
    sampling_ms: float
    sampling_share: float
    graph_speedup: float | None = None
    graph_gflops: float | None = None
    torch_step_ms: float | None = None


@dataclass
class TextBenchResult:
    """What :func:`run_text_bench` measured."""

    model: str
    against: str | None
    threads: int | None
    budget_s: float
    length: int
    temperature: float
    rows: list[DecodeRow] = field(default_factory=list)
    overhead: list[StepOverhead] = field(default_factory=list)
    #: Whether both sides decoded the same text (seed 0) at each batch size.
    same_text: dict[int, bool] = field(default_factory=dict)
    #: Multiply-adds x 2 of one sequence's decoding step (``None``: sizes unknown).
    step_flops: float | None = None
    #: onnxruntime's GFLOP/s on a 1024^3 float32 MatMul at the bench's threads (``None``:
    #: the onnx package, which builds that graph, is missing).
    gemm_ceiling_gflops: float | None = None
    machine: dict[str, Any] = field(default_factory=dict)

    def row(self, backend: str, batch: int) -> DecodeRow | None:
        """The row of ``backend`` at ``batch``, if measured."""
        return next((r for r in self.rows if r.backend == backend and r.batch == batch), None)

    def meets_target(self, batch: int, target: float = TARGET_SPEEDUP) -> bool | None:
        """Whether onnxruntime decodes ``target`` times PyTorch's characters per second at
        ``batch`` (``None`` without both rows)."""
        r = self.row("cpu", batch)
        if r is None or r.speedup_vs_torch is None:
            return None
        return r.speedup_vs_torch >= target

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        d = asdict(self)
        d["same_text"] = {str(k): v for k, v in self.same_text.items()}
        d["target"] = {
            "speedup": TARGET_SPEEDUP,
            **{str(b): self.meets_target(b) for b in sorted({r.batch for r in self.rows})},
        }
        return d

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON."""
        return json.dumps(self.to_dict(), indent=1)


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Torch at ``threads`` intra-op threads inside the block (unchanged for ``None``)."""
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _decoder(sampler: TextSampler, length: int, temperature: float) -> Runner:
    def run(batch: int) -> object:
        return sampler.generate(
            "", n=batch, length=length, temperature=temperature, seed=0, batch_size=batch
        )

    return run


def state_shape(sampler: TextSampler, batch: int) -> tuple[int, ...]:
    """The shape of ``batch`` sequences' state, from the manifest's ``text`` section."""
    return tuple(batch if d == "batch" else int(d) for d in sampler.spec.state_shape)


def step_flops(sampler: TextSampler) -> float | None:
    """Multiply-adds x 2 of one sequence's ``T = 1`` step of genedge's GRU language model
    (embedding lookup free; GRU gates ``3 (in h + h h)`` per layer; output ``h vocab``), from
    the training provenance's sizes; ``None`` when the artifact does not carry them."""
    hp = sampler.manifest.provenance.get("hparams") or {}
    try:
        embed, hidden, layers = int(hp["embed"]), int(hp["hidden"]), int(hp["layers"])
    except (KeyError, TypeError, ValueError):
        return None
    vocab = len(sampler.vocab)
    gru = sum(3 * ((embed if i == 0 else hidden) * hidden + hidden * hidden) for i in range(layers))
    return 2.0 * (gru + hidden * vocab)


def _same(v: bool | None) -> str:
    return "-" if v is None else ("yes" if v else "NO")


def _step_runners(
    samplers: dict[str, TextSampler], batch: int, temperature: float
) -> dict[str, Runner]:
    """Runners for one ``T = 1`` graph call per backend and for the sampling alone."""
    ort = samplers["cpu"]
    tokens = np.zeros((batch, 1), np.int64)
    state = np.zeros(state_shape(ort, batch), np.float32)
    logits = ort.step(tokens, state)[0][:, -1]
    settings = check_settings(1, temperature, None, None, None)
    streams = [sequence_stream(0, i) for i in range(batch)]

    def graph(sampler: TextSampler) -> Runner:
        return lambda _batch: sampler.step(tokens, state)

    runners = {f"graph-{name}": graph(s) for name, s in samplers.items()}
    runners["sampling"] = lambda _b: choose(logits, settings, streams)
    return runners


def run_text_bench(
    model: str | Path,
    against: str | Path | None = None,
    *,
    batch_sizes: tuple[int, ...] = BATCH_SIZES,
    length: int = LENGTH,
    budget_s: float = 2.0,
    threads: int | None = None,
    temperature: float = TEMPERATURE,
    warmup_s: float = 0.2,
) -> TextBenchResult:
    """Characters per second of decoding ``model`` (onnxruntime, CPU) and, with ``against``
    (its run folder), of PyTorch eager doing the same decode, interleaved; and the per-step
    overhead table.

    Args:
        model: The text artifact.
        against: Its trained run folder, for the PyTorch rows.
        batch_sizes: Sequences decoded together.
        length: Characters per sequence per timed call.
        budget_s: Timed seconds per backend and batch size (the overhead table gets half).
        threads: Intra-op threads for onnxruntime and, during the run, torch (``None``: each
            engine's default).
        temperature: Decoding temperature (> 0: sampling included).
        warmup_s: Untimed warm-up per runner.

    Raises:
        InputError: Bad sizes, budget or temperature.
        ManifestError: ``model`` is not a text artifact.
    """
    if not batch_sizes or any(b < 1 for b in batch_sizes):
        raise InputError(f"batch sizes must be positive, got {batch_sizes}")
    if length < 1 or budget_s <= 0 or temperature <= 0:
        raise InputError("length and budget must be positive, and temperature > 0")
    result = TextBenchResult(
        model=str(model),
        against=None if against is None else str(against),
        threads=threads,
        budget_s=budget_s,
        length=length,
        temperature=temperature,
        machine=machine_info(),
    )
    samplers = {"cpu": TextSampler(model, backend="cpu", threads=threads)}
    result.step_flops = step_flops(samplers["cpu"])
    result.gemm_ceiling_gflops = _ceil_or_none(
        lambda: onnxruntime_gemm_ceiling(budget_s=min(1.0, budget_s), threads=threads)
    )
    with _torch_threads(threads):
        if against is not None:
            from genedge.export.text_export import load_torch_text_sampler

            samplers["torch"] = load_torch_text_sampler(against)
        result.machine["torch_threads_in_bench"] = threads
        decoders = {k: _decoder(s, length, temperature) for k, s in samplers.items()}
        for batch in batch_sizes:
            if "torch" in samplers:
                texts = [decoders[k](batch) for k in ("cpu", "torch")]
                result.same_text[batch] = texts[0] == texts[1]
            times = time_interleaved(decoders, batch, budget_s, warmup_s=warmup_s)
            stats = {k: LatencyStats.from_seconds(t) for k, t in times.items()}
            speed = {k: batch * length / (s.median_ms / 1e3) for k, s in stats.items()}
            for k in samplers:
                vs = speed[k] / speed["torch"] if "torch" in speed and k != "torch" else None
                result.rows.append(DecodeRow(k, batch, length, stats[k], speed[k], vs))
            step_times = time_interleaved(
                _step_runners(samplers, batch, temperature), batch, budget_s / 2, warmup_s
            )
            med = {k: float(np.median(t)) * 1e3 for k, t in step_times.items()}
            step_ms = stats["cpu"].median_ms / length
            flops = result.step_flops
            result.overhead.append(
                StepOverhead(
                    batch=batch,
                    step_ms=step_ms,
                    graph_ms=med["graph-cpu"],
                    torch_graph_ms=med.get("graph-torch"),
                    sampling_ms=med["sampling"],
                    sampling_share=med["sampling"] / step_ms,
                    graph_speedup=(
                        med["graph-torch"] / med["graph-cpu"] if "graph-torch" in med else None
                    ),
                    graph_gflops=(
                        None if flops is None else flops * batch / (med["graph-cpu"] * 1e6)
                    ),
                    torch_step_ms=(stats["torch"].median_ms / length if "torch" in stats else None),
                )
            )
    return result


class RenderedTable(NamedTuple):
    """A table for the CLI: title, column names, rows of cells."""

    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]


def _f(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def render(result: TextBenchResult) -> list[RenderedTable]:
    """The decode table and the step-overhead table."""
    decode = RenderedTable(
        f"decode {Path(result.model).name}: {result.length} characters per call, "
        f"temperature {result.temperature}, threads {result.threads or 'default'}",
        ("backend", "batch", "median ms", "p90 ms", "chars/s", "vs torch", "same text", "calls"),
        [
            (
                r.backend,
                str(r.batch),
                f"{r.latency.median_ms:.3f}",
                f"{r.latency.p90_ms:.3f}",
                f"{r.chars_per_s:,.0f}",
                _f(r.speedup_vs_torch, ".2f") + ("x" if r.speedup_vs_torch else ""),
                _same(result.same_text.get(r.batch)),
                f"{r.latency.outliers}/{r.latency.calls}",
            )
            for r in result.rows
        ],
    )
    overhead = RenderedTable(
        "one decoding step (median ms)",
        (
            "batch",
            "whole step",
            "graph (ort)",
            "graph (torch)",
            "graph vs torch",
            "sampling",
            "sampling share",
            "graph GFLOP/s",
        ),
        [
            (
                str(o.batch),
                f"{o.step_ms:.4f}",
                f"{o.graph_ms:.4f}",
                _f(o.torch_graph_ms, ".4f"),
                _f(o.graph_speedup, ".2f") + ("x" if o.graph_speedup else ""),
                f"{o.sampling_ms:.4f}",
                f"{100 * o.sampling_share:.0f}%",
                _f(o.graph_gflops, ".1f"),
            )
            for o in result.overhead
        ],
    )
    return [decode, overhead]


def verdict_lines(result: TextBenchResult) -> list[str]:
    """One line per batch size: the speed-up against the issue's target and, when below it,
    what the target would need beside what the graph alone takes and how near its arithmetic
    runs to the machine's GEMM ceiling."""
    lines = []
    steps = {o.batch: o for o in result.overhead}
    ceiling = result.gemm_ceiling_gflops
    for b in sorted({r.batch for r in result.rows}):
        r = result.row("cpu", b)
        if r is None or r.speedup_vs_torch is None:
            continue
        ok = r.speedup_vs_torch >= TARGET_SPEEDUP
        line = (
            f"batch {b}: {r.speedup_vs_torch:.2f}x PyTorch eager "
            f"({'meets' if ok else 'below'} the {TARGET_SPEEDUP:g}x target)"
        )
        o = steps.get(b)
        if not ok and o is not None and o.torch_step_ms is not None:
            line += (
                f"; {TARGET_SPEEDUP:g}x needs a whole step of "
                f"{o.torch_step_ms / TARGET_SPEEDUP:.4f} ms, the graph alone takes "
                f"{o.graph_ms:.4f} ms"
            )
            if o.graph_gflops is not None and ceiling:
                line += (
                    f" at {o.graph_gflops:.0f} GFLOP/s ({100 * o.graph_gflops / ceiling:.0f}% "
                    f"of onnxruntime's {ceiling:.0f} GFLOP/s GEMM ceiling here)"
                )
        lines.append(line)
    return lines

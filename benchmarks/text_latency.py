"""Decoding speed of the text family: characters per second through the runtime
(onnxruntime) against PyTorch eager doing the same step-by-step decode, at batch 1 and 64.

Trains the text family's default model for a few steps (speed does not depend on quality),
exports it, and runs :func:`genedge.bench.text_bench.run_text_bench` (interleaved blocks,
median call) with onnxruntime and torch pinned to the same thread count. Writes
``benchmarks/results/text_latency.json`` and ``text_latency.md``.

    .venv/bin/python benchmarks/text_latency.py [--threads 2] [--budget 3] [--length 64]
        [--set steps=5] [--run RUN_DIR --model text.onnx]

``--run``/``--model`` time an existing run and its artifact instead of training one (e.g. the
quality row's). The issue's target is 3x PyTorch eager at both batch sizes; the overhead table
shows where a decoding step's time goes.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from genedge.bench.text_bench import (
    BATCH_SIZES,
    LENGTH,
    TextBenchResult,
    render,
    run_text_bench,
    verdict_lines,
)

RESULTS = Path(__file__).parent / "results"
#: The model timed: the family's defaults on the built-in corpus, trained a few steps.
DATA = "shakespeare"
OVERRIDES: dict[str, Any] = {"steps": 5}


def markdown(result: TextBenchResult, notes: str = "") -> str:
    """The result as a markdown page."""
    m = result.machine
    lines = [
        "# Text decoding: genedge runtime (onnxruntime) vs PyTorch eager\n",
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores, onnxruntime {m.get('onnxruntime')}, "
        f"torch {m.get('torch')}; threads {result.threads or 'default'} for both engines. "
        "Both run the runtime's own decoding loop (numpy sampling, Gumbel-max noise); only the "
        "graph call differs. A call decodes "
        f"{result.length} characters per sequence at temperature {result.temperature}; "
        "interleaved blocks, median call. "
        "Command: `.venv/bin/python benchmarks/text_latency.py`.\n",
    ]
    for table in render(result):
        lines.append(f"\n## {table.title}\n")
        lines.append("| " + " | ".join(table.columns) + " |")
        lines.append("|" + "---|" * len(table.columns))
        lines.extend("| " + " | ".join(row) + " |" for row in table.rows)
    lines.append("")
    lines.extend(f"- {v}" for v in verdict_lines(result))
    if notes:
        lines.append("\n" + notes.strip())
    return "\n".join(lines) + "\n"


def _parse_set(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def measure(
    out: Path,
    *,
    threads: int = 2,
    budget_s: float = 3.0,
    length: int = LENGTH,
    batch_sizes: tuple[int, ...] = BATCH_SIZES,
    overrides: dict[str, Any] | None = None,
    run: Path | None = None,
    model: Path | None = None,
) -> TextBenchResult:
    """Train and export the timed model (unless ``run`` and ``model`` are given), time it, and
    write ``text_latency.json`` and ``text_latency.md`` to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if run is None or model is None:
            from genedge.export.text_export import export_text_run
            from genedge.train.loop import train

            run, model = Path(tmp) / "text", Path(tmp) / "text.onnx"
            train(
                run,
                "text",
                DATA,
                overrides={**OVERRIDES, **(overrides or {})},
                device="cpu",
                threads=threads,
                sample_every=10**6,
            )
            export_text_run(run, model)
        result = run_text_bench(
            model,
            run,
            batch_sizes=batch_sizes,
            length=length,
            budget_s=budget_s,
            threads=threads,
        )
    text = markdown(result)
    print(text, flush=True)
    (out / "text_latency.json").write_text(result.to_json() + "\n")
    (out / "text_latency.md").write_text(text)
    print(f"wrote {out / 'text_latency.json'} and {out / 'text_latency.md'}")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="onnxruntime and torch threads")
    ap.add_argument("--budget", type=float, default=3.0, help="timed seconds per side and batch")
    ap.add_argument("--length", type=int, default=LENGTH, help="characters per timed call")
    ap.add_argument("--batch-sizes", default=",".join(map(str, BATCH_SIZES)))
    ap.add_argument("--set", action="append", default=[], help="training override, e.g. steps=5")
    ap.add_argument("--run", type=Path, default=None, help="time this trained run ...")
    ap.add_argument("--model", type=Path, default=None, help="... and this artifact of it")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if (args.run is None) != (args.model is None):
        ap.error("--run and --model go together")
    measure(
        args.out,
        threads=args.threads,
        budget_s=args.budget,
        length=args.length,
        batch_sizes=tuple(int(b) for b in args.batch_sizes.split(",")),
        overrides=_parse_set(args.set),
        run=args.run,
        model=args.model,
    )


if __name__ == "__main__":
    main()

"""The text-model branches of ``genedge eval`` and ``genedge bench``: call the library, print."""

from __future__ import annotations

import json
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from genedge.cli._app import out, write_json
from genedge.runtime.artifact import read_manifest
from genedge.runtime.errors import InputError


def is_text_artifact(source: Path) -> bool:
    """Whether ``source`` is an ``.onnx`` artifact of a text model (a run folder is not)."""
    if source.is_dir() or not source.is_file():
        return False
    return read_manifest(source).output_kind == "text"


def refuse_text_run(source: Path, command: str) -> None:
    """Refuse a text run folder where only its artifact works (one line, exit 2)."""
    run_json = source / "run.json"
    if source.is_dir() and run_json.is_file():
        try:
            family = json.loads(run_json.read_text(encoding="utf-8")).get("family")
        except (OSError, ValueError):
            return
        if family == "text":
            raise InputError(
                f"{command} takes a text model's artifact: genedge export {source} "
                f"--out text.onnx, then genedge {command} text.onnx"
            )


def eval_text(
    source: Path,
    data: str,
    *,
    n: int,
    length: int | None,
    seed: int,
    backend: str,
    threads: int | None,
    json_path: Path | None,
) -> None:
    """Print :func:`genedge.eval.text_metrics.evaluate_text_file`'s report as a table."""
    from genedge.eval.text_metrics import (
        RENDER_COLUMNS,
        evaluate_text_file,
        render_notes,
        render_rows,
    )

    report = evaluate_text_file(
        source,
        data,
        backend=backend,
        threads=threads,
        n=n,
        seed=seed,
        **({} if length is None else {"length": length}),
    )
    table = Table(title=f"eval: {escape(str(source))} (text) vs {escape(report.data)}")
    for col in RENDER_COLUMNS:
        table.add_column(col, justify="left" if col == "metric" else "right")
    for row in render_rows(report):
        table.add_row(*map(escape, row))
    out.print(table)
    for note in render_notes(report):
        out.print(f"note: {escape(note)}")
    if json_path:
        write_json(json_path, json.dumps(report.to_dict(), indent=1))
        out.print(f"wrote {json_path}")


def bench_text(
    model: Path,
    against: str | None,
    *,
    batch_sizes: tuple[int, ...] | None,
    budget: float,
    threads: int | None,
    json_path: Path | None,
) -> None:
    """Print :func:`genedge.bench.text_bench.run_text_bench`'s decode and step tables."""
    from genedge.bench.text_bench import BATCH_SIZES, render, run_text_bench, verdict_lines

    if against is not None and not Path(against).is_dir():
        raise InputError("bench of a text model takes --against RUN (its run folder), not a module")
    result = run_text_bench(
        model, against, batch_sizes=batch_sizes or BATCH_SIZES, budget_s=budget, threads=threads
    )
    for t in render(result):
        table = Table(title=escape(t.title))
        for i, col in enumerate(t.columns):
            table.add_column(col, justify="left" if i == 0 else "right")
        for row in t.rows:
            table.add_row(*map(escape, row))
        out.print(table)
    for line in verdict_lines(result):
        out.print(line)
    if json_path:
        write_json(json_path, result.to_json())
        out.print(f"wrote {json_path}")

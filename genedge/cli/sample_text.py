"""``genedge sample`` for text models: generate, then write ``.txt``, ``.jsonl`` or stream to
stdout (``--out -``).

Each sample is the prompt followed by its continuation. ``.txt`` puts a
``--- sample i ---`` line before each sample when there are several; ``.jsonl`` holds one
object per sample: ``index``, ``prompt``, ``text`` (the continuation) and ``settings``. With
``-`` each sample is decoded on its own (sequence ``i`` keeps its stream, so the text is the
same as in a batch) and printed as it is produced.

A shard (``--shard K/N``) writes samples ``start .. start + count - 1`` of the ``n`` with their
own indices and headers, so the shards' files (or outputs) concatenated in order are the single
run's, byte for byte.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.markup import escape

from genedge.cli._app import err, out
from genedge.runtime.errors import OutputError
from genedge.runtime.text import TextSampler
from genedge.runtime.text_decoding import check_settings

#: What ``--out`` may be for text.
TEXT_OUTPUTS = (".txt", ".jsonl", "-")


def open_text_sampler(
    source: Path, backend: str, threads: int | None, options: dict[str, Any] | None
) -> TextSampler:
    """The runtime's text sampler of an artifact, or the PyTorch reference of a run folder."""
    if source.is_dir():
        from genedge.export.text_export import load_torch_text_sampler

        return load_torch_text_sampler(source)
    return TextSampler(source, backend=backend, threads=threads, backend_options=options)


def header(i: int, n: int) -> str:
    """The line before sample ``i`` in ``.txt`` and stdout output (none for a single one)."""
    return f"--- sample {i} ---\n" if n > 1 else ""


def sample_text(
    sampler: TextSampler,
    out_path: str,
    *,
    prompt: str,
    n: int,
    length: int,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    stop: list[str],
    seed: int | None,
    batch_size: int | None,
    start: int = 0,
    count: int | None = None,
) -> None:
    """Generate ``n`` samples and write them to ``out_path`` (``.txt``, ``.jsonl`` or ``-``);
    with ``count``, only samples ``start .. start + count - 1`` of the ``n``.

    Raises:
        InputError: Bad settings or a prompt the model cannot read.
        OutputError: ``out_path`` is not ``.txt``, ``.jsonl`` or ``-``, or cannot be written.
    """
    from genedge.runtime.atomic import write_bytes_atomic

    suffix = "-" if out_path == "-" else Path(out_path).suffix.lower()
    if suffix not in TEXT_OUTPUTS:
        raise OutputError(
            f"text samples are written to a .txt or .jsonl file or - (stdout), not {out_path}"
        )
    settings = {
        "length": length,
        "temperature": temperature,
        "top_k": top_k,
        "top_p": top_p,
        "stop": stop or None,
        "seed": seed,
    }
    check_settings(length, temperature, top_k, top_p, stop or None)
    kw: dict[str, Any] = {**settings, "batch_size": batch_size}
    count = n if count is None else count
    t0 = time.perf_counter()
    if suffix == "-":
        for i in range(start, start + count):
            pieces = _one(sampler, prompt, i, kw)
            sys.stdout.write(header(i, n) + prompt)
            for piece in pieces:
                sys.stdout.write(piece)
                sys.stdout.flush()
            sys.stdout.write("\n")
        sys.stdout.flush()
        dt = time.perf_counter() - t0
        err.print(f"{count} samples in {dt:.2f}s ({escape(sampler.backend)})")
        return
    texts = sampler.generate(prompt, count, **kw, start=start)
    if suffix == ".jsonl":
        lines = [
            json.dumps(
                {"index": i, "prompt": prompt, "text": t, "settings": settings}, ensure_ascii=False
            )
            for i, t in enumerate(texts, start)
        ]
        data = "\n".join(lines) + "\n"
    else:
        data = "".join(header(i, n) + prompt + t + "\n" for i, t in enumerate(texts, start))
    write_bytes_atomic(out_path, data.encode("utf-8"))
    dt = time.perf_counter() - t0
    backend = escape(sampler.backend)
    out.print(f"wrote {count} samples to {escape(out_path)} in {dt:.2f}s ({backend})")


def _one(sampler: TextSampler, prompt: str, i: int, kw: dict[str, Any]) -> Iterator[str]:
    """Sample ``i`` alone, as pieces: the text sequence ``i`` gets in any batch (settings
    and prompt are checked here, before the first piece)."""
    pairs = sampler.stream(prompt, 1, **{**kw, "batch_size": 1}, start=i)
    return (piece for _, piece in pairs)

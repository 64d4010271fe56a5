"""``genedge sample``, ``interpolate`` and ``reconstruct``: samples from an artifact (torch-free)
or from a run folder (PyTorch)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from genedge.cli._app import Backend, int_list, out, parse_set
from genedge.runtime.errors import InputError


def open_sampler(
    source: Path, backend: str, threads: int | None, options: dict[str, Any] | None = None
) -> Any:
    """A runtime :class:`~genedge.runtime.Sampler` of an artifact, or PyTorch's of a run."""
    from genedge.source import open_source

    return open_source(source, backend, threads, options, encoder=False)


def _is_text(source: Path) -> bool:
    """Whether ``source`` is a text artifact, or a run folder of a text model."""
    if source.is_dir():
        from genedge.train.run import RUN_FILE, load_config

        return (source / RUN_FILE).is_file() and load_config(source).data_info.kind == "text"
    if source.suffix != ".onnx" or not source.is_file():
        return False  # the image path reports what is wrong with it
    from genedge.runtime.artifact import read_manifest

    return read_manifest(source).output_kind == "text"


def sample(
    source: Annotated[Path, typer.Argument(help="An .onnx artifact, or a run folder (PyTorch).")],
    n: Annotated[
        int | None, typer.Option("-n", help="Number of samples (default 64; text models: 1).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Noise seed (same seed, same samples).")] = None,
    out_path: Annotated[
        str | None,
        typer.Option(
            "--out",
            "-o",
            help=".png, .npy, .npz, .csv, .wav or a folder (default samples.png); audio models: "
            "a folder of .wav clips, one .wav, or a .png of spectrograms; text models: "
            ".txt, .jsonl or - for stdout (the default).",
        ),
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option(
            help="Classes, e.g. 0,1,2: one per sample, or a shorter list repeated in order "
            "(balanced over the listed classes when -n is a multiple of its length)."
        ),
    ] = None,
    class_: Annotated[
        int | None, typer.Option("--class", help="One class for all samples.")
    ] = None,
    length: Annotated[
        int | None,
        typer.Option(help="Sequence length (sequence models); characters (text, default 200)."),
    ] = None,
    truncation: Annotated[
        float | None, typer.Option(help="Truncate latents to [-psi, psi].")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Samples per backend call.")] = None,
    backend: Annotated[
        Backend, typer.Option(help="auto, cpu, cuda, ort-tensorrt, tensorrt.")
    ] = Backend("auto"),
    threads: Annotated[int | None, typer.Option(help="CPU threads.")] = None,
    backend_option: Annotated[
        list[str],
        typer.Option(
            "--backend-option",
            help="Backend option key=value (repeatable), e.g. cuda_graph=true, device_id=1.",
        ),
    ] = [],  # noqa: B006 - typer needs a literal default
    check_finite: Annotated[bool, typer.Option(help="Fail if any sample is NaN/Inf.")] = False,
    sample_rate: Annotated[int, typer.Option(help=".wav: frames per second.")] = 8000,
    feature: Annotated[int, typer.Option(help=".wav: the sequence feature to play.")] = 0,
    prompt: Annotated[str, typer.Option(help="Text models: the text to continue.")] = "",
    temperature: Annotated[
        float, typer.Option(help="Text models: logits / temperature; 0 is greedy.")
    ] = 0.8,
    top_k: Annotated[
        int | None, typer.Option(help="Text models: sample among the k likeliest characters.")
    ] = None,
    top_p: Annotated[
        float | None,
        typer.Option(help="Text models: sample among the likeliest characters holding p."),
    ] = None,
    stop: Annotated[
        list[str], typer.Option(help="Text models: end a sample at this string (repeatable).")
    ] = [],  # noqa: B006 - typer needs a literal default
    shard: Annotated[
        str | None,
        typer.Option(
            help="K/N: write only shard K (from 0) of N of the -n samples a single run with "
            "this --seed makes; the N outputs concatenated in order are that run (docs/scale.md)."
        ),
    ] = None,
) -> None:
    """Generate samples from an artifact (torch-free) or from a run folder (PyTorch reference)."""
    import numpy as np

    from genedge.runtime.batching import check_count
    from genedge.runtime.writers import write_samples

    total = None if n is None else check_count(n)
    text = _is_text(source)
    start, count = _shard(shard, seed, total, out_path, text)
    if text:
        from genedge.cli.sample_text import open_text_sampler, sample_text

        if labels is not None or class_ is not None or truncation is not None:
            raise InputError("--labels, --class and --truncation do not apply to text models")
        sample_text(
            open_text_sampler(source, backend.value, threads, parse_set(backend_option)),
            "-" if out_path is None else out_path,
            prompt=prompt,
            n=1 if total is None else total,
            start=start,
            count=count,
            length=200 if length is None else length,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            stop=stop,
            seed=seed,
            batch_size=batch_size,
        )
        return
    if prompt or top_k is not None or top_p is not None or stop or temperature != 0.8:
        raise InputError(
            "--prompt, --temperature, --top-k, --top-p and --stop apply to text models only"
        )
    n = 64 if total is None else total
    count = n if count is None else count
    sampler = open_sampler(source, backend.value, threads, parse_set(backend_option))
    chosen: Any = int_list(labels, "--labels")
    if class_ is not None:
        chosen = [class_]
    ys = sampler.labels_for(n, chosen, repeat=True)
    if ys is not None:
        ys = ys[start : start + count]  # labels are positional: the shard's own
    bad = [0]

    def chunks() -> Iterator[tuple[Any, Any]]:
        for x, y in sampler.iter_samples(
            count,
            seed,
            labels=ys,
            length=length,
            truncation=truncation,
            batch_size=batch_size,
            start=start,
        ):
            if check_finite:
                bad[0] += int(np.size(x) - np.isfinite(x).sum())
            yield x, y

    t0 = time.perf_counter()
    path = write_samples(
        out_path or "samples.png",
        chunks(),
        sampler.manifest,
        count,
        sample_rate=sample_rate,
        feature=feature,
    )
    if check_finite and bad[0]:
        path.unlink(missing_ok=True)
        raise InputError(f"{bad[0]} sample values are NaN or Inf; nothing written")
    dt = time.perf_counter() - t0
    what = f"{count} samples" if shard is None else f"samples {start}..{start + count - 1} of {n}"
    out.print(f"wrote {what} to {path} in {dt:.2f}s ({sampler.backend})")
    out.print(f"backend: {escape(sampler.backend_selection)}")


#: What a shard may be written to: files that concatenate in shard order (docs/scale.md).
SHARD_OUTPUTS = (".npy", ".txt", ".jsonl")


def _shard(
    shard: str | None, seed: int | None, n: int | None, out_path: str | None, text: bool
) -> tuple[int, int | None]:
    """``(start, count)`` of ``--shard K/N`` over ``-n`` samples; ``(0, None)`` without it.

    Raises:
        InputError: No --seed or -n, a bad K/N, an empty shard, or an output that does not
            concatenate.
    """
    if shard is None:
        return 0, None
    from genedge.runtime.shards import parse_shard, shard_range

    k, shards = parse_shard(shard)
    if seed is None:
        raise InputError("--shard needs --seed: only seeded samples have fixed positions")
    if n is None:
        raise InputError("--shard needs -n: the number of samples of the whole run")
    suffix = "-" if out_path in (None, "-") else Path(out_path).suffix.lower()
    if suffix not in SHARD_OUTPUTS and not (text and suffix == "-"):
        raise InputError(
            f"--shard writes .npy (or .txt/.jsonl for text) files that concatenate in shard "
            f"order, not {out_path or 'samples.png'}"
        )
    start, count = shard_range(n, k, shards)
    if count == 0:
        raise InputError(f"shard {k} of {shards} holds none of {n} samples: use at most {n} shards")
    return start, count


def merge(
    parts: Annotated[
        list[Path], typer.Argument(help="The shards' .npy files, in shard order (0, 1, ...).")
    ],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="The merged .npy file.")],
) -> None:
    """Concatenate the .npy files of `genedge sample --shard K/N` runs into the single run's."""
    from genedge.runtime.shards import merge_npy

    n = merge_npy(parts, out_path)
    out.print(f"merged {len(parts)} shards, {n} samples, into {escape(str(out_path))}")


def reconstruct(
    model: Annotated[Path, typer.Argument(help="A VAE .onnx artifact.")],
    input_path: Annotated[
        Path,
        typer.Option(
            "--input", "-i", help=".npy samples (n, *sample shape) in data units, or a .png image."
        ),
    ],
    out_path: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help=".png (rows of originals above their reconstructions), .npy, .csv."
        ),
    ] = Path("reconstructions.png"),
    n: Annotated[int, typer.Option("-n", help="Reconstruct at most this many samples.")] = 32,
    backend: Annotated[
        Backend, typer.Option(help="auto, cpu, cuda, ort-tensorrt, tensorrt.")
    ] = Backend("auto"),
    threads: Annotated[int | None, typer.Option(help="CPU threads.")] = None,
) -> None:
    """Encode samples with a VAE and decode them again (torch-free)."""
    import numpy as np

    from genedge.runtime.atomic import write_bytes_atomic
    from genedge.runtime.batching import check_count
    from genedge.runtime.vae import VAESampler, comparison_png, load_samples
    from genedge.runtime.writers import write_samples

    n = check_count(n)
    vae = VAESampler(model, backend=backend.value, threads=threads)
    x = load_samples(input_path, vae.manifest)[:n]
    rec = vae.reconstruct(x)
    if out_path.suffix.lower() == ".png" and vae.manifest.output_kind == "image":
        write_bytes_atomic(out_path, comparison_png(x, rec, vae.manifest))
    else:
        write_samples(out_path, [(rec, None)], vae.manifest, len(rec))
    err_ = float(np.sqrt(np.mean((np.asarray(x, np.float32) - rec) ** 2)))
    out.print(f"reconstructed {len(x)} samples (RMS error {err_:.4g}, data units) -> {out_path}")


def interpolate(
    source: Annotated[Path, typer.Argument(help="An .onnx artifact, or a run folder (PyTorch).")],
    steps: Annotated[int, typer.Option(help="Points on the path, both ends included.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the start point.")] = 0,
    to_seed: Annotated[
        int | None, typer.Option(help="Seed of the end point (default: --seed + 1).")
    ] = None,
    class_: Annotated[
        int | None, typer.Option("--class", help="Class of the walk (conditional models).")
    ] = None,
    length: Annotated[int | None, typer.Option(help="Sequence length (sequence models).")] = None,
    linear: Annotated[
        bool, typer.Option("--linear", help="A straight line instead of slerp.")
    ] = False,
    out_path: Annotated[
        Path, typer.Option("--out", "-o", help=".png (one row), .npy, .csv, .wav.")
    ] = Path("walk.png"),
    backend: Annotated[
        Backend, typer.Option(help="auto, cpu, cuda, ort-tensorrt, tensorrt.")
    ] = Backend("auto"),
    threads: Annotated[int | None, typer.Option(help="CPU threads.")] = None,
) -> None:
    """Walk through latent space between two seeded samples (any family)."""
    from genedge.runtime.atomic import write_bytes_atomic
    from genedge.runtime.interpolate import interpolate as walk
    from genedge.runtime.writers import render_png, write_samples

    sampler = open_sampler(source, backend.value, threads)
    x = walk(sampler, steps, seed, to_seed, labels=class_, length=length, spherical=not linear)
    if out_path.suffix.lower() == ".png" and sampler.manifest.output_kind == "image":
        write_bytes_atomic(out_path, render_png(x, sampler.manifest, ncols=len(x)))
    else:
        write_samples(out_path, [(x, None)], sampler.manifest, len(x))
    end = seed + 1 if to_seed is None else to_seed
    out.print(f"wrote {len(x)} steps from seed {seed} to seed {end} -> {out_path}")

"""Does the int8 path's ConvTranspose rewrite (four Convs + DepthToSpace) speed up fp32?

Trains the demo's DCGAN (``dcgan`` on ``mnist``, default width) for a few steps (speed does not
depend on the weights), exports it in fp32, rewrites its stride-2 ConvTransposes with
:func:`genedge.export.subpixel.rewrite_conv_transpose`, and times both graphs on onnxruntime
(CPU, genedge's session options) and OpenVINO f32 (``INFERENCE_PRECISION_HINT f32``,
``PERFORMANCE_HINT LATENCY``), all four in interleaved blocks per batch size (medians of
per-call times) on the same pre-drawn inputs. Checks that the rewritten graph's outputs match
the original's (max abs difference, model units) on each engine. Prints a table and writes
``benchmarks/results/conv_rewrite.json``.

    .venv/bin/python benchmarks/conv_rewrite.py [--threads 2] [--budget 2] \
        [--batch-sizes 1,64,1024] [--steps 20] [--model dcgan.onnx]

``--model`` times an existing fp32 DCGAN artifact instead of training one.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from genedge.bench import LatencyStats, machine_info, time_interleaved
from genedge.export.subpixel import rewrite_conv_transpose
from genedge.runtime import Sampler
from genedge.runtime.atomic import write_bytes_atomic

RESULTS = Path(__file__).parent / "results"
#: Max abs difference the rewrite may introduce (model units), as fp32 export parity.
EXACT = 1e-5

Run = Callable[[dict[str, np.ndarray]], np.ndarray]


def _demo_artifact(tmp: Path, steps: int) -> Path:
    from genedge.export.onnx_export import export_run
    from genedge.train.loop import train

    run = tmp / "dcgan-mnist"
    train(run, "dcgan", "mnist", overrides={"steps": steps}, seed=0, device="cpu",
          sample_every=10**6)  # fmt: skip
    out = tmp / "dcgan.onnx"
    export_run(run, out)
    return out


def _ort(path: Path, threads: int) -> Run:
    import onnxruntime as ort

    from genedge.runtime.backends.ort_session import session_options

    sess = ort.InferenceSession(
        str(path), session_options(threads), providers=["CPUExecutionProvider"]
    )
    return lambda feed: sess.run(None, feed)[0]


def _openvino(path: Path, threads: int) -> Run:
    import openvino as ov

    config = {
        "INFERENCE_PRECISION_HINT": "f32",
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_NUM_THREADS": threads,
    }
    compiled = ov.Core().compile_model(str(path), "CPU", config)
    request = compiled.create_infer_request()
    return lambda feed: request.infer(feed)[compiled.output(0)]


def measure(
    model: Path, rewritten: Path, threads: int, batch_sizes: tuple[int, ...], budget_s: float
) -> dict[str, Any]:
    """Time and compare the original and rewritten graphs on both engines."""
    engines = {
        ("onnxruntime", "original"): _ort(model, threads),
        ("onnxruntime", "rewritten"): _ort(rewritten, threads),
        ("openvino-f32", "original"): _openvino(model, threads),
        ("openvino-f32", "rewritten"): _openvino(rewritten, threads),
    }
    probe = Sampler(model, backend="cpu", threads=threads)
    rows: list[dict[str, Any]] = []
    exact: list[dict[str, Any]] = []
    for batch in batch_sizes:
        feed = probe.feed(batch, seed=0)
        outs = {k: np.asarray(fn(feed)) for k, fn in engines.items()}
        reference = outs[("onnxruntime", "original")]
        for engine in ("onnxruntime", "openvino-f32"):
            d = float(np.abs(outs[(engine, "rewritten")] - outs[(engine, "original")]).max())
            d_ref = float(np.abs(outs[(engine, "rewritten")] - reference).max())
            exact.append(
                {
                    "batch": batch,
                    "engine": engine,
                    "max_abs_vs_original_same_engine": d,
                    "max_abs_vs_onnxruntime_original": d_ref,
                    "exact": d <= EXACT,
                }
            )
        runners = {
            f"{e}/{g}": (lambda b, fn=fn, feed=feed: fn(feed)) for (e, g), fn in engines.items()
        }
        times = time_interleaved(runners, batch, budget_s)
        for (engine, graph), _ in engines.items():
            st = LatencyStats.from_seconds(times[f"{engine}/{graph}"])
            base = float(np.median(times[f"{engine}/original"])) * 1e3
            rows.append(
                {
                    "batch": batch,
                    "engine": engine,
                    "graph": graph,
                    "median_ms": st.median_ms,
                    "p90_ms": st.p90_ms,
                    "calls": st.calls,
                    "speedup_vs_original": base / st.median_ms,
                }
            )
    return {"rows": rows, "exactness": exact}


def render(result: dict[str, Any]) -> str:
    lines = [
        f"ConvTranspose rewrite, fp32, {result['model']} ({result['replaced']} ConvTranspose "
        f"nodes rewritten); {result['machine'].get('cpu')}, threads {result['threads']}",
        "",
        "| batch | engine | graph | median ms | p90 ms | calls | vs original |",
        "|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['batch']} | {r['engine']} | {r['graph']} | {r['median_ms']:.4f} "
            f"| {r['p90_ms']:.4f} | {r['calls']} | {r['speedup_vs_original']:.2f}x |"
        )
    lines += ["", "| batch | engine | max abs (rewritten vs original) | vs ORT original |"]
    lines.append("|---:|---|---:|---:|")
    for e in result["exactness"]:
        lines.append(
            f"| {e['batch']} | {e['engine']} | {e['max_abs_vs_original_same_engine']:.2e} "
            f"| {e['max_abs_vs_onnxruntime_original']:.2e} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget", type=float, default=2.0, help="timed seconds per row")
    ap.add_argument("--batch-sizes", default="1,64,1024")
    ap.add_argument("--steps", type=int, default=20, help="training steps of the DCGAN")
    ap.add_argument("--model", type=Path, default=None, help="an existing fp32 DCGAN artifact")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    sizes = tuple(int(b) for b in args.batch_sizes.split(","))
    with tempfile.TemporaryDirectory(prefix="genedge-conv-rewrite-") as tmp_:
        tmp = Path(tmp_)
        model = args.model or _demo_artifact(tmp, args.steps)
        proto, replaced = rewrite_conv_transpose(onnx.load(str(model)))
        rewritten = tmp / "rewritten.onnx"
        onnx.save(proto, str(rewritten))
        result: dict[str, Any] = {
            "model": str(model) if args.model else f"demo DCGAN (mnist, {args.steps} steps)",
            "replaced": replaced,
            "threads": args.threads,
            "budget_s": args.budget,
            "timing": "per batch size, the four (engine, graph) rows in interleaved blocks of "
            "min(0.1 s, budget/5), 0.2 s warm-up each, median of per-call perf_counter times",
            "machine": machine_info(),
            **measure(model, rewritten, args.threads, sizes, args.budget),
        }
    text = render(result)
    print(text, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "conv_rewrite.json"
    write_bytes_atomic(target, (json.dumps(result, indent=1) + "\n").encode())
    print(f"wrote {target}")


if __name__ == "__main__":
    main()

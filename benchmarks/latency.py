"""Standard latency comparison for each family: PyTorch eager vs the genedge runtime.

Trains each family for a few steps (speed does not depend on quality), exports it, and runs
``genedge bench`` side by side at batch 1, 16, 256 and 1024 with cold starts. Writes
``benchmarks/results/latency.json`` and ``benchmarks/results/latency.md``.

The ``text`` family decodes one character per graph call, so its row is characters per second
of a whole decode (``benchmarks/text_latency.py``, written to ``text_latency.json``/``.md``);
``--families text`` runs it alone.

    .venv/bin/python benchmarks/latency.py [--budget 1.0] [--families gan,dcgan,text]

Figures depend on the machine: the results name the CPU, the core count and the
OPENBLAS_CORETYPE setting (which pins numpy's BLAS kernels; onnxruntime and torch use their own).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from genedge.bench import run_bench
from genedge.export.onnx_export import export_run
from genedge.train.loop import train

RESULTS = Path(__file__).parent / "results"
STANDARD = {  # family: (data, overrides)
    "gan": ("mnist", {"steps": 20}),
    "dcgan": ("mnist", {"steps": 20}),
    "cgan": ("mnist", {"steps": 20}),
    "vae": ("mnist", {"steps": 20}),
    "rgan": ("sines", {"steps": 20}),
}
#: Families timed by ``benchmarks/text_latency.py`` instead (characters per second).
TEXT_FAMILIES = ("text",)


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def markdown(reports: dict[str, dict]) -> str:
    lines = []
    machine = next(iter(reports.values()))["machine"]
    lines.append(
        f"# Latency: PyTorch eager vs genedge runtime\n\nMachine: {machine.get('cpu')}, "
        f"{machine.get('cores')} cores, onnxruntime {machine.get('onnxruntime')}, "
        f"torch {machine.get('torch')}, OPENBLAS_CORETYPE="
        f"{machine.get('OPENBLAS_CORETYPE') or '(unset)'}.\n"
    )
    lines.append(
        "`cpu` is `Sampler.sample` end to end (noise included); `cpu-bare` is "
        "`session.run` on pre-drawn inputs; `torch` draws noise with torch and runs the "
        "module eagerly. Median of interleaved calls.\n"
    )
    lines.append(
        "The text family's decoding speed (characters per second) is in `text_latency.md`.\n"
    )
    for fam, d in reports.items():
        ceil = ", ".join(f"{k} {v:.0f}" for k, v in d["ceilings_gflops"].items())
        lines.append(
            f"\n## {fam} ({d['flops_per_sample'] / 1e6:.2f} MFLOP/sample; "
            f"GEMM ceiling GFLOP/s: {ceil})\n"
        )
        lines.append(
            "| backend | precision | batch | median ms | p99 ms | samples/s | vs torch | GFLOP/s "
            "| % ceiling | parity |"
        )
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in d["rows"]:
            if r["status"] != "ok":
                lines.append(f"| {r['backend']} | {r['precision']} | - | {r['status']} |")
                continue
            lat = r["latency"]
            share = r["ceiling_share"]
            lines.append(
                f"| {r['backend']} | {r['precision']} | {r['batch']} "
                f"| {lat['median_ms']:.4f} | {lat['p99_ms']:.4f} "
                f"| {r['samples_per_s']:,.0f} | {_fmt(r['speedup_vs_torch'], '.2f')}x "
                f"| {_fmt(r['gflops'], '.1f')} | {_fmt(share and 100 * share, '.0f')} "
                f"| {_fmt(r['parity_max_abs'], '.1e')} |"
            )
        for c in d["cold"]:
            if c.get("status") == "ok":
                lines.append(
                    f"\nCold start {c['backend']}: {c['wall_s']:.3f} s, peak RSS "
                    f"{c['peak_rss_mib']:.0f} MiB"
                    + (
                        f" ({c['speedup_vs_torch']:.1f}x faster than torch)"
                        if "speedup_vs_torch" in c
                        else ""
                    )
                )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=None, help="onnxruntime threads")
    ap.add_argument("--families", default=",".join((*STANDARD, *TEXT_FAMILIES)))
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--render", action="store_true", help="only re-render latency.md from JSON")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.render:
        reports = json.loads((args.out / "latency.json").read_text())
        (args.out / "latency.md").write_text(markdown(reports))
        return
    # A subset of families (--families) replaces only their sections of the committed results.
    existing = args.out / "latency.json"
    reports = json.loads(existing.read_text()) if existing.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        for fam in args.families.split(","):
            if fam in TEXT_FAMILIES:
                from text_latency import measure  # benchmarks/text_latency.py, beside this

                measure(args.out, threads=args.threads or 2, budget_s=max(args.budget, 1.0))
                continue
            data, overrides = STANDARD[fam]
            run = Path(tmp) / fam
            train(run, fam, data, overrides=overrides, device="cpu", sample_every=10**6)
            model = Path(tmp) / f"{fam}.onnx"
            export_run(run, model)
            report = run_bench(
                model,
                run,
                backends=("torch", "cpu", "cpu-bare"),
                batch_sizes=(1, 16, 256, 1024),
                budget_s=args.budget,
                cold=True,
                threads=args.threads,
                # int8 is refused for recurrent graphs (see genedge/export/precision.py)
                precisions=("fp16",) if fam == "rgan" else ("fp16", "int8"),
            )
            reports[fam] = report.to_dict()
            print(markdown({fam: reports[fam]}), flush=True)
    if not reports:  # only text was asked for
        return
    (args.out / "latency.json").write_text(json.dumps(reports, indent=1))
    (args.out / "latency.md").write_text(markdown(reports))
    print(f"wrote {args.out / 'latency.json'} and {args.out / 'latency.md'}")


if __name__ == "__main__":
    main()

"""Standard latency comparison for each family: the genedge runtime vs what a user would pick
instead (PyTorch eager, torch.compile, bare onnxruntime, bare OpenVINO in f32 and in its
default precision).

Trains each family for a few steps (speed does not depend on quality), exports it, and runs
``genedge bench`` side by side at batch 1, 16, 256 and 1024 with cold starts. Writes
``benchmarks/results/latency.json`` and ``benchmarks/results/latency.md``. torch.compile
compiles once per batch size before timing (its seconds are the ``compile s`` column).

The ``text`` family decodes one character per graph call, so its row is characters per second
of a whole decode (``benchmarks/text_latency.py``, written to ``text_latency.json``/``.md``);
``--families text`` runs it alone.

    .venv/bin/python benchmarks/latency.py [--budget 1.0] [--threads 2]
        [--families gan,dcgan,text] [--batch-sizes 1,16,256,1024] [--backends torch,cpu,...]

Figures depend on the machine: the results name the CPU, its AVX-512/VNNI/bf16/AMX flags, the
core and thread counts, the engines' versions and the OPENBLAS_CORETYPE setting (which pins
numpy's BLAS kernels; onnxruntime and torch use their own).
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
#: genedge's rows and the peers', in table order.
BACKENDS = (
    "torch",
    "torch-compile",
    "cpu",
    "cpu-bare",
    "cpu-openvino",
    "cpu-openvino-bf16",
    "openvino",
    "openvino-default",
)


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def markdown(reports: dict[str, dict]) -> str:
    lines = []
    first = next(iter(reports.values()))
    machine, settings = first["machine"], first["settings"]
    flags = machine.get("cpu_flags")
    lines.append(
        f"# Latency: genedge runtime vs PyTorch eager, torch.compile and OpenVINO\n\n"
        f"Machine: {machine.get('cpu')}, {machine.get('cores')} cores "
        f"({machine.get('usable_cores', '?')} usable); CPU flags: "
        f"{', '.join(flags) if flags else '(not read)'}; bf16 units: "
        f"{ {True: 'yes', False: 'no'}.get(machine.get('bf16_units'), '?') }. "
        "Threads: onnxruntime and OpenVINO "
        f"{settings.get('threads') or 'default'}, torch {machine.get('torch_threads')}. "
        f"onnxruntime {machine.get('onnxruntime')}, openvino {machine.get('openvino')}, "
        f"torch {machine.get('torch')}, numpy {machine.get('numpy')}, OPENBLAS_CORETYPE="
        f"{machine.get('OPENBLAS_CORETYPE') or '(unset)'}.\n"
    )
    lines.append(
        "`cpu` is `Sampler.sample` end to end (noise included); `cpu-bare` is "
        "`session.run` on pre-drawn inputs; `torch` draws noise with torch and runs the "
        "module eagerly; `torch-compile` is the same module through "
        "`torch.compile(backend='inductor', dynamic=False)`, compiled per batch size before "
        "timing (`compile s`); `openvino` and `openvino-default` are bare OpenVINO "
        "(`compile_model` + `infer`, LATENCY hint) on the `cpu-bare` inputs, f32 forced and "
        "its default precision (`compile s`: `compile_model`, once). Per batch size every row "
        "runs in interleaved rounds of blocks (min(0.1 s, budget/5)) with a 5 ms pause "
        "between engines; medians of per-call times.\n"
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
            "| % ceiling | parity | compile s |"
        )
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
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
                f"| {_fmt(r['parity_max_abs'], '.1e')} | {_fmt(r.get('compile_s'), '.2f')} |"
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
    ap.add_argument(
        "--threads", type=int, default=None, help="onnxruntime, OpenVINO and torch threads"
    )
    ap.add_argument("--families", default=",".join((*STANDARD, *TEXT_FAMILIES)))
    ap.add_argument("--batch-sizes", default="1,16,256,1024")
    ap.add_argument("--backends", default=",".join(BACKENDS))
    ap.add_argument("--no-cold", action="store_true", help="skip the cold-start processes")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--render", action="store_true", help="only re-render latency.md from JSON")
    args = ap.parse_args()
    if args.threads:  # torch (eager and torch.compile) on the same thread count as the engines
        import torch

        torch.set_num_threads(args.threads)
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
                backends=tuple(args.backends.split(",")),
                batch_sizes=tuple(int(b) for b in args.batch_sizes.split(",")),
                budget_s=args.budget,
                cold=not args.no_cold,
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

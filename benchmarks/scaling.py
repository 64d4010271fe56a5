"""Data-parallel scaling on this machine: throughput and quality of N = 1 and N = 2 processes.

Every run goes through the CLI, ``genedge train ... --nproc N`` (DistributedDataParallel, gloo
on the CPU), with the family's default global batch, so N = 2 takes the same optimisation
steps as N = 1 with half the batch on each process:

- quality: DCGAN on MNIST for ``--steps`` steps, seeds 0 and 1, N = 1 and N = 2 (one torch
  thread per process), each scored by ``genedge eval RUN --data mnist``; the seed-to-seed
  spread at N = 1 says how large a difference between N = 1 and N = 2 means anything;
- throughput: training samples/s from ``metrics.jsonl`` (median of the logging intervals,
  leaving out the first, warm-up, and the last, which writes the checkpoint) for those runs,
  for one process with two threads (the whole machine in one process), and for the MLP GAN on
  MNIST, whose steps are too small for DDP to pay off; with the CPU time each run used per
  training sample, which depends little on how busy the machine is.

Each invocation adds a line to the history kept in the results (figures move with the load).

Writes ``benchmarks/results/scaling.json`` and ``benchmarks/results/scaling.md``.

    .venv/bin/python benchmarks/scaling.py [--steps 600] [--out-dir /tmp/scaling]

On a machine shared with other work the figures move with its load: the results record the
load average around every run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
QUALITY_KEYS = ("fd", "precision", "recall", "density", "coverage", "class_kl")


def _cpu_s() -> float:
    """CPU seconds used by finished child processes (and the workers they waited for)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _cli(*args: str) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run ``genedge ARGS``; returns the result, its wall time and its CPU time (s)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200", "NO_COLOR": "1"}
    t0, c0 = time.perf_counter(), _cpu_s()
    r = subprocess.run(
        [sys.executable, "-m", "genedge", *args], capture_output=True, text=True, env=env
    )
    wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
    if r.returncode:
        raise SystemExit(f"genedge {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
    return r, wall, cpu


def train_run(
    folder: Path, family: str, data: str, steps: int, nproc: int, threads: int, seed: int
) -> dict[str, Any]:
    """Train one run through the CLI; its throughput and what it printed."""
    out = folder / f"{family}-{data}-n{nproc}-t{threads}-s{seed}"
    load0 = os.getloadavg()[0]
    r, wall, cpu = _cli(
        "train", family, "--data", data, "--out", str(out), "--steps", str(steps),
        "--seed", str(seed), "--nproc", str(nproc), "--threads", str(threads),
        "--device", "cpu", "--checkpoint-every", str(steps), "--sample-every", str(steps),
        "--quiet",
    )  # fmt: skip
    lines = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
    rates = [ln["samples_per_s"] for ln in lines[1:-1]] or [ln["samples_per_s"] for ln in lines]
    trained = re.search(r"in ([\d.]+)s ->", r.stdout)
    cfg = json.loads((out / "run.json").read_text())
    batch = int(cfg["hparams"]["batch_size"])
    return {
        "run": str(out),
        "family": family,
        "data": data,
        "steps": steps,
        "nproc": nproc,
        "threads_per_process": threads,
        "seed": seed,
        "global_batch": batch,
        "process_batch": batch // nproc,
        "lr": cfg["hparams"]["lr"],
        "samples_per_s": statistics.median(rates),
        "samples_per_s_intervals": rates,
        "train_s": float(trained.group(1)) if trained else None,
        "wall_s": round(wall, 2),
        # CPU time barely depends on how busy the machine is: what the work costs, whoever
        # else runs (start-up of every process included).
        "cpu_s": round(cpu, 2),
        "cpu_ms_per_sample": round(1000 * cpu / (steps * batch), 3),
        "load_before": round(load0, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "final_losses": {k: v for k, v in lines[-1].items() if k.endswith("loss")},
    }


def evaluate(run: dict[str, Any], data: str) -> dict[str, float]:
    out = Path(run["run"]) / "eval.json"
    _cli("eval", run["run"], "--data", data, "--threads", "1", "--json", str(out))
    report = json.loads(out.read_text())
    return {m["key"]: m["value"] for m in report["metrics"]}


def machine() -> dict[str, Any]:
    import torch

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def markdown(res: dict[str, Any]) -> str:
    m = res["machine"]
    lines = [
        "# Data-parallel scaling: N = 1 vs N = 2 processes (DDP, gloo, CPU)\n",
        f"Machine: {m['cpu']}, {m['cores']} cores shared with other work (see the load "
        f"averages), torch {m['torch']}. Produced by `benchmarks/scaling.py` on "
        f"{res['date']}; every run is `genedge train ... --nproc N` with the family's default "
        "global batch (N = 2: the same batch, half on each process), one torch thread per "
        "process unless stated.\n",
        "## Throughput (training samples/s)\n",
        "Median over logging intervals of 50 steps (first and last left out); `train s` is the "
        "whole training (set-up, checkpoint and grid included), `wall s` the command "
        "(process start-up and rendezvous included), `CPU ms/sample` the CPU time of all its "
        "processes per training sample (start-up included), which depends little on the "
        "machine's load.\n",
        "| family | data | N | threads/process | global batch | per process | samples/s "
        "| vs N=1 (1 thread) | CPU ms/sample | train s | wall s | load before/after |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    base: dict[tuple[str, int], float] = {}
    for r in res["throughput"]:
        if r["nproc"] == 1 and r["threads_per_process"] == 1:
            base.setdefault((r["family"], r["seed"]), r["samples_per_s"])
    for r in res["throughput"]:
        ref = base.get((r["family"], r["seed"]))
        ratio = f"{r['samples_per_s'] / ref:.2f}x" if ref else "-"
        lines.append(
            f"| {r['family']} | {r['data']} | {r['nproc']} | {r['threads_per_process']} "
            f"| {r['global_batch']} | {r['process_batch']} | {r['samples_per_s']:,.0f} "
            f"| {ratio} | {r.get('cpu_ms_per_sample', '-')} | {r['train_s']} | {r['wall_s']} "
            f"| {r['load_before']} / {r['load_after']} |"
        )
    q = res["quality"]
    lines += [
        f"\n## Quality: {q['family']} on {q['data']}, {q['steps']} steps, global batch "
        f"{q['global_batch']}\n",
        "`genedge eval RUN --data mnist` (2000 samples; floor = the metric between two "
        "halves of the real data). Compare the N = 1 vs N = 2 difference with the seed-to-seed "
        "spread within each N.\n",
        "| N | seed | Fréchet distance ↓ | precision ↑ | recall ↑ | density ↑ | coverage ↑ "
        "| class KL ↓ |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in q["runs"]:
        e = r["eval"]
        lines.append(
            f"| {r['nproc']} | {r['seed']} | {e['fd']:.1f} | {e['precision']:.3f} "
            f"| {e['recall']:.3f} | {e['density']:.3f} | {e['coverage']:.3f} "
            f"| {e['class_kl']:.3f} |"
        )
    for n, mean in q["mean"].items():
        lines.append(
            f"| {n} | mean | {mean['fd']:.1f} | {mean['precision']:.3f} | {mean['recall']:.3f} "
            f"| {mean['density']:.3f} | {mean['coverage']:.3f} | {mean['class_kl']:.3f} |"
        )
    f = q["floor"]
    lines.append(
        f"| floor | - | {f['fd']:.1f} | {f['precision']:.3f} | {f['recall']:.3f} "
        f"| {f['density']:.3f} | {f['coverage']:.3f} | {f['class_kl']:.4f} |"
    )
    lines.append(f"\n{q['verdict']}\n")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=600, help="DCGAN steps per quality run")
    ap.add_argument("--out-dir", type=Path, default=None, help="where the runs go (temp)")
    args = ap.parse_args()
    t_start = time.perf_counter()
    folder = args.out_dir or Path(tempfile.mkdtemp(prefix="genedge-scaling-"))
    folder.mkdir(parents=True, exist_ok=True)

    family, data, steps = "dcgan", "mnist", args.steps
    runs = []
    # Interleaved N = 1 / N = 2, so a change in the machine's load hits both.
    for seed, order in ((0, (1, 2)), (1, (2, 1))):
        for n in order:
            r = train_run(folder, family, data, steps, n, 1, seed)
            print(f"{family} N={n} seed={seed}: {r['samples_per_s']:,.0f} samples/s", flush=True)
            runs.append(r)
    whole = train_run(folder, family, data, max(150, steps // 4), 1, 2, 0)
    print(f"{family} N=1 2 threads: {whole['samples_per_s']:,.0f} samples/s", flush=True)
    mlp = [train_run(folder, "gan", data, 300, n, 1, 0) for n in (1, 2)]
    for r in mlp:
        print(f"gan N={r['nproc']}: {r['samples_per_s']:,.0f} samples/s", flush=True)

    floor: dict[str, float] = {}
    for r in runs:
        r["eval"] = evaluate(r, data)
        report = json.loads((Path(r["run"]) / "eval.json").read_text())
        floor = {m["key"]: m["floor"] for m in report["metrics"] if m["floor"] is not None}
        print(f"eval N={r['nproc']} seed={r['seed']}: FD {r['eval']['fd']:.1f}", flush=True)
    mean = {
        str(n): {
            k: statistics.mean(r["eval"][k] for r in runs if r["nproc"] == n) for k in QUALITY_KEYS
        }
        for n in (1, 2)
    }
    fd = {(r["nproc"], r["seed"]): r["eval"]["fd"] for r in runs}
    between = abs(mean["1"]["fd"] - mean["2"]["fd"])
    within = max(abs(fd[(1, 0)] - fd[(1, 1)]), abs(fd[(2, 0)] - fd[(2, 1)]))
    verdict = (
        f"Fréchet distance: N = 1 vs N = 2 means differ by {between:.1f}; seeds within one N "
        f"differ by up to {within:.1f}. "
        + (
            "The difference between N = 1 and N = 2 is within the seed-to-seed spread."
            if between <= within
            else "The difference between N = 1 and N = 2 exceeds the seed-to-seed spread."
        )
    )
    res = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "throughput": [*runs, whole, *mlp],
        "quality": {
            "family": family,
            "data": data,
            "steps": steps,
            "global_batch": runs[0]["global_batch"],
            "runs": [
                {k: r[k] for k in ("nproc", "seed", "eval", "final_losses", "lr")} for r in runs
            ],
            "mean": mean,
            "floor": floor,
            "verdict": verdict,
        },
        "total_s": round(time.perf_counter() - t_start, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    history = [*previous_summaries(RESULTS / "scaling.json"), summary(res)]
    (RESULTS / "scaling.json").write_text(
        json.dumps({"latest": res, "history": history}, indent=1) + "\n"
    )
    (RESULTS / "scaling.md").write_text(markdown(res) + history_markdown(history))
    print(markdown(res) + history_markdown(history))
    print(f"total {res['total_s']} s; runs in {folder}")


def summary(res: dict[str, Any]) -> dict[str, Any]:
    """One line per benchmark invocation: the figures that move with the machine's load."""

    def rate(family: str, n: int, threads: int = 1, key: str = "samples_per_s") -> float | None:
        rs = [
            r[key]
            for r in res["throughput"]
            if (r["family"], r["nproc"], r["threads_per_process"]) == (family, n, threads)
            and key in r
        ]
        return statistics.mean(rs) if rs else None

    loads = [x for r in res["throughput"] for x in (r["load_before"], r["load_after"])]
    q = res["quality"]
    return {
        "date": res["date"],
        "load": [min(loads), max(loads)],
        "dcgan_samples_per_s": {"1": rate("dcgan", 1), "2": rate("dcgan", 2)},
        "dcgan_1_process_2_threads": rate("dcgan", 1, 2),
        "gan_samples_per_s": {"1": rate("gan", 1), "2": rate("gan", 2)},
        "fd_mean": {n: q["mean"][n]["fd"] for n in q["mean"]},
        "dcgan_cpu_ms_per_sample": {
            "1": rate("dcgan", 1, key="cpu_ms_per_sample"),
            "2": rate("dcgan", 2, key="cpu_ms_per_sample"),
        },
    }


def previous_summaries(path: Path) -> list[dict[str, Any]]:
    """The history kept in an earlier results file (one written before the history existed
    counts as one entry)."""
    if not path.exists():
        return []
    old = json.loads(path.read_text())
    return old["history"] if "history" in old else [summary(old)]


def history_markdown(history: list[dict[str, Any]]) -> str:
    lines = [
        "\n## Every recorded run of this benchmark\n",
        "Mean samples/s over the runs of each kind; the machine's load average is the range "
        "seen around the runs.\n",
        "| date | load | DCGAN N=1 | DCGAN N=2 | N=2 / N=1 | DCGAN CPU ms/sample N=1, N=2 "
        "| DCGAN N=1, 2 threads | GAN N=1 | GAN N=2 | N=2 / N=1 | FD N=1 | FD N=2 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for h in history:
        d, g = h["dcgan_samples_per_s"], h["gan_samples_per_s"]
        c = h.get("dcgan_cpu_ms_per_sample") or {}
        cpu = f"{c['1']:.2f}, {c['2']:.2f}" if c.get("1") and c.get("2") else "-"
        lines.append(
            f"| {h['date']} | {h['load'][0]:.1f}-{h['load'][1]:.1f} | {d['1']:,.0f} "
            f"| {d['2']:,.0f} | {d['2'] / d['1']:.2f}x | {cpu} "
            f"| {h['dcgan_1_process_2_threads']:,.0f} "
            f"| {g['1']:,.0f} | {g['2']:,.0f} | {g['2'] / g['1']:.2f}x "
            f"| {h['fd_mean']['1']:.1f} | {h['fd_mean']['2']:.1f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

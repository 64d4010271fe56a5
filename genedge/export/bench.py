"""Latency benchmarks in the manner of trtexec and perf_analyzer, run side by side.

Rows are backend x batch size. Each batch size runs every backend in interleaved rounds until
the time budget is spent, so a drifting machine hits all alike; statistics are taken per call
(median, p90, p99, min), outliers are counted rather than dropped, and throughput is compared
with PyTorch eager on the same machine in the same run. Achieved GFLOP/s is set against the
machine's ceiling as each engine itself reaches it on a large GEMM.

GPU rows (``cuda``, ``cuda-graph``, ``ort-tensorrt``, ``tensorrt``, ``torch-cuda``,
``torch-cuda-graph``) are timed on the device with CUDA events (cuda-python's runtime API for
genedge's backends, ``torch.cuda.Event`` for PyTorch), split into host-to-device copy, compute
and device-to-host copy where the backend exposes the steps (IOBinding, the native TensorRT
backend), as trtexec does. Where there is no GPU they are rows that say why.
"""

from __future__ import annotations

import json
import math
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genedge import __version__

BENCH_FORMAT = "genedge.bench"
BENCH_VERSION = 1
#: Largest batch size a sweep takes (the GPU rows' upper end; beyond it, a typo is likelier).
MAX_BENCH_BATCH = 4096
#: Backends run_bench knows; the GPU ones are rows with a reason where they cannot run.
GPU_BACKENDS = ("torch-cuda", "torch-cuda-graph", "cuda", "cuda-graph", "ort-tensorrt", "tensorrt")
ALL_BACKENDS = ("torch", "cpu", "cpu-bare", *GPU_BACKENDS)
#: The phases a timed GPU call is split into, in order.
PHASES = ("h2d", "compute", "d2h")


@dataclass(frozen=True)
class Timing:
    """What a self-timing runner returns instead of its output: the call's duration in seconds
    as its own clock measured it (e.g. CUDA events), and the phases it was split into."""

    total_s: float
    phases: dict[str, float] = field(default_factory=dict)


class HostPhaseTimer:
    """Phase boundaries on a host clock: for backends that block until each phase is done, and
    the fallback where cuda-python is missing."""

    kind = "perf_counter"

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._marks: list[tuple[str, float]] = []

    def reset(self) -> None:
        self._marks.clear()

    def mark(self, label: str, stream: Any = None) -> None:
        self._marks.append((label, self._clock()))

    def finish(self) -> Timing:
        return _timing([m[0] for m in self._marks], [m[1] for m in self._marks])


def _timing(labels: list[str], stamps: list[float]) -> Timing:
    """Phases between consecutive marks (seconds); a phase marked twice adds up."""
    if len(stamps) < 2:
        raise ValueError("a timed call needs at least a start and an end mark")
    phases: dict[str, float] = {}
    for label, a, b in zip(labels[1:], stamps, stamps[1:], strict=False):
        phases[label] = phases.get(label, 0.0) + (b - a)
    return Timing(stamps[-1] - stamps[0], phases)


class CudaEventTimer:
    """Phase boundaries as CUDA events (cuda-python's runtime API), recorded on a stream.

    Events are created once and reused. :meth:`finish` waits for the last event and reads the
    elapsed time between consecutive ones (``cudaEventElapsedTime``, milliseconds, about 0.5 us
    resolution). The timer owns a stream (:attr:`stream`) that onnxruntime sessions are given as
    ``user_compute_stream``; the native TensorRT backend passes its own stream with each mark.

    Raises:
        BackendUnavailableError: cuda-python is missing or no GPU is visible.
    """

    kind = "cuda events"

    def __init__(self, max_marks: int = 8, cudart: Any = None) -> None:
        from genedge.runtime.backends.tensorrt_backend import cuda_call, import_cudart

        self._cudart = cudart = cudart or import_cudart()
        self._call = cuda_call
        self.stream = cuda_call(cudart, cudart.cudaStreamCreate())
        self._events = [cuda_call(cudart, cudart.cudaEventCreate()) for _ in range(max_marks)]
        self._labels: list[str] = []

    def reset(self) -> None:
        self._labels.clear()

    def mark(self, label: str, stream: Any = None) -> None:
        event = self._events[len(self._labels)]
        where = self.stream if stream is None else stream
        self._call(self._cudart, self._cudart.cudaEventRecord(event, where))
        self._labels.append(label)

    def finish(self) -> Timing:
        rt, n = self._cudart, len(self._labels)
        self._call(rt, rt.cudaEventSynchronize(self._events[n - 1]))
        stamps = [0.0]
        for a, b in zip(self._events[: n - 1], self._events[1:n], strict=True):
            stamps.append(stamps[-1] + self._call(rt, rt.cudaEventElapsedTime(a, b)) / 1e3)
        return _timing(list(self._labels), stamps)


class TorchEventTimer:
    """Phase boundaries as ``torch.cuda.Event(enable_timing=True)`` on torch's current stream."""

    kind = "torch.cuda.Event"

    def __init__(self, max_marks: int = 8) -> None:
        import torch

        self._events = [torch.cuda.Event(enable_timing=True) for _ in range(max_marks)]
        self._labels: list[str] = []

    def reset(self) -> None:
        self._labels.clear()

    def mark(self, label: str, stream: Any = None) -> None:
        self._events[len(self._labels)].record()
        self._labels.append(label)

    def finish(self) -> Timing:
        n = len(self._labels)
        self._events[n - 1].synchronize()
        stamps = [0.0]
        for a, b in zip(self._events[: n - 1], self._events[1:n], strict=True):
            stamps.append(stamps[-1] + a.elapsed_time(b) / 1e3)
        return _timing(list(self._labels), stamps)


@dataclass(frozen=True)
class LatencyStats:
    """Per-call latency statistics in milliseconds."""

    calls: int
    median_ms: float
    p90_ms: float
    p99_ms: float
    min_ms: float
    mean_ms: float
    max_ms: float
    #: Calls slower than the median + 3 * IQR: reported, never dropped.
    outliers: int

    @classmethod
    def from_seconds(cls, times: list[float] | np.ndarray) -> LatencyStats:
        t = np.asarray(times, np.float64) * 1e3
        if t.size == 0:
            raise ValueError("no timings")
        q1, med, q3 = np.percentile(t, [25, 50, 75])
        return cls(
            calls=int(t.size),
            median_ms=float(med),
            p90_ms=float(np.percentile(t, 90)),
            p99_ms=float(np.percentile(t, 99)),
            min_ms=float(t.min()),
            mean_ms=float(t.mean()),
            max_ms=float(t.max()),
            outliers=int((t > med + 3 * (q3 - q1)).sum()),
        )


@dataclass
class BenchRow:
    """One backend at one batch size, or the reason it could not run."""

    backend: str
    precision: str
    batch: int
    status: str = "ok"
    latency: LatencyStats | None = None
    samples_per_s: float | None = None
    speedup_vs_torch: float | None = None
    gflops: float | None = None
    ceiling_share: float | None = None
    model_bytes: int | None = None
    parity_max_abs: float | None = None
    #: How calls were timed: "perf_counter", "cuda events" or "torch.cuda.Event".
    timing: str = "perf_counter"
    #: Median milliseconds per phase, where the backend exposes its steps (else None).
    h2d_ms: float | None = None
    compute_ms: float | None = None
    d2h_ms: float | None = None


@dataclass
class BenchReport:
    """A whole benchmark: machine, settings, ceilings, rows and (optionally) cold starts."""

    model: str
    family: str
    flops_per_sample: float
    ceilings_gflops: dict[str, float]
    rows: list[BenchRow]
    settings: dict[str, Any]
    machine: dict[str, Any] = field(default_factory=dict)
    cold: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": BENCH_FORMAT,
            "version": BENCH_VERSION,
            "genedge": __version__,
            **asdict(self),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)


Runner = Callable[[int], object]


def time_interleaved(
    runners: dict[str, Runner],
    batch: int,
    budget_s: float,
    warmup_s: float = 0.2,
    clock: Callable[[], float] = time.perf_counter,
    block_s: float | None = None,
    settle: Callable[[], None] | None = None,
    phases_out: dict[str, dict[str, list[float]]] | None = None,
) -> dict[str, list[float]]:
    """Warm each runner up, then time calls in rounds until every runner has used ``budget_s``
    or run 10,000 calls. Returns per-call seconds by runner.

    Each round gives every runner a block of consecutive calls lasting ``block_s`` (defaults
    to a fifth of the budget, at most 0.1 s; 0 means one call per round), then ``settle()``
    runs before the next runner. Blocks matter on a small machine: onnxruntime's and OpenMP's
    thread pools spin for a while after each call, and a runner started while another engine's
    threads still spin loses its cores (measured here: torch twice as slow when alternating
    call by call with onnxruntime).

    A runner that returns a :class:`Timing` is timed by its own clock (CUDA events): its
    ``total_s`` is recorded instead of the host's, and its phases go to ``phases_out``
    (runner -> phase -> seconds per call), if given.
    """
    if block_s is None:
        block_s = min(0.1, budget_s / 5)
    if settle is None:
        settle = (lambda: time.sleep(0.005)) if block_s > 0 else (lambda: None)
    for fn in runners.values():
        end = clock() + warmup_s
        fn(batch)
        while clock() < end:
            fn(batch)
    times: dict[str, list[float]] = {k: [] for k in runners}
    spent = dict.fromkeys(runners, 0.0)

    def open_(k: str) -> bool:
        return spent[k] < budget_s and len(times[k]) < 10_000

    while any(open_(k) for k in runners):
        for k, fn in runners.items():
            if not open_(k):
                continue
            settle()
            block_end = spent[k] + block_s
            while True:
                t0 = clock()
                result = fn(batch)
                dt = clock() - t0
                if isinstance(result, Timing):
                    dt = result.total_s
                    if phases_out is not None:
                        for phase, sec in result.phases.items():
                            phases_out.setdefault(k, {}).setdefault(phase, []).append(sec)
                times[k].append(dt)
                spent[k] += dt
                if spent[k] >= block_end or not open_(k):
                    break
    return times


def rows_from_timings(
    times: dict[str, list[float]],
    batch: int,
    flops_per_sample: float,
    ceilings: dict[str, float],
    engines: dict[str, str],
    precision: dict[str, str],
    baseline: str = "torch",
    phases: dict[str, dict[str, list[float]]] | None = None,
    timing: dict[str, str] | None = None,
) -> list[BenchRow]:
    """Statistics, throughput, speed-up vs the baseline and ceiling share for each runner;
    median H2D / compute / D2H milliseconds where a runner reported phases."""
    rows = []
    base = times.get(baseline)
    base_med = float(np.median(base)) if base else None
    for name, ts in times.items():
        st = LatencyStats.from_seconds(ts)
        med_s = st.median_ms / 1e3
        gflops = flops_per_sample * batch / med_s / 1e9 if flops_per_sample else None
        ceiling = ceilings.get(engines.get(name, ""))
        rows.append(
            BenchRow(
                backend=name,
                precision=precision.get(name, "fp32"),
                batch=batch,
                latency=st,
                samples_per_s=batch / med_s,
                speedup_vs_torch=(base_med / med_s) if base_med else None,
                gflops=gflops,
                ceiling_share=(gflops / ceiling) if gflops and ceiling else None,
                timing=(timing or {}).get(name, "perf_counter"),
            )
        )
        split = (phases or {}).get(name, {})
        for phase in PHASES:
            if split.get(phase):
                setattr(rows[-1], f"{phase}_ms", float(np.median(split[phase])) * 1e3)
    return rows


def onnxruntime_gemm_ceiling(
    n: int = 1024, budget_s: float = 1.0, threads: int | None = None
) -> float:
    """GFLOP/s of an ``n x n x n`` float32 MatMul through onnxruntime (median of calls)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from genedge.runtime.backends.onnxruntime_backend import session_options

    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [n, n])
    c = helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])
    model = helper.make_model(
        helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "gemm", [a, b], [c]),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    sess = ort.InferenceSession(
        model.SerializeToString(), session_options(threads), providers=["CPUExecutionProvider"]
    )
    rng = np.random.default_rng(0)
    feed = {
        "a": rng.standard_normal((n, n), np.float32),
        "b": rng.standard_normal((n, n), np.float32),
    }
    times = time_interleaved({"gemm": lambda _: sess.run(None, feed)}, 1, budget_s, block_s=0)[
        "gemm"
    ]
    return 2 * n**3 / float(np.median(times)) / 1e9


def torch_gemm_ceiling(n: int = 1024, budget_s: float = 1.0) -> float:
    """GFLOP/s of an ``n x n x n`` float32 ``torch.mm`` (median of calls)."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    times = time_interleaved({"gemm": lambda _: torch.mm(a, b)}, 1, budget_s, block_s=0)["gemm"]
    return 2 * n**3 / float(np.median(times)) / 1e9


def count_flops(module: Any, args: tuple[Any, ...]) -> float:
    """Multiply-adds x 2 of Linear, Conv, ConvTranspose and GRU/LSTM layers for one forward
    pass (call it with batch 1 for per-sample FLOPs)."""
    import torch
    from torch import nn

    total = [0.0]

    def hook(m: nn.Module, inp: tuple[Any, ...], out: Any) -> None:
        if isinstance(m, nn.Linear):
            total[0] += 2.0 * m.in_features * m.out_features * inp[0].numel() / m.in_features
        elif isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1]
            total[0] += 2.0 * m.in_channels // m.groups * k * out.numel()
        elif isinstance(m, nn.ConvTranspose2d):
            k = m.kernel_size[0] * m.kernel_size[1]
            total[0] += 2.0 * m.out_channels // m.groups * k * inp[0].numel()
        elif isinstance(m, (nn.GRU, nn.LSTM)):
            gates = 3 if isinstance(m, nn.GRU) else 4
            x = inp[0]
            steps = x.shape[0] * x.shape[1]  # batch x time (either layout)
            h = m.hidden_size
            for layer in range(m.num_layers):
                width = m.input_size if layer == 0 else h
                total[0] += 2.0 * gates * (width * h + h * h) * steps

    handles = [
        m.register_forward_hook(hook)
        for m in module.modules()
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.GRU, nn.LSTM))
    ]
    try:
        with torch.inference_mode():
            module(*args)
    finally:
        for h in handles:
            h.remove()
    return total[0]


# VmHWM, not ru_maxrss: Linux carries the parent's peak into ru_maxrss across fork + exec, so a
# probe launched from a process holding torch would report torch's footprint.
_PEAK = (
    "import time\n"
    "def _peak_kib():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            return int(line.split()[1])\n"
    "    import resource; return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
)

_COLD_ORT = (
    _PEAK + "t=time.perf_counter()\n"
    "from genedge.runtime import Sampler\n"
    "t1=time.perf_counter()\n"
    "s = Sampler({model!r}, backend='cpu')\n"
    "t2=time.perf_counter()\n"
    "x = s.sample(64, seed=0)\n"
    "print(time.perf_counter()-t, t2-t1, _peak_kib())\n"
)
#: name -> (probe, environment overrides). ``onnxruntime`` loads the optimised model cached
#: beside the artifact (primed by one untimed process); the second row turns the cache off.
_COLD_PROBE = {
    "onnxruntime": (_COLD_ORT, {}),
    "onnxruntime-no-ort-cache": (_COLD_ORT, {"GENEDGE_ORT_CACHE": "0"}),
    "torch": (
        _PEAK + "t=time.perf_counter()\n"
        "from genedge.train.reference import load_torch_sampler\n"
        "t1=time.perf_counter()\n"
        "s = load_torch_sampler({run!r})\n"
        "t2=time.perf_counter()\n"
        "x = s.sample(64, seed=0)\n"
        "print(time.perf_counter()-t, t2-t1, _peak_kib())\n",
        {},
    ),
}


def cold_start(model: Path, run: Path | None, repeats: int = 3) -> list[dict[str, Any]]:
    """Fresh-process wall time (import + load + first ``sample(64)``), load time alone and peak
    RSS per backend; the median of ``repeats`` processes, taken in interleaved rounds.

    ``onnxruntime`` runs as users get it, with the optimised-model cache primed by one untimed
    process; ``onnxruntime-no-ort-cache`` sets ``GENEDGE_ORT_CACHE=0``.
    """
    import os

    env = dict(os.environ)
    runs: dict[str, tuple[str, dict[str, str]]] = {}
    results: dict[str, dict[str, Any]] = {}
    for backend, (probe, extra) in _COLD_PROBE.items():
        if backend == "torch" and run is None:
            results[backend] = {"backend": backend, "status": "skipped: no --against run folder"}
            continue
        runs[backend] = (probe.format(model=str(model), run=str(run)), {**env, **extra})
    if "onnxruntime" in runs:  # prime the cache (and the page cache) untimed
        subprocess.run([sys.executable, "-c", runs["onnxruntime"][0]], capture_output=True)
    samples: dict[str, list[tuple[float, float, float]]] = {k: [] for k in runs}
    for _ in range(repeats):
        for backend, (code, penv) in runs.items():
            if backend in results:
                continue  # failed already
            r = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, env=penv
            )
            if r.returncode != 0:
                results[backend] = {
                    "backend": backend,
                    "status": f"failed: {r.stderr.strip()[-200:]}",
                }
                continue
            w, load, m = r.stdout.split()
            samples[backend].append((float(w), float(load), int(m) / 1024))
    out = []
    for backend in _COLD_PROBE:
        if backend in results:
            out.append(results[backend])
            continue
        walls, loads, rss = zip(*samples[backend], strict=True)
        out.append(
            {
                "backend": backend,
                "status": "ok",
                "wall_s": float(np.median(walls)),
                "load_s": float(np.median(loads)),
                "peak_rss_mib": float(np.median(rss)),
            }
        )
    ok = {r["backend"]: r for r in out if r.get("status") == "ok"}
    if "torch" in ok:
        for name in ("onnxruntime", "onnxruntime-no-ort-cache"):
            if name in ok:
                ok[name]["speedup_vs_torch"] = ok["torch"]["wall_s"] / ok[name]["wall_s"]
    return out


def machine_info() -> dict[str, Any]:
    import os

    import onnxruntime as ort

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "onnxruntime": ort.__version__,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", ""),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:  # pragma: no cover - bench needs [train]
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return info


def plot_latency(report: BenchReport, path: Path) -> None:
    """Latency vs batch per backend, log-log, as PNG (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from genedge.runtime.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(6, 4))
    for name in dict.fromkeys(r.backend for r in report.rows):
        pts = [
            (r.batch, r.latency.median_ms)
            for r in report.rows
            if r.backend == name and r.latency is not None
        ]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("median latency per call (ms)")
    ax.set_title(f"{Path(report.model).name} ({report.family})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def _ceil_or_none(fn: Callable[[], float]) -> float | None:
    try:
        v = fn()
        return v if math.isfinite(v) else None
    except Exception:  # noqa: BLE001 - a missing engine is a missing ceiling, not a crash
        return None


def _torch_parts(run: Path) -> tuple[Any, Any, Callable[..., tuple[Any, ...]], Any]:
    """The run's sampler module, its torch reference sampler, an input maker
    ``inputs(batch, device)`` and the graph spec."""
    import torch

    from genedge.train.loop import load_trained
    from genedge.train.reference import torch_sampler

    cfg, family, models, step = load_trained(run)
    sampler = torch_sampler(cfg, family, models, step)
    module = family.sampler_module(models, cfg.hparams, cfg.data_info)
    graph = sampler.manifest.sampler
    k = max(1, sampler.manifest.num_classes)
    length = sampler.manifest.default_length or 1

    def inputs(batch: int, device: str = "cpu") -> tuple[Any, ...]:
        args = []
        for t in graph.inputs:
            shape = [
                batch if d == "batch" else length if d == "length" else int(d) for d in t.shape
            ]
            if t.role == "latent":
                args.append(torch.randn(shape, device=device))
            elif t.role == "label":
                args.append(torch.randint(0, k, shape, device=device))
            else:
                args.append(torch.zeros(shape, device=device))
        return tuple(args)

    return module, sampler, inputs, graph


def _torch_runner(run: Path) -> tuple[Runner, Any, float]:
    """PyTorch eager as its users sample: noise drawn by torch, then the module, per call."""
    import torch

    module, sampler, inputs, _ = _torch_parts(run)

    @torch.inference_mode()
    def run_(batch: int) -> object:
        return module(*inputs(batch))

    return run_, sampler, count_flops(module, inputs(1))


def _outputs(out: Any) -> tuple[Any, ...]:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def torch_cuda_runners(run: Path, device: str = "cuda") -> dict[str, Runner]:
    """PyTorch on the GPU: ``torch-cuda`` (eager) and ``torch-cuda-graph`` (torch.cuda.graphs).

    Both draw the noise on the device, run the generator and copy the samples to the host (as
    the runtime's rows do), timed with ``torch.cuda.Event``: phases ``compute`` (noise +
    generator) and ``d2h``. The graph row captures one CUDAGraph per batch size on its first
    call, after three warm-up runs on a side stream (torch's documented recipe), and each call
    refills the static latent/label tensors in place before ``replay()``.

    Raises:
        BackendUnavailableError: torch sees no CUDA GPU.
    """
    import copy

    import torch

    from genedge.runtime.errors import BackendUnavailableError

    if not torch.cuda.is_available():
        raise BackendUnavailableError(
            f"torch {torch.__version__} sees no CUDA GPU"
            + ("" if torch.version.cuda else " (a CPU-only build)")
        )
    module, sampler, inputs, graph = _torch_parts(run)
    module = copy.deepcopy(module).to(device).eval()  # the CPU row keeps its own copy
    k = max(1, sampler.manifest.num_classes)
    timer = TorchEventTimer()

    def eager(batch: int) -> Timing:
        timer.reset()
        timer.mark("start")
        with torch.inference_mode():
            outs = _outputs(module(*inputs(batch, device)))
            timer.mark("compute")
            for o in outs:
                o.cpu()  # a blocking copy to pageable host memory
        timer.mark("d2h")
        return timer.finish()

    graphs: dict[int, tuple[Any, list[Any], tuple[Any, ...]]] = {}

    def capture(batch: int) -> tuple[Any, list[Any], tuple[Any, ...]]:
        static = list(inputs(batch, device))
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.no_grad(), torch.cuda.stream(side):
            for _ in range(3):  # warm-up (cuDNN/cuBLAS choices, lazy init) before capture
                module(*static)
        torch.cuda.current_stream().wait_stream(side)
        g = torch.cuda.CUDAGraph()
        with torch.no_grad(), torch.cuda.graph(g):
            outs = _outputs(module(*static))
        return g, static, outs

    def graphed(batch: int) -> Timing:
        entry = graphs.get(batch)
        if entry is None:
            entry = graphs[batch] = capture(batch)
        g, static, outs = entry
        timer.reset()
        timer.mark("start")
        with torch.no_grad():
            for t, value in zip(graph.inputs, static, strict=True):
                if t.role == "latent":
                    value.normal_()  # fresh noise into the captured address
                elif t.role == "label":
                    value.random_(0, k)
            g.replay()
            timer.mark("compute")
            for o in outs:
                o.cpu()
        timer.mark("d2h")
        return timer.finish()

    return {"torch-cuda": eager, "torch-cuda-graph": graphed}


def _feed_maker(probe: Any) -> Callable[[int], dict[str, np.ndarray]]:
    """Pre-drawn graph inputs per batch size (the same seeded latents for every backend)."""
    feeds: dict[int, dict[str, np.ndarray]] = {}

    def feed_for(batch: int) -> dict[str, np.ndarray]:
        if batch not in feeds:
            feed = {probe._latent.name: probe.latents(batch, seed=0)}
            if probe._label is not None:
                feed[probe._label.name] = probe.labels_for(batch)
            for st in probe._states:
                shape = tuple(batch if d == "batch" else int(d) for d in st.shape)
                feed[st.name] = np.zeros(shape, np.float32)
            feeds[batch] = feed
        return feeds[batch]

    return feed_for


def gpu_runner(
    name: str,
    model: Path,
    probe: Any,
    threads: int | None = None,
    event_timer: Callable[[], Any] | None = None,
) -> tuple[Runner, Any, str]:
    """A runtime GPU row: ``cuda``, ``cuda-graph`` (cuda + CUDA graphs), ``ort-tensorrt`` or
    ``tensorrt``, run on pre-drawn inputs and timed on the device.

    Each call goes through the backend's ``run(feed, timer)``: with IOBinding (``cuda``) and
    the native TensorRT backend the timer sees H2D, compute and D2H apart. onnxruntime sessions
    run on the timer's stream (``user_compute_stream``) so its events bracket their work.

    Returns:
        ``(runner, sampler, timing kind)``.

    Raises:
        BackendUnavailableError: The backend (or its GPU) is not available here.
    """
    from genedge.runtime import GenedgeError, Sampler

    backend = {"cuda-graph": "cuda"}.get(name, name)
    options: dict[str, Any] = {"cuda_graph": True} if name == "cuda-graph" else {}
    if backend == "cuda":
        options["optimized_model_cache"] = False  # load time is the cold-start row's business
    timer: Any = None
    kind = "perf_counter"
    if backend in ("cuda", "ort-tensorrt", "tensorrt"):
        try:
            timer = (event_timer or CudaEventTimer)()
            kind = timer.kind
        except GenedgeError as e:
            timer, kind = HostPhaseTimer(), f"perf_counter (no CUDA events: {e})"
        stream = getattr(timer, "stream", None)
        if stream is not None and backend != "tensorrt":
            options["provider_options"] = {"user_compute_stream": str(int(stream))}
    s = Sampler(model, backend=backend, threads=threads, backend_options=options)
    run = s._backend.run
    feed_for = _feed_maker(probe)
    timer = timer or HostPhaseTimer()

    def call(batch: int) -> Timing:
        timer.reset()
        run(feed_for(batch), timer)
        return timer.finish()

    return call, s, kind


def run_bench(
    model: str | Path,
    against: str | Path | None = None,
    *,
    backends: tuple[str, ...] = ALL_BACKENDS,
    batch_sizes: tuple[int, ...] = (1, 16, 256, 1024),
    budget_s: float = 1.0,
    threads: int | None = None,
    cold: bool = False,
    gemm_n: int = 1024,
    precisions: tuple[str, ...] = (),
) -> BenchReport:
    """Benchmark an artifact on each backend (and PyTorch eager from its run) side by side.

    Args:
        model: The ``.onnx`` artifact.
        against: Its run folder: adds the ``torch`` baseline, FLOP counts and parity error.
        backends: ``torch`` (eager, needs ``against``), ``cpu`` (``Sampler.sample`` end to end,
            noise included), ``cpu-bare`` (``session.run`` on pre-drawn inputs: the floor the
            Sampler's overhead is measured against); on a GPU ``cuda`` (IOBinding),
            ``cuda-graph``, ``ort-tensorrt``, ``tensorrt`` (see :func:`gpu_runner`) and
            ``torch-cuda`` / ``torch-cuda-graph`` (see :func:`torch_cuda_runners`, need
            ``against``). A backend that cannot run here becomes a row with its reason; one
            that fails at one batch size (e.g. outside an engine's profile) a row for that size.
        batch_sizes: Batch sizes to sweep (1 to 4096).
        budget_s: Timed seconds per backend and batch size (after 0.2 s of warm-up).
        threads: onnxruntime intra-op threads (``None``: its default).
        cold: Also measure fresh-process cold starts.
        gemm_n: Size of the ceiling GEMM.
        precisions: Other precisions to add as ``cpu-<precision>`` rows (``fp16``, ``int8``):
            exported from ``against`` into a temporary folder, each checked for parity first.
    """
    from genedge.runtime import GenedgeError, Sampler
    from genedge.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend
    from genedge.runtime.errors import InputError

    model = Path(model)
    for batch in batch_sizes:
        if (
            isinstance(batch, bool)
            or not isinstance(batch, int)
            or not 0 < batch <= MAX_BENCH_BATCH
        ):
            raise InputError(
                f"batch sizes must be integers from 1 to {MAX_BENCH_BATCH}, got {batch!r}"
            )
    unknown = [b for b in backends if b not in ALL_BACKENDS]
    if unknown:
        raise InputError(
            f"unknown bench backend {unknown[0]!r}; choose from {', '.join(ALL_BACKENDS)}"
        )
    probe = Sampler(model, backend="cpu", threads=threads)
    manifest = probe.manifest
    runners: dict[str, Runner] = {}
    engines: dict[str, str] = {}
    missing: dict[str, str] = {}
    samplers: dict[str, Any] = {}  # runner -> the Sampler whose parity and size it reports
    precision_of: dict[str, str] = {}
    timing_of: dict[str, str] = {}
    flops = 0.0
    torch_sampler_ = None
    torch_gpu: dict[str, Runner] | str | None = None
    if against is not None:  # the reference for FLOPs and parity, timed only if asked
        torch_run, torch_sampler_, flops = _torch_runner(Path(against))
    for name in backends:
        if name == "torch":
            if against is None:
                missing[name] = "skipped: pass --against RUN to time PyTorch eager"
                continue
            runners[name] = torch_run
            engines[name] = "torch"
        elif name in ("torch-cuda", "torch-cuda-graph"):
            if against is None:
                missing[name] = "skipped: pass --against RUN to time PyTorch on the GPU"
                continue
            if torch_gpu is None:
                try:
                    torch_gpu = torch_cuda_runners(Path(against))
                except GenedgeError as e:
                    torch_gpu = f"not available: {e}"
            if isinstance(torch_gpu, str):
                missing[name] = torch_gpu
                continue
            runners[name] = torch_gpu[name]
            engines[name] = "torch-cuda"
            timing_of[name] = TorchEventTimer.kind
        elif name == "cpu-bare":
            bare = OnnxRuntimeBackend(model, "cpu", threads=threads)
            feed_for = _feed_maker(probe)
            runners[name] = lambda batch, bare=bare, feed_for=feed_for: bare.run(feed_for(batch))
            engines[name] = "onnxruntime"
            samplers[name] = probe
        elif name == "cpu":
            s = Sampler(model, backend="cpu", threads=threads)
            runners[name] = lambda batch, s=s: s.sample(batch)
            engines[name] = "onnxruntime"
            samplers[name] = s
        else:
            try:
                runner, s, kind = gpu_runner(name, model, probe, threads)
            except GenedgeError as e:
                missing[name] = f"not available: {e}"
                continue
            runners[name] = runner
            engines[name] = "tensorrt" if name == "tensorrt" else "onnxruntime-gpu"
            samplers[name] = s
            timing_of[name] = kind
    tmp = tempfile.TemporaryDirectory(prefix="genedge-bench-")
    for p in precisions:
        name = f"cpu-{p}"
        if p == manifest.precision:
            continue
        precision_of[name] = p
        if against is None:
            missing[name] = "skipped: pass --against RUN to export other precisions"
            continue
        from genedge.export.onnx_export import export_run

        try:
            variant = export_run(against, Path(tmp.name) / f"{model.stem}.{p}.onnx", precision=p)
            s = Sampler(variant.path, backend="cpu", threads=threads)
        except GenedgeError as e:
            missing[name] = f"failed: {e}"
            continue
        runners[name] = lambda batch, s=s: s.sample(batch)
        engines[name] = "onnxruntime"
        samplers[name] = s
        precision_of[name] = p

    ceilings: dict[str, float] = {}
    if any(e == "onnxruntime" for e in engines.values()):
        c = _ceil_or_none(lambda: onnxruntime_gemm_ceiling(gemm_n, threads=threads))
        if c:
            ceilings["onnxruntime"] = c
    if "torch" in engines:
        c = _ceil_or_none(lambda: torch_gemm_ceiling(gemm_n))
        if c:
            ceilings["torch"] = c

    parity: dict[str, float] = {}
    if torch_sampler_ is not None:
        z = probe.latents(8, seed=0)
        ys = probe.labels_for(8)
        ref = torch_sampler_.generate(z, ys, raw=True)
        for name, smp in samplers.items():
            parity[name] = float(np.abs(smp.generate(z, ys, raw=True) - ref).max())
    sizes = {
        name: sum(
            (smp.path if g.file is None else smp.path.parent / g.file).stat().st_size
            for g in smp.manifest.graphs.values()
        )
        for name, smp in samplers.items()
    }
    precision_of.update({k: manifest.precision for k in runners if k not in precision_of})

    rows: list[BenchRow] = []
    for batch in batch_sizes:
        # One untimed call each first: a backend that fails at this size (an engine profile,
        # a single-shape CUDA graph, device memory) becomes a row instead of ending the run.
        ready: dict[str, Runner] = {}
        for name, fn in runners.items():
            try:
                fn(batch)
            except Exception as e:  # noqa: BLE001 - reported as the row's status
                first = str(e).strip().splitlines()[0] if str(e).strip() else ""
                rows.append(
                    BenchRow(
                        backend=name,
                        precision=precision_of.get(name, manifest.precision),
                        batch=batch,
                        status=f"failed: {type(e).__name__}: {first}"[:300],
                        timing=timing_of.get(name, "perf_counter"),
                    )
                )
                continue
            ready[name] = fn
        phases: dict[str, dict[str, list[float]]] = {}
        times = time_interleaved(ready, batch, budget_s, phases_out=phases) if ready else {}
        got = rows_from_timings(
            times, batch, flops, ceilings, engines, precision_of, phases=phases, timing=timing_of
        )
        for r in got:
            r.model_bytes = sizes.get(r.backend)
            r.parity_max_abs = parity.get(r.backend)
        rows.extend(got)
    tmp.cleanup()
    # A backend that cannot run is one row with its reason (batch 0: not run at any size).
    rows.extend(
        BenchRow(backend=k, precision=precision_of.get(k, manifest.precision), batch=0, status=v)
        for k, v in missing.items()
    )
    return BenchReport(
        model=str(model),
        family=manifest.family,
        flops_per_sample=flops,
        ceilings_gflops=ceilings,
        rows=rows,
        settings={
            "budget_s": budget_s,
            "warmup_s": 0.2,
            "threads": threads,
            "batch_sizes": list(batch_sizes),
            "gemm_n": gemm_n,
            "timing": "interleaved rounds of blocks (min(0.1 s, budget/5)) per backend, "
            "5 ms pause between backends, time.perf_counter per call; GPU rows: CUDA events "
            "per call (each row's `timing`), H2D/compute/D2H where the backend exposes them",
            "allocator": "defaults (onnxruntime arena on; torch CPU allocator)",
        },
        machine=machine_info(),
        cold=cold_start(model, Path(against) if against else None) if cold else [],
    )

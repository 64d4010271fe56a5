"""run_bench: every backend at every batch size, side by side, into a report."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genedge.bench.ceilings import _ceil_or_none, onnxruntime_gemm_ceiling, torch_gemm_ceiling
from genedge.bench.cold import cold_start
from genedge.bench.interleave import Runner, time_interleaved
from genedge.bench.machine import machine_info
from genedge.bench.peers import PEER_BACKENDS, OpenVinoBare, TorchCompiled
from genedge.bench.report import BenchReport, BenchRow, rows_from_timings
from genedge.bench.runners import (
    TorchSource,
    _feed_maker,
    _torch_runner,
    gpu_runner,
    torch_cuda_runners,
)
from genedge.bench.timers import TorchEventTimer

#: Largest batch size a sweep takes (the GPU rows' upper end; beyond it, a typo is likelier).
MAX_BENCH_BATCH = 4096
#: Backends run_bench knows; the GPU ones are rows with a reason where they cannot run.
GPU_BACKENDS = ("torch-cuda", "torch-cuda-graph", "cuda", "cuda-graph", "ort-tensorrt", "tensorrt")
#: ``cpu-openvino`` (``Sampler(backend="openvino")``, genedge's own OpenVINO backend) belongs
#: after the peers, with a branch in run_bench beside ``cpu``'s.
#: genedge's own OpenVINO rows: ``Sampler(backend="openvino")`` end to end, f32 and bf16.
OPENVINO_SAMPLERS = {"cpu-openvino": "fp32", "cpu-openvino-bf16": "bf16"}
ALL_BACKENDS = ("torch", "cpu", "cpu-bare", *OPENVINO_SAMPLERS, *PEER_BACKENDS, *GPU_BACKENDS)

if TYPE_CHECKING:
    from genedge.runtime import Sampler
    from genedge.runtime.backends import Backend


def _sample_runner(sampler: Sampler) -> Runner:
    """A row that draws ``batch`` samples through the whole Sampler path."""
    return lambda batch: sampler.sample(batch)


def _backend_runner(backend: Backend, feed_for: Callable[[int], dict[str, np.ndarray]]) -> Runner:
    """A row that runs the graph alone on pre-drawn inputs."""
    return lambda batch: backend.run(feed_for(batch))


#: Batch sizes ``genedge bench`` times unless told otherwise.
DEFAULT_BATCH_SIZES = (1, 16, 256, 1024)


def run_bench(
    model: str | Path,
    against: str | Path | None = None,
    *,
    init: str | None = None,
    weights: str | Path | None = None,
    backends: tuple[str, ...] = ALL_BACKENDS,
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES,
    budget_s: float = 1.0,
    threads: int | None = None,
    cold: bool = False,
    gemm_n: int = 1024,
    precisions: tuple[str, ...] = (),
) -> BenchReport:
    """Benchmark an artifact on each backend (and PyTorch eager from its run) side by side.

    Args:
        model: The ``.onnx`` artifact.
        against: Its run folder, or a user's module (``FILE.py:Name``, docs/byom.md): adds
            the ``torch`` baseline, FLOP counts and parity error.
        init: A module's JSON keyword arguments (``against`` a module).
        weights: A module's weights (``against`` a module).
        backends: ``torch`` (eager, needs ``against``), ``cpu`` (``Sampler.sample`` end to end,
            noise included), ``cpu-bare`` (``session.run`` on pre-drawn inputs: the floor the
            Sampler's overhead is measured against); peers (:mod:`genedge.bench.peers`):
            ``torch-compile`` (inductor, static shapes, compiled in the untimed first call
            at each batch size, needs ``against``), ``openvino`` (bare OpenVINO, f32 forced)
            and ``openvino-default`` (its default precision, bf16 on CPUs with bf16 units);
            on a GPU ``cuda`` (IOBinding),
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
            exported from ``against`` (a run folder) into a temporary folder, each checked
            for parity first.
    """
    from genedge.runtime import GenedgeError, Sampler
    from genedge.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend
    from genedge.runtime.errors import BackendUnavailableError, InputError

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
    artifact_of: dict[str, Path] = {}  # runner -> the file its size is read from
    compiled: TorchCompiled | None = None
    compile_of: dict[str, float] = {}  # untimed compile seconds of a peer (all batch sizes)
    flops = 0.0
    torch_sampler_ = None
    torch_gpu: dict[str, Runner] | str | None = None
    source = None if against is None else TorchSource(against, init, weights)
    if source is not None:  # the reference for FLOPs and parity, timed only if asked
        torch_run, torch_sampler_, flops = _torch_runner(source, manifest)
    for name in backends:
        if name == "torch":
            if source is None:
                missing[name] = "skipped: pass --against RUN or FILE.py:Name to time PyTorch eager"
                continue
            runners[name] = torch_run
            engines[name] = "torch"
        elif name == "torch-compile":
            if source is None:
                missing[name] = "skipped: pass --against RUN or FILE.py:Name to time torch.compile"
                continue
            runners[name] = compiled = TorchCompiled(source, manifest)
            engines[name] = "torch"  # inductor calls ATen/oneDNN for GEMMs: torch's ceiling
        elif name in ("openvino", "openvino-default"):
            spec = manifest.sampler
            try:
                ov = OpenVinoBare(
                    model, spec.inputs, spec.outputs, threads, "f32" if name == "openvino" else None
                )
            except GenedgeError as e:
                missing[name] = f"not available: {e}"
                continue
            runners[name] = _backend_runner(ov, _feed_maker(probe))
            engines[name] = "openvino"
            samplers[name] = Sampler.from_backend(manifest, ov)
            artifact_of[name] = model
            precision_of[name] = ov.precision
            compile_of[name] = ov.compile_s
        elif name in ("torch-cuda", "torch-cuda-graph"):
            if source is None:
                missing[name] = (
                    "skipped: pass --against RUN or FILE.py:Name to time PyTorch on the GPU"
                )
                continue
            if torch_gpu is None:
                try:
                    torch_gpu = torch_cuda_runners(source, manifest=manifest)
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
            runners[name] = _backend_runner(bare, feed_for)
            engines[name] = "onnxruntime"
            samplers[name] = probe
        elif name == "cpu":
            s = Sampler(model, backend="cpu", threads=threads)
            runners[name] = _sample_runner(s)
            engines[name] = "onnxruntime"
            samplers[name] = s
        elif name in OPENVINO_SAMPLERS:
            try:
                s = Sampler(
                    model,
                    backend="openvino",
                    threads=threads,
                    backend_options={"precision": OPENVINO_SAMPLERS[name]},
                )
            except GenedgeError as e:
                missing[name] = f"not available: {e}"
                continue
            used = s.describe().get("precision_used", OPENVINO_SAMPLERS[name])
            runners[name] = _sample_runner(s)
            engines[name] = "openvino"
            samplers[name] = s
            precision_of[name] = str(used)
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
        run_dir = None if source is None else source.run_dir
        if run_dir is None:
            missing[name] = "skipped: pass --against RUN to export other precisions"
            continue
        from genedge.export.onnx_export import export_run

        try:
            variant = export_run(run_dir, Path(tmp.name) / f"{model.stem}.{p}.onnx", precision=p)
            s = Sampler(variant.path, backend="cpu", threads=threads)
        except GenedgeError as e:
            missing[name] = f"failed: {e}"
            continue
        runners[name] = _sample_runner(s)
        engines[name] = "onnxruntime"
        samplers[name] = s
        precision_of[name] = p

    ceilings: dict[str, float] = {}
    if any(e == "onnxruntime" for e in engines.values()):
        c = _ceil_or_none(lambda: onnxruntime_gemm_ceiling(gemm_n, threads=threads))
        if c:
            ceilings["onnxruntime"] = c
    if "torch" in engines.values():
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
            (path if g.file is None else path.parent / g.file).stat().st_size
            for g in smp.manifest.graphs.values()
        )
        for name, smp in samplers.items()
        for path in (artifact_of.get(name, smp.path),)
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
                if name in PEER_BACKENDS and isinstance(e, BackendUnavailableError):
                    missing[name] = f"not available: {e}"  # e.g. inductor cannot compile here
                    continue
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
        for name in missing:
            runners.pop(name, None)
        phases: dict[str, dict[str, list[float]]] = {}
        times = time_interleaved(ready, batch, budget_s, phases_out=phases) if ready else {}
        got = rows_from_timings(
            times, batch, flops, ceilings, engines, precision_of, phases=phases, timing=timing_of
        )
        for r in got:
            r.model_bytes = sizes.get(r.backend)
            r.parity_max_abs = parity.get(r.backend)
            r.compile_s = compile_of.get(r.backend)
            if r.backend == "torch-compile" and compiled is not None:
                r.compile_s = compiled.compile_s.get(batch)
        rows.extend(got)
    tmp.cleanup()
    if compiled is not None and torch_sampler_ is not None and "torch-compile" not in missing:
        # After the sweep: at a batch size already compiled, so parity costs no compilation.
        err = compiled.parity(manifest, probe, torch_sampler_)
        for r in rows:
            if r.backend == "torch-compile" and r.status == "ok":
                r.parity_max_abs = err
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
            "peers": "torch-compile: torch.compile(backend='inductor', dynamic=False), one "
            "graph per batch size compiled in the untimed first call (row compile_s); "
            "openvino / openvino-default: Core().compile_model(artifact, 'CPU', "
            "{PERFORMANCE_HINT: LATENCY, INFERENCE_NUM_THREADS: threads[, "
            "INFERENCE_PRECISION_HINT: f32]}), dynamic batch axis, infer() on the cpu-bare "
            "inputs (row compile_s: compile_model seconds)",
        },
        machine=machine_info(),
        cold=cold_start(model, None if source is None else source.run_dir) if cold else [],
    )

"""Which CPU engine runs an artifact faster here: onnxruntime or OpenVINO, measured once.

:func:`calibrate` (``genedge calibrate M.onnx``) times both engines on the artifact's sampler
graph at a few batch sizes, interleaved round by round, and writes the medians to
``.genedge-calibration/<stem>.json`` beside the artifact, atomically. ``auto`` then reads that
file (:func:`cpu_engine`) and takes OpenVINO on the CPU when it was measured at least
:data:`MARGIN` faster at the batch size ``batch_size_hint`` names (default
:data:`DEFAULT_BATCH_HINT`: a sampler does not know its batch sizes when it opens). Nothing is
ever measured implicitly: without a calibration, ``auto`` stays on onnxruntime and says how to
calibrate.

A calibration holds for one artifact (its SHA-256, checked again only when the file's size or
modification time changed), one CPU (model name and instruction-set flags), the onnxruntime
and openvino versions, and one thread count (each count has its own entry in the file).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import math
import os
import re
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genedge.runtime.atomic import write_bytes_atomic
from genedge.runtime.engines import model_sha256
from genedge.runtime.errors import ArtifactError, InputError, OutputError

#: Folder beside an artifact that holds its calibrations (``<stem>.json``).
CALIBRATION_DIR = ".genedge-calibration"
#: Bumped when the file's meaning changes; other formats are ignored (stale).
CALIBRATION_FORMAT = 1
DEFAULT_BATCH_SIZES = (1, 64, 1024)
#: The batch size ``auto`` chooses for when ``batch_size_hint`` is not given.
DEFAULT_BATCH_HINT = 64
#: OpenVINO must be this much faster (relative) for ``auto`` to leave onnxruntime, the engine
#: with the lighter cold start; a closer call is within the noise of a calibration.
MARGIN = 0.05
#: Engines a calibration times: onnxruntime, OpenVINO at forced f32, and at bf16 where the CPU
#: has bf16 units.
ENGINES = ("cpu", "openvino", "openvino-bf16")


def calibration_path(path: str | Path) -> Path:
    """Where the calibration of ``path`` lives: ``.genedge-calibration/<stem>.json`` beside it."""
    path = Path(path)
    return path.parent / CALIBRATION_DIR / f"{path.stem}.json"


def _threads_key(threads: int | None) -> str:
    return "default" if threads is None else str(threads)


@functools.cache
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or the architecture where it is not known."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return os.uname().machine


def _machine() -> dict[str, str]:
    """The CPU's model name and a hash of its instruction-set flags."""
    from genedge.runtime.backends.openvino_backend import cpu_flags

    flags = " ".join(sorted(cpu_flags()))
    return {"cpu": cpu_model(), "isa": hashlib.sha256(flags.encode()).hexdigest()[:16]}


def _dist_version(module: str) -> str:
    """The installed version of the distribution that provides ``module``, read from its
    ``.dist-info`` folder name (a listing, not ``importlib.metadata``'s scan of every installed
    package: ~1 ms instead of tens, on the path every ``auto`` sampler with a calibration
    takes), with ``importlib.metadata`` as the fallback."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return "not installed"
    site = Path(spec.origin).parent.parent
    pattern = re.compile(rf"{module}(?:[_-][a-z]+)?-([^-]+)\.dist-info")
    with contextlib.suppress(OSError):
        for entry in os.scandir(site):
            m = pattern.fullmatch(entry.name)
            if m:
                return m.group(1)
    try:
        return importlib.metadata.version(module)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _versions() -> dict[str, str]:
    """onnxruntime's and openvino's installed versions (imports neither)."""
    return {m: _dist_version(m) for m in ("onnxruntime", "openvino")}


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _artifact(path: Path) -> dict[str, object]:
    return {"name": path.name, "stat": _stamp(path), "sha256": model_sha256(path)}


def _problem(data: Mapping[str, Any], path: Path) -> str | None:
    """Why a calibration file does not hold for this artifact, machine and versions, if not."""
    if data.get("format") != CALIBRATION_FORMAT:
        return "it was written by another genedge version"
    art = data.get("artifact") or {}
    try:
        if art.get("stat") != _stamp(path) and art.get("sha256") != model_sha256(path):
            return "the artifact changed since"
    except (OSError, ArtifactError):
        return "the artifact cannot be read"
    if data.get("machine") != _machine():
        return "it was measured on another CPU"
    if data.get("versions") != _versions():
        return "onnxruntime or openvino changed since"
    return None


def read_calibration(path: str | Path) -> tuple[dict[str, Any] | None, str]:
    """The artifact's calibration file, if it holds here, else ``None`` and why not."""
    path = Path(path)
    file = calibration_path(path)
    try:
        data = json.loads(file.read_text())
    except FileNotFoundError:
        return None, "not calibrated"
    except (OSError, ValueError):
        return None, f"calibration {file} unreadable"
    if not isinstance(data, dict):
        return None, f"calibration {file} unreadable"
    problem = _problem(data, path)
    if problem:
        return None, f"calibration stale ({problem})"
    return data, ""


def _nearest(batch: int, sizes: Sequence[int]) -> int:
    """The calibrated batch size closest to ``batch`` on a log scale."""
    return min(sizes, key=lambda b: (abs(math.log(b) - math.log(batch)), b))


def cpu_engine(
    path: str | Path, threads: int | None, options: Mapping[str, object] | None = None
) -> tuple[str, str]:
    """``auto``'s engine on the CPU, ``"openvino"`` or ``"cpu"`` (onnxruntime), and why.

    Reads the calibration only (never measures, never imports openvino). The reason for
    ``"cpu"`` says why OpenVINO was not taken (not installed, not calibrated, stale, slower);
    for ``"openvino"`` it says by how much onnxruntime was slower.
    """
    options = dict(options or {})
    name = Path(path).name
    if importlib.util.find_spec("openvino") is None:
        from genedge.runtime.backends.openvino_backend import NOT_INSTALLED

        return "cpu", NOT_INSTALLED
    hint = options.get("batch_size_hint", DEFAULT_BATCH_HINT)
    assert isinstance(hint, int)  # check_backend_options checked it
    data, why = read_calibration(path)
    again = f"run `genedge calibrate {name}" + (f" --threads {threads}`" if threads else "`")
    if data is None:
        return "cpu", f"{why}: {again}"
    entry = data.get("entries", {}).get(_threads_key(threads))
    if not entry:
        done = ", ".join(data.get("entries", {})) or "none"
        return "cpu", f"not calibrated for threads={_threads_key(threads)} " + (
            f"(calibrated: {done}): {again}"
        )
    ov = "openvino-bf16" if options.get("precision") in ("bf16", "default") else "openvino"
    medians = entry["median_ms"]
    if ov not in medians:  # no bf16 units: bf16 runs f32 here
        ov = "openvino"
    sizes = [int(b) for b in medians["cpu"]]
    b = _nearest(hint, sizes)
    ort_ms, ov_ms = medians["cpu"][str(b)], medians[ov][str(b)]
    figures = f"at batch {b}: onnxruntime {ort_ms:.3g} ms, {ov} {ov_ms:.3g} ms (calibrated)"
    if ov_ms < (1 - MARGIN) * ort_ms:
        return "openvino", f"{ov} measured {ort_ms / ov_ms:.2f}x faster {figures}"
    return "cpu", f"onnxruntime measured as fast or faster {figures}"


# -- measuring -------------------------------------------------------------------------------


def _time_interleaved(
    runners: Mapping[str, Callable[[], object]], rounds: int, block_s: float
) -> dict[str, float]:
    """Median seconds per call of each runner, over ``rounds`` rounds in which each runner in
    turn gets a block of calls lasting ``block_s`` (at least one call)."""
    for fn in runners.values():  # warm-up: first calls allocate and pick kernels
        fn()
        fn()
    times: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(rounds):
        for key, fn in runners.items():
            time.sleep(0.005)  # let the previous engine's spinning threads yield the cores
            end = time.perf_counter() + block_s
            while True:
                t0 = time.perf_counter()
                fn()
                t1 = time.perf_counter()
                times[key].append(t1 - t0)
                if t1 >= end:
                    break
    return {k: statistics.median(v) for k, v in times.items()}


@dataclass(frozen=True)
class Calibration:
    """What :func:`calibrate` measured and wrote.

    Attributes:
        path: The calibration file.
        threads: The thread count it holds for (``None``: the engines' defaults).
        batch_sizes: The batch sizes timed.
        median_ms: Engine (``cpu``, ``openvino``, ``openvino-bf16``) -> batch -> median ms.
        faster: Batch -> the faster engine at it (``cpu`` or ``openvino``, f32: parity holds).
        auto: What ``auto`` takes on the CPU at the default ``batch_size_hint``, and why.
        bf16: Whether bf16 ran, why (or why not), and its error vs onnxruntime f32 in data
            units (max and mean abs, at the largest batch) and in the model's own range.
    """

    path: Path
    threads: int | None
    batch_sizes: tuple[int, ...]
    median_ms: dict[str, dict[int, float]]
    faster: dict[int, str]
    auto: tuple[str, str]
    bf16: dict[str, object]

    def to_dict(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "threads": self.threads,
            "batch_sizes": list(self.batch_sizes),
            "median_ms": {e: {str(b): v for b, v in d.items()} for e, d in self.median_ms.items()},
            "faster": {str(b): e for b, e in self.faster.items()},
            "auto": {"engine": self.auto[0], "why": self.auto[1]},
            "bf16": self.bf16,
        }


def _check_sizes(batch_sizes: Sequence[int]) -> tuple[int, ...]:
    sizes = tuple(dict.fromkeys(batch_sizes))
    if not sizes or any(isinstance(b, bool) or not isinstance(b, int) or b <= 0 for b in sizes):
        raise InputError(f"batch sizes must be positive integers, got {list(batch_sizes)}")
    if max(sizes) > 65536:
        raise InputError(f"batch sizes are capped at 65536 for calibration, got {max(sizes)}")
    return sizes


def calibrate(
    path: str | Path,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    threads: int | None = None,
    *,
    rounds: int = 5,
    block_s: float = 0.05,
) -> Calibration:
    """Time onnxruntime and OpenVINO (f32, and bf16 where the CPU has it) on the artifact's
    sampler graph, interleaved, and record the medians beside the artifact for ``auto``.

    Each batch size gets the same seeded inputs for every engine (what ``Sampler.feed``
    draws); each engine runs ``rounds`` blocks of ``block_s`` per batch size after a warm-up.
    Entries for other thread counts in the file are kept if they still hold.

    Raises:
        BackendUnavailableError: openvino is not installed.
        ArtifactError: The artifact cannot be loaded by either engine.
        InputError: Bad batch sizes or thread count.
        OutputError: The calibration file cannot be written.
    """
    from genedge.runtime.backends.openvino_backend import OpenVinoBackend, bf16_support
    from genedge.runtime.sampler import Sampler

    path = Path(path)
    sizes = _check_sizes(batch_sizes)
    if rounds <= 0 or block_s < 0:
        raise InputError("rounds must be positive and block_s not negative")
    sampler = Sampler(path, backend="cpu", threads=threads)
    engines: dict[str, Any] = {
        "cpu": sampler.graph_backend,
        "openvino": OpenVinoBackend(path, threads=threads, precision="fp32"),
    }
    has_bf16, bf16_why = bf16_support()
    if has_bf16:
        engines["openvino-bf16"] = OpenVinoBackend(path, threads=threads, precision="bf16")
    scale = abs(float(sampler.manifest.preprocessing.scale_offset[0]))
    median_ms: dict[str, dict[int, float]] = {k: {} for k in engines}
    errors: dict[str, np.ndarray] = {}
    for b in sizes:
        feed = sampler.feed(b, seed=0)
        runners = {k: functools.partial(e.run, feed) for k, e in engines.items()}
        for k, sec in _time_interleaved(runners, rounds, block_s).items():
            median_ms[k][b] = sec * 1e3
        if b == max(sizes):
            ref = engines["cpu"].run(feed)[0]
            for k in engines:
                if k != "cpu":
                    errors[k] = np.abs(engines[k].run(feed)[0].astype(np.float64) - ref)
    for e in engines.values():
        e.close()
    faster = {
        b: "openvino" if median_ms["openvino"][b] < (1 - MARGIN) * median_ms["cpu"][b] else "cpu"
        for b in sizes
    }
    bf16: dict[str, object] = {"ran": has_bf16, "why": bf16_why}
    for k, err in errors.items():
        tag = "bf16" if k == "openvino-bf16" else "fp32"
        stats = {
            "batch": max(sizes),
            "max_abs_model": float(err.max()),
            "max_abs_data": float(err.max()) * scale,
            "mean_abs_data": float(err.mean()) * scale,
        }
        if tag == "bf16":
            bf16.update(stats)
        else:
            bf16["openvino_fp32_max_abs_data"] = stats["max_abs_data"]
    entry: dict[str, object] = {
        "threads": threads,
        "batch_sizes": list(sizes),
        "rounds": rounds,
        "block_s": block_s,
        "median_ms": {k: {str(b): v for b, v in d.items()} for k, d in median_ms.items()},
        "bf16": bf16,
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    file = _write(path, _threads_key(threads), entry)
    return Calibration(
        file,
        threads,
        sizes,
        median_ms,
        faster,
        cpu_engine(path, threads),
        bf16,
    )


def _write(path: Path, key: str, entry: dict[str, object]) -> Path:
    """Merge ``entry`` into the artifact's calibration file (dropping it if stale), atomically."""
    file = calibration_path(path)
    data, _ = read_calibration(path)
    entries = dict(data.get("entries", {})) if data else {}
    entries[key] = entry
    doc = {
        "format": CALIBRATION_FORMAT,
        "artifact": _artifact(path),
        "machine": _machine(),
        "versions": _versions(),
        "entries": entries,
    }
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot write {file}: {e.strerror or e}") from None
    write_bytes_atomic(file, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode())
    return file

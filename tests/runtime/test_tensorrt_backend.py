"""The TensorRT compile -> select -> run flow, driven through stand-ins for TensorRT and CUDA.

TensorRT and a GPU are absent here, so these tests install small fake ``tensorrt`` and
``cuda.cudart`` modules with the same call signatures. The fake "device" memory is host memory
and the fake engine computes ``x = 2 * z``: what is checked is genedge's side of the contract
(profiles, manifest records, engine selection, buffer reuse and growth, output order, shape
errors, locking), not TensorRT itself. The real thing is ``tests/export/test_tensorrt.py``'s
``gpu`` test.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import json
import shutil
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from genedge.export.tensorrt import engine_from_onnx
from genedge.runtime import Sampler, read_manifest
from genedge.runtime.backends import create_backend
from genedge.runtime.backends.tensorrt_backend import TensorRTBackend, tensorrt_status
from genedge.runtime.engines import model_sha256
from genedge.runtime.errors import BackendUnavailableError, InputError


def _module(name: str) -> types.ModuleType:
    m = types.ModuleType(name)
    m.__spec__ = importlib.machinery.ModuleSpec(name, None)  # find_spec() reads it
    return m


def _fake_cudart(log: list[tuple[str, int]]) -> types.ModuleType:
    rt = _module("cuda.cudart")
    ok = 0
    memory: dict[int, Any] = {}

    def malloc(n: int) -> tuple[int, int]:
        buf = ctypes.create_string_buffer(n)
        memory[ctypes.addressof(buf)] = buf
        log.append(("malloc", n))
        return ok, ctypes.addressof(buf)

    def free(ptr: int) -> tuple[int]:
        del memory[ptr]
        log.append(("free", ptr))
        return (ok,)

    def memcpy(dst: int, src: int, n: int, kind: int, stream: int) -> tuple[int]:
        assert stream == 7 and kind in (1, 2)
        ctypes.memmove(dst, src, n)
        return (ok,)

    prop = types.SimpleNamespace(name=b"Fake L4\0\0\0", major=8, minor=9)
    rt.cudaError_t = types.SimpleNamespace(cudaSuccess=ok)
    rt.cudaMemcpyKind = types.SimpleNamespace(cudaMemcpyHostToDevice=1, cudaMemcpyDeviceToHost=2)
    rt.cudaGetErrorName = lambda err: (ok, b"cudaErrorFake")
    rt.cudaGetDeviceCount = lambda: (ok, 1)
    rt.cudaGetDeviceProperties = lambda device: (ok, prop)
    rt.cudaSetDevice = lambda device: (ok,)
    rt.cudaStreamCreate = lambda: (ok, 7)
    rt.cudaStreamSynchronize = lambda stream: (ok,)
    rt.cudaStreamDestroy = lambda stream: (ok,)
    rt.cudaMalloc, rt.cudaFree, rt.cudaMemcpyAsync = malloc, free, memcpy
    # Events: a recorded event holds the host time of its record call; the fake stream runs
    # everything synchronously, so that is when the "device" reached it.
    events: dict[int, float | None] = {}

    def event_create() -> tuple[int, int]:
        events[len(events) + 100] = None
        return ok, len(events) + 99

    def event_record(event: int, stream: int) -> tuple[int]:
        log.append(("record", stream))
        events[event] = time.perf_counter()
        return (ok,)

    def elapsed(start: int, end: int) -> tuple[int, float]:
        a, b = events[start], events[end]
        assert a is not None and b is not None, "elapsed time of an unrecorded event"
        return ok, (b - a) * 1e3

    rt.cudaEventCreate, rt.cudaEventRecord, rt.cudaEventElapsedTime = (
        event_create,
        event_record,
        elapsed,
    )
    rt.cudaEventSynchronize = lambda event: (ok,)
    return rt


def _host_array(ptr: int, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    n = int(np.prod(shape)) * dtype.itemsize
    return np.frombuffer((ctypes.c_char * n).from_address(ptr), dtype=dtype).reshape(shape)


class _Engine:
    """Outputs first, as a real engine may order them; computes every output as 2 * input 0."""

    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.inputs = list(plan["inputs"])
        self.names = list(plan["outputs"]) + self.inputs
        self.num_io_tensors = len(self.names)

    def get_tensor_name(self, i: int) -> str:
        return self.names[i]

    def get_tensor_mode(self, name: str) -> str:
        return "in" if name in self.inputs else "out"

    def get_tensor_dtype(self, name: str) -> np.dtype:
        return np.dtype({**self.plan["inputs"], **self.plan["outputs"]}[name])

    def get_tensor_profile_shape(self, name: str, index: int) -> list[list[int]]:
        return self.plan["profile"][name]

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        # As TensorRT reports a dynamic axis: -1 (the profile's sizes vary along it).
        lo, _, hi = self.plan["profile"].get(name, self.plan["profile"][self.inputs[0]])
        return tuple(a if a == b else -1 for a, b in zip(lo, hi, strict=True))

    def create_execution_context(self) -> _Context:
        return _Context(self)


class _Context:
    def __init__(self, engine: _Engine) -> None:
        self.engine, self.shapes, self.addresses = engine, {}, {}

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        lo, _, hi = self.engine.get_tensor_profile_shape(name, 0)
        fits = len(shape) == len(lo) and all(
            a <= s <= b for a, s, b in zip(lo, shape, hi, strict=True)
        )
        if fits:
            self.shapes[name] = tuple(shape)
        return fits

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return self.shapes[self.engine.inputs[0]]

    def set_tensor_address(self, name: str, ptr: int) -> None:
        self.addresses[name] = ptr

    def execute_async_v3(self, stream: int) -> bool:
        first = self.engine.inputs[0]
        dtype = self.engine.get_tensor_dtype(first)
        z = _host_array(self.addresses[first], self.shapes[first], dtype)
        for out in self.engine.plan["outputs"]:
            _host_array(self.addresses[out], self.shapes[first], dtype)[...] = 2 * z
        return True


def _fake_tensorrt() -> types.ModuleType:
    trt = _module("tensorrt")
    trt.__version__ = "10.3.0"
    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level: None})
    trt.TensorIOMode = types.SimpleNamespace(INPUT="in", OUTPUT="out")
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE="workspace")
    trt.BuilderFlag = types.SimpleNamespace(FP16="fp16")
    trt.nptype = lambda dtype: dtype

    class Network:
        inputs: dict[str, str] = {}
        outputs: dict[str, str] = {}

    class Parser:
        num_errors = 0

        def __init__(self, network: Network, logger: object) -> None:
            self.network = network

        def parse_from_file(self, path: str) -> bool:
            g = read_manifest(path).sampler  # the graph's tensors, as the ONNX parser sees them
            self.network.inputs = {t.name: t.dtype for t in g.inputs}
            self.network.outputs = {t.name: t.dtype for t in g.outputs}
            return True

    class Cache:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def serialize(self) -> bytes:
            return self.data + b"+"

    class Config:
        def __init__(self) -> None:
            self.flags: list[str] = []
            self.profiles: list[Any] = []
            self.pools: dict[str, int] = {}
            self.cache: Cache | None = None

        def set_memory_pool_limit(self, pool: str, size: int) -> None:
            self.pools[pool] = size

        def set_flag(self, flag: str) -> None:
            self.flags.append(flag)

        def add_optimization_profile(self, profile: Any) -> None:
            self.profiles.append(profile)

        def create_timing_cache(self, data: bytes) -> Cache:
            return Cache(data)

        def set_timing_cache(self, cache: Cache, ignore_mismatch: bool) -> None:
            assert ignore_mismatch is False
            self.cache = cache

        def get_timing_cache(self) -> Cache | None:
            return self.cache

    class Profile:
        def __init__(self) -> None:
            self.shapes: dict[str, list[list[int]]] = {}

        def set_shape(self, name: str, lo: tuple, opt: tuple, hi: tuple) -> None:
            self.shapes[name] = [list(lo), list(opt), list(hi)]

    class Builder:
        def __init__(self, logger: object) -> None:
            pass

        def create_network(self, flags: int) -> Network:
            assert flags == 0  # TensorRT 10: explicit batch, no flag
            return Network()

        def create_builder_config(self) -> Config:
            return Config()

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Network, config: Config) -> bytes:
            (profile,) = config.profiles
            plan = {
                "inputs": network.inputs,
                "outputs": network.outputs,
                "profile": profile.shapes,
                "flags": config.flags,
                "workspace": config.pools["workspace"],
            }
            return json.dumps(plan).encode()

    class Runtime:
        def __init__(self, logger: object) -> None:
            pass

        def deserialize_cuda_engine(self, data: bytes) -> _Engine:
            return _Engine(json.loads(data))

    trt.Builder, trt.OnnxParser, trt.Runtime = Builder, Parser, Runtime
    return trt


@pytest.fixture()
def fake_gpu(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Install the fake tensorrt and cuda modules; returns the allocation log."""
    if tensorrt_status() == "available":  # pragma: no cover - a real stack is installed
        pytest.skip("real TensorRT is installed; its tests are the gpu ones")
    log: list[tuple[str, int]] = []
    cuda = _module("cuda")
    cuda.__path__ = []  # a package, so `from cuda.bindings import runtime` fails cleanly
    cuda.cudart = _fake_cudart(log)
    monkeypatch.setitem(sys.modules, "cuda", cuda)
    monkeypatch.setitem(sys.modules, "cuda.cudart", cuda.cudart)
    monkeypatch.setitem(sys.modules, "tensorrt", _fake_tensorrt())
    return log


@pytest.fixture()
def artifact(gan_points_onnx: Path, tmp_path: Path) -> Path:
    p = tmp_path / "gan.onnx"
    shutil.copyfile(gan_points_onnx, p)
    return p


def test_compile_builds_profile_records_engine_and_caches_timing(
    fake_gpu: list, artifact: Path
) -> None:
    plan = engine_from_onnx(artifact, precision="fp16", batch_range=(1, 8, 64))
    assert plan == artifact.parent / "gan.fp16.sm_89.plan"
    built = json.loads(plan.read_bytes())
    assert built["profile"] == {"z": [[1, 2], [8, 2], [64, 2]]}
    assert built["flags"] == ["fp16"] and built["workspace"] == 1 << 30
    (record,) = read_manifest(artifact).engines
    assert record == {
        "file": "gan.fp16.sm_89.plan",
        "precision": "fp16",
        "gpu_name": "Fake L4",
        "compute_capability": "8.9",
        "tensorrt_version": "10.3.0",
        "batch_range": [1, 8, 64],
        "length_range": None,
        "onnx_sha256": model_sha256(artifact),
    }
    cache = artifact.parent / ".genedge-trt-cache" / "timing-sm_89.cache"
    assert cache.read_bytes() == b"+"
    engine_from_onnx(artifact, precision="fp32")  # reads the cache back and extends it
    assert cache.read_bytes() == b"++"
    assert json.loads((artifact.parent / "gan.fp32.sm_89.plan").read_bytes())["flags"] == []
    assert [e["precision"] for e in read_manifest(artifact).engines] == ["fp16", "fp32"]


def test_sampler_runs_the_engine_and_matches_its_math(fake_gpu: list, artifact: Path) -> None:
    engine_from_onnx(artifact, batch_range=(1, 8, 64))
    s = Sampler(artifact, backend="tensorrt")
    assert s.backend == "tensorrt"
    assert s.describe()["engine"] == "gan.fp16.sm_89.plan"
    for n in (1, 37):
        np.testing.assert_array_equal(s.sample(n, seed=n, raw=True), 2 * s.latents(n, seed=n))
    assert Sampler(artifact, backend="auto").backend == "tensorrt"


def test_buffers_are_reused_and_grow(fake_gpu: list, artifact: Path) -> None:
    engine_from_onnx(artifact, batch_range=(1, 8, 64))
    b = create_backend("tensorrt", artifact)
    for n in (1, 1, 20, 20, 5, 64):
        z = np.full((n, 2), n, np.float32)
        (x,) = b.run({"z": z})
        np.testing.assert_array_equal(x, 2 * z)
    mallocs = [n for what, n in fake_gpu if what == "malloc"]
    frees = [p for what, p in fake_gpu if what == "free"]
    # z and x: 256 bytes each at first; 160 bytes (batch 20) fit; 512 bytes (batch 64) regrow.
    assert mallocs == [256, 256, 512, 512] and len(frees) == 2
    b.close()
    assert len([1 for what, _ in fake_gpu if what == "free"]) == 4


def test_batch_outside_the_profile_is_an_input_error(fake_gpu: list, artifact: Path) -> None:
    engine_from_onnx(artifact, batch_range=(1, 8, 64))
    s = Sampler(artifact, backend="tensorrt")
    with pytest.raises(InputError, match=r"outside the engine's profile \(\(1, 2\) to \(64, 2\)\)"):
        s.sample(100, seed=0, batch_size=100)
    assert s.sample(100, seed=0, batch_size=50).shape == (100, 2)  # chunks that fit still run


def test_concurrent_calls_share_one_context(fake_gpu: list, artifact: Path) -> None:
    engine_from_onnx(artifact)
    b = create_backend("tensorrt", artifact)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(50):
                z = np.full((1 + (k + i) % 9, 2), k * 100 + i, np.float32)
                np.testing.assert_array_equal(b.run({"z": z})[0], 2 * z)
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_foreign_and_stale_engines_are_refused(fake_gpu: list, artifact: Path) -> None:
    with pytest.raises(BackendUnavailableError, match="run `genedge compile gan.onnx`"):
        TensorRTBackend(artifact)
    engine_from_onnx(artifact)
    fake_gpu_props = sys.modules["cuda.cudart"].cudaGetDeviceProperties(0)[1]
    fake_gpu_props.minor = 6  # the same machine now reports sm_86
    with pytest.raises(BackendUnavailableError, match="built for sm_89 .* this GPU is sm_86"):
        TensorRTBackend(artifact)
    fake_gpu_props.minor = 9
    with pytest.raises(BackendUnavailableError, match="is fp16; fp32 was asked for"):
        TensorRTBackend(artifact, precision="fp32")
    with pytest.raises(InputError, match="precision must be one of"):
        TensorRTBackend(artifact, precision="int8")
    import onnx
    from onnx import numpy_helper

    model = onnx.load(artifact)
    init = model.graph.initializer[0]
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 0.5, init.name))
    onnx.save(model, artifact)
    with pytest.raises(BackendUnavailableError, match="stale"):
        Sampler(artifact, backend="tensorrt")
    assert Sampler(artifact, backend="auto").backend == "cpu"  # auto moves on, says nothing


class _Marks:
    def __init__(self) -> None:
        self.marks: list[tuple[str, Any]] = []

    def mark(self, label: str, stream: Any = None) -> None:
        self.marks.append((label, stream))


def test_timed_run_marks_each_phase_on_the_engine_stream(fake_gpu: list, artifact: Path) -> None:
    engine_from_onnx(artifact, batch_range=(1, 8, 64))
    b = create_backend("tensorrt", artifact)
    timer = _Marks()
    z = np.full((3, 2), 1.5, np.float32)
    (x,) = b.run({"z": z}, timer=timer)
    np.testing.assert_array_equal(x, 2 * z)
    assert timer.marks == [("start", 7), ("h2d", 7), ("compute", 7), ("d2h", 7)]


def test_bench_times_the_engine_with_cuda_events(fake_gpu: list, artifact: Path) -> None:
    from genedge.bench import run_bench

    engine_from_onnx(artifact, batch_range=(1, 8, 64))
    report = run_bench(
        artifact, None, backends=("cpu", "tensorrt"), batch_sizes=(4, 100), budget_s=0.01, gemm_n=64
    )
    rows = {(r.backend, r.batch): r for r in report.rows}
    trt = rows[("tensorrt", 4)]
    assert trt.status == "ok" and trt.timing == "cuda events"
    assert trt.latency is not None and trt.latency.calls >= 1
    for phase in (trt.h2d_ms, trt.compute_ms, trt.d2h_ms):
        assert phase is not None and phase >= 0
    # the phases add up to the call (each call's total is the first to the last event)
    total = trt.h2d_ms + trt.compute_ms + trt.d2h_ms  # type: ignore[operator]
    assert total == pytest.approx(trt.latency.median_ms, rel=0.5)
    assert rows[("cpu", 4)].timing == "perf_counter" and rows[("cpu", 4)].compute_ms is None
    # batch 100 is outside the engine's profile: a row saying so, the others still timed
    failed = rows[("tensorrt", 100)]
    assert failed.status.startswith("failed: InputError: input z of shape (100, 2) is outside")
    assert rows[("cpu", 100)].status == "ok"
    assert any(what == "record" and stream == 7 for what, stream in fake_gpu)


def test_info_lists_engines_against_this_gpu(fake_gpu: list, artifact: Path) -> None:
    from typer.testing import CliRunner

    from genedge.cli import app

    engine_from_onnx(artifact, batch_range=(1, 8, 64))
    r = CliRunner().invoke(app, ["info", str(artifact)], env={"COLUMNS": "250"})
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "engine gan.fp16.sm_89.plan" in text
    assert "fp16, sm_89 (Fake L4), TensorRT 10.3.0, batch 1:8:64: available" in text
    assert "gpu │ Fake L4 (sm_89)" in text
    assert "backend auto │ tensorrt" in text

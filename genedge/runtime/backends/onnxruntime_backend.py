"""onnxruntime backends: CPU, the CUDA execution provider, and the TensorRT execution provider.

genedge asks onnxruntime for exactly one accelerator provider and then checks which providers the
session really uses: onnxruntime-gpu silently falls back to CPU when CUDA is missing, and a
benchmark that believes it ran on a GPU while it ran on the CPU is worse than an error.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from genedge.runtime.artifact import read_manifest, read_metadata
from genedge.runtime.atomic import file_mode
from genedge.runtime.backends.cuda_graph import CudaGraphRunner
from genedge.runtime.backends.protocol import ONNX_DTYPES, PhaseTimer, dims
from genedge.runtime.engines import (
    DEFAULT_BATCH_RANGE,
    TRT_CACHE_DIR,
    default_length_range,
    model_sha256,
    profile_shapes,
)
from genedge.runtime.errors import (
    ArtifactError,
    BackendUnavailableError,
    InputError,
    ManifestError,
    OutputError,
)
from genedge.runtime.manifest import TensorSpec

_PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt-ep": "TensorrtExecutionProvider",
}
#: Provider option that makes each accelerator capture and replay CUDA graphs.
_CUDA_GRAPH_OPTION = {"cuda": "enable_cuda_graph", "tensorrt-ep": "trt_cuda_graph_enable"}
#: Folder beside an artifact where optimised models are cached (see :func:`cached_session`).
ORT_CACHE_DIR = ".genedge-ort-cache"
#: ``0``/``off`` turns the optimised-model cache off; a folder path moves it there.
ORT_CACHE_ENV = "GENEDGE_ORT_CACHE"
ORT_CACHE_SUFFIX = ".ort-opt.onnx"
#: Bumped when what the cache key covers changes, so older cache files are never reused.
_CACHE_FORMAT = 1


def provider_status() -> dict[str, str]:
    """Availability of the onnxruntime-based backends, as the installed wheel reports it."""
    available = set(ort.get_available_providers())
    out = {}
    for name, provider in (
        ("cpu", "CPUExecutionProvider"),
        ("cuda", "CUDAExecutionProvider"),
        ("ort-tensorrt", "TensorrtExecutionProvider"),
    ):
        if provider in available:
            out[name] = "available (provider listed; a session checks the device)"
        else:
            out[name] = (
                f"not available: onnxruntime {ort.__version__} lacks {provider}; "
                "install genedge[gpu]"
            )
    out["cpu"] = "available"
    return out


def session_options(
    threads: int | None, optimized_model_path: Path | None = None
) -> ort.SessionOptions:
    """Session options genedge uses: full graph optimisation, sequential execution, and
    ``threads`` intra-op threads (``None`` lets onnxruntime use one per physical core)."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    if threads is not None:
        if not isinstance(threads, int) or threads <= 0:
            raise InputError(f"threads must be a positive integer, got {threads!r}")
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
    if optimized_model_path is not None:
        so.optimized_model_filepath = str(optimized_model_path)
    return so


def _check_model_file(path: Path) -> None:
    if not path.exists():
        raise ArtifactError(f"model file not found: {path}")
    if not path.is_file():
        raise ArtifactError(f"not a model file: {path}")
    if not os.access(path, os.R_OK):
        raise ArtifactError(f"model file is not readable: {path}")
    read_metadata(path)  # structure and external-data checks before onnxruntime parses it


def _load(
    path: Path,
    so: ort.SessionOptions,
    providers: list[str],
    provider_options: list[dict[str, str]] | None,
) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(
            str(path), sess_options=so, providers=providers, provider_options=provider_options
        )
    except InputError:
        raise
    except Exception as e:  # onnxruntime raises several unrelated types for bad files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ArtifactError(f"cannot load {path.name} as an ONNX model: {first}") from None


def session_from_onnx(
    path: Path,
    providers: list[str] | None = None,
    threads: int | None = None,
    provider_options: list[dict[str, str]] | None = None,
) -> ort.InferenceSession:
    """Open an ONNX file as an onnxruntime session, turning loader failures into ArtifactError."""
    path = Path(path)
    _check_model_file(path)
    return _load(
        path, session_options(threads), providers or ["CPUExecutionProvider"], provider_options
    )


def ort_cache_folder(path: Path, cache: bool | str | os.PathLike[str] | None = None) -> Path | None:
    """Where the optimised model of ``path`` is cached, or ``None`` when caching is off.

    ``cache=None`` follows ``$GENEDGE_ORT_CACHE`` (unset: on, beside the artifact in
    ``.genedge-ort-cache/``; ``0``/``off``/``false``: off; anything else: that folder);
    ``True`` is on (the variable's folder if it names one), ``False`` off, a path that folder.
    """
    if cache is False:
        return None
    if cache is None or cache is True:
        env = os.environ.get(ORT_CACHE_ENV, "").strip()
        if env.lower() in ("0", "off", "false", "no"):
            return None if cache is None else Path(path).parent / ORT_CACHE_DIR
        if env and env.lower() not in ("1", "on", "true", "yes"):
            return Path(env).expanduser()
        return Path(path).parent / ORT_CACHE_DIR
    return Path(cache).expanduser()


@functools.cache
def _machine_key() -> str:
    """The CPU architecture and instruction-set flags: ``ORT_ENABLE_ALL`` writes layout
    transforms (e.g. NCHWc blocks sized for AVX-512) valid only on a compatible CPU."""
    flags = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith(("flags", "Features")):
                flags = line.split(":", 1)[1].strip()
                break
    return f"{os.uname().machine}:{hashlib.sha256(flags.encode()).hexdigest()[:16]}"


def optimized_model_key(
    model_hash: str, providers: list[str], provider_options: list[dict[str, str]] | None
) -> str:
    """``<model hash>.<settings hash>``: the cache key of a model's optimised form.

    ``model_hash`` is the SHA-256 of the artifact's bytes; the second part covers everything
    else the optimised graph depends on: the onnxruntime version, the graph optimisation level,
    the providers and their options, and this CPU's architecture and instruction-set flags. A
    changed artifact or onnxruntime never reuses a stale file.
    """
    settings = json.dumps(
        {
            "format": _CACHE_FORMAT,
            "onnxruntime": ort.__version__,
            "level": "ORT_ENABLE_ALL",
            "providers": providers,
            # A stream handle changes every process and does not change the graph.
            "provider_options": [
                {k: v for k, v in o.items() if k != "user_compute_stream"}
                for o in provider_options or []
            ],
            "machine": _machine_key(),
        },
        sort_keys=True,
    )
    return f"{model_hash[:20]}.{hashlib.sha256(settings.encode()).hexdigest()[:12]}"


def _model_hash(path: Path, folder: Path) -> str | None:
    """SHA-256 of the artifact's bytes, or ``None`` for a model with external data (its
    weights live in another file, outside the hash).

    Hashing a 1 MB generator costs about as much as optimising it, so the hash is remembered
    in ``<stem>.sha256.json`` beside the cached models, against the file's device, inode,
    size, modification and change times: any write to the artifact changes its change time
    (which, unlike the modification time, programs cannot set), and then the bytes are hashed
    again.
    """
    st = path.stat()
    stamp = [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
    memo = folder / f"{path.stem}.sha256.json"
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
        known = json.loads(memo.read_text())
        if known["stat"] == stamp and isinstance(known["sha256"], str):
            return known["sha256"]
    model = path.read_bytes()
    if b"location" in model:  # maybe external data (the key's name); never cache those
        return None
    digest = hashlib.sha256(model).hexdigest()
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{memo.name}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "w") as f:
            json.dump({"stat": stamp, "sha256": digest}, f)
        try:
            os.chmod(tmp, file_mode())
            os.replace(tmp, memo)
        except OSError:
            os.unlink(tmp)
    return digest


def cached_session(
    path: Path,
    providers: list[str] | None = None,
    threads: int | None = None,
    provider_options: list[dict[str, str]] | None = None,
    cache: bool | str | os.PathLike[str] | None = None,
) -> tuple[ort.InferenceSession, str]:
    """Open a session, reusing the optimised model saved by an earlier load.

    The first load optimises the graph as usual (``ORT_ENABLE_ALL``) and has onnxruntime save
    the result (``SessionOptions.optimized_model_filepath``) to a temporary file in the cache
    folder, renamed into place once the session is up: a reader never sees half a file. Later
    loads open ``<stem>.<key>.ort-opt.onnx`` (see :func:`optimized_model_key`) with graph
    optimisation off, skipping work already done. A folder that cannot be written, a cache
    file that does not load, or a model with external data fall back silently to a normal
    load. Files of older versions of the same artifact are removed from the default folder.

    Returns:
        ``(session, status)``: status is ``"off"``, ``"hit <file>"``, ``"written <file>"`` or
        ``"skipped: <why>"``.

    Raises:
        ArtifactError: The model itself cannot be loaded.
    """
    path = Path(path)
    providers = providers or ["CPUExecutionProvider"]
    _check_model_file(path)
    folder = ort_cache_folder(path, cache)
    plain = session_options(threads)  # validates threads before anything is written
    if folder is None:
        return _load(path, plain, providers, provider_options), "off"
    try:
        model_hash = _model_hash(path, folder)
    except OSError as e:
        raise ArtifactError(f"cannot read {path}: {e.strerror or e}") from None
    if model_hash is None:
        return _load(path, plain, providers, provider_options), "skipped: external data"
    key = optimized_model_key(model_hash, providers, provider_options)
    target = folder / f"{path.stem}.{key}{ORT_CACHE_SUFFIX}"
    if target.is_file():
        so = session_options(threads)
        # Optimised already: redoing the passes would only cost start-up time.
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            return _load(target, so, providers, provider_options), f"hit {target}"
        except ArtifactError:  # truncated or foreign: drop it and rebuild below
            with contextlib.suppress(OSError):
                target.unlink()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # ".onnx" last: onnxruntime picks the saved format (ONNX vs ORT) from the suffix.
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp.onnx", dir=folder)
        os.close(fd)
    except OSError:  # read-only folder or disk: load as usual
        return _load(path, plain, providers, provider_options), "skipped: folder not writable"
    tmp = Path(tmp_name)
    try:
        session = _load(path, session_options(threads, tmp), providers, provider_options)
    except ArtifactError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        # Saving may be what failed (a full disk): a plain load says whether the model is bad.
        return _load(path, plain, providers, provider_options), "skipped: could not save"
    try:
        if tmp.stat().st_size == 0:
            raise OSError("onnxruntime wrote no optimised model")
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        tmp.chmod(file_mode())  # mkstemp made it private; honour the umask as open() would
        os.replace(tmp, target)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return session, "skipped: could not write the optimised model"
    if folder == path.parent / ORT_CACHE_DIR:
        _prune(folder, path.stem, key.split(".")[0])
    return session, f"written {target}"


def _prune(folder: Path, stem: str, model_hash: str) -> None:
    """Remove cached optimised models of other versions of this artifact."""
    with contextlib.suppress(OSError):
        for p in folder.iterdir():
            name = p.name
            if not (name.startswith(stem + ".") and name.endswith(ORT_CACHE_SUFFIX)):
                continue
            parts = name[len(stem) + 1 : -len(ORT_CACHE_SUFFIX)].split(".")
            if len(parts) == 2 and parts[0] != model_hash:
                with contextlib.suppress(OSError):
                    p.unlink()


def tensorrt_ep_options(path: Path, cache_dir: str | Path | None = None) -> dict[str, str]:
    """The TensorRT EP options genedge sets for an artifact.

    Engines and the timing cache go to ``cache_dir``, by default
    ``<artifact folder>/.genedge-trt-cache/<stem>-<graph hash>-ort<version>/``, so a changed
    graph or onnxruntime never reuses a stale engine (the EP adds the GPU's compute capability
    to its file names; clear the folder after a TensorRT upgrade, which older onnxruntime
    releases do not notice). For genedge artifacts, one optimisation profile covers every
    dynamic input (batch 1..1024, and lengths for sequence models), so the EP does not rebuild
    its engine when the batch grows.

    Raises:
        OutputError: The cache folder cannot be created.
    """
    path = Path(path)
    if cache_dir is None:
        key = f"{path.stem}-{model_sha256(path)[:16]}-ort{ort.__version__}"
        cache = path.parent / TRT_CACHE_DIR / key
    else:
        cache = Path(cache_dir)
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(
            f"cannot create the TensorRT engine cache {cache}: {e.strerror or e}; pass "
            "provider_options={'trt_engine_cache_path': ...} to put it elsewhere"
        ) from None
    opts = {
        "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": str(cache),
        "trt_timing_cache_enable": "True",
        "trt_timing_cache_path": str(cache),
    }
    try:
        manifest = read_manifest(path, companions=True)
    except ManifestError:  # a plain ONNX file: the EP picks profiles from the shapes it sees
        return opts
    graph = next((g for g in manifest.graphs.values() if g.file == path.name), manifest.sampler)
    shapes = profile_shapes(graph, DEFAULT_BATCH_RANGE, default_length_range(manifest))
    for i, which in enumerate(("min", "opt", "max")):
        opts[f"trt_profile_{which}_shapes"] = ",".join(
            f"{name}:{'x'.join(map(str, s[i]))}" for name, s in shapes.items()
        )
    return opts


class OnnxRuntimeBackend:
    """Runs an ONNX graph with onnxruntime on the CPU, CUDA or the TensorRT provider.

    Args:
        path: ONNX file.
        device: ``"cpu"``, ``"cuda"`` or ``"tensorrt-ep"``.
        threads: Intra-op threads for the CPU; ``None`` for onnxruntime's default.
        provider_options: Extra options for the accelerator provider (plain strings); they
            override genedge's (for the TensorRT EP: :func:`tensorrt_ep_options`).
        cuda_graph: Capture each input shape's run as a CUDA graph and replay it (``cuda`` and
            ``tensorrt-ep``): inputs and outputs then live in fixed device buffers, one set per
            shape. Defaults to False.
        iobinding: ``cuda`` only: run through IOBinding with device buffers kept per input
            shape (no allocation per call; H2D, compute and D2H can be timed apart). Defaults
            to True; ``cuda_graph`` implies it.
        optimized_cache: Reuse the optimised model saved by an earlier load (``cpu`` and
            ``cuda``; see :func:`cached_session`): ``False`` (the default here; the Sampler
            turns it on), ``True``, ``None`` to follow ``$GENEDGE_ORT_CACHE``, or a folder.
    """

    def __init__(
        self,
        path: Path,
        device: str = "cpu",
        threads: int | None = None,
        provider_options: dict[str, str] | None = None,
        cuda_graph: bool = False,
        iobinding: bool = True,
        optimized_cache: bool | str | os.PathLike[str] | None = False,
    ) -> None:
        provider = _PROVIDERS[device]
        self._name = {"cpu": "cpu", "cuda": "cuda", "tensorrt-ep": "ort-tensorrt"}[device]
        if cuda_graph and device not in _CUDA_GRAPH_OPTION:
            raise InputError("cuda_graph needs the cuda or ort-tensorrt backend")
        if provider not in ort.get_available_providers():
            raise BackendUnavailableError(
                f"onnxruntime {ort.__version__} has no {provider}; install genedge[gpu] "
                "(onnxruntime-gpu) on a machine with an NVIDIA GPU"
            )
        options = {k: str(v) for k, v in (provider_options or {}).items()}
        if device == "tensorrt-ep":
            cache_dir = options.get("trt_engine_cache_path")
            options = {**tensorrt_ep_options(Path(path), cache_dir), **options}
            # Sessions of the TensorRT EP hold compiled nodes, which cannot be saved as ONNX;
            # the EP's own engine cache does that job.
            optimized_cache = False
        if cuda_graph:
            options[_CUDA_GRAPH_OPTION[device]] = "True"
        providers = [provider] if device == "cpu" else [provider, "CPUExecutionProvider"]
        opts = [options] + ([{}] if device != "cpu" else [])
        self.session, self.cache_status = cached_session(
            Path(path), providers, threads, opts, optimized_cache
        )
        active = self.session.get_providers()
        if active[0] != provider:
            raise BackendUnavailableError(
                f"{provider} is installed but could not start (session runs on {active[0]}); "
                "check the CUDA/cuDNN/TensorRT libraries and the GPU driver"
            )
        self._inputs = tuple(
            TensorSpec(i.name, ONNX_DTYPES.get(i.type, i.type), dims(i.shape))
            for i in self.session.get_inputs()
        )
        self._outputs = tuple(
            TensorSpec(o.name, ONNX_DTYPES.get(o.type, o.type), dims(o.shape))
            for o in self.session.get_outputs()
        )
        self.input_names = [t.name for t in self._inputs]
        self.output_names = [t.name for t in self._outputs]
        # On the CPU, call the native session directly: the Python wrapper re-validates input
        # names and provider fallbacks on every call (~2 us, as much as a batch-1 MLP run);
        # genedge checks the names once, against the manifest, when the Sampler is built.
        native = getattr(self.session, "_sess", None)
        self._run: Callable[[list[str], dict[str, np.ndarray], Any], list[np.ndarray]]
        self._run = native.run if device == "cpu" and native is not None else self.session.run
        bound = cuda_graph or (device == "cuda" and iobinding)
        self._graphs = (
            CudaGraphRunner(
                self.session, device, int(options.get("device_id", 0)), capture=cuda_graph
            )
            if bound
            else None
        )
        self._cuda_graph = cuda_graph

    @property
    def name(self) -> str:
        """``cpu``, ``cuda`` or ``ort-tensorrt``."""
        return self._name

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        """The session's inputs: name, numpy dtype name, shape (axis names where dynamic)."""
        return self._inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        """The session's outputs, in the order :meth:`run` returns them."""
        return self._outputs

    def run(
        self, feed: Mapping[str, np.ndarray], *, timer: PhaseTimer | None = None
    ) -> list[np.ndarray]:
        """Run the session on ``{input name: array}``.

        ``timer`` (benchmarks) is told where each phase ends: ``h2d``, ``compute`` and ``d2h``
        through device buffers (``cuda``, CUDA graphs), else one ``run`` phase, copies
        included.
        """
        if self._graphs is not None:
            return self._graphs.run(feed, timer=timer)
        # The native session wants a dict; a caller's mapping is used as is when it is one.
        arrays = feed if isinstance(feed, dict) else dict(feed)
        if timer is not None:
            timer.mark("start")
            out = self._run(self.output_names, arrays, None)
            timer.mark("run")
            return out
        # Session runs are thread-safe; outputs are fresh arrays owned by the caller.
        return self._run(self.output_names, arrays, None)

    def close(self) -> None:
        """Drop bound device buffers; the session itself goes when the backend is collected
        (onnxruntime has no explicit release)."""
        if self._graphs is not None:
            self._graphs.close()

    def describe(self) -> dict[str, object]:
        return {
            "backend": self.name,
            "providers": self.session.get_providers(),
            "onnxruntime": ort.__version__,
            "cuda_graph": self._cuda_graph,
            "iobinding": self._graphs is not None,
            "optimized_model_cache": self.cache_status,
        }

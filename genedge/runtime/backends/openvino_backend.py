"""OpenVINO on the CPU: the artifact's own ``.onnx`` file, read by OpenVINO's ONNX frontend.

OpenVINO is an optional extra (``genedge[openvino]``) imported only when this backend is built,
so the default path never pays for it. The batch axis stays dynamic (one compiled model for
every batch size). Precision is forced to f32 unless asked otherwise, so parity with
onnxruntime holds by default; ``bf16`` runs OpenVINO's bf16 kernels where the CPU has bf16
units (AMX, AVX-512-BF16) and says plainly that it runs f32 where it has none.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from genedge.runtime.artifact import read_manifest, read_metadata
from genedge.runtime.backends.ov_rewrite import rewrite_upsampling
from genedge.runtime.backends.protocol import PhaseTimer
from genedge.runtime.errors import ArtifactError, BackendUnavailableError, InputError, ManifestError
from genedge.runtime.manifest import TensorSpec

log = logging.getLogger("genedge.runtime")

#: What ``precision`` takes: forced f32 (the default), bf16, or OpenVINO's own choice.
OV_PRECISIONS = ("fp32", "bf16", "default")
OvPrecision = Literal["fp32", "bf16", "default"]
#: Folder beside an artifact where OpenVINO keeps its compiled-model cache (``CACHE_DIR``).
OV_CACHE_DIR = ".genedge-ov-cache"
NOT_INSTALLED = "openvino is not installed: pip install 'genedge[openvino]'"
#: OpenVINO element types -> genedge precision names.
OV_PRECISION_NAMES = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}
_warned: set[str] = set()


def import_openvino() -> Any:
    """The ``openvino`` module, or a one-line BackendUnavailableError naming the extra."""
    try:
        import openvino
    except ImportError:
        raise BackendUnavailableError(NOT_INSTALLED) from None
    except Exception as e:  # a broken install (missing shared library, ABI mismatch)
        raise BackendUnavailableError(f"openvino is installed but does not load: {e}") from None
    return openvino


def openvino_status() -> str:
    """``"available"`` or ``"not available: <reason>"``, without importing openvino."""
    if importlib.util.find_spec("openvino") is None:
        return f"not available: {NOT_INSTALLED}"
    return "available (CPU; `genedge calibrate M.onnx` lets auto choose it by measurement)"


@functools.cache
def _core() -> Any:
    """One OpenVINO Core per process (it is thread-safe and costs ~10 ms to make)."""
    return import_openvino().Core()


def bf16_support() -> tuple[bool, str]:
    """Whether OpenVINO's CPU plugin has bf16 kernels for this CPU, and how that is known.

    OpenVINO's own ``OPTIMIZATION_CAPABILITIES`` decides (it lists ``BF16`` on CPUs with AMX or
    AVX-512-BF16); the CPU's flags are quoted for the record.
    """
    caps = [str(c) for c in _core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")]
    flags = sorted(cpu_flags() & {"amx_bf16", "avx512_bf16"})
    seen = f"CPU flags: {', '.join(flags) or 'no amx_bf16/avx512_bf16'}"
    if "BF16" in caps:
        return True, f"OpenVINO lists BF16 ({seen})"
    return False, f"this CPU has no bf16 units (OpenVINO lists {', '.join(caps)}; {seen})"


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's instruction-set flags, from ``/proc/cpuinfo`` (empty where there is none)."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith(("flags", "Features")):
                return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def ov_cache_folder(path: Path, cache: bool | str | os.PathLike[str] | None) -> Path | None:
    """Where OpenVINO caches the compiled model of ``path``: ``.genedge-ov-cache/`` beside it
    (``None``/``True``), nowhere (``False``), or the given folder."""
    if cache is False:
        return None
    if cache is None or cache is True:
        return Path(path).parent / OV_CACHE_DIR
    return Path(cache).expanduser()


def _usable_folder(folder: Path | None) -> tuple[str | None, str]:
    """The cache folder as OpenVINO wants it (created with the umask's mode), and a status."""
    if folder is None:
        return None, "off"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError
    except OSError:
        return None, f"skipped: {folder} not writable"
    return str(folder), f"on {folder}"


class OpenVinoBackend:
    """Runs an ONNX graph with OpenVINO on the CPU.

    Args:
        path: ONNX file (a genedge artifact, a companion graph, or a plain model).
        threads: ``INFERENCE_NUM_THREADS``; ``None`` for OpenVINO's default (every core).
        precision: ``"fp32"`` (``INFERENCE_PRECISION_HINT`` f32: parity with onnxruntime),
            ``"bf16"`` (bf16 kernels; f32 with a warning where the CPU has no bf16 units) or
            ``"default"`` (OpenVINO's choice: bf16 where the CPU has it). Defaults to fp32.
        cache: OpenVINO's compiled-model cache (``CACHE_DIR``): ``None``/``True`` beside the
            artifact in ``.genedge-ov-cache/``, ``False`` off, or a folder.
        rewrite: Run DCGAN-style upsampling (stride-2 ``ConvTranspose``, kernel 4, padding 1)
            as four phase convolutions and a ``DepthToSpace``: exact in f32, but measured no
            faster on an idle machine (:mod:`~genedge.runtime.backends.ov_rewrite`), so off.

    Raises:
        BackendUnavailableError: openvino is not installed or does not load.
        ArtifactError: The file is missing, unreadable, or OpenVINO cannot compile it.
        InputError: An unknown precision or a bad thread count.
    """

    def __init__(
        self,
        path: Path,
        threads: int | None = None,
        precision: OvPrecision = "fp32",
        cache: bool | str | os.PathLike[str] | None = None,
        rewrite: bool = False,
    ) -> None:
        if precision not in OV_PRECISIONS:
            raise InputError(
                f"precision must be one of {', '.join(OV_PRECISIONS)}, got {precision!r}"
            )
        if threads is not None and (not isinstance(threads, int) or threads <= 0):
            raise InputError(f"threads must be a positive integer, got {threads!r}")
        path = Path(path)
        ov = import_openvino()
        read_metadata(path)  # a missing, unreadable or broken file: one-line ArtifactError
        self._precision_asked = precision
        self.fallback = ""
        hint = {"fp32": "f32", "bf16": "bf16", "default": None}[precision]
        if precision == "bf16":
            ok, why = bf16_support()
            if not ok:
                hint, self.fallback = "f32", f"bf16 asked for, running fp32: {why}"
                if why not in _warned:  # once per process, not once per sampler
                    _warned.add(why)
                    log.warning("openvino: %s", self.fallback)
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
        if hint is not None:
            config["INFERENCE_PRECISION_HINT"] = hint
        if threads is not None:
            config["INFERENCE_NUM_THREADS"] = threads
        cache_dir, self.cache_status = _usable_folder(ov_cache_folder(path, cache))
        if cache_dir is not None:
            config["CACHE_DIR"] = cache_dir
        try:
            model = _core().read_model(str(path))
            #: How many DCGAN upsampling layers run as phase convolutions (see ov_rewrite).
            self.rewritten = rewrite_upsampling(model) if rewrite else 0
            # Without a rewrite, from the path: a cache hit then skips reading the ONNX file.
            source = model if self.rewritten else str(path)
            self._compiled = _core().compile_model(source, "CPU", config)
        except Exception as e:  # OpenVINO raises RuntimeError for unreadable/unsupported graphs
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ArtifactError(f"OpenVINO cannot compile {path.name}: {first}") from None
        used = self._compiled.get_property("INFERENCE_PRECISION_HINT")
        used = used.get_type_name() if hasattr(used, "get_type_name") else str(used)
        #: The precision OpenVINO's kernels run in: ``fp32`` or ``bf16`` (``fp16`` on ARM).
        self.precision_used = OV_PRECISION_NAMES.get(used, used)
        self._threads = int(self._compiled.get_property("INFERENCE_NUM_THREADS"))
        self._version = ov.__version__
        names = _axis_names(path)
        self._inputs = tuple(_spec(p, names) for p in self._compiled.inputs)
        self._outputs = tuple(_spec(p, names) for p in self._compiled.outputs)
        self._n_out = len(self._outputs)
        # One infer request per calling thread: a request runs one inference at a time, and
        # reusing it skips ~20 us of setup per call.
        self._local = threading.local()

    @property
    def name(self) -> str:
        """``openvino``."""
        return "openvino"

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        """The graph's inputs: name, numpy dtype name, shape (axis names where dynamic)."""
        return self._inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        """The graph's outputs, in the order :meth:`run` returns them."""
        return self._outputs

    def _request(self) -> Any:
        req = getattr(self._local, "request", None)
        if req is None:
            req = self._local.request = self._compiled.create_infer_request()
        return req

    def run(
        self, feed: Mapping[str, np.ndarray], *, timer: PhaseTimer | None = None
    ) -> list[np.ndarray]:
        """Run the graph on ``{input name: array}``; fresh output arrays owned by the caller.

        Inputs are shared with OpenVINO, not copied (C-contiguous float32 arrays, as the
        sampler builds them); outputs are copied out of the request's buffers, which the next
        call would overwrite (the sampler scales its output in place). ``timer`` gets one
        ``run`` phase.
        """
        req = self._request()
        if timer is not None:
            timer.mark("start")
        try:
            arrays = feed if isinstance(feed, dict) else dict(feed)
            result = req.infer(arrays, share_inputs=True, share_outputs=False)
        except Exception as e:  # shape or type mismatches surface as RuntimeError
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise InputError(f"openvino could not run the graph: {first}") from None
        # share_outputs=False: OpenVINO copies each output into a fresh array the caller owns
        # (measured: the same cost as returning views and copying them with numpy).
        out = [result[i] for i in range(self._n_out)]
        if timer is not None:
            timer.mark("run")
        return out

    def close(self) -> None:
        """Drop this thread's infer request; the compiled model goes with the backend."""
        self._local = threading.local()

    def describe(self) -> dict[str, object]:
        """Device, versions, threads, the precision asked for and the one OpenVINO runs."""
        info: dict[str, object] = {
            "backend": self.name,
            "device": "CPU",
            "openvino": self._version,
            "threads": self._threads,
            "precision": self._precision_asked,
            "precision_used": self.precision_used,
            "performance_hint": "LATENCY",
            "model_cache": self.cache_status,
            "upsampling_rewritten": self.rewritten,
        }
        if self.fallback:
            info["precision_note"] = self.fallback
        return info


def _axis_names(path: Path) -> dict[str, tuple[int | str, ...]]:
    """Declared shapes of the file's graph tensors by name (the manifest's dynamic-axis names,
    which OpenVINO does not keep); empty for a plain ONNX file."""
    try:
        manifest = read_manifest(path, companions=True)
    except ManifestError:
        return {}
    graph = next((g for g in manifest.graphs.values() if g.file == path.name), manifest.sampler)
    return {t.name: tuple(t.shape) for t in (*graph.inputs, *graph.outputs)}


def _spec(port: Any, names: dict[str, tuple[int | str, ...]]) -> TensorSpec:
    name = port.get_any_name()
    declared = names.get(name, ())
    shape: list[int | str] = []
    for i, d in enumerate(port.get_partial_shape()):
        if d.is_static:
            shape.append(int(d.get_length()))
        else:
            named = declared[i] if i < len(declared) else "?"
            shape.append(named if isinstance(named, str) else "?")
    return TensorSpec(name, np.dtype(port.get_element_type().to_dtype()).name, tuple(shape))

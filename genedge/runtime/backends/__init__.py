"""Execution backends for the runtime: a small protocol, one module per backend, a registry.

Each backend turns an ONNX file into something that maps ``{input name: array}`` to a list of
output arrays, says what its graph takes and returns, and can be closed (the
:class:`~genedge.runtime.backends.protocol.Backend` protocol). Optional dependencies are
imported inside the factories, so a missing GPU stack costs nothing until that backend is asked
for, and then fails with a clear reason.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypedDict

from genedge.runtime.backends.protocol import Backend, PhaseTimer, input_names
from genedge.runtime.errors import BackendUnavailableError, GenedgeError, InputError

__all__ = [
    "AUTO_OPTIONS",
    "BACKEND_NAMES",
    "BACKEND_OPTIONS",
    "REGISTRY",
    "Backend",
    "PhaseTimer",
    "backend_status",
    "create_backend",
    "input_names",
    "select_backend",
]

Factory = Callable[..., Backend]

#: What each backend accepts in ``backend_options`` (plain data, as onnxruntime's provider
#: options are), with a one-line description for error messages and docs.
BACKEND_OPTIONS: dict[str, dict[str, str]] = {
    "cpu": {
        "optimized_model_cache": "reuse the optimised model of an earlier load (bool or folder)",
    },
    "cuda": {
        "device_id": "GPU index (int)",
        "cuda_graph": "capture and replay CUDA graphs (bool)",
        "iobinding": "run through device buffers kept per shape (bool, default True)",
        "optimized_model_cache": "reuse the optimised model of an earlier load (bool or folder)",
        "provider_options": "raw CUDAExecutionProvider options (dict of strings)",
    },
    "ort-tensorrt": {
        "device_id": "GPU index (int)",
        "cuda_graph": "capture and replay CUDA graphs (bool)",
        "fp16": "let TensorRT pick fp16 kernels (bool)",
        "trt_engine_cache_path": "folder of the EP's engine and timing caches (str)",
        "provider_options": "raw TensorrtExecutionProvider options (dict of strings)",
    },
    "tensorrt": {
        "device_id": "GPU index (int)",
        "fp16": "insist on an fp16 (True) or fp32 (False) engine (bool)",
        "precision": "insist on an fp16 or fp32 engine (str)",
    },
    "openvino": {
        "precision": "'fp32' (default, forced), 'bf16', or 'default' (OpenVINO's choice) (str)",
        "optimized_model_cache": "OpenVINO's compiled-model cache (bool or folder)",
    },
}
#: Options only ``auto`` takes (it passes none of them on).
AUTO_OPTIONS: dict[str, str] = {
    "batch_size_hint": "the batch size auto picks the faster calibrated CPU engine for "
    "(int, default 64)",
}
#: Every option name: the backends' (sorted), then auto's own.
KNOWN_OPTIONS = [*sorted({k for opts in BACKEND_OPTIONS.values() for k in opts}), *AUTO_OPTIONS]
#: The precisions each backend's ``precision`` option takes (``auto``: any of them; each
#: candidate gets the value only if it takes it).
PRECISION_VALUES = {"tensorrt": ("fp16", "fp32"), "openvino": ("fp32", "bf16", "default")}


def check_backend_options(name: str, options: Mapping[str, object] | None) -> dict[str, object]:
    """Validate ``backend_options`` for a backend (or for ``auto``: for any of them).

    Raises:
        InputError: An unknown key, a key the named backend does not take, or a value of the
            wrong type.
    """
    options = dict(options or {})
    unknown = sorted(set(options) - set(KNOWN_OPTIONS))
    if unknown:
        raise InputError(
            f"unknown backend option{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))}; known: {', '.join(KNOWN_OPTIONS)}"
        )
    if name in BACKEND_OPTIONS:
        foreign = sorted(set(options) - set(BACKEND_OPTIONS[name]))
        if foreign and set(foreign) <= set(AUTO_OPTIONS):
            raise InputError(f"backend option {foreign[0]!r} applies only to backend 'auto'")
        if foreign:
            takes = ", ".join(BACKEND_OPTIONS[name])
            raise InputError(
                f"backend option{'s' if len(foreign) > 1 else ''} {', '.join(map(repr, foreign))}"
                f" do{'' if len(foreign) > 1 else 'es'} not apply to the {name} backend "
                f"(it takes: {takes})"
            )
    for key, value in options.items():
        if key == "device_id":
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
            want = "a GPU index (int >= 0)"
        elif key in ("cuda_graph", "iobinding", "fp16"):
            ok, want = isinstance(value, bool), "True or False"
        elif key == "trt_engine_cache_path":
            ok, want = isinstance(value, (str, os.PathLike)) and str(value) != "", "a folder"
        elif key == "optimized_model_cache":
            ok = isinstance(value, (bool, str, os.PathLike)) or value is None
            want = "True, False or a folder"
        elif key == "precision":
            allowed = PRECISION_VALUES.get(name) or tuple(
                dict.fromkeys(v for vs in PRECISION_VALUES.values() for v in vs)
            )
            ok, want = value in allowed, " or ".join(map(repr, allowed))
        elif key == "batch_size_hint":
            ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
            want = "a positive batch size (int)"
        else:  # provider_options
            ok = isinstance(value, dict) and all(isinstance(k, str) for k in value)
            want = "a dict of option name -> value"
        if not ok:
            raise InputError(f"backend option {key!r} must be {want}, got {value!r}")
    return options


class _OrtArgs(TypedDict, total=False):
    """Keyword arguments of ``OnnxRuntimeBackend`` that ``backend_options`` set."""

    provider_options: dict[str, str] | None
    cuda_graph: bool
    iobinding: bool
    optimized_cache: bool | str | os.PathLike[str] | None


def _ort_kwargs(device: str, options: dict[str, object]) -> _OrtArgs:
    """``backend_options`` -> OnnxRuntimeBackend arguments (provider options as strings)."""
    raw = {str(k): str(v) for k, v in dict(options.get("provider_options") or {}).items()}  # type: ignore[call-overload]
    if "device_id" in options:
        raw.setdefault("device_id", str(options["device_id"]))
    if "fp16" in options:
        raw.setdefault("trt_fp16_enable", str(bool(options["fp16"])))
    if "trt_engine_cache_path" in options:
        raw.setdefault("trt_engine_cache_path", str(options["trt_engine_cache_path"]))
    kw: _OrtArgs = {"provider_options": raw or None}
    # check_backend_options has checked the values' types.
    if "cuda_graph" in options:
        kw["cuda_graph"] = bool(options["cuda_graph"])
    if "iobinding" in options:
        kw["iobinding"] = bool(options["iobinding"])
    if "optimized_model_cache" in options:
        cache = options["optimized_model_cache"]
        if not (cache is None or isinstance(cache, (bool, str, os.PathLike))):
            raise InputError(
                f"backend option 'optimized_model_cache' must be True, False or a folder, "
                f"got {cache!r}"
            )
        kw["optimized_cache"] = cache
    if device in ("cpu", "cuda") and "optimized_cache" not in kw:
        kw["optimized_cache"] = None  # on unless $GENEDGE_ORT_CACHE turns it off
    return kw


def _cpu(path: Path, threads: int | None = None, **options: object) -> Backend:
    from genedge.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend

    return OnnxRuntimeBackend(path, device="cpu", threads=threads, **_ort_kwargs("cpu", options))


def _cuda(path: Path, threads: int | None = None, **options: object) -> Backend:
    from genedge.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend

    return OnnxRuntimeBackend(path, device="cuda", threads=threads, **_ort_kwargs("cuda", options))


def _ort_tensorrt(path: Path, threads: int | None = None, **options: object) -> Backend:
    from genedge.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend

    kw = _ort_kwargs("ort-tensorrt", options)
    return OnnxRuntimeBackend(path, device="tensorrt-ep", threads=threads, **kw)


def _openvino(path: Path, threads: int | None = None, **options: object) -> Backend:
    from genedge.runtime.backends.openvino_backend import OpenVinoBackend

    return OpenVinoBackend(
        path,
        threads=threads,
        precision=options.get("precision", "fp32"),  # type: ignore[arg-type]
        cache=options.get("optimized_model_cache"),  # type: ignore[arg-type]
    )


def _tensorrt(path: Path, threads: int | None = None, **options: object) -> Backend:
    from genedge.runtime.backends.tensorrt_backend import TensorRTBackend

    precision = options.get("precision")
    if "fp16" in options:
        want = "fp16" if options["fp16"] else "fp32"
        if precision not in (None, want):
            raise InputError(f"backend options fp16={options['fp16']} and {precision!r} disagree")
        precision = want
    return TensorRTBackend(
        path,
        precision=precision,  # type: ignore[arg-type]
        device=int(options.get("device_id", 0)),  # type: ignore[call-overload]
    )


#: Every backend, fastest first (``openvino``: on the CPU, when calibration says so).
REGISTRY: dict[str, Factory] = {
    "tensorrt": _tensorrt,
    "ort-tensorrt": _ort_tensorrt,
    "cuda": _cuda,
    "openvino": _openvino,
    "cpu": _cpu,
}
#: What ``backend=`` accepts (and ``--backend`` offers): ``auto``, then every backend.
BACKEND_NAMES: tuple[str, ...] = ("auto", *REGISTRY)


def auto_order(options: dict[str, object] | None = None) -> list[str]:
    """The backends ``auto`` tries, in order.

    ``ort-tensorrt`` is tried only when ``trt_engine_cache_path`` is given: the TensorRT EP
    builds its engines on the first session, which takes seconds to minutes, and without a
    cache folder it would do so again in every process. ``genedge compile`` + ``tensorrt``
    is the way to get TensorRT without that surprise.

    ``openvino`` is not in the list: at ``cpu``'s turn, :func:`select_backend` asks the
    artifact's calibration (:mod:`genedge.runtime.backends.calibration`) whether OpenVINO
    was measured faster, and takes it then.
    """
    order = ["tensorrt"]
    if options and options.get("trt_engine_cache_path"):
        order.append("ort-tensorrt")
    return [*order, "cuda", "cpu"]


def _options_for(candidate: str, options: dict[str, object]) -> dict[str, object]:
    """The options of ``auto`` that ``candidate`` takes (a precision only if it is one of its)."""
    kw = {k: v for k, v in options.items() if k in BACKEND_OPTIONS[candidate]}
    if "precision" in kw and kw["precision"] not in PRECISION_VALUES.get(candidate, ()):
        del kw["precision"]
    return kw


def select_backend(
    path: Path, threads: int | None = None, **options: object
) -> tuple[Backend, list[tuple[str, str]]]:
    """The first backend of :func:`auto_order` that starts here, and why the others did not.

    Each candidate gets the options it takes (the rest are for the others). On the CPU, the
    artifact's calibration picks onnxruntime or OpenVINO for ``batch_size_hint`` (default 64;
    see :func:`~genedge.runtime.backends.calibration.cpu_engine`); without one, onnxruntime,
    and ``skipped`` says how to calibrate. Nothing is measured here.

    Returns:
        ``(backend, skipped)``: ``skipped`` lists ``(name, reason)`` of the faster backends.

    Raises:
        BackendUnavailableError: No backend starts (with every reason).
        InputError: An unknown option, or a value of the wrong type.
    """
    options = check_backend_options("auto", options)
    skipped: list[tuple[str, str]] = []
    for candidate in auto_order(options):
        if candidate == "cpu":
            from genedge.runtime.backends.calibration import cpu_engine

            engine, why = cpu_engine(path, threads, options)
            if engine == "openvino":
                try:
                    chosen = REGISTRY["openvino"](
                        path, threads, **_options_for("openvino", options)
                    )
                    return chosen, [*skipped, ("cpu", why)]
                except GenedgeError as e:  # e.g. a graph OpenVINO cannot compile
                    why = str(e)
            skipped.append(("openvino", why))
        kw = _options_for(candidate, options)
        try:
            return REGISTRY[candidate](path, threads=threads, **kw), skipped
        except BackendUnavailableError as e:
            skipped.append((candidate, str(e)))
    raise BackendUnavailableError(
        "no backend is available: " + "; ".join(f"{n}: {r}" for n, r in skipped)
    )


def create_backend(name: str, path: Path, threads: int | None = None, **options: object) -> Backend:
    """Build the named backend, or for ``auto`` the first one that is available here.

    Args:
        name: ``auto``, ``tensorrt``, ``ort-tensorrt``, ``cuda``, ``openvino`` or ``cpu``.
        path: The ONNX file.
        threads: onnxruntime intra-op threads (CPU).
        **options: ``backend_options`` (see :data:`BACKEND_OPTIONS`).

    Raises:
        BackendUnavailableError: The backend's dependencies or hardware are missing.
        InputError: The name is not a known backend, or an option is unknown or wrong.
    """
    if name == "auto":
        return select_backend(path, threads, **options)[0]
    if name not in REGISTRY:
        raise InputError(f"unknown backend {name!r}; choose one of: auto, {', '.join(REGISTRY)}")
    options = check_backend_options(name, options)
    return REGISTRY[name](path, threads=threads, **options)


def open_backend(
    path: Path,
    backend: str,
    threads: int | None = None,
    backend_options: Mapping[str, object] | None = None,
) -> tuple[Backend, str]:
    """The backend a sampler opens ``path`` on, and how it was chosen (for ``"auto"``: which
    faster backends were skipped and why), as the samplers record in ``backend_selection``.

    Raises:
        InputError: An unknown backend or backend option.
        BackendUnavailableError: The backend asked for cannot run here.
    """
    # Validated before it is spread into keyword arguments (a "threads" key would clash).
    options = check_backend_options(backend, backend_options)
    if backend == "auto":
        chosen, skipped = select_backend(path, threads, **options)
        why = "; ".join(f"{name}: {reason}" for name, reason in skipped)
        return chosen, f"{chosen.name} (auto" + (f"; skipped {why})" if why else ")")
    chosen = create_backend(backend, path, threads=threads, **options)
    return chosen, f"{chosen.name} (asked for)"


def backend_status() -> dict[str, str]:
    """For each backend, ``"available"`` or ``"not available: <reason>"`` (no model needed)."""
    from genedge.runtime.backends.onnxruntime_backend import provider_status
    from genedge.runtime.backends.openvino_backend import openvino_status
    from genedge.runtime.backends.tensorrt_backend import tensorrt_status

    status = provider_status()
    status["tensorrt"] = tensorrt_status()
    status["openvino"] = openvino_status()
    return status

"""onnxruntime sessions as genedge opens them: its session options, and model files checked
before onnxruntime parses them (loader failures become one-line ArtifactErrors)."""

from __future__ import annotations

import os
from pathlib import Path

import onnxruntime as ort

from genedge.runtime.artifact import read_metadata
from genedge.runtime.errors import ArtifactError, InputError


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


def check_model_file(path: Path) -> None:
    """Refuse a missing, unreadable or structurally broken model file (one-line ArtifactError)."""
    if not path.exists():
        raise ArtifactError(f"model file not found: {path}")
    if not path.is_file():
        raise ArtifactError(f"not a model file: {path}")
    if not os.access(path, os.R_OK):
        raise ArtifactError(f"model file is not readable: {path}")
    read_metadata(path)  # structure and external-data checks before onnxruntime parses it


def load_session(
    path: Path,
    so: ort.SessionOptions,
    providers: list[str],
    provider_options: list[dict[str, str]] | None,
) -> ort.InferenceSession:
    """An onnxruntime session of ``path``; loader failures become one-line ArtifactErrors."""
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
    check_model_file(path)
    return load_session(
        path, session_options(threads), providers or ["CPUExecutionProvider"], provider_options
    )

"""Record a compiled engine in its artifact: the export half of ``genedge compile``.

After :func:`genedge.export.tensorrt.compile_engine` writes a plan beside the artifact, the
artifact's manifest gets an ``engines`` entry with the keys the plan is valid for; the
runtime's :func:`genedge.runtime.engines.select_engine` reads them back. Only the
``genedge.manifest`` metadata entry of the ONNX file changes (through
:mod:`genedge.runtime.onnx_wire`), so the graph hash the record carries stays valid and no
``onnx`` package is needed on the machine that compiles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genedge.runtime.artifact import read_manifest
from genedge.runtime.atomic import atomic_path
from genedge.runtime.engines import Range, sm_label
from genedge.runtime.errors import ArtifactError
from genedge.runtime.manifest import METADATA_KEY, Manifest
from genedge.runtime.onnx_wire import with_metadata_prop

__all__ = ["engine_file_name", "engine_record", "record_engine", "with_engine"]


def engine_file_name(stem: str, precision: str, compute_capability: str) -> str:
    """The plan's file name beside the artifact: ``<stem>.<precision>.<sm>.plan``."""
    return f"{stem}.{precision}.{sm_label(compute_capability)}.plan"


def engine_record(
    *,
    file: str,
    precision: str,
    gpu_name: str,
    compute_capability: str,
    tensorrt_version: str,
    batch_range: Range,
    length_range: Range | None,
    onnx_sha256: str,
) -> dict[str, Any]:
    """The manifest entry of one engine (plain JSON types; the fields of
    :data:`genedge.runtime.engines.ENGINE_KEYS`)."""
    return {
        "file": file,
        "precision": precision,
        "gpu_name": gpu_name,
        "compute_capability": str(compute_capability),
        "tensorrt_version": str(tensorrt_version),
        "batch_range": list(batch_range),
        "length_range": None if length_range is None else list(length_range),
        "onnx_sha256": onnx_sha256,
    }


def with_engine(manifest: Manifest, record: dict[str, Any]) -> Manifest:
    """The manifest with ``record`` added, replacing an earlier engine of the same file name."""
    kept = tuple(e for e in manifest.engines if e.get("file") != record["file"])
    return manifest.with_updates(engines=(*kept, dict(record)))


def record_engine(artifact_path: str | Path, record: dict[str, Any]) -> Manifest:
    """Add an engine to the artifact's manifest and rewrite the file atomically.

    Only the ``genedge.manifest`` metadata entry changes: every other field of the ONNX file is
    copied byte for byte, so :func:`genedge.runtime.engines.model_sha256` (and thus the new
    engine) stays valid.

    Returns:
        The updated manifest.

    Raises:
        ArtifactError: The file is not a genedge artifact, or cannot be read.
        OutputError: The file's folder is not writable.
    """
    path = Path(artifact_path)
    manifest = with_engine(read_manifest(path), record)
    try:
        model = path.read_bytes()
    except OSError as e:
        raise ArtifactError(f"cannot read {path}: {e.strerror or e}") from None
    with atomic_path(path) as tmp:
        tmp.write_bytes(with_metadata_prop(model, METADATA_KEY, manifest.to_json()))
    return manifest

"""Read an artifact's manifest straight from the ONNX file, without onnx or a session.

An ONNX file is a protobuf ``ModelProto``; its ``metadata_props`` (field 14) are key/value
pairs. Walking the top-level fields and skipping the graph by its length prefix reads the
manifest in microseconds and catches truncated files before onnxruntime sees them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from genedge.runtime.errors import ArtifactError, ManifestError
from genedge.runtime.manifest import METADATA_KEY, Companion, Manifest

_METADATA_PROPS = 14


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise ArtifactError("file is truncated (ended inside a field)")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ArtifactError("file is corrupt (bad varint)")


def _fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield ``(field_number, wire_type, value)`` for each top-level field of a message.

    ``value`` is an ``int`` for varints (wire type 0) and ``bytes`` for every other wire type.
    """
    pos = 0
    value: int | bytes
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ArtifactError("file is corrupt (field number 0): not an ONNX model")
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise ArtifactError("file is truncated: a field runs past the end of the file")
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ArtifactError(f"file is corrupt (wire type {wire}): not an ONNX model")
        if pos > len(buf):
            raise ArtifactError("file is truncated")
        yield number, wire, value


_GRAPH, _INITIALIZER, _SPARSE_INITIALIZER = 7, 5, 15
_TENSOR_EXTERNAL_DATA = 13


def _external_locations(graph: bytes) -> list[str]:
    """``location`` of every initializer stored as external data."""
    found = []
    for number, wire, value in _fields(graph):
        if number not in (_INITIALIZER, _SPARSE_INITIALIZER) or wire != 2:
            continue
        if not isinstance(value, bytes):  # never: wire type 2 (length-delimited) is bytes
            continue
        tensors = [value]
        if number == _SPARSE_INITIALIZER:  # SparseTensorProto: values=1, indices=2
            tensors = [
                v for n, w, v in _fields(value) if n in (1, 2) and w == 2 and isinstance(v, bytes)
            ]
        for tensor in tensors:
            for n, w, entry in _fields(tensor):
                if n == _TENSOR_EXTERNAL_DATA and w == 2 and isinstance(entry, bytes):
                    # StringStringEntryProto: key=1, value=2, both strings (bytes on the wire)
                    kv = {k: v for k, _, v in _fields(entry) if isinstance(v, bytes)}
                    if kv.get(1) == b"location":
                        found.append(kv.get(2, b"").decode(errors="replace"))
    return found


def check_external_data(path: Path, graph: bytes) -> None:
    """Refuse external-data references that leave the model's folder.

    A crafted artifact could otherwise make the loader read any file the process can (recent
    onnxruntime releases refuse this too; genedge does not rely on the installed version).
    """
    folder = path.resolve().parent
    for loc in _external_locations(graph):
        target = (folder / loc).resolve()
        if Path(loc).is_absolute() or folder not in target.parents:
            raise ArtifactError(
                f"{path.name} refers to external data {loc!r} outside its folder; "
                "refusing to load it"
            )


def read_metadata(path: str | Path) -> dict[str, str]:
    """All ``metadata_props`` of an ONNX file, after checking its structure.

    Raises:
        ArtifactError: The file is missing, unreadable, truncated, not an ONNX model, or refers
            to external data outside its folder.
    """
    path = Path(path)
    try:
        buf = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactError(f"model file not found: {path}") from None
    except IsADirectoryError:
        raise ArtifactError(f"expected an .onnx file, got a folder: {path}") from None
    except OSError as e:
        raise ArtifactError(f"cannot read {path}: {e.strerror or e}") from None
    if not buf:
        raise ArtifactError(f"{path} is empty")
    props: dict[str, str] = {}
    seen_graph = False
    for number, wire, value in _fields(buf):
        if number == _GRAPH and wire == 2 and isinstance(value, bytes):
            seen_graph = True
            check_external_data(path, value)
        if number == _METADATA_PROPS and wire == 2 and isinstance(value, bytes):
            entry = {n: v for n, w, v in _fields(value) if w == 2 and isinstance(v, bytes)}
            try:
                props[entry.get(1, b"").decode()] = entry.get(2, b"").decode()
            except UnicodeDecodeError:
                raise ArtifactError(f"{path}: metadata is not UTF-8") from None
    if not seen_graph:
        raise ArtifactError(f"{path} is not an ONNX model (no graph)")
    return props


class CompanionError(ManifestError):
    """The file is a companion graph of an artifact (a VAE's encoder), not an artifact itself.

    Attributes:
        companion: Which graph the file is, and the artifact to open instead.
    """

    def __init__(self, name: str, companion: Companion) -> None:
        super().__init__(
            f"{name} is the {companion.role} of {companion.artifact}: open {companion.artifact}"
        )
        self.companion = companion


def companion_of(manifest: Manifest, name: str) -> Companion | None:
    """What the file called ``name`` is if its manifest marks it as a companion, else ``None``.

    Schema 1.1 companions say so (``manifest.companion``). 1.0 companions carry their
    artifact's manifest unmarked: the file is then the graph whose ``file`` is its own name, and
    the artifact is the export's naming, ``<stem>.<role>.onnx`` beside ``<stem>.onnx``.
    """
    if manifest.companion is not None:
        return manifest.companion
    for role, graph in manifest.graphs.items():
        if graph.file is not None and graph.file == name:
            suffix = f".{role}.onnx"
            stem = name[: -len(suffix)] if name.endswith(suffix) else Path(name).stem
            return Companion(role=role, artifact=f"{stem}.onnx")
    return None


def read_manifest(path: str | Path, *, companions: bool = False) -> Manifest:
    """The genedge manifest of an ONNX artifact.

    Args:
        path: The artifact's ``.onnx`` file.
        companions: Also read a companion graph's file (e.g. ``vae.encoder.onnx``): return its
            artifact's manifest with :attr:`Manifest.companion` saying which graph the file
            is (filled in for 1.0 companions too). By default a companion is refused.

    Raises:
        ArtifactError: As :func:`read_metadata`.
        ManifestError: The file has no genedge manifest, or it is invalid.
        CompanionError: The file is a companion, not an artifact (unless ``companions``):
            ``vae.encoder.onnx is the encoder of vae.onnx: open vae.onnx``.
    """
    props = read_metadata(path)
    name = Path(path).name
    if METADATA_KEY not in props:
        raise ManifestError(
            f"{name} has no genedge manifest (a plain ONNX file): give it one with "
            f"`genedge wrap {name} --value-range LO,HI --out OUT.onnx` (`genedge info {name}` "
            "lists its inputs)"
        )
    manifest = Manifest.from_json(props[METADATA_KEY])
    companion = companion_of(manifest, name)
    if companion is None:
        return manifest
    if not companions:
        raise CompanionError(name, companion)
    return manifest.with_updates(companion=companion)

"""The ONNX file's protobuf wire format, as far as genedge needs it, without the onnx package.

An ONNX file is one protobuf ``ModelProto``. genedge reads and rewrites only its top level:
``metadata_props`` (field 14, key/value string pairs, where the manifest lives) and the graph
(field 7), whose initializers it walks for external-data locations. Walking the fields and
skipping the graph by its length prefix reads a manifest in microseconds, catches truncated
files before onnxruntime sees them, and lets ``genedge compile`` rewrite the manifest of a
machine without ``onnx`` while every other field stays byte for byte.

Readers: :mod:`genedge.runtime.artifact` (manifests, external data) and
:mod:`genedge.runtime.engines` (graph hashes); writer:
:mod:`genedge.export.engine_record` (engines recorded after a compile).
"""

from __future__ import annotations

from collections.abc import Iterator

from genedge.runtime.errors import ArtifactError

#: ``ModelProto`` fields.
MODEL_GRAPH = 7
MODEL_METADATA_PROPS = 14
#: ``GraphProto`` fields: dense and sparse initializers.
GRAPH_INITIALIZER = 5
GRAPH_SPARSE_INITIALIZER = 15
#: ``TensorProto.external_data`` (``StringStringEntryProto``: key=1, value=2).
TENSOR_EXTERNAL_DATA = 13
#: Wire types this module decodes: varint, 64-bit, length-delimited, 32-bit.
VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5

Field = tuple[int, int, int | bytes]


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode the varint at ``buf[pos]``: ``(value, position after it)``.

    Raises:
        ArtifactError: The buffer ends inside it, or it is longer than 64 bits.
    """
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


def iter_fields(buf: bytes) -> Iterator[Field]:
    """Yield ``(field_number, wire_type, value)`` for each top-level field of a message.

    ``value`` is an ``int`` for varints (wire type 0) and ``bytes`` for every other wire type.

    Raises:
        ArtifactError: The message is truncated or not a protobuf message.
    """
    pos = 0
    value: int | bytes
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ArtifactError("file is corrupt (field number 0): not an ONNX model")
        if wire == VARINT:
            value, pos = read_varint(buf, pos)
        elif wire == FIXED64:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == LENGTH_DELIMITED:
            length, pos = read_varint(buf, pos)
            if pos + length > len(buf):
                raise ArtifactError("file is truncated: a field runs past the end of the file")
            value, pos = buf[pos : pos + length], pos + length
        elif wire == FIXED32:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ArtifactError(f"file is corrupt (wire type {wire}): not an ONNX model")
        if pos > len(buf):
            raise ArtifactError("file is truncated")
        yield number, wire, value


def encode_varint(n: int) -> bytes:
    """The varint encoding of a non-negative integer."""
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def encode_field(number: int, wire: int, value: int | bytes) -> bytes:
    """Encode one field as :func:`iter_fields` decodes it (so decode + encode is identity)."""
    key = encode_varint(number << 3 | wire)
    if wire == VARINT:
        return key + encode_varint(int(value))
    if isinstance(value, int):
        raise TypeError(f"protobuf wire type {wire} carries bytes, got an int")
    if wire == LENGTH_DELIMITED:
        return key + encode_varint(len(value)) + value
    return key + value  # fixed 64/32-bit: the raw bytes


def _entry_key(entry: bytes) -> bytes:
    for n, w, v in iter_fields(entry):
        if n == 1 and w == LENGTH_DELIMITED and isinstance(v, bytes):
            return v
    return b""


def read_metadata_props(model: bytes) -> tuple[dict[str, str], bytes | None]:
    """A model's ``metadata_props`` and its graph's bytes (``None`` when it has no graph).

    Raises:
        ArtifactError: The model is truncated or corrupt.
        UnicodeDecodeError: A key or value is not UTF-8.
    """
    props: dict[str, str] = {}
    graph: bytes | None = None
    for number, wire, value in iter_fields(model):
        if wire != LENGTH_DELIMITED or not isinstance(value, bytes):
            continue
        if number == MODEL_GRAPH:
            graph = value
        elif number == MODEL_METADATA_PROPS:
            entry = {n: v for n, w, v in iter_fields(value) if isinstance(v, bytes)}
            props[entry.get(1, b"").decode()] = entry.get(2, b"").decode()
    return props, graph


def with_metadata_prop(model: bytes, key: str, value: str) -> bytes:
    """The model with ``metadata_props[key] = value``; every other field byte for byte.

    The entry replaces the first entry of that key in place (dropping any later duplicates),
    or is appended when the model has none.

    Raises:
        ArtifactError: The model is truncated or corrupt.
    """
    wanted = key.encode()
    entry = encode_field(1, LENGTH_DELIMITED, wanted)
    entry += encode_field(2, LENGTH_DELIMITED, value.encode())
    out: list[bytes] = []
    placed = False
    for number, wire, field in iter_fields(model):
        prop = field if number == MODEL_METADATA_PROPS and isinstance(field, bytes) else None
        if prop is not None and _entry_key(prop) == wanted:
            if not placed:
                out.append(encode_field(MODEL_METADATA_PROPS, LENGTH_DELIMITED, entry))
                placed = True
            continue
        out.append(encode_field(number, wire, field))
    if not placed:
        out.append(encode_field(MODEL_METADATA_PROPS, LENGTH_DELIMITED, entry))
    return b"".join(out)


def external_locations(graph: bytes) -> list[str]:
    """``location`` of every initializer of a ``GraphProto`` stored as external data."""
    found = []
    for number, wire, value in iter_fields(graph):
        if number not in (GRAPH_INITIALIZER, GRAPH_SPARSE_INITIALIZER) or wire != 2:
            continue
        if not isinstance(value, bytes):  # never: wire type 2 (length-delimited) is bytes
            continue
        tensors = [value]
        if number == GRAPH_SPARSE_INITIALIZER:  # SparseTensorProto: values=1, indices=2
            tensors = [
                v
                for n, w, v in iter_fields(value)
                if n in (1, 2) and w == 2 and isinstance(v, bytes)
            ]
        for tensor in tensors:
            for n, w, entry in iter_fields(tensor):
                if n == TENSOR_EXTERNAL_DATA and w == 2 and isinstance(entry, bytes):
                    kv = {k: v for k, _, v in iter_fields(entry) if isinstance(v, bytes)}
                    if kv.get(1) == b"location":
                        found.append(kv.get(2, b"").decode(errors="replace"))
    return found

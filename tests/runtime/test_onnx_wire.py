"""The one ONNX wire-format module: fields decode and re-encode byte for byte, and a metadata
entry is rewritten without the onnx package as onnx itself would read it."""

from __future__ import annotations

import onnx
import pytest
from onnx import TensorProto, helper

from genedge.runtime.errors import ArtifactError
from genedge.runtime.onnx_wire import (
    encode_field,
    encode_varint,
    iter_fields,
    read_metadata_props,
    read_varint,
    with_metadata_prop,
)


def _model(**props: str) -> bytes:
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 2])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])
    w = helper.make_tensor("w", TensorProto.FLOAT, [2, 2], [1.0, 0.0, 0.0, 1.0])
    graph = helper.make_graph([helper.make_node("MatMul", ["z", "w"], ["x"])], "g", [z], [x], [w])
    model = helper.make_model(graph, producer_name="test")
    for k, v in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    return model.SerializeToString()


@pytest.mark.parametrize("n", [0, 1, 127, 128, 300, 2**32, 2**63 - 1])
def test_varints_round_trip(n: int) -> None:
    assert read_varint(encode_varint(n), 0) == (n, len(encode_varint(n)))


def test_fields_re_encode_to_the_same_bytes() -> None:
    buf = _model(a="1", b="two")
    assert b"".join(encode_field(*f) for f in iter_fields(buf)) == buf


def test_metadata_props_and_graph_are_read() -> None:
    props, graph = read_metadata_props(_model(a="1", b="ünï"))
    assert props == {"a": "1", "b": "ünï"}
    assert graph is not None and onnx.load_from_string(_model()).graph.SerializeToString() == graph


def test_a_rewritten_entry_is_what_onnx_reads_and_the_rest_is_untouched() -> None:
    buf = _model(a="1", keep="yes")
    out = with_metadata_prop(buf, "a", "new")
    model = onnx.load_from_string(out)
    assert {p.key: p.value for p in model.metadata_props} == {"a": "new", "keep": "yes"}
    other = [f for f in iter_fields(buf) if f[0] != 14]
    assert [f for f in iter_fields(out) if f[0] != 14] == other
    added = onnx.load_from_string(with_metadata_prop(buf, "c", "3"))
    assert [p.key for p in added.metadata_props] == ["a", "keep", "c"]


def test_truncation_is_an_artifact_error() -> None:
    buf = _model(a="1")
    with pytest.raises(ArtifactError, match="truncated"):
        read_metadata_props(buf[: len(buf) // 2])

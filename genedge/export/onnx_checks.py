"""Is an exported graph valid ONNX? The checks every file genedge writes must pass.

onnxruntime runs some graphs that the ONNX specification rejects (a ``value_info`` that
declares a float32 initializer as float16, say), but other runtimes, converters and tools such
as TensorRT's parser or ``onnx.checker`` refuse them. So export runs both of ONNX's own checks
on every graph before it is written:

- ``onnx.checker.check_model(..., full_check=True)``: structure, operator schemas, and a strict
  shape inference pass;
- ``onnx.shape_inference.infer_shapes(..., strict_mode=True)``: every declared type and shape
  must agree with what inference derives.
"""

from __future__ import annotations

from pathlib import Path

import onnx

from genedge.export.lint import LintError


class InvalidGraphError(LintError):
    """An exported graph is not valid ONNX (a genedge bug: nothing is written)."""


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def declared_type_mismatches(model: onnx.ModelProto) -> list[str]:
    """Tensors whose ``value_info`` (or graph input) declares another element type than their
    initializer holds, one line each; the checkers report these without naming the tensor."""
    graph = model.graph
    held = {t.name: t.data_type for t in graph.initializer}
    problems = []
    for v in (*graph.value_info, *graph.input):
        declared = v.type.tensor_type.elem_type
        if v.name in held and declared and declared != held[v.name]:
            problems.append(
                f"{v.name!r} is declared {onnx.TensorProto.DataType.Name(declared)} but its "
                f"initializer is {onnx.TensorProto.DataType.Name(held[v.name])}"
            )
    return problems


def check_onnx(model: onnx.ModelProto | str | Path, what: str = "graph") -> None:
    """Run both ONNX checks (full checker, strict shape inference) on a model or file.

    Args:
        model: An in-memory model, or the path of an ``.onnx`` file (checked as written).
        what: How to name the graph in the error, e.g. ``"encoder graph"``.

    Raises:
        InvalidGraphError: Either check fails; the message is one line naming the problem.
    """
    proto = onnx.load(str(model)) if isinstance(model, (str, Path)) else model
    mismatches = declared_type_mismatches(proto)
    if mismatches:
        raise InvalidGraphError(f"exported {what} is not valid ONNX: {mismatches[0]}")
    try:
        if isinstance(model, (str, Path)):
            onnx.checker.check_model(str(model), full_check=True)
        else:
            onnx.checker.check_model(proto, full_check=True)
        onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    except Exception as e:  # onnx raises ValidationError, InferenceError and others
        raise InvalidGraphError(f"exported {what} is not valid ONNX: {_first_line(e)}") from None

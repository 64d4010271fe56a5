"""How much working memory one sample costs a graph, for the runtime's default chunk size.

The runtime sizes its default batch so that one backend call stays inside a memory budget
(:data:`genedge.runtime.batching.CHUNK_BYTES`). The output alone says little: a DCGAN's
feature maps hold dozens of times more floats than its 28x28 output. So the export measures
the graph itself: ONNX shape inference at two batch sizes (and, for sequences, two lengths)
gives every tensor's size, and the difference is what one more sample (or step) costs. Every
intermediate tensor is counted as if all were alive at once: onnxruntime reuses buffers, so
this overestimates, which is the safe side for a bound.
"""

from __future__ import annotations

import copy

import onnx
from onnx import TensorProto, shape_inference

from genedge.runtime.manifest import MemoryEstimate

_ITEMSIZE = {
    TensorProto.FLOAT: 4,
    TensorProto.FLOAT16: 2,
    TensorProto.BFLOAT16: 2,
    TensorProto.DOUBLE: 8,
    TensorProto.INT64: 8,
    TensorProto.INT32: 4,
    TensorProto.INT8: 1,
    TensorProto.UINT8: 1,
    TensorProto.BOOL: 1,
}


def _total_bytes(model: onnx.ModelProto, batch: int, length: int | None) -> int:
    """Bytes of every input, intermediate and output tensor at this batch and length."""
    m = copy.deepcopy(model)
    for inp in m.graph.input:
        for d in inp.type.tensor_type.shape.dim:
            if d.dim_param == "batch":
                d.ClearField("dim_param")
                d.dim_value = batch
            elif d.dim_param == "length" and length is not None:
                d.ClearField("dim_param")
                d.dim_value = length
    del m.graph.value_info[:]
    for out in m.graph.output:  # let inference fill these in from the new input sizes
        out.type.tensor_type.ClearField("shape")
    inferred = shape_inference.infer_shapes(m, data_prop=True)
    total = 0
    g = inferred.graph
    for v in [*g.input, *g.value_info, *g.output]:
        t = v.type.tensor_type
        if not t.HasField("shape"):
            continue
        size = _ITEMSIZE.get(t.elem_type, 4)
        for d in t.shape.dim:
            if not d.HasField("dim_value"):
                size = 0  # unknown: inference could not follow it
                break
            size *= d.dim_value
        total += size
    return total


def estimate_memory(model: onnx.ModelProto, length: int | None = None) -> MemoryEstimate:
    """What one more sample costs ``model`` in bytes of tensors (and, for a sequence model
    run at ``length`` steps, what one more step of one sample costs).

    The graph's inputs must name their batch axis ``"batch"`` (and a sequence axis
    ``"length"``), as genedge's exports do.
    """
    if length is None:
        per_sample = _total_bytes(model, 2, None) - _total_bytes(model, 1, None)
        return MemoryEstimate(bytes_per_sample=max(0, per_sample), bytes_per_step=0)
    at_l = _total_bytes(model, 2, length) - _total_bytes(model, 1, length)
    per_step = (_total_bytes(model, 2, 2 * length) - _total_bytes(model, 2, length)) / (2 * length)
    per_step = max(0.0, per_step)
    fixed = max(0.0, at_l - per_step * length)
    return MemoryEstimate(bytes_per_sample=round(fixed), bytes_per_step=round(per_step))

"""Rewrite stride-2 ``ConvTranspose`` as four phase ``Conv``\\ s and a ``DepthToSpace``.

onnxruntime has no int8 kernel for ``ConvTranspose``: in a QDQ graph it dequantises around it and
runs it in float32, so a DCGAN generator (nearly all ``ConvTranspose`` work) gains little from
int8. A transposed convolution with kernel 4, stride 2 and padding 1 is exactly four ordinary
2x2 convolutions, one per output phase (even/odd row x even/odd column), interleaved by a
``DepthToSpace``: the same arithmetic, no wasted multiplications by zero, and ``Conv`` has int8
kernels. Only that configuration (DCGAN's) is rewritten; any other ``ConvTranspose`` is left as
it is.

For output row ``2i + a`` the transposed convolution reads input rows ``i - 1, i`` with kernel
rows ``3, 1`` when ``a = 0`` and rows ``i, i + 1`` with kernel rows ``2, 0`` when ``a = 1``; the
same holds for columns. Phase ``(a, b)`` is therefore a 2x2 ``Conv`` with kernel
``K[o, c, u, v] = W[c, o, ROWS[a][u], ROWS[b][v]]``, padded by one row above (``a = 0``) or below
(``a = 1``) and likewise left or right.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

#: Kernel rows (or columns) each output phase reads, in input order.
_TAPS = ((3, 1), (2, 0))


def rewrite_conv_transpose(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """Replace every ``ConvTranspose(kernel 4, stride 2, pad 1)`` whose weight is a constant.

    Returns:
        A rewritten copy of the model and how many nodes were replaced.
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    new_nodes: list[onnx.NodeProto] = []
    replaced = 0
    for node in graph.node:
        if node.op_type != "ConvTranspose" or not _rewritable(node, inits):
            new_nodes.append(node)
            continue
        w = numpy_helper.to_array(inits[node.input[1]])  # (C_in, C_out, 4, 4)
        bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
        base = node.name or f"convtranspose{replaced}"
        phases = []
        for a in (0, 1):
            for b in (0, 1):
                k = w[:, :, list(_TAPS[a]), :][:, :, :, list(_TAPS[b])]
                k = np.ascontiguousarray(k.transpose(1, 0, 2, 3))  # (C_out, C_in, 2, 2)
                k_name = f"{base}.phase{a}{b}.weight"
                graph.initializer.append(numpy_helper.from_array(k.astype(w.dtype), k_name))
                out = f"{base}.phase{a}{b}"
                inputs = [node.input[0], k_name] + ([bias] if bias else [])
                pads = [1 - a, 1 - b, a, b]  # top, left, bottom, right
                new_nodes.append(
                    helper.make_node(
                        "Conv", inputs, [out], name=out, kernel_shape=[2, 2], pads=pads
                    )
                )
                phases.append(out)
        cat = f"{base}.phases"
        new_nodes.append(helper.make_node("Concat", phases, [cat], name=cat, axis=1))
        # Concat puts phase (a, b) at channels (2a + b) * C_out + o: DepthToSpace's DCR layout.
        new_nodes.append(
            helper.make_node(
                "DepthToSpace", [cat], [node.output[0]], name=f"{base}.interleave",
                blocksize=2, mode="DCR",
            )
        )  # fmt: skip
        replaced += 1
    if replaced:
        used = {i for n in new_nodes for i in n.input}
        kept = [t for t in graph.initializer if t.name in used]
        del graph.initializer[:]
        graph.initializer.extend(kept)
        del graph.node[:]
        graph.node.extend(new_nodes)
    return model, replaced


def _rewritable(node: onnx.NodeProto, inits: dict[str, onnx.TensorProto]) -> bool:
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if node.input[1] not in inits or "output_shape" in attrs:
        return False
    w_dims = list(inits[node.input[1]].dims)
    return (
        len(w_dims) == 4
        and w_dims[2:] == [4, 4]
        and list(attrs.get("kernel_shape", [4, 4])) == [4, 4]
        and list(attrs.get("strides", [1, 1])) == [2, 2]
        and list(attrs.get("pads", [0, 0, 0, 0])) == [1, 1, 1, 1]
        and list(attrs.get("dilations", [1, 1])) == [1, 1]
        and list(attrs.get("output_padding", [0, 0])) == [0, 0]
        and int(attrs.get("group", 1)) == 1
        and attrs.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
    )

"""DCGAN upsampling rewritten on OpenVINO's own graph: each stride-2 ``ConvTranspose`` (kernel 4,
padding 1) becomes four 2x2 phase convolutions and a ``DepthToSpace``.

The same rewrite as the export's int8 path (``genedge/export/subpixel.py``), done here on the
``openvino.Model`` because the runtime reads the artifact as it is and imports no ``onnx``.
Exact in f32 (measured max difference 6.5e-9). Whether it pays is unsettled, so
:class:`~genedge.runtime.backends.openvino_backend.OpenVinoBackend` leaves it off unless asked
(``rewrite=True``): on the demo DCGAN with OpenVINO f32, two threads, interleaved, three runs on
a loaded machine measured 1.2-1.6x faster at batch 64 and 1.06-1.4x at 1024
(``benchmarks/conv_rewrite.py``), but three idle runs 0.99-1.12x at 64 and 0.94-0.97x at 1024.
onnxruntime is not rewritten: it ran 0.7-0.9x.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: For output phase 0/1 along an axis, the two kernel taps that reach it (kernel 4, stride 2,
#: padding 1), in the order a 2x2 convolution visits them.
_TAPS = ((3, 1), (2, 0))


def _rewritable(op: Any) -> bool:
    if op.get_type_name() != "ConvolutionBackpropData" or op.get_input_size() != 2:
        return False
    if op.input_value(1).get_node().get_type_name() != "Constant":
        return False
    a = op.get_attributes()
    return bool(
        list(a["strides"]) == [2, 2]
        and list(a["pads_begin"]) == [1, 1]
        and list(a["pads_end"]) == [1, 1]
        and list(a["dilations"]) == [1, 1]
        and list(a.get("output_padding", [0, 0])) == [0, 0]
        and a["auto_pad"] in ("explicit", "notset")
        and op.input_value(1).get_node().get_data().shape[2:] == (4, 4)
    )


def rewrite_upsampling(model: Any) -> int:
    """Rewrite every matching ``ConvolutionBackpropData`` of ``model`` in place.

    Returns:
        How many were rewritten (0: the model is untouched).
    """
    import openvino.opset13 as ops

    n = 0
    for op in model.get_ordered_ops():
        if not _rewritable(op):
            continue
        w = op.input_value(1).get_node().get_data()  # (C_in, C_out, 4, 4)
        x = op.input_value(0)
        phases = []
        for r in (0, 1):
            for c in (0, 1):
                k = w[:, :, list(_TAPS[r]), :][:, :, :, list(_TAPS[c])].transpose(1, 0, 2, 3)
                kernel = ops.constant(np.ascontiguousarray(k))
                phases.append(ops.convolution(x, kernel, [1, 1], [1 - r, 1 - c], [r, c], [1, 1]))
        # OpenVINO's "blocks_first" is ONNX's DCR order, the one these phases are stacked in.
        d2s = ops.depth_to_space(ops.concat(phases, 1), "blocks_first", 2)
        op.output(0).replace(d2s.output(0))
        n += 1
    if n:
        model.validate_nodes_and_infer_types()
    return n

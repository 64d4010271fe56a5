"""The ConvTranspose -> phase Conv rewrite that lets int8 DCGAN generators run int8 kernels."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from genedge.export.subpixel import rewrite_conv_transpose


def _model(
    c_in: int, c_out: int, bias: bool, **attrs: object
) -> tuple[onnx.ModelProto, np.ndarray]:
    rng = np.random.default_rng(0)
    k = int(attrs.get("kernel_shape", [4, 4])[0])  # type: ignore[index]
    w = rng.standard_normal((c_in, c_out, k, k)).astype(np.float32)
    inits = [numpy_helper.from_array(w, "w")]
    inputs = ["x", "w"]
    if bias:
        inits.append(numpy_helper.from_array(rng.standard_normal(c_out).astype(np.float32), "b"))
        inputs.append("b")
    node = helper.make_node("ConvTranspose", inputs, ["y"], name="up", **attrs)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", c_in, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", c_out, "H", "W"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model, rng.standard_normal((3, c_in, 7, 5)).astype(np.float32)


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


@pytest.mark.parametrize("bias", [False, True])
def test_rewrite_is_exact_for_dcgan_upsampling(bias: bool) -> None:
    model, x = _model(6, 4, bias, kernel_shape=[4, 4], strides=[2, 2], pads=[1, 1, 1, 1])
    rewritten, count = rewrite_conv_transpose(model)
    onnx.checker.check_model(rewritten)
    assert count == 1
    ops = [n.op_type for n in rewritten.graph.node]
    assert ops == ["Conv"] * 4 + ["Concat", "DepthToSpace"]
    assert {t.name for t in rewritten.graph.initializer} == {
        f"up.phase{a}{b}.weight" for a in (0, 1) for b in (0, 1)
    } | ({"b"} if bias else set())
    want, got = _run(model, x), _run(rewritten, x)
    assert got.shape == want.shape == (3, 4, 14, 10)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "attrs",
    [
        {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
        {"kernel_shape": [4, 4], "strides": [2, 2], "pads": [1, 1, 1, 1], "group": 2},
        {"kernel_shape": [4, 4], "strides": [2, 2], "pads": [1, 1, 1, 1],
         "output_padding": [1, 1]},
        {"kernel_shape": [4, 4], "strides": [1, 1], "pads": [1, 1, 1, 1]},
    ],
)  # fmt: skip
def test_other_conv_transposes_are_left_alone(attrs: dict) -> None:
    model, _ = _model(4, 4, False, **attrs)
    rewritten, count = rewrite_conv_transpose(model)
    assert count == 0 and [n.op_type for n in rewritten.graph.node] == ["ConvTranspose"]

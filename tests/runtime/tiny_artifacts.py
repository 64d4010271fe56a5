"""Tiny genedge artifacts built from hand-written ONNX graphs (no training, no torch): each
graph shows its inputs in its output, so a test can read the noise a sample got."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
from onnx import TensorProto, helper

from genedge.runtime.manifest import METADATA_KEY, GraphSpec, Manifest, Preprocessing, TensorSpec

LATENT = 3
NOISE = 2
CLASSES = 5
LENGTH = 4


def build(
    path: Path,
    *,
    labels: bool = False,
    noise: bool = False,
    sequence: bool = False,
    truncation_input: bool = False,
    legacy: bool = False,
) -> Path:
    """An artifact whose sample is ``tanh(z)`` followed by the noise input and the label (as a
    float), if it has them; sequences ``tanh(z)`` per step. ``legacy`` writes a schema 1.3
    manifest without ``noise_scheme`` (every 1.x artifact: the ``stream`` scheme)."""
    lat_dims: tuple[int | str, ...] = ("batch", "length", LATENT) if sequence else ("batch", LATENT)
    onnx_in = [helper.make_tensor_value_info("z", TensorProto.FLOAT, list(lat_dims))]
    specs = [TensorSpec("z", "float32", lat_dims, "latent")]
    nodes = [helper.make_node("Tanh", ["z"], ["t"])]
    parts = ["t"]
    if noise:
        onnx_in.append(helper.make_tensor_value_info("n1", TensorProto.FLOAT, ["batch", NOISE]))
        specs.append(TensorSpec("n1", "float32", ("batch", NOISE), "noise"))
        parts.append("n1")
    if labels:
        onnx_in.append(helper.make_tensor_value_info("y", TensorProto.INT64, ["batch"]))
        specs.append(TensorSpec("y", "int64", ("batch",), "label"))
        nodes += [
            helper.make_node("Unsqueeze", ["y", "axes"], ["y2"]),
            helper.make_node("Cast", ["y2"], ["yf"], to=TensorProto.FLOAT),
        ]
        parts.append("yf")
    if truncation_input:
        onnx_in.append(helper.make_tensor_value_info("psi", TensorProto.FLOAT, ["batch"]))
        specs.append(TensorSpec("psi", "float32", ("batch",), "truncation"))
        # psi only scales nothing visible here: multiply by psi / psi keeps the input used.
        nodes.append(helper.make_node("Div", ["psi", "psi"], ["one"]))
        nodes.append(helper.make_node("Unsqueeze", ["one", "axes1"], ["one2"]))
        nodes.append(helper.make_node("Mul", ["t", "one2"], ["t1"]))
        parts[0] = "t1"
    width = LATENT + NOISE * noise + labels
    out_dims: list[int | str] = ["batch", "length", LATENT] if sequence else ["batch", width]
    nodes.append(
        helper.make_node("Concat", parts, ["x"], axis=1)
        if len(parts) > 1
        else helper.make_node("Identity", parts, ["x"])
    )
    inits = []
    if labels:
        inits.append(helper.make_tensor("axes", TensorProto.INT64, [1], [1]))
    if truncation_input:
        inits.append(helper.make_tensor("axes1", TensorProto.INT64, [1], [1]))
    graph = helper.make_graph(
        nodes,
        "g",
        onnx_in,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, out_dims)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    manifest = Manifest(
        family="toy",
        graphs={
            "sampler": GraphSpec(None, tuple(specs), (TensorSpec("x", "float32", tuple(out_dims)),))
        },
        latent_dim=LATENT,
        output_kind="sequence" if sequence else "vector",
        sample_shape=("length", LATENT) if sequence else (width,),
        preprocessing=Preprocessing("minmax", 0.0, 2.0, -1.0, 1.0),
        num_classes=CLASSES if labels else 0,
        default_length=LENGTH if sequence else 0,
    )
    d = manifest.to_dict()
    if legacy:
        d.pop("noise_scheme", None)
        d["schema_version"] = "1.3"
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(d)
    onnx.save(model, path)
    return path

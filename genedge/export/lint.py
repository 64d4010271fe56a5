"""Lint an exported graph before it is written: the classic generative-model export mistakes."""

from __future__ import annotations

import onnx

from genedge.runtime.errors import GenedgeError

RANDOM_OPS = {
    "RandomNormal",
    "RandomNormalLike",
    "RandomUniform",
    "RandomUniformLike",
    "Multinomial",
    "Bernoulli",
}


class LintError(GenedgeError):
    """The exported graph breaks a rule a generator artifact must follow."""


def lint_graph(model: onnx.ModelProto, batch_dynamic: bool = True) -> list[str]:
    """Problems found, one line each naming the node; empty when the graph is clean.

    Rules: no BatchNormalization in training mode; no random ops (noise must be an input);
    every input and output has a symbolic (dynamic) batch axis.
    """
    problems = []
    for node in model.graph.node:
        if node.op_type == "BatchNormalization":
            for a in node.attribute:
                if a.name == "training_mode" and a.i == 1:
                    problems.append(f"node {node.name!r}: BatchNormalization in training mode")
        if node.op_type in RANDOM_OPS:
            problems.append(
                f"node {node.name!r}: random op {node.op_type} (draw noise outside the graph)"
            )
    if batch_dynamic:
        for kind, values in (("input", model.graph.input), ("output", model.graph.output)):
            for v in values:
                dims = v.type.tensor_type.shape.dim
                if not dims or not dims[0].dim_param:
                    problems.append(f"{kind} {v.name!r}: batch axis is not dynamic")
    return problems

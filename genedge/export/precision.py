"""Reduced precision: turn an exported float32 graph into a float16 or int8 one.

``fp16`` stores the weights and runs the arithmetic in float16 (onnxconverter-common's
converter), except for ops that overflow or lose too much in half precision. ``int8`` is static
QDQ quantisation with onnxruntime's quantiser: int8 weights (one scale per output channel) and
uint8 activations whose ranges are calibrated on the model's own inputs, drawn the way the
parity check draws them. Either way the graph's inputs and outputs stay float32, so the
manifest's tensor specs, the runtime and every backend see the same interface as at fp32.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import tempfile
import warnings
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx

from genedge.export.subpixel import rewrite_conv_transpose
from genedge.runtime.errors import GenedgeError, InputError
from genedge.runtime.feeds import role_feed
from genedge.runtime.manifest import PRECISIONS, Manifest

#: Ops kept in float32 by the fp16 conversion (on top of onnxconverter-common's own list):
#: exponentials and powers overflow float16's 65504, logs and reductions lose their precision.
#: Transpose only because onnxruntime (1.32) crashes with SIGSEGV while optimising a float16
#: Transpose beside a GRU (the rgan graph); it moves data, so float32 costs nothing in accuracy.
FP16_FP32_OPS = (
    "Transpose",
    "Exp",
    "Pow",
    "Log",
    "Softplus",
    "Softmax",
    "LogSoftmax",
    "ReduceSum",
    "ReduceMean",
    "ReduceSumSquare",
    "ReduceL2",
    "ReduceLogSumExp",
)
#: Calibration data for int8: this many batches of this many samples, seeded. Fewer samples
#: clip the tails (latents beyond the calibrated range saturate), more widen every range.
CALIBRATION_BATCHES = 32
CALIBRATION_BATCH = 64
#: The ops that do the arithmetic; int8 pays off (and costs accuracy) only there.
_HEAVY_OPS = {"Gemm", "MatMul", "Conv", "ConvTranspose"}
#: Normalisations stay float32: their input spans very different scales per channel (why they
#: normalise), which one 8-bit scale rounds away, and onnxruntime has no int8 kernel for them.
_NORM_OPS = {"BatchNormalization", "InstanceNormalization", "LayerNormalization"}
#: onnxruntime has no int8 recurrent kernels: these stay float32 and do nearly all the work.
_RECURRENT_OPS = {"GRU", "LSTM", "RNN"}
_QDQ_OPS = {"QuantizeLinear", "DequantizeLinear"}
#: Ops that turn floats into discrete decisions (see :func:`decision_nodes`).
_COMPARISON_OPS = {"Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Equal", "ArgMax", "ArgMin"}


def check_precision(precision: str) -> str:
    """Return ``precision`` if genedge can export it, else raise :class:`InputError`."""
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def convert_precision(
    model: onnx.ModelProto,
    manifest: Manifest,
    precision: str,
    role: str = "sampler",
    *,
    seed: int = 0,
) -> onnx.ModelProto:
    """Convert an exported float32 graph to ``precision``.

    Args:
        model: The float32 graph as exported (left unchanged).
        manifest: The artifact's manifest; its input roles drive int8 calibration.
        precision: ``fp32`` (returns ``model`` itself), ``fp16`` or ``int8``.
        role: Which of the manifest's graphs ``model`` is (``sampler``, ``encoder``).
        seed: Seed of the int8 calibration inputs.

    Returns:
        The converted model, with float32 inputs and outputs.

    Raises:
        InputError: Unknown precision.
        GenedgeError: The graph cannot be converted (e.g. int8 of a recurrent model).
    """
    check_precision(precision)
    if precision == "fp32":
        return model
    if precision == "fp16":
        return to_fp16(model)
    return to_int8(model, manifest, role, seed=seed)


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Float16 weights and arithmetic, float32 inputs and outputs (Cast nodes at the edges)."""
    from onnxconverter_common import float16

    with warnings.catch_warnings():
        # The converter clamps weight magnitudes into [1e-7, 1e4] with a warning per tensor:
        # noise here, since the parity check judges the result.
        warnings.simplefilter("ignore", UserWarning)
        decided = decision_nodes(model)
        inputs = {i for n in model.graph.node if n.name in decided for i in n.input}
        kept = [copy.deepcopy(t) for t in model.graph.initializer if t.name in inputs]
        converted: onnx.ModelProto = float16.convert_float_to_float16(
            model,
            keep_io_types=True,
            op_block_list=[*float16.DEFAULT_OP_BLOCK_LIST, *FP16_FP32_OPS],
            node_block_list=decided,
        )
    # The converter (1.16) still rounds the constants of blocked nodes to float16 and casts them
    # back; put the float32 originals in their place (the Cast to float32 becomes a no-op).
    originals = {t.name: t for t in kept}
    for t in converted.graph.initializer:
        if t.name in originals:
            t.CopyFrom(originals[t.name])
    # The converter also retyped their value_info to float16; left so, it contradicts the
    # restored float32 initializer and the graph is invalid ONNX (onnx.checker refuses it,
    # onnxruntime happens not to look).
    for v in (*converted.graph.value_info, *converted.graph.input):
        if v.name in originals:
            v.type.tensor_type.elem_type = originals[v.name].data_type
    return converted


def decision_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the comparison nodes and every node upstream of them.

    A comparison turns a float into a discrete choice (a self-conditioned DCGAN picks its
    cluster by comparing a latent value with thresholds): float16 rounding there would flip the
    choice for latents near a threshold and change those samples entirely, so the whole path
    into the comparison stays float32.
    """
    producer = {out: node for node in model.graph.node for out in node.output}
    front = [n for n in model.graph.node if n.op_type in _COMPARISON_OPS]
    names: list[str] = []
    while front:
        node = front.pop()
        if node.name in names:
            continue
        names.append(node.name)
        front.extend(producer[i] for i in node.input if i in producer)
    return names


def to_int8(
    model: onnx.ModelProto, manifest: Manifest, role: str = "sampler", *, seed: int = 0
) -> onnx.ModelProto:
    """Static QDQ int8 quantisation, calibrated on seeded inputs built from the input roles.

    Raises:
        GenedgeError: The graph is recurrent (GRU, LSTM, RNN), onnxruntime cannot quantise
            it, or it quantised none of its ops.
    """
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    recurrent = sorted({n.op_type for n in model.graph.node} & _RECURRENT_OPS)
    if recurrent:
        raise GenedgeError(
            f"int8 is not supported for {manifest.family}: onnxruntime cannot quantise "
            f"{', '.join(recurrent)}, which does nearly all the work, so int8 would only be "
            "less accurate, not faster; export fp32 or fp16"
        )
    # onnxruntime has no int8 ConvTranspose: turn DCGAN's into Convs it can run in int8.
    model, _ = rewrite_conv_transpose(model)
    with tempfile.TemporaryDirectory(prefix="genedge-int8-") as tmp:
        fp32, pre, out = (Path(tmp) / f"{n}.onnx" for n in ("fp32", "pre", "int8"))
        onnx.save(model, fp32)
        try:
            with _quiet():
                quant_pre_process(fp32, pre)
                quantize_static(
                    pre,
                    out,
                    _Calibration(manifest, role, seed),
                    quant_format=QuantFormat.QDQ,
                    per_channel=True,
                    # U8 activations x S8 weights: the combination onnxruntime's x86 kernels
                    # are fastest at (VNNI); the docs' advice for CPUs.
                    activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax,
                    # Rounding the latent to 8 bits alone moved trained DCGAN pixels by up to
                    # 0.29 (a generator amplifies its input's error), and the first layer is a
                    # small share of the work: it stays float32, as do normalisations.
                    nodes_to_exclude=_float_nodes(onnx.load(pre)),
                    # Gemm/MatMul run int8 with a float32 result as fast; an 8-bit result
                    # only adds error (most of it where the result is the graph's output).
                    extra_options={"OpTypesToExcludeOutputQuantization": ["Gemm", "MatMul"]},
                )
            quantised = onnx.load(out)
        except Exception as e:  # the quantiser raises many unrelated types
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise GenedgeError(
                f"int8 is not supported for {manifest.family} ({role} graph): {first}"
            ) from None
    ops = {n.op_type for n in quantised.graph.node}
    if not ops & _QDQ_OPS:
        raise GenedgeError(
            f"int8 is not supported for {manifest.family}: onnxruntime quantised none of the "
            f"{role} graph's ops ({', '.join(sorted(ops))})"
        )
    # quant_pre_process saves through onnxruntime, which declares all its own op domains
    # (com.microsoft.nchwc, ...); keep those the graph uses, so other runtimes see a plain graph.
    used = {n.domain for n in quantised.graph.node} | {""}
    keep = [o for o in quantised.opset_import if o.domain in used]
    del quantised.opset_import[:]
    quantised.opset_import.extend(keep)
    return quantised


def _float_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes int8 leaves in float32: normalisations, and the nodes between the
    graph's float inputs and the first heavy op on each path, that op included."""
    consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for node in model.graph.node:
        for name in node.input:
            consumers[name].append(node)
    front = [
        t.name for t in model.graph.input if t.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    ]
    seen = set(front)
    names: list[str] = []
    while front:
        for node in consumers[front.pop()]:
            if node.name in names:
                continue
            names.append(node.name)
            if node.op_type not in _HEAVY_OPS:
                new = [o for o in node.output if o not in seen]
                seen.update(new)
                front.extend(new)
    return names + [n.name for n in model.graph.node if n.op_type in _NORM_OPS]


class _Calibration:
    """onnxruntime ``CalibrationDataReader``: seeded feeds as sampling builds them
    (:func:`genedge.runtime.feeds.role_feed`: standard-normal latents and noise, labels over
    every class, zero states)."""

    def __init__(self, manifest: Manifest, role: str, seed: int) -> None:
        self._feeds = self._generate(manifest, role, seed)

    @staticmethod
    def _generate(manifest: Manifest, role: str, seed: int) -> Iterator[dict[str, np.ndarray]]:
        graph = manifest.graphs[role]
        length = manifest.default_length or None
        for i in range(CALIBRATION_BATCHES):
            yield role_feed(graph, manifest, CALIBRATION_BATCH, seed + i, length=length)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the quantiser's progress prints and INFO/WARNING logs."""
    root = logging.getLogger()
    old = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(old)

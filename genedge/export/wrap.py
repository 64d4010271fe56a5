"""Give an ONNX file someone exported (``torch.onnx.export``, no genedge manifest) a manifest.

The file's inputs get roles by name (the latent, the labels, noise inputs, a truncation psi);
its first output is the sample. The batch axis must be dynamic, the graph must draw no random
numbers, and it must run at two batch sizes; with a module to compare against (``against``),
the usual parity check decides, as for :func:`genedge.export.module_export.export_module`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from torch import nn

from genedge.export.artifact_writer import (
    ExportResult,
    check_target,
    custom_manifest,
    write_artifact,
)
from genedge.export.module_checks import ModuleCheckError, noise_error, random_nodes
from genedge.export.precision import check_precision, convert_precision
from genedge.runtime.errors import ArtifactError, InputError
from genedge.runtime.manifest import GraphSpec, TensorSpec
from genedge.train.reference import TorchBackend

_DTYPES: dict[int, str] = {
    onnx.TensorProto.FLOAT: "float32",
    onnx.TensorProto.FLOAT16: "float16",
    onnx.TensorProto.INT64: "int64",
    onnx.TensorProto.INT32: "int32",
}


class _SelfBackend:
    """The plain graph itself as the reference: parity then checks that stamping and saving
    changed nothing, and exercises the graph at two batch sizes."""

    name = "onnxruntime (the given file)"

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        self._sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def run(self, feed: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        try:
            return [np.asarray(o) for o in self._sess.run(None, dict(feed))]
        except Exception as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            batch = len(next(iter(feed.values())))
            raise ModuleCheckError(
                f"the graph fails at batch size {batch}: {first[:300]} (a batch size fixed "
                "inside the graph? re-export it with a dynamic batch axis)"
            ) from None

    def describe(self) -> dict[str, object]:
        return {"backend": self.name}


def wrap_onnx(
    source: str | Path,
    out: str | Path,
    *,
    latent: str | None = None,
    value_range: tuple[float, float],
    model_range: tuple[float, float] | None = None,
    labels: str | None = None,
    num_classes: int = 0,
    noise: Sequence[str] = (),
    truncation: str | None = None,
    against: nn.Module | None = None,
    precision: str = "fp32",
    output_kind: str | None = None,
    family: str = "custom",
    batch_sizes: tuple[int, ...] = (1, 37),
    atol: float | None = None,
    rtol: float | None = None,
    force: bool = False,
    provenance: Mapping[str, Any] | None = None,
) -> ExportResult:
    """Write ``source`` with a genedge manifest as ``out`` (``source`` itself is not changed).

    Args:
        source: A plain ``.onnx`` file, e.g. from ``torch.onnx.export``.
        out: The artifact to write.
        latent: The latent input's name; defaults to the only float input without another role.
        value_range, model_range: As in :func:`~genedge.export.module_export.export_module`.
        labels: The name of an int64 label input (then ``num_classes`` > 0).
        noise: Names of further noise inputs the runtime draws from the seed.
        truncation: The name of a truncation psi input.
        against: The module the file was exported from: parity against PyTorch. Without it
            the file is checked against itself at ``batch_sizes``.
        precision: Convert to fp16/int8 on the way (parity then needs ``against`` or the
            precision's own tolerance against the fp32 file).

    Raises:
        ArtifactError: ``source`` is not a readable ONNX file, or already has a manifest.
        ModuleCheckError: No dynamic batch axis, random nodes, or the graph fails to run.
        InputError: Names that are not the graph's inputs, or roles left unassigned.
        ParityError: Outputs differ from ``against`` (nothing written unless ``force``).
    """
    from genedge.runtime.manifest import METADATA_KEY

    check_precision(precision)
    source = Path(source)
    out, _ = check_target(out)
    try:
        model = onnx.load(str(source))
    except Exception as e:
        raise ArtifactError(f"cannot read {source} as ONNX: {e}") from None
    if any(p.key == METADATA_KEY for p in model.metadata_props):
        raise ArtifactError(f"{source.name} already is a genedge artifact; nothing to wrap")
    inits = {i.name for i in model.graph.initializer}
    graph_inputs = [v for v in model.graph.input if v.name not in inits]
    names = [v.name for v in graph_inputs]
    roles = _roles(names, graph_inputs, latent, labels, noise, truncation, num_classes)
    inputs = tuple(_spec(v, roles[v.name]) for v in graph_inputs)
    outputs = tuple(_spec(v, "") for v in model.graph.output)
    nodes = random_nodes(model)
    if nodes:
        raise noise_error(nodes)
    manifest = custom_manifest(
        GraphSpec(None, inputs, outputs),
        sample_shape=[int(d) for d in outputs[0].shape[1:]],
        value_range=value_range,
        model_range=model_range,
        num_classes=num_classes,
        precision=precision,
        output_kind=output_kind,
        family=family,
        provenance={"source": "onnx", "file": source.name, **(provenance or {})},
    )
    # Symbolic batch names the exporter chose ("s0", "batch_size") become "batch".
    for v in (*model.graph.input, *model.graph.output):
        dims = v.type.tensor_type.shape.dim
        if dims and dims[0].dim_param:
            dims[0].dim_param = "batch"
    if against is not None:
        reference: Any = TorchBackend(against.eval(), [t.name for t in inputs])
    else:
        reference = _SelfBackend(source)
    proto = convert_precision(model, manifest, precision, "sampler")
    return write_artifact(
        {"sampler": proto},
        {"sampler": reference},
        manifest,
        out,
        batch_sizes=batch_sizes,
        atol=atol,
        rtol=rtol,
        force=force,
    )


def _roles(
    names: list[str],
    graph_inputs: list[onnx.ValueInfoProto],
    latent: str | None,
    labels: str | None,
    noise: Sequence[str],
    truncation: str | None,
    num_classes: int,
) -> dict[str, str]:
    given = {n: "noise" for n in noise}
    if labels:
        given[labels] = "label"
        if num_classes <= 0:
            raise InputError(f"input {labels!r} takes labels: give the number of classes")
    if truncation:
        given[truncation] = "truncation"
    if latent is None:
        free = [
            v.name
            for v in graph_inputs
            if v.name not in given and v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
        ]
        if len(free) != 1:
            raise InputError(
                f"which input is the latent? the graph takes {names}: pass --latent NAME"
            )
        latent = free[0]
    given[latent] = "latent"
    unknown = [n for n in given if n not in names]
    if unknown:
        raise InputError(f"the graph has no input {unknown[0]!r}; it takes {names}")
    left = [n for n in names if n not in given]
    if left:
        raise InputError(
            f"input {left[0]!r} has no role: name it with --labels, --noise or --truncation-input"
        )
    return given


def _spec(v: onnx.ValueInfoProto, role: str) -> TensorSpec:
    t = v.type.tensor_type
    dtype = _DTYPES.get(int(t.elem_type))
    if dtype is None:
        raise InputError(f"{v.name!r} has an element type genedge does not feed ({t.elem_type})")
    dims = list(t.shape.dim)
    if not dims or not dims[0].dim_param:
        size = dims[0].dim_value if dims else "none"
        raise ModuleCheckError(
            f"{v.name!r} has a fixed batch axis ({size}); re-export with a dynamic batch "
            "(torch.onnx.export(..., dynamic_shapes=...) or dynamic_axes={name: {0: 'batch'}})"
        )
    rest = [d.dim_value for d in dims[1:]]
    if any(d.dim_param or d.dim_value <= 0 for d in dims[1:]):
        what = [
            d.dim_param or "?" if d.dim_param or d.dim_value <= 0 else d.dim_value for d in dims
        ]
        raise ModuleCheckError(
            f"{v.name!r} has dynamic axes besides the batch ({what}); genedge needs fixed "
            "sizes per sample: re-export with only the batch axis dynamic"
        )
    return TensorSpec(v.name, dtype, ("batch", *rest), role)

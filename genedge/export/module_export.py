"""Bring your own generator: export any ``nn.Module`` to a genedge artifact, and verify one.

The module's ``forward`` takes, in this order: the latent ``z`` (``(N, *latent_shape)``), then
the labels (``(N,)`` int64) if ``num_classes > 0``, then each declared noise input, then the
truncation psi (``(N,)`` float32) if ``truncation`` is set. It returns the sample (or a tuple
whose first element is the sample). genedge draws every one of those inputs from the seed, so
the artifact samples the same on every backend; see ``docs/byom.md``.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn

from genedge.export.artifact_writer import (
    ExportResult,
    check_target,
    custom_manifest,
    range_arg,
    stamp,
    write_artifact,
)
from genedge.export.lint import lint_graph
from genedge.export.module_checks import (
    ModuleCheckError,
    check_batch_independent,
    check_deterministic,
    check_outputs,
    first_line,
    noise_error,
    random_nodes,
    run_module,
)
from genedge.export.onnx_export import EXPORT_BATCH, export_graph
from genedge.export.parity import ParityReport, check_parity
from genedge.export.precision import check_precision, convert_precision
from genedge.export.quality_gate import QualityCheck, check_quality
from genedge.runtime.errors import InputError
from genedge.runtime.manifest import GraphSpec, TensorSpec
from genedge.train.reference import TorchBackend
from genedge.train.torch_feeds import torch_inputs

#: The family name of artifacts exported from a user's module (any other name may be given).
CUSTOM_FAMILY = "custom"


def export_module(
    module: nn.Module,
    out: str | Path,
    *,
    latent_shape: Sequence[int],
    value_range: tuple[float, float],
    model_range: tuple[float, float] | None = None,
    num_classes: int = 0,
    class_names: Sequence[str] = (),
    noise: Mapping[str, Sequence[int]] | None = None,
    truncation: bool = False,
    precision: str = "fp32",
    output_kind: str | None = None,
    family: str = CUSTOM_FAMILY,
    batch_sizes: tuple[int, ...] = (1, 37),
    atol: float | None = None,
    rtol: float | None = None,
    force: bool = False,
    quality_check: bool = True,
    quality_data: str | None = None,
    quality_n: int = 1000,
    exporter: str = "dynamo",
    provenance: Mapping[str, Any] | None = None,
) -> ExportResult:
    """Export a generator module to ``out`` and check it against PyTorch (parity).

    Args:
        module: Any ``torch.nn.Module``; genedge puts it in eval mode.
        out: The ``.onnx`` file to write.
        latent_shape: One sample's latent, any rank (``(100, 1, 1)`` for the PyTorch-examples
            DCGAN).
        value_range: The units samples come back in (e.g. ``(0, 255)``).
        model_range: What the module outputs (tanh: ``(-1, 1)``); defaults to ``value_range``.
            The runtime maps it linearly onto ``value_range``.
        num_classes: ``> 0``: the module takes ``(z, labels)``, labels int64 ``(N,)``.
        class_names: Optional names of the classes.
        noise: Further noise inputs by name and one sample's shape (e.g. StyleGAN-like
            per-layer noise maps ``{"noise0": (1, 8, 8)}``), after ``z`` and the labels.
        truncation: The module takes a truncation psi ``(N,)`` last; ``sample(...,
            truncation=psi)`` feeds it (1.0 when not asked).
        precision: ``fp32``, ``fp16`` or ``int8``.
        output_kind: ``image``, ``points``, ``vector``; by default ``image`` for 3-D samples
            (C, H, W), else ``vector``.
        family: The manifest's family name.
        batch_sizes: Batch sizes of the parity check (not 4, the export's own).
        atol, rtol: Parity tolerances; default to the precision's.
        force: Keep an artifact that fails parity or the quality gate (recorded as failed).
        quality_check: For fp16/int8, evaluate the reduced artifact against the fp32 one on
            ``quality_data`` and refuse it if its headline figure is more than 10% worse.
        quality_data: The data of that check (a built-in set or a path, as ``genedge eval
            --data``). Required when the check runs.
        quality_n: Samples per set of that evaluation.
        exporter: ``dynamo`` (default) or ``torchscript``.
        provenance: Extra provenance entries (the CLI records ``--module`` and ``--weights``).

    Returns:
        The :class:`~genedge.export.artifact_writer.ExportResult` with the parity report.

    Raises:
        ModuleCheckError: The module draws its own noise, mixes samples of a batch, fixes the
            batch size, gives NaN/Inf, outputs far outside ``model_range``, or cannot be
            exported (the exporter's message); nothing is written.
        ParityError: The graph does not match PyTorch (nothing written unless ``force``).
        QualityError: fp16/int8 samples worse than fp32 (nothing written unless ``force``).
        InputError: An argument is invalid.
    """
    check_precision(precision)
    out, _ = check_target(out)
    latent = _shape_arg(latent_shape, "latent_shape")
    vrange = range_arg(value_range, "value_range")
    mrange = vrange if model_range is None else range_arg(model_range, "model_range")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
        raise InputError(f"num_classes must be a non-negative integer, got {num_classes!r}")
    if precision != "fp32" and quality_check and not quality_data:
        raise InputError(
            f"the {precision} quality gate needs data to evaluate on: pass quality_data "
            "(--quality-data DATA), or quality_check=False (--no-quality-check) to rely on "
            "parity alone"
        )
    module = module.eval()
    inputs = _inputs(latent, num_classes, noise or {}, truncation)
    probe = GraphSpec(None, inputs, (TensorSpec("sample", "float32", ("batch",)),))
    args = _device_inputs(module, probe, num_classes)
    # One forward pass on the probe batch serves every check and the output specs.
    first = _probe(module, args, latent)
    sample = first[0]
    if not check_deterministic(module, args, first=first):
        raise noise_error(_random_nodes_of(module, probe, num_classes, exporter))
    check_batch_independent(module, args, together=sample)
    check_outputs(sample, mrange)
    outputs = tuple(
        TensorSpec("sample" if i == 0 else f"output{i}", "float32", ("batch", *o.shape[1:]))
        for i, o in enumerate(first)
    )
    graph = GraphSpec(None, inputs, outputs)
    manifest = custom_manifest(
        graph,
        sample_shape=sample.shape[1:],
        value_range=vrange,
        model_range=mrange,
        num_classes=num_classes,
        class_names=class_names,
        precision=precision,
        output_kind=output_kind,
        family=family,
        provenance=_provenance(module, provenance),
    )
    fp32 = _export(module, graph, num_classes, exporter)
    proto = convert_precision(fp32, manifest, precision, "sampler")
    names = [t.name for t in inputs]
    reference = {"sampler": TorchBackend(module, names)}

    def judge(sampler: Path) -> QualityCheck:
        ref = sampler.parent / "fp32-reference.onnx"
        ref.write_bytes(stamp(fp32, manifest.with_updates(precision="fp32"), "sampler", ref.name))
        assert quality_data is not None  # checked above
        return check_quality(ref, sampler, quality_data, precision, n=quality_n)

    return write_artifact(
        {"sampler": proto},
        reference,
        manifest,
        out,
        batch_sizes=batch_sizes,
        atol=atol,
        rtol=rtol,
        force=force,
        quality=judge if quality_check and precision != "fp32" else None,
    )


def verify_module(
    path: str | Path,
    module: nn.Module,
    *,
    backend: str = "cpu",
    batch_sizes: tuple[int, ...] = (1, 37),
    atol: float | None = None,
    rtol: float | None = None,
    check_finite: bool = True,
) -> ParityReport:
    """Check an existing artifact against a module: the export's own parity report.

    The module is fed the artifact's inputs in its manifest's order (``z``, labels, noise
    inputs, psi), as :func:`export_module` declares them. ``report.passed`` is the verdict
    ``genedge verify`` exits by; with ``check_finite``, NaN/Inf on either side fail it.
    """
    from genedge.runtime.artifact import read_manifest
    from genedge.runtime.backends import create_backend

    path = Path(path)
    manifest = read_manifest(path)
    if set(manifest.graphs) != {"sampler"}:
        raise InputError(
            f"{path.name} has graphs {sorted(manifest.graphs)}; verify it against the run "
            "folder it came from (--against RUN)"
        )
    module = module.eval()
    graph = manifest.sampler
    reference = {"sampler": TorchBackend(module, [t.name for t in graph.inputs])}
    candidate = {"sampler": create_backend(backend, path)}
    report = check_parity(
        reference, candidate, manifest, batch_sizes=batch_sizes, atol=atol, rtol=rtol
    )
    report.check_finite = check_finite
    return report


def _shape_arg(shape: Sequence[int], what: str) -> tuple[int, ...]:
    dims = tuple(shape)
    if not dims or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
        raise InputError(f"{what} must be positive sizes, e.g. (100, 1, 1), got {shape!r}")
    return dims


def _inputs(
    latent: tuple[int, ...],
    num_classes: int,
    noise: Mapping[str, Sequence[int]],
    truncation: bool,
) -> tuple[TensorSpec, ...]:
    specs = [TensorSpec("z", "float32", ("batch", *latent), "latent")]
    if num_classes:
        specs.append(TensorSpec("labels", "int64", ("batch",), "label"))
    for name, shape in noise.items():
        if not name.isidentifier() or name in ("z", "labels", "psi"):
            raise InputError(f"noise input name {name!r} must be an identifier, not z/labels/psi")
        specs.append(TensorSpec(name, "float32", ("batch", *_shape_arg(shape, name)), "noise"))
    if truncation:
        specs.append(TensorSpec("psi", "float32", ("batch",), "truncation"))
    return tuple(specs)


def _device_inputs(
    module: nn.Module, graph: GraphSpec, num_classes: int
) -> tuple[torch.Tensor, ...]:
    param = next(module.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    gen = torch.Generator().manual_seed(0)
    cpu = torch_inputs(graph, EXPORT_BATCH, num_classes=num_classes, generator=gen)
    return tuple(t.to(device) for t in cpu)


def _probe(
    module: nn.Module, args: tuple[torch.Tensor, ...], latent: tuple[int, ...]
) -> tuple[torch.Tensor, ...]:
    """The module's outputs on the probe batch (global RNG seeded with 0), the sample first."""
    try:
        outs = run_module(module, args, 0)
        sample = outs[0]
    except ModuleCheckError:
        raise
    except Exception as e:
        shape = "x".join(map(str, latent))
        hint = "check --latent and the inputs' order (z, labels, noise..., psi)"
        if "invalid for input of size" in str(e):
            hint = (
                "is the batch size fixed in forward (e.g. view(64, ...))? use "
                f"view(x.shape[0], ...) or view(-1, ...); else {hint}"
            )
        raise ModuleCheckError(
            f"forward fails on {EXPORT_BATCH} latents of shape {shape} ({type(e).__name__}: "
            f"{first_line(e)}): {hint}"
        ) from None
    if sample.dim() < 2 or sample.shape[0] != EXPORT_BATCH:
        raise ModuleCheckError(
            f"forward returned shape {tuple(sample.shape)} for {EXPORT_BATCH} latents; the "
            "sample output needs the batch as its first axis"
        )
    return outs


def _export(
    module: nn.Module, graph: GraphSpec, num_classes: int, exporter: str
) -> onnx.ModelProto:
    """Trace to ONNX, or one line naming what the exporter could not convert."""
    if exporter not in ("dynamo", "torchscript"):
        raise InputError(f"exporter must be dynamo or torchscript, got {exporter!r}")
    try:
        proto = export_graph(module, graph, num_classes, exporter)
    except Exception as e:
        raise ModuleCheckError(
            f"torch.onnx.export ({exporter}) cannot convert {type(module).__name__}: "
            f"{_exporter_message(e)} (replace the op with standard torch ops, or give the "
            "exporter an ONNX translation for it)"
        ) from None
    nodes = random_nodes(proto)
    if nodes:
        raise noise_error(nodes)
    frozen = [p for p in lint_graph(proto) if "batch axis is not dynamic" in p]
    if frozen:
        raise ModuleCheckError(
            f"the exported graph's batch size is frozen ({frozen[0]}): forward fixes it, e.g. "
            "view(64, ...) or a Python int taken from x.shape[0]; use view(x.shape[0], ...) or "
            "view(-1, ...)"
        )
    problems = lint_graph(proto)
    if problems:
        raise ModuleCheckError("the exported graph is unsafe: " + "; ".join(problems))
    return proto


def _exporter_message(e: BaseException) -> str:
    """The exporter's own words, trimmed to the line that names the op when there is one."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    lines = [re.sub(r"^<class '[\w.]+'>: ", "", ln) for ln in lines]
    for ln in lines:
        low = ln.lower()
        if any(k in low for k in ("unsupported", "no decomposition", "not supported", "custom op")):
            return ln[:400]
    cause = e.__cause__
    if cause is not None and str(cause).strip():
        return _exporter_message(cause)
    return (lines[0] if lines else type(e).__name__)[:400]


def _random_nodes_of(
    module: nn.Module, graph: GraphSpec, num_classes: int, exporter: str
) -> list[str]:
    """Names of the random nodes, by exporting (in memory) just to find them."""
    try:
        return random_nodes(export_graph(module, graph, num_classes, exporter))
    except Exception:
        return []


def _provenance(module: nn.Module, extra: Mapping[str, Any] | None) -> dict[str, Any]:
    cls = type(module)
    params = sum(p.numel() for p in module.parameters())
    prov: dict[str, Any] = {
        "source": "module",
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "parameters": int(params),
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "exported": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    prov.update(extra or {})
    return prov


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file, for provenance (the weights an artifact was exported from)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


__all__ = ["CUSTOM_FAMILY", "export_module", "file_digest", "verify_module"]

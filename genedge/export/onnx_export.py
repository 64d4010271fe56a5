"""Export a trained run to an ONNX artifact set, checked against PyTorch before it is kept.

The graphs are traced here (:func:`export_graph`), converted and linted; writing them all or
nothing, after parity and the quality gate, is
:func:`genedge.export.artifact_writer.write_artifact`.
A companion graph's file (a VAE's encoder) is stamped as such: its manifest's ``companion``
names its role and the artifact it belongs to.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn

from genedge.export.artifact_writer import (
    ExportResult,
    ParityError,
    check_target,
    write_artifact,
)
from genedge.export.lint import LintError, lint_graph
from genedge.export.parity import ParityReport, check_parity
from genedge.export.precision import check_precision, convert_precision
from genedge.export.quality_gate import QualityCheck, check_quality
from genedge.runtime.errors import GenedgeError
from genedge.runtime.manifest import GraphSpec, contract_from_hparams
from genedge.train.describe import manifest_for_run
from genedge.train.reference import TorchBackend
from genedge.train.run import load_config
from genedge.train.run_folder import load_trained
from genedge.train.torch_feeds import torch_inputs

__all__ = ["ExportResult", "ParityError", "export_graph", "export_run", "verify_artifact"]

EXPORT_BATCH = 4
EXPORT_LENGTH = 6


def _example(graph: GraphSpec, num_classes: int) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(0)  # its own stream: the caller's RNG stays put
    return torch_inputs(
        graph, EXPORT_BATCH, length=EXPORT_LENGTH, num_classes=num_classes, generator=gen
    )


def export_graph(
    module: nn.Module, graph: GraphSpec, num_classes: int, exporter: str = "dynamo"
) -> onnx.ModelProto:
    """Export one module to an in-memory ONNX model with the graph's names and dynamic axes."""
    module = module.eval()
    args = _example(graph, num_classes)
    in_names = [t.name for t in graph.inputs]
    out_names = [t.name for t in graph.outputs]
    quiet = contextlib.redirect_stdout(io.StringIO())
    with warnings.catch_warnings(), quiet, _quiet_logs():
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            dims: dict[str, Any] = {}
            dynamic = tuple(
                {
                    i: dims.setdefault(d, torch.export.Dim(d, min=1))
                    for i, d in enumerate(t.shape)
                    if isinstance(d, str)
                }
                for t in graph.inputs
            )
            program = torch.onnx.export(
                module,
                args,
                input_names=in_names,
                output_names=out_names,
                dynamo=True,
                dynamic_shapes=dynamic,
                external_data=False,
                verbose=False,
                optimize=True,
            )
            if program is None:  # dynamo=True always returns the program
                raise GenedgeError(f"torch.onnx.export gave no program for {type(module).__name__}")
            return program.model_proto
        axes = {
            t.name: {i: d for i, d in enumerate(t.shape) if isinstance(d, str)}
            for t in (*graph.inputs, *graph.outputs)
        }
        buf = io.BytesIO()
        torch.onnx.export(
            module,
            args,
            buf,  # type: ignore[arg-type]  # torch's hint omits the file objects it accepts
            input_names=in_names,
            output_names=out_names,
            dynamic_axes=axes,
            dynamo=False,
            opset_version=17,
        )
        return onnx.load_from_string(buf.getvalue())


@contextlib.contextmanager
def _quiet_logs() -> Iterator[None]:
    logger = logging.getLogger("torch.onnx")
    old = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(old)


def export_run(
    run_dir: str | Path,
    out: str | Path,
    *,
    batch_sizes: tuple[int, ...] = (1, 37),
    lengths: tuple[int, ...] = (),
    atol: float | None = None,
    rtol: float | None = None,
    force: bool = False,
    precision: str = "fp32",
    quality_check: bool = True,
    quality_data: str | None = None,
    quality_n: int = 1000,
) -> ExportResult:
    """Export a run's sampler (and companion graphs) to ``out`` and check parity.

    Args:
        run_dir: A trained run folder.
        out: The ``.onnx`` file to write; companions go beside it as ``<stem>.<role>.onnx``.
        batch_sizes: Batch sizes of the parity check (keep them different from the export
            batch, 4, so a batch size frozen into the graph is caught).
        lengths: Sequence lengths of the parity check (sequence models); defaults to the
            training length T and 2T + 3.
        atol, rtol: Parity tolerances; default to the precision's (1e-5 for fp32).
        force: Keep the artifact even when parity fails (the manifest records the failure).
        precision: ``fp32``, ``fp16`` or ``int8``; every graph is converted after export and
            before the parity check (see :mod:`genedge.export.precision`).
        quality_check: For fp16/int8, also evaluate the artifact and refuse it if its
            headline ``genedge eval`` figure is more than 10% worse than the fp32 model's
            (see :mod:`genedge.export.quality_gate`). On by default, as in ``genedge export``;
            ``False`` skips it.
        quality_data: The data of that check; ``None`` for the run's training data.
        quality_n: Samples per set of that evaluation.

    Raises:
        ParityError: Outputs differ beyond tolerance (nothing is written unless ``force``).
        LintError: The graph breaks an export rule.
        InvalidGraphError: A graph is not valid ONNX (``onnx.checker`` with ``full_check``
            or strict shape inference refuses it); nothing is written, even with ``force``.
        OutputError: ``out`` is not a writable ``.onnx`` path.
        InputError: Unknown precision.
        QualityError: The reduced-precision artifact samples worse than fp32 (nothing is
            written unless ``force``).
    """
    if load_config(run_dir).data_info.kind == "text":
        # A text model exports a step graph and is checked on logits, state and decoded text.
        from genedge.export.text_export import export_text_run

        return export_text_run(
            run_dir,
            out,
            batch_sizes=batch_sizes,
            lengths=lengths,
            atol=atol,
            rtol=rtol,
            force=force,
            precision=precision,
        )
    check_precision(precision)
    out, _ = check_target(out)
    cfg, family, models, step = load_trained(run_dir)
    base = manifest_for_run(cfg, family, step)
    graphs = {
        role: GraphSpec(
            None if role == "sampler" else f"{out.stem}.{role}.onnx", g.inputs, g.outputs
        )
        for role, g in base.graphs.items()
    }
    # 1.3: what readers used to take from the provenance's hparams is contract now.
    manifest = base.with_updates(
        graphs=graphs, precision=precision, **contract_from_hparams(cfg.hparams)
    )
    if not lengths and manifest.default_length:
        # One artifact serves every length: check the training length and a longer, odd one.
        lengths = (manifest.default_length, 2 * manifest.default_length + 3)
    modules = family.export_modules(models, family.from_hparams(cfg.hparams), cfg.data_info)

    protos: dict[str, onnx.ModelProto] = {}
    for role, graph in graphs.items():
        proto = export_graph(modules[role], graph, manifest.num_classes, family.exporter)
        proto = convert_precision(proto, manifest, precision, role)
        problems = lint_graph(proto)
        if problems:
            raise LintError(f"exported {role} graph is unsafe: " + "; ".join(problems))
        protos[role] = proto
    reference = {
        role: TorchBackend(modules[role], g.inputs, g.outputs) for role, g in graphs.items()
    }

    def judge(sampler: Path) -> QualityCheck:
        return check_quality(run_dir, sampler, quality_data or cfg.data, precision, n=quality_n)

    return write_artifact(
        protos,
        reference,
        manifest,
        out,
        batch_sizes=batch_sizes,
        lengths=lengths,
        atol=atol,
        rtol=rtol,
        force=force,
        quality=judge if quality_check and precision != "fp32" else None,
    )


def verify_artifact(
    path: str | Path,
    run_dir: str | Path,
    *,
    backend: str = "cpu",
    batch_sizes: tuple[int, ...] = (1, 37),
    lengths: tuple[int, ...] = (),
    atol: float | None = None,
    rtol: float | None = None,
    check_finite: bool = True,
) -> ParityReport:
    """Check an existing artifact against the run it came from (the export's own check).

    With ``check_finite`` (the default, as ``genedge verify``), NaN/Inf in PyTorch's outputs
    fail the report too, not only in the artifact's (Polygraphy's ``--validate``); the
    report's ``passed`` is the verdict ``genedge verify`` exits by.
    """
    from genedge.runtime.artifact import read_manifest
    from genedge.runtime.backends import create_backend

    path = Path(path)
    manifest = read_manifest(path)
    if manifest.output_kind == "text":
        from genedge.export.text_export import verify_text_artifact

        return verify_text_artifact(
            path,
            run_dir,
            backend=backend,
            batch_sizes=batch_sizes,
            lengths=lengths,
            atol=atol,
            rtol=rtol,
            check_finite=check_finite,
        )
    cfg, family, models, _ = load_trained(run_dir)
    if cfg.family != manifest.family:
        raise GenedgeError(
            f"{path.name} is a {manifest.family} model but {run_dir} trained a {cfg.family}"
        )
    modules = family.export_modules(models, family.from_hparams(cfg.hparams), cfg.data_info)
    reference = {
        role: TorchBackend(modules[role], g.inputs, g.outputs)
        for role, g in manifest.graphs.items()
    }
    candidate = {
        role: create_backend(backend, path if g.file is None else path.parent / g.file)
        for role, g in manifest.graphs.items()
    }
    report = check_parity(
        reference,
        candidate,
        manifest,
        batch_sizes=batch_sizes,
        lengths=lengths,
        atol=atol,
        rtol=rtol,
    )
    report.check_finite = check_finite
    return report

"""Export a trained run to an ONNX artifact set, checked against PyTorch before it is kept.

All or nothing: every graph is written to a temporary file beside the target, linted, checked
for parity, stamped with its manifest, checked as valid ONNX (:mod:`genedge.export.onnx_checks`),
and only then renamed into place. A failed export leaves no file behind and an existing artifact
untouched (``force`` keeps one that fails parity or the quality gate, loudly; never an invalid
graph). A companion graph's file (a VAE's encoder) is stamped as such: its manifest's
``companion`` names its role and the artifact it belongs to.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn

from genedge.export.lint import LintError, lint_graph
from genedge.export.memory import estimate_memory
from genedge.export.onnx_checks import check_onnx
from genedge.export.parity import ParityReport, check_parity
from genedge.export.precision import check_precision, convert_precision
from genedge.export.quality_gate import QualityCheck, QualityError, check_quality
from genedge.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend
from genedge.runtime.errors import GenedgeError, OutputError
from genedge.runtime.manifest import METADATA_KEY, Companion, GraphSpec, Manifest
from genedge.train.describe import manifest_for_run
from genedge.train.reference import TorchBackend
from genedge.train.run_folder import load_trained

EXPORT_BATCH = 4
EXPORT_LENGTH = 6


class ParityError(GenedgeError):
    """The exported graph does not match PyTorch within tolerance."""

    def __init__(self, message: str, report: ParityReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class ExportResult:
    """What an export wrote and how it checked out."""

    path: Path
    files: list[Path]
    manifest: Manifest
    report: ParityReport
    quality: QualityCheck | None = None


def _example(graph: GraphSpec, num_classes: int) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(0)  # its own stream: the caller's RNG stays put
    args = []
    for t in graph.inputs:
        shape = [
            EXPORT_BATCH if d == "batch" else EXPORT_LENGTH if d == "length" else int(d)
            for d in t.shape
        ]
        if t.role == "label":
            args.append(torch.arange(EXPORT_BATCH, dtype=torch.int64) % max(1, num_classes))
        elif t.role == "state":
            args.append(torch.zeros(shape))
        else:
            args.append(torch.randn(shape, generator=gen))
    return tuple(args)


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


def _stamp(model: onnx.ModelProto, manifest: Manifest, role: str, artifact: str) -> bytes:
    """The model's bytes with the manifest in its metadata; a companion graph's (any role but
    ``sampler``) says which graph it is and which artifact it belongs to."""
    if role != "sampler":
        manifest = manifest.with_updates(companion=Companion(role=role, artifact=artifact))
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, manifest.to_json()
    model.producer_name = "genedge"
    data: bytes = model.SerializeToString()
    return data


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
    check_precision(precision)
    out = Path(out)
    if out.suffix != ".onnx":
        raise OutputError(f"export writes an .onnx file, got {out.name}")
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"cannot write {out}: folder {folder} does not exist")
    cfg, family, models, step = load_trained(run_dir)
    base = manifest_for_run(cfg, family, step)
    graphs = {
        role: GraphSpec(
            None if role == "sampler" else f"{out.stem}.{role}.onnx", g.inputs, g.outputs
        )
        for role, g in base.graphs.items()
    }
    manifest = base.with_updates(graphs=graphs, precision=precision)
    if not lengths and manifest.default_length:
        # One artifact serves every length: check the training length and a longer, odd one.
        lengths = (manifest.default_length, 2 * manifest.default_length + 3)
    modules = family.export_modules(models, cfg.hparams, cfg.data_info)
    exporter = family.exporter

    protos: dict[str, onnx.ModelProto] = {}
    for role, graph in graphs.items():
        proto = export_graph(modules[role], graph, manifest.num_classes, exporter)
        proto = convert_precision(proto, manifest, precision, role)
        problems = lint_graph(proto)
        if problems:
            raise LintError(f"exported {role} graph is unsafe: " + "; ".join(problems))
        protos[role] = proto
    graphs = {
        role: replace(g, memory=estimate_memory(protos[role], manifest.default_length or None))
        for role, g in graphs.items()
    }
    manifest = manifest.with_updates(graphs=graphs)

    tmpdir = Path(tempfile.mkdtemp(prefix=f".{out.stem}.", dir=folder))
    try:
        tmp_files = {role: tmpdir / (g.file or out.name) for role, g in graphs.items()}
        for role, proto in protos.items():
            tmp_files[role].write_bytes(_stamp(proto, manifest, role, out.name))
        reference = {
            role: TorchBackend(modules[role], [t.name for t in g.inputs])
            for role, g in graphs.items()
        }
        candidate = {role: OnnxRuntimeBackend(p, "cpu") for role, p in tmp_files.items()}
        report = check_parity(
            reference,
            candidate,
            manifest,
            batch_sizes=batch_sizes,
            lengths=lengths,
            atol=atol,
            rtol=rtol,
        )
        if not report.passed and not force:
            raise ParityError(
                f"export does not match PyTorch (max abs error {report.max_abs:.3g} > atol "
                f"{report.atol:g}); nothing written. Use --force to keep it anyway",
                report,
            )
        summary = report.summary()
        quality = None
        if quality_check and precision != "fp32":
            quality = check_quality(
                run_dir, tmp_files["sampler"], quality_data or cfg.data, precision, n=quality_n
            )
            summary["quality"] = quality.summary()
            if not quality.passed and not force:
                raise QualityError(
                    f"{quality.describe()}; nothing written. Use --force to keep it anyway",
                    quality,
                )
        manifest = manifest.with_updates(parity=summary)
        # Every file as it will be kept, each checked as valid ONNX before any is renamed.
        for role in graphs:
            tmp_files[role].write_bytes(_stamp(protos[role], manifest, role, out.name))
            check_onnx(tmp_files[role], f"{role} graph")
        final: list[Path] = []
        # Companions first, the sampler last: the sampler names them, so it must never
        # appear before they do.
        for role in sorted(graphs, key=lambda r: r == "sampler"):
            target = folder / (graphs[role].file or out.name)
            os.replace(tmp_files[role], target)
            final.append(target)
        return ExportResult(out, final, manifest, report, quality)
    finally:
        # The quality check's runtime may have left an optimised-model cache in there too.
        shutil.rmtree(tmpdir, ignore_errors=True)


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
    cfg, family, models, _ = load_trained(run_dir)
    if cfg.family != manifest.family:
        raise GenedgeError(
            f"{path.name} is a {manifest.family} model but {run_dir} trained a {cfg.family}"
        )
    modules = family.export_modules(models, cfg.hparams, cfg.data_info)
    reference = {
        role: TorchBackend(modules[role], [t.name for t in g.inputs])
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

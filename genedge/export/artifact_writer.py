"""Write an artifact set all or nothing, checked against its reference before it is kept.

Shared by every way in: a trained run (:func:`genedge.export.onnx_export.export_run`), a user's
module (:func:`genedge.export.module_export.export_module`) and a wrapped ONNX file
(:func:`genedge.export.wrap.wrap_onnx`). Every graph is written to a temporary folder beside
the target, stamped with its manifest, checked for parity (and, for fp16/int8, quality), checked
as valid ONNX (:mod:`genedge.export.onnx_checks`), and only then renamed into place. A failed
export leaves no file behind and an existing artifact untouched (``force`` keeps one that fails
parity or the quality gate, loudly; never an invalid graph).
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import onnx

from genedge.export.memory import estimate_memory
from genedge.export.onnx_checks import check_onnx
from genedge.export.parity import ParityReport, check_parity
from genedge.export.quality_gate import QualityCheck, QualityError
from genedge.runtime.atomic import make_temp_folder
from genedge.runtime.backends import Backend
from genedge.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend
from genedge.runtime.errors import GenedgeError, InputError, OutputError
from genedge.runtime.manifest import (
    METADATA_KEY,
    OUTPUT_KINDS,
    Companion,
    GraphSpec,
    Manifest,
    Preprocessing,
)

#: Judges the reduced-precision sampler written at the given path (its companions beside it).
QualityJudge = Callable[[Path], QualityCheck]


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


def custom_manifest(
    graph: GraphSpec,
    *,
    sample_shape: Sequence[int],
    value_range: tuple[float, float],
    model_range: tuple[float, float] | None,
    num_classes: int,
    class_names: Sequence[str] = (),
    precision: str,
    output_kind: str | None,
    family: str,
    provenance: Mapping[str, Any],
) -> Manifest:
    """The manifest of an artifact genedge did not train: a user's module or a wrapped file.

    The latent's width is the product of one sample's latent shape (any rank); the output
    kind defaults to ``image`` for 3-D samples ``(C, H, W)``, else ``vector``.

    Raises:
        InputError: A range that is not two finite numbers, low < high; an output kind other
            than ``image``, ``points`` or ``vector``; class names that do not fit.
    """
    vrange = range_arg(value_range, "value_range")
    mrange = vrange if model_range is None else range_arg(model_range, "model_range")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
        raise InputError(f"num_classes must be a non-negative integer, got {num_classes!r}")
    if class_names and len(class_names) != num_classes:
        raise InputError(f"{len(class_names)} class names for {num_classes} classes")
    shape = tuple(int(d) for d in sample_shape)
    kind = output_kind or ("image" if len(shape) == 3 else "vector")
    if kind not in OUTPUT_KINDS or kind == "sequence":
        raise InputError(f"output_kind must be image, points or vector, got {kind!r}")
    latent = next(t for t in graph.inputs if t.role == "latent")
    return Manifest(
        family=family,
        graphs={"sampler": graph},
        latent_dim=math.prod(int(d) for d in latent.shape[1:]),
        output_kind=kind,
        sample_shape=shape,
        preprocessing=Preprocessing("minmax", vrange[0], vrange[1], mrange[0], mrange[1]),
        num_classes=num_classes,
        class_names=tuple(class_names),
        precision=precision,
        provenance=dict(provenance),
    )


def range_arg(r: tuple[float, float], what: str) -> tuple[float, float]:
    """``(low, high)`` as floats, once both are finite and low < high.

    Raises:
        InputError: Not two numbers, not finite, or not increasing.
    """
    try:
        lo, hi = (float(v) for v in r)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be two numbers (low, high), got {r!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise InputError(f"{what} needs finite low < high, got {r!r}")
    return lo, hi


def check_target(out: str | Path) -> tuple[Path, Path]:
    """``(out, its folder)`` once ``out`` is an ``.onnx`` path in an existing folder."""
    out = Path(out)
    if out.suffix != ".onnx":
        raise OutputError(f"export writes an .onnx file, got {out.name}")
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"cannot write {out}: folder {folder} does not exist")
    return out, folder


def stamp(model: onnx.ModelProto, manifest: Manifest, role: str, artifact: str) -> bytes:
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


#: A parity check of the written graphs: (reference, candidate, manifest) -> the report, extra
#: fields for the manifest's ``parity`` summary, and what to say when the report fails.
ParityCheck = Callable[
    [Mapping[str, Backend], Mapping[str, Backend], Manifest],
    tuple[ParityReport, dict[str, Any], str],
]


def write_artifact(
    protos: Mapping[str, onnx.ModelProto],
    reference: Mapping[str, Backend],
    manifest: Manifest,
    out: str | Path,
    *,
    batch_sizes: tuple[int, ...] = (1, 37),
    lengths: tuple[int, ...] = (),
    atol: float | None = None,
    rtol: float | None = None,
    force: bool = False,
    quality: QualityJudge | None = None,
    measure_memory: bool = True,
    parity: ParityCheck | None = None,
) -> ExportResult:
    """Check ``protos`` (graphs by role) against ``reference`` and write them as ``out``.

    Args:
        protos: The graphs, already converted to the manifest's precision and linted.
        reference: A backend per role giving the expected outputs (PyTorch, usually).
        manifest: The artifact's manifest; ``graphs[role].file`` names each companion.
        out: The sampler's ``.onnx`` file.
        quality: For fp16/int8, a judge of the written sampler (see
            :mod:`genedge.export.quality_gate`).
        measure_memory: Record each graph's working memory (schema 1.1).
        parity: Another parity check than :func:`~genedge.export.parity.check_parity` at
            ``batch_sizes`` and ``lengths`` (text models check logits, state and decoding).

    Raises:
        ParityError: Outputs differ beyond tolerance (nothing written unless ``force``).
        QualityError: The quality judge failed the artifact (nothing written unless ``force``).
        InvalidGraphError: A graph is not valid ONNX; nothing is written, even with ``force``.
    """
    out, folder = check_target(out)
    graphs = manifest.graphs
    if measure_memory:
        length = manifest.default_length or None
        graphs = {
            r: replace(g, memory=estimate_memory(protos[r], length)) for r, g in graphs.items()
        }
        manifest = manifest.with_updates(graphs=graphs)
    tmpdir = make_temp_folder(out)
    try:
        tmp_files = {role: tmpdir / (g.file or out.name) for role, g in graphs.items()}
        for role, proto in protos.items():
            tmp_files[role].write_bytes(stamp(proto, manifest, role, out.name))
        candidate = {role: OnnxRuntimeBackend(p, "cpu") for role, p in tmp_files.items()}
        if parity is None:
            report = check_parity(
                reference,
                candidate,
                manifest,
                batch_sizes=batch_sizes,
                lengths=lengths,
                atol=atol,
                rtol=rtol,
            )
            extra: dict[str, Any] = {}
            what = f"max abs error {report.max_abs:.3g} > atol {report.atol:g}"
        else:
            report, extra, what = parity(reference, candidate, manifest)
        if not report.passed and not force:
            raise ParityError(
                f"export does not match PyTorch ({what}); nothing written. "
                "Use --force to keep it anyway",
                report,
            )
        summary = {**report.summary(), **extra}
        check = None
        if quality is not None:
            check = quality(tmp_files["sampler"])
            summary["quality"] = check.summary()
            if not check.passed and not force:
                raise QualityError(
                    f"{check.describe()}; nothing written. Use --force to keep it anyway", check
                )
        manifest = manifest.with_updates(parity=summary)
        # Every file as it will be kept, each checked as valid ONNX before any is renamed.
        for role in graphs:
            tmp_files[role].write_bytes(stamp(protos[role], manifest, role, out.name))
            check_onnx(tmp_files[role], f"{role} graph")
        final: list[Path] = []
        # Companions first, the sampler last: the sampler names them, so it must never
        # appear before they do.
        for role in sorted(graphs, key=lambda r: r == "sampler"):
            target = folder / (graphs[role].file or out.name)
            os.replace(tmp_files[role], target)
            final.append(target)
        return ExportResult(out, final, manifest, report, check)
    finally:
        # The quality check's runtime may have left an optimised-model cache in there too.
        shutil.rmtree(tmpdir, ignore_errors=True)

"""Export a trained text run (family ``text``) to a step-graph artifact, checked before it is
kept.

The graph reads ``tokens`` int64 ``(batch, T)`` and ``state`` ``(batch, layers, hidden)`` and
returns ``logits`` ``(batch, T, vocab)`` and ``state_out``; batch and T are dynamic (traced by
TorchScript, which keeps a GRU's time axis symbolic). The manifest (schema 1.3) gets output
kind ``text`` and a ``text`` section (:class:`~genedge.runtime.manifest.TextSpec`). Parity
(:mod:`genedge.export.text_parity`) checks logits and state at two batch sizes and two lengths,
and the decoded tokens (greedy and seeded) against the PyTorch model; both are recorded in the
manifest's ``parity``. The file is written beside the target and renamed only when it passes
(or with ``force``).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn

from genedge.export.artifact_writer import ExportResult, check_target, write_artifact
from genedge.export.lint import LintError, lint_graph
from genedge.export.parity import ParityReport
from genedge.export.text_parity import (
    BATCH_SIZES,
    LENGTHS,
    check_decode_parity,
    check_step_parity,
    decode_case,
)
from genedge.runtime.backends import Backend, create_backend
from genedge.runtime.errors import GenedgeError, InputError
from genedge.runtime.manifest import GraphSpec, Manifest
from genedge.runtime.text import TextSampler
from genedge.runtime.text_spec import TextSpec
from genedge.train.describe import manifest_for_run
from genedge.train.families.base import Family
from genedge.train.reference import TorchBackend
from genedge.train.run import RunConfig
from genedge.train.run_folder import load_trained

#: The traced example: (batch, T), different from every parity size.
EXAMPLE_BATCH, EXAMPLE_LENGTH = 2, 5


def text_manifest(cfg: RunConfig, family: Family, step: int) -> Manifest:
    """The manifest of a text run's artifact: the run's, plus the ``text`` section."""
    base = manifest_for_run(cfg, family, step)
    graph = base.sampler
    tokens = next(t for t in graph.inputs if t.role == "tokens")
    state = next(t for t in graph.inputs if t.role == "state")
    vocab = cfg.data_info.vocab
    unknown = str(cfg.hparams.get("unknown") or "") or None
    spec = TextSpec(
        vocab=vocab,
        tokens=tokens.name,
        state=state.name,
        state_out=graph.outputs[1].name,
        state_shape=state.shape,
        logits=graph.outputs[0].name,
        unknown=unknown,
        bos="\n" if "\n" in vocab else None,
    )
    return base.with_updates(text=spec)


def trace_step_graph(module: nn.Module, graph: GraphSpec, vocab_size: int) -> onnx.ModelProto:
    """Trace the step module to ONNX with dynamic batch and length on every tensor."""
    module = module.eval()
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randint(vocab_size, (EXAMPLE_BATCH, EXAMPLE_LENGTH), generator=gen)
    state_dims = [EXAMPLE_BATCH if d == "batch" else int(d) for d in graph.inputs[1].shape]
    state = torch.zeros(state_dims)
    axes = {
        t.name: {i: d for i, d in enumerate(t.shape) if isinstance(d, str)}
        for t in (*graph.inputs, *graph.outputs)
    }
    buf = io.BytesIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (tokens, state),
            buf,  # type: ignore[arg-type]  # torch's hint omits the file objects it accepts
            input_names=[t.name for t in graph.inputs],
            output_names=[t.name for t in graph.outputs],
            dynamic_axes=axes,
            dynamo=False,
            opset_version=17,
        )
    return onnx.load_from_string(buf.getvalue())


def export_text_run(
    run_dir: str | Path,
    out: str | Path,
    *,
    batch_sizes: tuple[int, ...] = BATCH_SIZES,
    lengths: tuple[int, ...] = (),
    atol: float | None = None,
    rtol: float | None = None,
    force: bool = False,
    precision: str = "fp32",
) -> ExportResult:
    """Export a text run to ``out`` and check it against PyTorch.

    Args:
        run_dir: A trained run folder of the ``text`` family.
        out: The ``.onnx`` file to write.
        batch_sizes: Batch sizes of the logits/state check.
        lengths: Token lengths of that check; ``()`` for 1 (a generated character) and 23
            (a prompt).
        atol, rtol: Tolerances of the logits/state check (default fp32's, 1e-5).
        force: Keep the artifact even when parity fails (the manifest records the failure).
        precision: ``fp32`` only, for now.

    Raises:
        InputError: Not a text run, or a precision other than fp32.
        ParityError: Logits, state or decoded tokens differ (nothing written unless ``force``).
        LintError: The graph breaks an export rule.
        InvalidGraphError: The graph is not valid ONNX (nothing written, even with ``force``).
        OutputError: ``out`` is not a writable ``.onnx`` path.
    """
    if precision != "fp32":
        raise InputError(f"text models export in fp32 only for now, not {precision}")
    check_target(out)  # before training weights are loaded
    cfg, family, models, step = load_trained(run_dir)
    if family.output_kind(cfg.data_info) != "text":
        raise InputError(f"{run_dir} trained a {cfg.family} model, not a text model")
    manifest = text_manifest(cfg, family, step)
    module = family.sampler_module(models, cfg.hparams, cfg.data_info)
    graph = manifest.sampler
    proto = trace_step_graph(module, graph, len(cfg.data_info.vocab))
    problems = lint_graph(proto)
    if problems:
        raise LintError("exported text graph is unsafe: " + "; ".join(problems))
    reference = TorchBackend(module, [t.name for t in graph.inputs])

    def check(
        ref: Mapping[str, Backend], cand: Mapping[str, Backend], mf: Manifest
    ) -> tuple[ParityReport, dict[str, Any], str]:
        report, decode, steps_passed = _text_parity(
            ref["sampler"], cand["sampler"], mf, batch_sizes, lengths, atol, rtol
        )
        what = (
            "decoded tokens differ"
            if steps_passed
            else f"max abs error {report.max_abs:.3g} > atol {report.atol:g}"
        )
        return report, {"decode": _decode_summary(decode)}, what

    return write_artifact(
        {"sampler": proto}, {"sampler": reference}, manifest, out, force=force, parity=check
    )


def verify_text_artifact(
    path: str | Path,
    run_dir: str | Path,
    *,
    backend: str = "cpu",
    batch_sizes: tuple[int, ...] = BATCH_SIZES,
    lengths: tuple[int, ...] = (),
    atol: float | None = None,
    rtol: float | None = None,
    check_finite: bool = True,
) -> ParityReport:
    """Check an existing text artifact against its run: logits and state at the export's
    sizes, and decoded tokens; the report fails (``passed`` False) when the tokens differ."""
    from genedge.runtime.artifact import read_manifest

    path = Path(path)
    manifest = read_manifest(path)
    cfg, family, models, _ = load_trained(run_dir)
    if cfg.family != manifest.family:
        raise GenedgeError(
            f"{path.name} is a {manifest.family} model but {run_dir} trained a {cfg.family}"
        )
    module = family.sampler_module(models, cfg.hparams, cfg.data_info)
    reference = TorchBackend(module, [t.name for t in manifest.sampler.inputs])
    candidate = create_backend(backend, path)
    report, _, _ = _text_parity(reference, candidate, manifest, batch_sizes, lengths, atol, rtol)
    report.check_finite = check_finite
    return report


def _text_parity(
    reference: Backend,
    candidate: Backend,
    manifest: Manifest,
    batch_sizes: tuple[int, ...],
    lengths: tuple[int, ...],
    atol: float | None,
    rtol: float | None,
) -> tuple[ParityReport, dict[str, Any], bool]:
    """Logits and state at ``batch_sizes`` x ``lengths`` (default :data:`LENGTHS`), then the
    decoded tokens, as one report (the decoding is its last case); also the decode check and
    whether logits and state passed."""
    report = check_step_parity(
        reference,
        candidate,
        manifest,
        batch_sizes=batch_sizes,
        lengths=lengths or LENGTHS,
        atol=atol,
        rtol=rtol,
    )
    steps_passed = report.passed
    decode = check_decode_parity(reference, candidate, manifest)
    report.cases.append(decode_case(decode))
    return report, decode, steps_passed


def _decode_summary(decode: dict[str, Any]) -> dict[str, Any]:
    return {
        "passed": decode["passed"],
        "length": decode["length"],
        "cases": [
            {"n": c["n"], "settings": c["settings"], "same": c["same"]} for c in decode["cases"]
        ],
    }


def load_torch_text_sampler(run_dir: str | Path) -> TextSampler:
    """The PyTorch reference decoder of a trained text run: the runtime's own
    :class:`~genedge.runtime.text.TextSampler` (same sampling, same noise) over the model."""
    cfg, family, models, step = load_trained(run_dir)
    if family.output_kind(cfg.data_info) != "text":
        raise InputError(f"{run_dir} trained a {cfg.family} model, not a text model")
    manifest = text_manifest(cfg, family, step)
    module = family.sampler_module(models, cfg.hparams, cfg.data_info)
    return TextSampler.from_backend(
        manifest, TorchBackend(module, [t.name for t in manifest.sampler.inputs])
    )

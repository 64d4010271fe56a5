"""Compare two backends output by output, in the spirit of Polygraphy's comparator.

:func:`compare_outputs` sees only ``{name: array}`` dicts; :func:`check_parity` feeds both
backends the same seeded inputs (:func:`genedge.runtime.feeds.role_feed`, the sampler's own)
at several batch sizes (and sequence lengths) and gathers a
:class:`ParityReport` that is truthy when everything passed and serialises to JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from genedge.runtime.backends import Backend
from genedge.runtime.feeds import role_feed
from genedge.runtime.manifest import Manifest

# (atol, rtol) per precision, in model units. Measured against PyTorch on MNIST runs (gan,
# dcgan x2, cgan, vae sampler + encoder) and rgan on sines, 2048 samples each:
# fp16: max |err| <= 0.0044 on onnxruntime's CPU (it computes float32 from float16 weights);
#   PyTorch's float16 arithmetic, closer to a GPU's, reaches 0.009: 2e-2 keeps 2x over that.
# int8: max |err| gan 0.053, vae 0.068 (encoder 0.040), cgan 0.13, dcgan 0.14 and 0.19; p99
#   <= 0.046 everywhere. The worst atol needed with rtol 0.1 was 0.17 (0.155 at the parity
#   check's own 38 samples): 0.25 keeps 1.5x over it.
DEFAULT_TOLERANCES = {"fp32": (1e-5, 1e-5), "fp16": (2e-2, 2e-2), "int8": (2.5e-1, 1e-1)}
# The share of elements that must lie within tolerance. int8 error is heavy-tailed: with DCGAN's
# upsampling in int8 (genedge.export.subpixel) a trained MNIST generator measured p99 0.107 but
# max 0.40 at one pixel in 29008, while its Fréchet distance moved +0.5%. So int8 parity bounds
# 99% of the elements, like Polygraphy's --check-error-stat on a percentile, and the export's
# quality gate (genedge.export.quality_gate) judges what the tail does to the samples.
DEFAULT_WITHIN_SHARE = {"fp32": 1.0, "fp16": 1.0, "int8": 0.99}
_EPS = 1e-12


@dataclass(frozen=True)
class OutputComparison:
    """Statistics of one output's difference, candidate vs reference."""

    name: str
    ref_shape: tuple[int, ...]
    shape: tuple[int, ...]
    max_abs: float
    mean_abs: float
    median_abs: float
    p99_abs: float
    max_rel: float
    mean_rel: float
    ref_nonfinite: int
    nonfinite: int
    #: The smallest atol that passes with rtol = 0, and the smallest rtol with atol = 0.
    required_atol: float
    required_rtol: float
    passed: bool


@dataclass(frozen=True)
class CaseResult:
    """One graph at one input size."""

    graph: str
    batch: int
    length: int | None
    outputs: tuple[OutputComparison, ...]

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outputs)


@dataclass
class ParityReport:
    """All cases of a parity check; ``bool(report)`` is True when every output passed."""

    reference: str
    candidate: str
    atol: float
    rtol: float
    cases: list[CaseResult] = field(default_factory=list)
    within_share: float = 1.0
    #: Also fail when the reference itself gives NaN/Inf (Polygraphy's ``--validate``). NaN/Inf
    #: in the candidate's outputs fail whatever this says.
    check_finite: bool = False

    @property
    def nonfinite(self) -> int:
        """NaN/Inf values in both sides' outputs, all cases together."""
        return sum(o.nonfinite + o.ref_nonfinite for c in self.cases for o in c.outputs)

    @property
    def passed(self) -> bool:
        """Every output of every case within tolerance, and with ``check_finite`` no NaN/Inf
        on either side. This is the verdict ``genedge verify`` exits by."""
        if not self.cases or not all(c.passed for c in self.cases):
            return False
        return not (self.check_finite and self.nonfinite)

    def __bool__(self) -> bool:
        return self.passed

    @property
    def max_abs(self) -> float:
        return max((o.max_abs for c in self.cases for o in c.outputs), default=float("nan"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "candidate": self.candidate,
            "atol": self.atol,
            "rtol": self.rtol,
            "within_share": self.within_share,
            "check_finite": self.check_finite,
            "nonfinite": self.nonfinite,
            "passed": self.passed,
            "max_abs": self.max_abs,
            "cases": [asdict(c) for c in self.cases],
        }

    def summary(self) -> dict[str, Any]:
        """The compact form stored in the manifest."""
        return {
            "passed": self.passed,
            "reference": self.reference,
            "candidate": self.candidate,
            "atol": self.atol,
            "rtol": self.rtol,
            "within_share": self.within_share,
            "max_abs": self.max_abs,
            "max_rel": max((o.max_rel for c in self.cases for o in c.outputs), default=0.0),
            "cases": [
                {"graph": c.graph, "batch": c.batch, "length": c.length, "passed": c.passed}
                for c in self.cases
            ],
        }


def compare_outputs(
    ref: dict[str, np.ndarray],
    out: dict[str, np.ndarray],
    atol: float,
    rtol: float,
    within_share: float = 1.0,
) -> tuple[OutputComparison, ...]:
    """Compare each output of ``ref`` with the same-named output of ``out``.

    An output passes when shapes match, the candidate has no NaN/Inf where the reference is
    finite, and ``|out - ref| <= atol + rtol * |ref|`` (``numpy.allclose``'s rule) holds for
    every element, or for at least ``within_share`` of them.
    """
    results = []
    for name, r in ref.items():
        o = out.get(name)
        r = np.asarray(r, np.float64)
        if o is None or np.shape(o) != r.shape:
            shape = () if o is None else tuple(np.shape(o))
            nan = float("nan")
            results.append(
                OutputComparison(
                    name, r.shape, shape, nan, nan, nan, nan, nan, nan, 0, 0, nan, nan, False
                )
            )
            continue
        o = np.asarray(o, np.float64)
        ref_bad = ~np.isfinite(r)
        out_bad = ~np.isfinite(o)
        ok_mask = ~(ref_bad | out_bad)
        diff = np.abs(o - r)[ok_mask]
        rel = diff / (np.abs(r[ok_mask]) + _EPS)
        if diff.size:
            stats = (
                diff.max(),
                diff.mean(),
                np.median(diff),
                np.quantile(diff, 0.99),
                rel.max(),
                rel.mean(),
            )
        else:
            stats = (0.0,) * 6
        ok = diff <= atol + rtol * np.abs(r[ok_mask])
        within = bool(ok.all()) if within_share >= 1.0 else bool(ok.mean() >= within_share)
        # Non-finite values must agree exactly (same positions, same values).
        nonfinite_agree = bool(np.array_equal(ref_bad, out_bad)) and bool(
            np.all((o[ref_bad] == r[ref_bad]) | (np.isnan(o[ref_bad]) & np.isnan(r[ref_bad])))
        )
        results.append(
            OutputComparison(
                name=name,
                ref_shape=r.shape,
                shape=o.shape,
                max_abs=float(stats[0]),
                mean_abs=float(stats[1]),
                median_abs=float(stats[2]),
                p99_abs=float(stats[3]),
                max_rel=float(stats[4]),
                mean_rel=float(stats[5]),
                ref_nonfinite=int(ref_bad.sum()),
                nonfinite=int(out_bad.sum()),
                required_atol=float(stats[0]),
                required_rtol=float(stats[4]),
                passed=within and nonfinite_agree,
            )
        )
    return tuple(results)


def check_parity(
    reference: Mapping[str, Backend],
    candidate: Mapping[str, Backend],
    manifest: Manifest,
    *,
    batch_sizes: tuple[int, ...] = (1, 37),
    lengths: tuple[int, ...] = (),
    atol: float | None = None,
    rtol: float | None = None,
    seed: int = 0,
) -> ParityReport:
    """Run every graph of ``manifest`` on both sets of backends (by graph role) and compare.

    Tolerances default to those fitted to the manifest's precision.
    """
    d_atol, d_rtol = DEFAULT_TOLERANCES[manifest.precision]
    atol = d_atol if atol is None else atol
    rtol = d_rtol if rtol is None else rtol
    any_ref = next(iter(reference.values()))
    any_cand = next(iter(candidate.values()))
    share = DEFAULT_WITHIN_SHARE[manifest.precision]
    report = ParityReport(any_ref.name, any_cand.name, atol, rtol, within_share=share)
    case_seed = seed
    for role, graph in manifest.graphs.items():
        if role not in reference or role not in candidate:
            continue
        seq = any(d == "length" for t in graph.inputs for d in t.shape)
        for batch in batch_sizes:
            for length in (lengths or (manifest.default_length,)) if seq else (None,):
                feed = role_feed(graph, manifest, batch, case_seed, length=length)
                case_seed += 1
                names = [t.name for t in graph.outputs]
                ref = dict(zip(names, reference[role].run(feed), strict=True))
                out = dict(zip(names, candidate[role].run(feed), strict=True))
                report.cases.append(
                    CaseResult(role, batch, length, compare_outputs(ref, out, atol, rtol, share))
                )
    return report

"""Parity of a text model's step graph, PyTorch vs the runtime: logits and state, then tokens.

:func:`check_step_parity` feeds both backends the same random token ids and states at several
batch sizes and lengths and compares ``logits`` and ``state_out`` with genedge's comparator
(:func:`genedge.export.parity.compare_outputs`), giving a :class:`ParityReport` like every
other export. :func:`check_decode_parity` then decodes with the runtime's own
:class:`~genedge.runtime.text.TextSampler` over each backend (the PyTorch one being the
reference decoder: same numpy sampling, same noise) and checks that greedy and seeded sampling
give the same tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from genedge.export.parity import (
    DEFAULT_TOLERANCES,
    DEFAULT_WITHIN_SHARE,
    CaseResult,
    OutputComparison,
    ParityReport,
    compare_outputs,
)
from genedge.runtime.backends import Backend
from genedge.runtime.feeds import input_shape
from genedge.runtime.manifest import Manifest
from genedge.runtime.text import TextSampler

#: Batch sizes and lengths of the step check: none equal to the export's example (2, 5), so
#: a size frozen into the graph shows.
BATCH_SIZES = (1, 7)
LENGTHS = (1, 23)
#: The decode check: sequences, characters, and the settings it runs.
DECODE_N = (1, 3)
DECODE_LENGTH = 40
DECODE_SETTINGS: tuple[dict[str, Any], ...] = (
    {"temperature": 0.0},
    {"temperature": 0.8, "seed": 0},
    {"temperature": 1.0, "top_k": 5, "top_p": 0.9, "seed": 1},
)


def step_feed(
    manifest: Manifest, batch: int, length: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Random token ids and a random (non-zero) state, so the state path is exercised."""
    spec = manifest.text
    if spec is None:
        raise ValueError("not a text manifest")
    state_t = next(t for t in manifest.sampler.inputs if t.name == spec.state)
    tokens = rng.integers(0, len(spec.vocab), (batch, length), dtype=np.int64)
    state = (0.5 * rng.standard_normal(input_shape(state_t, batch))).astype(np.float32)
    return {spec.tokens: tokens, spec.state: state}


def check_step_parity(
    reference: Backend,
    candidate: Backend,
    manifest: Manifest,
    *,
    batch_sizes: tuple[int, ...] = BATCH_SIZES,
    lengths: tuple[int, ...] = LENGTHS,
    atol: float | None = None,
    rtol: float | None = None,
    seed: int = 0,
) -> ParityReport:
    """Compare both backends' logits and new state at every (batch, length) pair."""
    d_atol, d_rtol = DEFAULT_TOLERANCES[manifest.precision]
    atol = d_atol if atol is None else atol
    rtol = d_rtol if rtol is None else rtol
    share = DEFAULT_WITHIN_SHARE[manifest.precision]
    report = ParityReport(reference.name, candidate.name, atol, rtol, within_share=share)
    rng = np.random.default_rng(seed)
    names = [t.name for t in manifest.sampler.outputs]
    for batch in batch_sizes:
        for length in lengths:
            feed = step_feed(manifest, batch, length, rng)
            ref = dict(zip(names, reference.run(feed), strict=True))
            out = dict(zip(names, candidate.run(feed), strict=True))
            report.cases.append(
                CaseResult("sampler", batch, length, compare_outputs(ref, out, atol, rtol, share))
            )
    return report


def check_decode_parity(
    reference: Backend,
    candidate: Backend,
    manifest: Manifest,
    *,
    prompt: str | None = None,
    ns: tuple[int, ...] = DECODE_N,
    length: int = DECODE_LENGTH,
    settings: tuple[Mapping[str, Any], ...] = DECODE_SETTINGS,
) -> dict[str, Any]:
    """Decode with both backends and compare the texts token for token.

    Returns:
        ``{"passed": bool, "cases": [{"n", "settings", "same", "first_difference"}]}``;
        ``first_difference`` is ``(sequence, character index)`` or ``None``.
    """
    ref = TextSampler.from_backend(manifest, reference)
    cand = TextSampler.from_backend(manifest, candidate)
    if prompt is None:
        prompt = ref.vocab[len(ref.vocab) // 2]
    cases = []
    for n in ns:
        for s in settings:
            a = ref.generate(prompt, n=n, length=length, **s)
            b = cand.generate(prompt, n=n, length=length, **s)
            cases.append(
                {"n": n, "settings": dict(s), "same": a == b, "first_difference": _first(a, b)}
            )
    return {"passed": all(c["same"] for c in cases), "length": length, "cases": cases}


def _first(a: list[str], b: list[str]) -> tuple[int, int] | None:
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if x != y:
            k = next(
                (j for j, (p, q) in enumerate(zip(x, y, strict=False)) if p != q),
                min(len(x), len(y)),
            )
            return i, k
    return None


def decode_case(decode: dict[str, Any]) -> CaseResult:
    """The decode check as one more case of a :class:`ParityReport`: output ``tokens``, whose
    error statistics are the share of decode cases whose texts differ (0 when all match)."""
    cases = decode["cases"]
    wrong = sum(not c["same"] for c in cases) / max(1, len(cases))
    n = max((c["n"] for c in cases), default=0)
    shape = (n, int(decode["length"]))
    result = OutputComparison(
        name="tokens",
        ref_shape=shape,
        shape=shape,
        max_abs=wrong,
        mean_abs=wrong,
        median_abs=wrong,
        p99_abs=wrong,
        max_rel=wrong,
        mean_rel=wrong,
        ref_nonfinite=0,
        nonfinite=0,
        required_atol=wrong,
        required_rtol=wrong,
        passed=bool(decode["passed"]),
    )
    return CaseResult("decode", n, int(decode["length"]), (result,))

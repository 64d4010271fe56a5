"""The quality gate of reduced-precision exports: fp16/int8 must sample as well as fp32.

Parity bounds the per-element error; it cannot say whether that error matters. The gate
measures it where it matters, in :func:`genedge.eval.evaluate.evaluate`'s headline figure for
the model: the fp32 PyTorch model and the reduced artifact are evaluated with the same seed (the
same latents, the same real halves, the same metric networks), so the two figures differ only by
the precision, and the artifact must come within :data:`QUALITY_TOLERANCE` of fp32's figure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from genedge.runtime.errors import GenedgeError

if TYPE_CHECKING:
    from genedge.eval.evaluate import EvalReport

#: How much worse than fp32 the reduced artifact's headline figure may be (relative).
QUALITY_TOLERANCE = 0.10
#: Whether an fp16/int8 export runs the gate unless told otherwise (``export_run``'s
#: ``quality_check``, ``genedge export --quality-check``).
QUALITY_CHECK_DEFAULT = True
#: The headline metric of each kind of report, most specific first: the VAE's likelihood, the
#: toys' high-quality share, the Fréchet distance, the sequences' discriminative score.
HEADLINES = ("iwae_nll", "high_quality", "fd", "discriminative")


class QualityError(GenedgeError):
    """The reduced-precision artifact samples measurably worse than the fp32 model."""

    def __init__(self, message: str, check: QualityCheck) -> None:
        super().__init__(message)
        self.check = check


@dataclass(frozen=True)
class QualityCheck:
    """fp32 vs reduced precision on one headline metric of ``genedge eval``."""

    metric: str
    better: str
    fp32: float
    candidate: float
    precision: str
    data: str
    n: int
    tolerance: float = QUALITY_TOLERANCE

    @property
    def change(self) -> float:
        """Relative change, signed so that positive means worse."""
        delta = self.candidate - self.fp32
        worse = delta if self.better == "lower" else -delta
        return worse / max(abs(self.fp32), 1e-12)

    @property
    def passed(self) -> bool:
        return self.change <= self.tolerance

    def summary(self) -> dict[str, object]:
        return {**asdict(self), "change": self.change, "passed": self.passed}

    def describe(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        return (
            f"quality {verdict}: {self.metric} {self.candidate:.4g} ({self.precision}) vs "
            f"{self.fp32:.4g} (fp32), {abs(100 * self.change):.1f}% "
            f"{'worse' if self.change > 0 else 'better'} "
            f"(limit {100 * self.tolerance:.0f}%), {self.n} samples of {self.data}"
        )


def check_quality(
    run_dir: str | Path,
    artifact: str | Path,
    data: str,
    precision: str,
    n: int = 1000,
    seed: int = 0,
) -> QualityCheck:
    """Evaluate the run's fp32 PyTorch model and ``artifact`` alike; compare the headline.

    Args:
        run_dir: The trained run the artifact was exported from.
        artifact: The reduced-precision ``.onnx`` (its companions beside it).
        data: The data set to evaluate against (normally the run's training data).
        precision: The artifact's precision, for the record.
        n: Samples per set.
        seed: Seeds both evaluations identically.
    """
    from genedge.eval.evaluate import evaluate

    reference = evaluate(run_dir, data, n=n, seed=seed)
    candidate = evaluate(artifact, data, n=n, seed=seed, backend="cpu")
    return _compare(reference, candidate, precision, data)


def check_runtime_precision(
    artifact: str | Path,
    data: str,
    precision: str = "bf16",
    backend: str = "openvino",
    n: int = 1000,
    seed: int = 0,
    threads: int | None = None,
) -> QualityCheck:
    """The gate for a precision the runtime chooses (OpenVINO's bf16): the same fp32 artifact
    evaluated on onnxruntime in fp32 and on ``backend`` at ``precision``, with the same seed.

    Example:
        >>> check_runtime_precision("dcgan.onnx", "mnist").passed
        True
    """
    from genedge.eval.evaluate import evaluate

    reference = evaluate(artifact, data, n=n, seed=seed, backend="cpu", threads=threads)
    candidate = evaluate(
        artifact,
        data,
        n=n,
        seed=seed,
        backend=backend,
        threads=threads,
        backend_options={"precision": precision},
    )
    return _compare(reference, candidate, f"{precision} ({backend} runtime)", data)


def _compare(
    reference: EvalReport, candidate: EvalReport, precision: str, data: str
) -> QualityCheck:
    """The headline metric of two reports of the same evaluation, as a :class:`QualityCheck`."""
    keys = {m.key for m in reference.metrics}
    metric = next((k for k in HEADLINES if k in keys), None)
    if metric is None:  # every report has one of them; guard against a new kind
        raise GenedgeError(f"no headline metric among {sorted(keys)} for the quality check")
    ref = reference.metric(metric)
    return QualityCheck(
        metric=metric,
        better=ref.better,
        fp32=ref.value,
        candidate=candidate.metric(metric).value,
        precision=precision,
        data=data,
        n=reference.n,
    )

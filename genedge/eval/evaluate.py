"""Offline sample-quality evaluation: each metric beside its real-vs-real floor.

:func:`evaluate` draws ``n`` samples from an artifact or run folder and compares them with real
data. The real data is shuffled (seeded) and split into two disjoint halves, A and B, of the
same size as the sample: generated samples are compared with A, and the floor is the same metric
between A and B - what a perfect model would score at this sample size. Which metrics run
depends on the model's manifest (family, output kind, classes) and the data's kind:

* images: Fréchet distance, precision/recall (k=3), density/coverage (k=5) and a predicted-class
  histogram, in the features of a classifier trained (and cached) on the real images outside B;
  conditional models add label accuracy and the classification accuracy score (CAS); images
  without labels get the Fréchet distance and k-NN metrics in the top principal components of
  their pixels, and :attr:`EvalReport.unavailable` names the metrics that needed labels, with
  the reason (a conditional model is then sampled with balanced labels, not refused);
* Bernoulli VAEs on images: negative ELBO and the IWAE bound on the NLL of binarised data B;
* 2-D toys with known modes: modes captured, high-quality share, KL to uniform;
* points: Fréchet distance and the k-NN metrics on the raw coordinates;
* sequences: TimeGAN's discriminative and predictive scores.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from genedge.eval import evalnets
from genedge.eval.diversity import MIN_PER_CLASS, class_recall, class_spread
from genedge.eval.likelihood import PROB_EPS, bernoulli_logp, binarise, vae_likelihood
from genedge.eval.metrics import class_histogram, frechet_distance, manifold_metrics, mode_metrics
from genedge.runtime.batching import check_count
from genedge.runtime.errors import DataError
from genedge.runtime.manifest import Manifest
from genedge.runtime.vae import VAESampler
from genedge.source import open_source
from genedge.train.data import Dataset, load_dataset
from genedge.train.threads import torch_scope

#: Built-in sets generated on demand: :func:`load_dataset` is asked for both halves' worth.
_GENERATED = ("ring8", "grid25", "sines")
#: Importance samples per data point of the IWAE bound.
IWAE_SAMPLES = 64
#: Features kept of raw pixels when an image set has no labels to train a classifier on.
_PCA_DIM = 64


@dataclass(frozen=True)
class Metric:
    """One metric of the generated samples, beside its floor.

    Attributes:
        key: Machine name, e.g. ``"fd"``.
        label: What the table shows, e.g. ``"Fréchet distance (classifier features)"``.
        value: The metric of the generated samples.
        floor: The same metric of real data B (real vs real), or a baseline where noted.
        ratio: ``value / floor`` where that is meaningful, else ``None``.
        better: ``"lower"``, ``"higher"``, or ``"closer"`` (to the floor: real data's figure).
        note: What the floor is when it is not real vs real, or other caveats.
    """

    key: str
    label: str
    value: float
    floor: float | None
    ratio: float | None
    better: str
    note: str = ""


@dataclass(frozen=True)
class Unavailable:
    """A metric this evaluation could not compute, and why.

    Attributes:
        key: The metric's machine name, as :class:`Metric` would have it.
        label: What the table would show.
        reason: Why it is missing and, where the user can act, how to get it.
    """

    key: str
    label: str
    reason: str


@dataclass(frozen=True)
class EvalReport:
    """The result of :func:`evaluate`; ``to_dict`` gives its JSON form.

    ``unavailable`` lists the metrics the model and data would call for but cannot give (e.g.
    class metrics on data without labels), each with its reason.
    """

    source: str
    data: str
    family: str
    output_kind: str
    n: int
    seed: int
    metrics: tuple[Metric, ...]
    notes: tuple[str, ...] = field(default=())
    unavailable: tuple[Unavailable, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        # JSON has no Infinity/NaN: write them as null.
        for m in d["metrics"]:
            for k in ("value", "floor", "ratio"):
                if isinstance(m[k], float) and not math.isfinite(m[k]):
                    m[k] = None
        return d

    def metric(self, key: str) -> Metric:
        """The metric called ``key``.

        Raises:
            KeyError: This report has no such metric.
        """
        for m in self.metrics:
            if m.key == key:
                return m
        raise KeyError(key)


def evaluate(
    source: str | Path,
    data: str,
    n: int = 2000,
    seed: int = 0,
    *,
    backend: str = "auto",
    threads: int | None = None,
    backend_options: Mapping[str, object] | None = None,
) -> EvalReport:
    """Sample a model and measure its samples against real data, each metric beside its floor.

    Args:
        source: An ``.onnx`` artifact (run by the torch-free runtime) or a run folder (its
            PyTorch modules).
        data: A built-in data set or a path, as for ``genedge train --data``.
        n: Samples per set. Capped at half the real data so halves A and B stay disjoint.
        seed: Seeds the sample noise, the split of the real data and the metric networks.
        backend: Runtime backend for an artifact.
        threads: CPU threads for torch and onnxruntime (``None``: their defaults).
        backend_options: The runtime backend's options, e.g. ``{"precision": "bf16"}`` with
            ``backend="openvino"``: what a runtime precision does to sample quality.

    Returns:
        The :class:`EvalReport`.

    Raises:
        DataError: The data is unknown or unreadable, or does not fit the model (shape, classes).
        ArtifactError: The artifact or run folder cannot be loaded.
    """
    n = check_count(n)
    with torch_scope(threads):
        return _evaluate(source, data, n, seed, backend, threads, backend_options)


def _evaluate(
    source: str | Path,
    data: str,
    n: int,
    seed: int,
    backend: str,
    threads: int | None,
    backend_options: Mapping[str, object] | None = None,
) -> EvalReport:
    sampler = open_source(source, backend, threads, backend_options)
    mf = sampler.manifest
    # Audio data is read at the model's rate and clip length.
    rate, seconds = (mf.audio.sample_rate, mf.audio.seconds) if mf.audio else (None, None)
    generated = 2 * n if data in _GENERATED else None
    ds = load_dataset(data, seed=seed, n=generated, sample_rate=rate, clip_seconds=seconds)
    length = _check_fit(mf, ds)
    m = min(n, len(ds) // 2)
    if m <= 5:  # density/coverage need more than k=5 points per half
        raise DataError(f"{data} has {len(ds)} samples; evaluation needs at least 12")
    order = np.random.default_rng(seed).permutation(len(ds))
    a_idx, b_idx = order[:m], order[m : 2 * m]
    real_a, real_b = ds.x[a_idx], ds.x[b_idx]
    labels = ds.y[a_idx] if mf.num_classes and ds.y is not None else None
    fake, labels = sampler.sample_labelled(m, seed=seed, labels=labels, length=length)

    notes = [f"{m} samples per set; floor = the same metric between two disjoint real halves"]
    missing: list[Unavailable] = []
    if m < n:
        notes.append(f"n capped at {m}: half of the {len(ds)} real samples")
    if not np.isfinite(fake).all():
        raise DataError("the model produced NaN/Inf samples; metrics are undefined")
    metrics: list[Metric] = []
    if ds.kind == "image":
        metrics += _image_metrics(ds, real_a, real_b, fake, labels, a_idx, b_idx, notes)
        if ds.y is None:
            missing += _unlabelled(ds, conditional=labels is not None)
        if isinstance(sampler, VAESampler):
            metrics += _vae_metrics(sampler, ds, real_a, real_b, seed, notes)
    elif ds.kind == "audio" and mf.audio is not None:
        from genedge.eval.audio_eval import audio_metrics

        rows, absent = audio_metrics(ds, mf.audio, fake, labels, a_idx, b_idx, notes)
        metrics += rows
        missing += absent
    elif ds.kind == "points":
        metrics += _feature_metrics(real_a, real_b, fake, "raw coordinates")
        if ds.modes is not None:
            metrics += _mode_rows(ds, ds.modes, real_b, fake)
    else:
        metrics += _sequence_metrics(real_a, real_b, fake, seed)
    return EvalReport(
        source=str(source),
        data=ds.name,
        family=mf.family,
        output_kind=mf.output_kind,
        n=m,
        seed=seed,
        metrics=tuple(metrics),
        notes=tuple(notes),
        unavailable=tuple(missing),
    )


def _check_fit(mf: Manifest, ds: Dataset) -> int | None:
    """The sequence length to sample (``None`` if not a sequence), once the model fits the data.

    Raises:
        DataError: Sample shapes or classes differ.
    """
    model_shape = tuple(mf.sample_shape)
    length = ds.sample_shape[0] if "length" in model_shape and ds.kind == "sequence" else None
    resolved = tuple(length if d == "length" else d for d in model_shape)
    if resolved != ds.sample_shape:
        raise DataError(
            f"the model makes {mf.output_kind} samples shaped {_shape(model_shape)} but "
            f"{ds.name} holds {ds.kind} samples shaped {_shape(ds.sample_shape)}; "
            "evaluate against the data the model was trained on"
        )
    # Unlabelled data still evaluates a conditional model (balanced labels); what needs the
    # data's labels is listed as unavailable.
    if mf.num_classes and ds.num_classes and mf.num_classes != ds.num_classes:
        raise DataError(
            f"the model is conditional on {mf.num_classes} classes but {ds.name} has "
            f"{ds.num_classes or 'no'} labelled classes"
        )
    return length


def _shape(shape: tuple[object, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + (",)" if len(shape) == 1 else ")")


def _row(
    key: str,
    label: str,
    value: float,
    floor: float | None,
    better: str,
    ratio: bool = True,
    note: str = "",
) -> Metric:
    """A :class:`Metric`; ``ratio`` says whether ``value / floor`` means anything here."""
    r = value / floor if ratio and floor is not None and abs(floor) > 1e-12 else None
    return Metric(key, label, float(value), floor, r, better, note)


# --- images ----------------------------------------------------------------------------------


def _image_metrics(
    ds: Dataset,
    real_a: np.ndarray,
    real_b: np.ndarray,
    fake: np.ndarray,
    labels: np.ndarray | None,
    a_idx: np.ndarray,
    b_idx: np.ndarray,
    notes: list[str],
) -> list[Metric]:
    """Classifier-feature metrics (pixel PCA without labels); ``labels``: a conditional
    model's requested classes, which add label accuracy and CAS."""
    y = ds.y
    if y is None:
        notes.append(
            f"{ds.name} has no labels: features are the first {_PCA_DIM} principal components "
            "of the pixels of real half A (label a folder with one subfolder per class for "
            "classifier features)"
        )
        project = _pca(real_a, _PCA_DIM)
        return _feature_metrics(project(real_a), project(real_b), project(fake), "pixel PCA")
    # Real half B stays out of the classifier's training: like the generated images, the
    # floor's images are then unseen, and the label-accuracy floor is a held-out accuracy.
    seen = np.setdiff1d(np.arange(len(ds)), b_idx)
    clf = evalnets.cached_classifier(ds.name, ds.x[seen], y[seen], ds.num_classes, ds.value_range)
    notes.append(
        f"features: penultimate layer of a CNN trained on the {len(seen)} real images outside "
        f"half B; it reads half B at {clf.accuracy(real_b, y[b_idx]):.3f} accuracy (cached as "
        f"{clf.info.get('key', '?')})"
    )
    feat_a, feat_b, feat_fake = clf.features(real_a), clf.features(real_b), clf.features(fake)
    rows = _feature_metrics(feat_a, feat_b, feat_fake, "classifier features")
    mix = np.bincount(y, minlength=ds.num_classes) / len(y)
    pred_fake, pred_b = clf.predict(fake), clf.predict(real_b)
    got, floor = class_histogram(pred_fake, mix), class_histogram(pred_b, mix)
    rows.append(
        _row(
            "classes_covered",
            f"classes covered (of {got.classes_total})",
            got.classes_covered,
            floor.classes_covered,
            "higher",
        )
    )
    rows.append(
        _row(
            "class_kl", "KL(predicted classes || data)", got.kl_to_data, floor.kl_to_data,
            "lower", ratio=False,
        )
    )  # fmt: skip
    if labels is not None:
        rows.append(
            _row(
                "label_accuracy",
                "label accuracy",
                float((pred_fake == labels).mean()),
                float((pred_b == y[b_idx]).mean()),
                "higher",
                note="floor: the classifier's accuracy on real B, which it never saw",
            )
        )
        cas = evalnets.fit_classifier(fake, labels, ds.num_classes, ds.value_range)
        real = evalnets.fit_classifier(real_a, y[a_idx], ds.num_classes, ds.value_range)
        rows.append(
            _row(
                "cas",
                "classification accuracy score",
                cas.accuracy(real_b, y[b_idx]),
                real.accuracy(real_b, y[b_idx]),
                "higher",
                note="trained on generated / real A, tested on real B",
            )
        )
        rows += _within_class_rows(feat_a, y[a_idx], feat_b, y[b_idx], feat_fake, labels, ds)
    return rows


def _within_class_rows(
    feat_a: np.ndarray,
    y_a: np.ndarray,
    feat_b: np.ndarray,
    y_b: np.ndarray,
    feat_fake: np.ndarray,
    labels: np.ndarray,
    ds: Dataset,
) -> list[Metric]:
    """A conditional model's variety inside each class, beside real B's (classifier features)."""
    k = ds.num_classes
    note = f"mean over classes with {MIN_PER_CLASS}+ samples; floor: real B"
    return [
        _row(
            "class_recall",
            "within-class recall (k=3)",
            class_recall(feat_a, y_a, feat_fake, labels, k),
            class_recall(feat_a, y_a, feat_b, y_b, k),
            "higher",
            note=note,
        ),
        _row(
            "class_spread",
            "within-class spread",
            class_spread(feat_fake, labels, k),
            class_spread(feat_b, y_b, k),
            "closer",
            note=f"{note}; mean distance to the class centroid",
        ),
    ]


def _unlabelled(ds: Dataset, conditional: bool) -> list[Unavailable]:
    """The image metrics that need the data's labels, for data that has none."""
    why = (
        f"{ds.name} has no labels, so no classifier can be trained on it (give images one "
        "subfolder per class, or save an .npz with x and y)"
    )
    rows = [
        Unavailable("classes_covered", "classes covered", why),
        Unavailable("class_kl", "KL(predicted classes || data)", why),
    ]
    if conditional:
        why_cond = f"{why}; the model's classes have nothing to be checked against"
        rows += [
            Unavailable("label_accuracy", "label accuracy", why_cond),
            Unavailable("cas", "classification accuracy score", why_cond),
        ]
    return rows


def _pca(x: np.ndarray, dim: int) -> Callable[[np.ndarray], np.ndarray]:
    """A projection onto the top ``dim`` principal components of ``x`` (flattened)."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    mean = flat.mean(0)
    _, _, vt = np.linalg.svd(flat - mean, full_matrices=False)
    basis = vt[:dim].T

    def project(v: np.ndarray) -> np.ndarray:
        projected: np.ndarray = (v.reshape(len(v), -1) - mean) @ basis
        return projected

    return project


def _feature_metrics(
    feat_a: np.ndarray, feat_b: np.ndarray, feat_fake: np.ndarray, space: str
) -> list[Metric]:
    """Fréchet distance and k-NN manifold metrics against real A, floors from real B."""
    got, floor = manifold_metrics(feat_a, feat_fake), manifold_metrics(feat_a, feat_b)
    return [
        _row(
            "fd",
            f"Fréchet distance ({space})",
            frechet_distance(feat_a, feat_fake),
            frechet_distance(feat_a, feat_b),
            "lower",
        ),
        _row("precision", "precision (k=3)", got.precision, floor.precision, "higher"),
        _row("recall", "recall (k=3)", got.recall, floor.recall, "higher"),
        _row("density", "density (k=5)", got.density, floor.density, "higher"),
        _row("coverage", "coverage (k=5)", got.coverage, floor.coverage, "higher"),
    ]


# --- VAE likelihood --------------------------------------------------------------------------


def _vae_metrics(
    vae: VAESampler,
    ds: Dataset,
    real_a: np.ndarray,
    real_b: np.ndarray,
    seed: int,
    notes: list[str],
) -> list[Metric]:
    # Artifacts of 1.0-1.2 without a recorded likelihood were all Bernoulli VAEs.
    likelihood = vae.manifest.likelihood or "bernoulli"
    if likelihood != "bernoulli":
        notes.append(f"no likelihood metrics: the VAE's likelihood is {likelihood}")
        return []
    lo, hi = ds.value_range
    bin_a, bin_b = binarise(real_a, lo, hi), binarise(real_b, lo, hi)
    notes.append(
        f"likelihoods on real B binarised at half the value range ({(lo + hi) / 2:g}), in nats "
        "per image; floor: independent pixels with real A's binarised pixel frequencies"
    )
    neg_elbo, nll = vae_likelihood(vae, bin_b, lo + bin_b * (hi - lo), IWAE_SAMPLES, seed)
    p = np.clip(bin_a.mean(0), PROB_EPS, 1 - PROB_EPS)
    baseline = float(-bernoulli_logp(bin_b, p[None]).mean())
    note = "floor: independent-pixel baseline, not real vs real"
    return [
        _row("neg_elbo", "negative ELBO (nats)", neg_elbo, baseline, "lower", note=note),
        _row("iwae_nll", f"IWAE NLL bound, k={IWAE_SAMPLES} (nats)", nll, baseline, "lower",
             note=note),
    ]  # fmt: skip


# --- toys and sequences ----------------------------------------------------------------------


def _mode_rows(
    ds: Dataset, modes: np.ndarray, real_b: np.ndarray, fake: np.ndarray
) -> list[Metric]:
    got = mode_metrics(fake, modes, ds.mode_std)
    floor = mode_metrics(real_b, modes, ds.mode_std)
    return [
        _row(
            "modes_captured",
            f"modes captured (of {got.modes_total})",
            got.modes_captured,
            floor.modes_captured,
            "higher",
        ),
        _row("high_quality", "high-quality share (3 std)", got.high_quality, floor.high_quality,
             "higher"),
        _row("mode_kl", "KL(modes || uniform)", got.kl_to_uniform, floor.kl_to_uniform, "lower",
             ratio=False),
    ]  # fmt: skip


def _sequence_metrics(
    real_a: np.ndarray, real_b: np.ndarray, fake: np.ndarray, seed: int
) -> list[Metric]:
    disc = evalnets.discriminative_score(real_a, fake, seed)
    disc_floor = evalnets.discriminative_score(real_a, real_b, seed)
    pred = evalnets.predictive_score(fake, real_b, seed)
    pred_floor = evalnets.predictive_score(real_a, real_b, seed)
    return [
        _row("discriminative", "discriminative score |acc - 0.5|", disc, disc_floor, "lower",
             ratio=False, note="GRU real A vs generated (floor: vs real B), 80/20 split"),
        _row("predictive", "predictive score (MAE)", pred, pred_floor, "lower",
             note="GRU trained on generated (floor: real A), tested on real B"),
    ]  # fmt: skip

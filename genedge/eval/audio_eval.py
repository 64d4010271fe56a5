"""Audio models measured as heard: generated spectrograms become clips (the runtime's
Griffin-Lim, as ``genedge sample`` writes them) and are read again as spectrograms, then judged
by a small classifier trained on real clips (held out as for images).

Metrics, each beside real data's figure: Fréchet distance in the classifier's features (floor:
two disjoint real halves), an Inception-style score ``exp(E KL(p(y|x) || p(y)))`` (Salimans et
al. 2016, with this classifier in Inception's place; real data's score beside it), classes
covered, and label accuracy for conditional models.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from genedge.eval.evalnets import cache_dir
from genedge.eval.metrics import class_histogram, frechet_distance
from genedge.runtime.atomic import write_bytes_atomic
from genedge.runtime.audio_spec import AudioSpec
from genedge.train.data import Dataset
from genedge.train.threads import torch_scope

if TYPE_CHECKING:  # evaluate.py imports this module
    from genedge.eval.evaluate import Metric, Unavailable

#: Bump when the classifier or its training changes: cached ones are then retrained.
AUDIO_CLASSIFIER_VERSION = 1
FEATURE_DIM = 128
_BATCH = 64
#: Passes over the clips, within these step bounds.
_EPOCHS, _MIN_STEPS, _MAX_STEPS = 60, 200, 600
#: Training shifts each batch in time by up to this share of the frames.
_SHIFT = 0.1


class AudioClassifier(nn.Module):
    """Spectrograms ``(N, 1, bins, frames)`` in ``[0, 1]`` -> 2x2 average pool -> three conv +
    max-pool stages (16, 32, 64 channels) -> adaptive average pool to 4 x 3 -> ``FEATURE_DIM``
    -> classes."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.AvgPool2d(2)]
        c = 1
        for width in (16, 32, 64):
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            c = width
        layers += [
            nn.AdaptiveAvgPool2d((4, 3)),
            nn.Flatten(1),
            nn.Dropout(0.3),
            nn.Linear(c * 12, FEATURE_DIM),
            nn.ReLU(),
        ]
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURE_DIM, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.body(x))
        return logits


@dataclass
class FittedAudioClassifier:
    """A trained :class:`AudioClassifier` taking spectrograms in data units."""

    net: AudioClassifier
    value_range: tuple[float, float]
    info: dict[str, object]

    @torch.inference_mode()
    def _run(self, x: np.ndarray, body: bool) -> np.ndarray:
        lo, hi = self.value_range
        t = torch.from_numpy(((np.asarray(x, np.float32) - lo) / (hi - lo)).astype(np.float32))
        fn = self.net.body if body else self.net
        return torch.cat([fn(t[s : s + 512]) for s in range(0, len(t), 512)]).numpy()

    def features(self, x: np.ndarray) -> np.ndarray:
        """Penultimate-layer features ``(N, FEATURE_DIM)``."""
        return self._run(x, body=True)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities ``(N, K)``."""
        logits = torch.from_numpy(self._run(x, body=False))
        out: np.ndarray = torch.softmax(logits, 1).numpy()
        return out

    def predict(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = self._run(x, body=False).argmax(1)
        return out


def fit_audio_classifier(
    x: np.ndarray, y: np.ndarray, num_classes: int, value_range: tuple[float, float], seed: int = 0
) -> FittedAudioClassifier:
    """Train an :class:`AudioClassifier` (Adam, one-cycle rate, about 60 epochs within 200 to
    600 batches of 64, each shifted in time by a random offset)."""
    lo, hi = value_range
    steps = int(np.clip(_EPOCHS * len(x) // _BATCH, _MIN_STEPS, _MAX_STEPS))
    data = torch.from_numpy(((x - lo) / (hi - lo)).astype(np.float32))
    target = torch.from_numpy(np.asarray(y, np.int64))
    with torch_scope(seed=seed):
        net = AudioClassifier(num_classes)
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(net.parameters(), lr=2e-3)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps)
        reach = max(1, int(_SHIFT * x.shape[-1]))
        net.train()
        for _ in range(steps):
            idx = torch.randint(0, len(data), (min(_BATCH, len(data)),), generator=gen)
            shift = int(torch.randint(-reach, reach + 1, (1,), generator=gen))
            batch = torch.roll(data[idx], shift, dims=3)
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(batch), target[idx]).backward()  # type: ignore[no-untyped-call]
            opt.step()
            sched.step()
        net.eval()
    info: dict[str, object] = {
        "version": AUDIO_CLASSIFIER_VERSION,
        "num_classes": num_classes,
        "steps": steps,
    }
    return FittedAudioClassifier(net, value_range, info)


def cached_audio_classifier(
    name: str, x: np.ndarray, y: np.ndarray, num_classes: int, value_range: tuple[float, float]
) -> FittedAudioClassifier:
    """The classifier of these spectrograms: from the cache (keyed by a hash of the data), or
    trained and cached there (``genedge.eval.evalnets.cache_dir``)."""
    h = hashlib.sha256(f"audio-v{AUDIO_CLASSIFIER_VERSION}:{x.shape}:{value_range}".encode())
    h.update(np.ascontiguousarray(x, np.float32).tobytes())
    h.update(np.ascontiguousarray(y, np.int64).tobytes())
    key = "audio-" + h.hexdigest()[:32]
    weights = cache_dir() / f"{key}.safetensors"
    sidecar = weights.with_suffix(".json")
    try:
        info = json.loads(sidecar.read_text())
        if info.get("version") == AUDIO_CLASSIFIER_VERSION:
            with torch_scope(seed=0):
                net = AudioClassifier(num_classes)
            net.load_state_dict(load_safetensors(weights.read_bytes()))
            return FittedAudioClassifier(net.eval(), value_range, info)
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError):
        pass  # missing or corrupt: train afresh
    clf = fit_audio_classifier(x, y, num_classes, value_range)
    clf.info.update(key=key, data=name, samples=len(x))
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in clf.net.state_dict().items()}
    write_bytes_atomic(weights, save_safetensors(state))
    write_bytes_atomic(sidecar, json.dumps(clf.info, indent=1).encode())
    return clf


def inception_score(probs: np.ndarray) -> float:
    """``exp(mean_x KL(p(y|x) || p(y)))`` of class probabilities ``(N, K)``: from 1 (every
    clip the same, or every clip unsure) to K (each clip sure, classes balanced)."""
    p = np.clip(probs.astype(np.float64), 1e-12, 1.0)
    marginal = p.mean(0, keepdims=True)
    return float(np.exp((p * (np.log(p) - np.log(marginal))).sum(1).mean()))


def as_heard(spectrograms: np.ndarray, spec: AudioSpec, chunk: int = 256) -> np.ndarray:
    """Spectrograms as a listener gets them: to clips (Griffin-Lim) and back."""
    out = np.empty_like(spectrograms, dtype=np.float32)
    for s in range(0, len(spectrograms), chunk):
        out[s : s + chunk] = spec.spectrograms(spec.clips(spectrograms[s : s + chunk]))
    return out


@dataclass(frozen=True)
class AudioScores:
    """What :func:`audio_scores` measures; ``*_floor`` are real data's figures."""

    fd: float
    fd_floor: float
    inception: float
    inception_real: float
    classes_covered: int
    classes_covered_floor: int
    classes_total: int
    label_accuracy: float | None
    label_accuracy_floor: float | None
    held_out_accuracy: float
    classifier: str


def audio_scores(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    value_range: tuple[float, float],
    a_idx: np.ndarray,
    b_idx: np.ndarray,
    heard: np.ndarray,
    labels: np.ndarray | None,
) -> AudioScores:
    """Score generated spectrograms ``heard`` (already through :func:`as_heard`) against real
    halves A and B of labelled spectrograms ``x``; the classifier never sees half B."""
    seen = np.setdiff1d(np.arange(len(x)), b_idx)
    clf = cached_audio_classifier(name, x[seen], y[seen], num_classes, value_range)
    feat_a, feat_b, feat_g = clf.features(x[a_idx]), clf.features(x[b_idx]), clf.features(heard)
    prob_b, prob_g = clf.probabilities(x[b_idx]), clf.probabilities(heard)
    pred_b, pred_g = prob_b.argmax(1), prob_g.argmax(1)
    mix = np.bincount(y, minlength=num_classes) / len(y)
    got, floor = class_histogram(pred_g, mix), class_histogram(pred_b, mix)
    held_out = float((pred_b == y[b_idx]).mean())
    return AudioScores(
        fd=frechet_distance(feat_a, feat_g),
        fd_floor=frechet_distance(feat_a, feat_b),
        inception=inception_score(prob_g),
        inception_real=inception_score(prob_b),
        classes_covered=got.classes_covered,
        classes_covered_floor=floor.classes_covered,
        classes_total=got.classes_total,
        label_accuracy=None if labels is None else float((pred_g == labels).mean()),
        label_accuracy_floor=None if labels is None else held_out,
        held_out_accuracy=held_out,
        classifier=str(clf.info.get("key", "?")),
    )


def classifier_path(key: str) -> Path:
    """Where a cached audio classifier's weights are."""
    return cache_dir() / f"{key}.safetensors"


def audio_metrics(
    ds: Dataset,
    spec: AudioSpec,
    fake: np.ndarray,
    labels: np.ndarray | None,
    a_idx: np.ndarray,
    b_idx: np.ndarray,
    notes: list[str],
) -> tuple[list[Metric], list[Unavailable]]:
    """:func:`genedge.eval.evaluate`'s rows for audio data ``ds`` (a labelled
    :class:`~genedge.train.data.Dataset` of spectrograms) and generated spectrograms."""
    from genedge.eval.evaluate import Unavailable as Missing
    from genedge.eval.evaluate import _row

    x, y = ds.x, ds.y
    name, k, vrange = (
        ds.name,
        int(ds.num_classes),
        ds.value_range,
    )
    if y is None:
        why = f"{name} has no labels: put the clips in one subfolder per class"
        keys = ("fd", "inception", "classes_covered", "label_accuracy")
        return [], [Missing(key, key.replace("_", " "), why) for key in keys]
    heard = as_heard(fake, spec)
    s = audio_scores(name, x, y, k, vrange, a_idx, b_idx, heard, labels)
    notes.append(
        "generated spectrograms are judged as heard: turned into clips (Griffin-Lim, "
        f"{spec.griffin_lim_iterations} iterations) and read back; the classifier "
        f"({s.classifier}) was trained on the {len(x) - len(b_idx)} real clips outside half B "
        f"and reads half B at {s.held_out_accuracy:.3f} accuracy"
    )
    rows = [
        _row("fd", "Fréchet distance (audio classifier features)", s.fd, s.fd_floor, "lower"),
        _row("inception", "Inception-style score", s.inception, s.inception_real, "higher",
             note="floor: real half B's score"),
        _row("classes_covered", f"classes covered (of {s.classes_total})", s.classes_covered,
             s.classes_covered_floor, "higher"),
    ]  # fmt: skip
    if s.label_accuracy is not None:
        rows.append(
            _row("label_accuracy", "label accuracy", s.label_accuracy, s.label_accuracy_floor,
                 "higher", note="floor: the classifier's accuracy on real B, which it never saw")
        )  # fmt: skip
    return rows, []

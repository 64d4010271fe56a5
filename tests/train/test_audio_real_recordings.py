"""Real recordings, not only synthesized speech: a person (Allison Smith) speaking the digits,
from Debian's ``asterisk-core-sounds-en-wav`` (CC-BY-SA-3.0), read as audio data and judged by
the classifier ``genedge eval`` trains on the built-in spoken digits.

Slow (it trains or loads that classifier and needs the package): ``apt-get install
asterisk-core-sounds-en-wav``, or point ``GENEDGE_REAL_DIGITS`` at a folder holding its
``digits/0.wav`` ... ``digits/9.wav`` (e.g. from ``apt-get download`` and ``dpkg-deb -x``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from genedge.train.data import load_dataset

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("pinned_threads")]

INSTALLED = Path("/usr/share/asterisk/sounds/en_US_f_Allison")


def _digits_folder() -> Path | None:
    for base in (os.environ.get("GENEDGE_REAL_DIGITS"), str(INSTALLED)):
        if base and (Path(base) / "digits" / "7.wav").is_file():
            return Path(base) / "digits"
        if base and (Path(base) / "7.wav").is_file():
            return Path(base)
    return None


def test_a_person_speaking_digits_reads_as_audio_and_is_recognised(tmp_path: Path) -> None:
    src = _digits_folder()
    if src is None:
        pytest.skip("no real digit recordings: apt-get install asterisk-core-sounds-en-wav")
    for d in range(10):
        shutil.copy(src / f"{d}.wav", tmp_path / f"{d}_allison.wav")  # labels by prefix
    real = load_dataset(str(tmp_path), sample_rate=8000)
    assert real.kind == "audio" and real.x.shape == (10, 1, 128, 96)
    assert real.class_names == tuple(str(d) for d in range(10))
    # Speech in every clip, centred: the loudest frames sit in the middle half.
    loud = real.x[:, 0].max(axis=1).argmax(axis=1)
    assert ((loud > 12) & (loud < 84)).all(), loud

    from genedge.eval.audio_eval import cached_audio_classifier

    synth = load_dataset("spoken_digits")
    assert synth.y is not None and real.y is not None
    clf = cached_audio_classifier(
        synth.name, synth.x, synth.y, synth.num_classes, synth.value_range
    )
    right = int((clf.predict(real.x) == real.y).sum())
    print(f"classifier trained on espeak-ng digits reads {right}/10 of Allison's digits")
    assert right >= 3  # far above chance (1/10): synthetic digits carry over to a real voice
    assert np.isfinite(clf.features(real.x)).all()

"""The built-in spoken digits: a seeded espeak-ng recipe, cached by its hash, and one line
saying how to install espeak-ng where it is missing. Skipped without espeak-ng unless
GENEDGE_REQUIRE_AUDIO=1 (CI installs it)."""

from __future__ import annotations

import os
import shutil
import wave
from pathlib import Path

import pytest
from typer.testing import CliRunner

from genedge.runtime.errors import DataError, OutputError
from genedge.train.data import spoken_digits as sd

HAVE_ESPEAK = shutil.which("espeak-ng") is not None
needs_espeak = pytest.mark.skipif(
    not HAVE_ESPEAK and os.environ.get("GENEDGE_REQUIRE_AUDIO") != "1",
    reason="espeak-ng is not installed (apt-get install espeak-ng)",
)


def test_clip_settings_are_a_function_of_seed_and_index() -> None:
    a = [sd.clip_settings(sd.RECIPE, i) for i in range(30)]
    assert a == [sd.clip_settings(sd.RECIPE, i) for i in range(30)]
    assert [s["word"] for s in a[:12]] == [*range(10), 0, 1]
    assert len({(s["voice"], s["variant"], s["speed"]) for s in a}) > 20
    other = {**sd.RECIPE, "seed": 1}
    assert [sd.clip_settings(other, i) for i in range(5)] != a[:5]
    assert sd.recipe_key(sd.RECIPE, "v1") != sd.recipe_key(other, "v1")
    assert sd.recipe_key(sd.RECIPE, "v1") != sd.recipe_key(sd.RECIPE, "v2")


def test_missing_espeak_is_one_line_saying_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sd.shutil, "which", lambda name: None)
    with pytest.raises(DataError, match="apt-get install espeak-ng"):
        sd.make_spoken_digits(Path("unused"))
    from genedge.cli import app

    got = CliRunner().invoke(app, ["data", "spoken-digits", "--out", "unused"])
    assert got.exit_code != 0


@needs_espeak
def test_recipe_speaks_every_digit_into_a_wav_folder(tmp_path: Path) -> None:
    recipe = {**sd.RECIPE, "per_word": 1}
    folder = sd.make_spoken_digits(tmp_path / "sd", recipe)
    clips = sorted(folder.glob("*/*.wav"))
    assert [c.parent.name for c in clips] == [str(k) for k in range(10)]
    with wave.open(str(clips[7])) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1 and w.getnframes() > 1000
    first = [c.read_bytes() for c in clips]
    shutil.rmtree(folder)
    again = sd.make_spoken_digits(tmp_path / "sd", recipe)
    assert [c.read_bytes() for c in sorted(again.glob("*/*.wav"))] == first  # reproducible
    from genedge.train.data import load_dataset

    ds = load_dataset(str(folder), sample_rate=8000)
    assert ds.kind == "audio" and ds.x.shape == (10, 1, 128, 96) and ds.num_classes == 10
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("not a data set")
    with pytest.raises(OutputError, match="not an empty folder"):
        sd.make_spoken_digits(tmp_path / "mine", recipe)
    assert (tmp_path / "mine" / "keep.txt").is_file()

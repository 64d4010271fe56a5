"""The built-in ``spoken_digits`` set: "zero" to "nine" spoken by Debian's ``espeak-ng``
with seeded voices, variants, speeds, pitches, loudness and background noise, made offline on
first use and cached.

The recipe (:data:`RECIPE`) fixes everything that shapes the clips; its hash names the cache
folder (``~/.cache/genedge/spoken_digits-<hash>/``, or under ``$XDG_CACHE_HOME``), which holds
one 16-bit WAV per clip in a sub-folder per digit, so the cache is itself a WAV folder any tool
can read. A clip's settings depend only on its index and the recipe seed, so the set is the
same on every machine with the same espeak-ng (its version is part of the key).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from genedge.runtime.atomic import atomic_path, make_temp_folder
from genedge.runtime.audio_spec import spec_for_rate
from genedge.runtime.errors import DataError, OutputError
from genedge.train.data.audio import (
    AudioDataset,
    audio_dataset,
    check_audio_options,
    read_audio_folder,
    read_wav,
)

NAME = "spoken_digits"
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
#: espeak-ng's own English voices (no mbrola needed) and voice variants.
VOICES = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)
VARIANTS = (
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m6",
    "m7",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "klatt",
    "klatt3",
)
INSTALL_HINT = "apt-get install espeak-ng"

RECIPE: dict[str, Any] = {
    "version": 2,
    "seed": 20261203,
    "per_word": 150,
    "speed": [120, 230],
    "pitch": [15, 85],
    "gain_db": [-12.0, 0.0],
    "snr_db": [15.0, 45.0],
}


def espeak_version() -> str:
    """``espeak-ng --version``'s first line.

    Raises:
        DataError: espeak-ng is not installed (one line saying how to install it).
    """
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise DataError(
            f"the '{NAME}' set is spoken by espeak-ng, which is missing: {INSTALL_HINT}"
        )
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip().splitlines()[0] if out.stdout.strip() else "espeak-ng"


def cache_root() -> Path:
    """Where genedge caches generated data: ``$XDG_CACHE_HOME/genedge`` or ``~/.cache/genedge``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "genedge"


def recipe_key(recipe: dict[str, Any], version: str) -> str:
    """A short hash of the recipe and the espeak-ng version that speaks it."""
    blob = json.dumps({"recipe": recipe, "espeak": version}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def clip_settings(recipe: dict[str, Any], index: int) -> dict[str, Any]:
    """What clip ``index`` of the set is: word, voice, variant, speed, pitch, gain and noise
    (a function of the recipe seed and the index only)."""
    rng = np.random.default_rng([int(recipe["seed"]), index])
    word = index % len(WORDS)
    return {
        "word": word,
        "voice": VOICES[int(rng.integers(len(VOICES)))],
        "variant": VARIANTS[int(rng.integers(len(VARIANTS)))],
        "speed": int(rng.integers(recipe["speed"][0], recipe["speed"][1] + 1)),
        "pitch": int(rng.integers(recipe["pitch"][0], recipe["pitch"][1] + 1)),
        "gain_db": float(rng.uniform(*recipe["gain_db"])),
        "snr_db": float(rng.uniform(*recipe["snr_db"])),
        "noise_seed": int(rng.integers(2**31)),
    }


def make_spoken_digits(
    folder: Path | None = None, recipe: dict[str, Any] | None = None, workers: int = 2
) -> Path:
    """Speak the set into ``folder`` (default: the cache folder of the recipe); a complete
    folder is reused as it is.

    Returns:
        The folder: ``<digit>/<index>.wav`` per clip, ``recipe.json`` beside them.

    Raises:
        DataError: espeak-ng is missing or fails.
        OutputError: ``folder`` exists and is neither empty nor a made set.
    """
    recipe = dict(RECIPE if recipe is None else recipe)
    version = espeak_version()
    if folder is None:
        folder = cache_root() / f"{NAME}-{recipe_key(recipe, version)}"
    elif _foreign(folder):
        raise OutputError(f"{folder} exists and is not an empty folder")
    if (folder / "recipe.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_folder(folder)
    try:
        for w in range(len(WORDS)):
            (tmp / str(w)).mkdir()
        count = int(recipe["per_word"]) * len(WORDS)
        with ThreadPoolExecutor(max(1, workers)) as pool:
            list(pool.map(lambda i: _speak(tmp, recipe, i), range(count)))
        meta = {"recipe": recipe, "espeak": version, "clips": count, "licence": _LICENCE}
        (tmp / "recipe.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
        if (folder / "recipe.json").is_file():  # another process finished it first: keep that
            shutil.rmtree(tmp)
            return folder
        if folder.exists():
            shutil.rmtree(folder)  # an incomplete folder (no recipe.json)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _foreign(folder: Path) -> bool:
    """Whether ``folder`` holds something other than a made set (never to be replaced)."""
    if not folder.exists() or (folder / "recipe.json").is_file():
        return False
    return not folder.is_dir() or any(folder.iterdir())


_LICENCE = "generated by genedge with espeak-ng (GPL-3.0+); the clips carry no licence of their own"


def _speak(folder: Path, recipe: dict[str, Any], index: int) -> None:
    s = clip_settings(recipe, index)
    target = folder / str(s["word"]) / f"{index:05d}.wav"
    with tempfile.TemporaryDirectory(dir=folder) as work:
        raw = Path(work) / "raw.wav"
        cmd = [
            "espeak-ng",
            "-v",
            f"{s['voice']}+{s['variant']}",
            "-s",
            str(s["speed"]),
            "-p",
            str(s["pitch"]),
            "-w",
            str(raw),
            WORDS[s["word"]],
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not raw.is_file():
            raise DataError(f"espeak-ng failed on clip {index}: {done.stderr.strip()[:200]}")
        x, rate = read_wav(raw)
    x = _trimmed(x, rate)
    rng = np.random.default_rng(s["noise_seed"])
    x = x / max(float(np.abs(x).max()), 1e-9) * 10 ** (s["gain_db"] / 20)
    power = float((x**2).mean())
    x = x + rng.standard_normal(len(x)) * np.sqrt(power / 10 ** (s["snr_db"] / 10))
    pcm = np.rint(np.clip(x, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(target), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def _trimmed(x: np.ndarray, rate: int) -> np.ndarray:
    """espeak-ng's clip without its leading and trailing silence (10 ms frames quieter than
    -50 dB of the loudest), keeping 50 ms on each side."""
    hop = max(1, rate // 100)
    n = len(x) // hop
    if n == 0:
        return x
    energy = (x[: n * hop].reshape(n, hop) ** 2).mean(axis=1)
    loud = np.flatnonzero(energy >= energy.max() * 1e-5)
    pad = rate // 20
    lo, hi = max(0, int(loud[0]) * hop - pad), min(len(x), int(loud[-1] + 1) * hop + pad)
    return x[lo:hi]


def load_spoken_digits(
    seed: int = 0,
    n: int | None = None,
    *,
    sample_rate: int | None = None,
    clip_seconds: float | None = None,
) -> AudioDataset:
    """The ``spoken_digits`` set (made and cached on first use), labelled 0-9.

    The clips at a rate and length are cached beside the WAVs too (``clips-RATE-SAMPLES.npz``),
    so later loads skip reading and resampling.
    """
    rate, seconds = check_audio_options(sample_rate, clip_seconds)
    folder = make_spoken_digits()
    spec = spec_for_rate(rate, seconds)
    cached = folder / f"clips-{rate}-{spec.clip_samples}.npz"
    if cached.is_file():
        with np.load(cached) as z:
            clips, y = z["clips"], z["y"]
        names = tuple(str(k) for k in range(len(WORDS)))
        return audio_dataset(NAME, clips, y, names, spec, seed=seed, n=n)
    ds = read_audio_folder(folder, sample_rate=rate, clip_seconds=seconds, seed=0, name=NAME)
    assert ds.clips is not None and ds.y is not None
    with atomic_path(cached) as tmp, open(tmp, "wb") as f:
        np.savez(f, clips=ds.clips, y=ds.y)
    if n is None and seed == 0:
        return ds
    return load_spoken_digits(seed, n, sample_rate=rate, clip_seconds=seconds)

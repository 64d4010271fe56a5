"""Is a generated clip heard as the digit asked for? An independent check of the audio row
with a speech recogniser that never saw genedge's data: Debian's pocketsphinx (US English
acoustic model, 16 kHz) restricted to a grammar of the ten words "zero" .. "nine".

Three sets of clips, ``--per-class`` of each digit:

* ``real``: the built-in spoken digits as espeak-ng wrote them (the recogniser's own ceiling);
* ``real-8k``: the same clips in the model's form (resampled to its rate, centred, cut to its
  length) and back through its spectrogram and Griffin-Lim, as the runtime writes clips: what
  a perfect generator could reach;
* ``generated``: ``genedge sample MODEL --class d --seed S`` for each digit.

    apt-get install pocketsphinx pocketsphinx-en-us
    .venv/bin/python benchmarks/audio_heard.py audio.onnx [--per-class 10] [--seed 0]

Writes ``benchmarks/results/audio_heard.json`` and prints a table. A recogniser is a proxy for
a listener, not one: its errors on the real clips are the scale to read the others against.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from genedge.runtime import Sampler
from genedge.runtime.audio_dsp import resample
from genedge.runtime.audio_writers import audio_spec
from genedge.train.data.audio import fit_clip, read_wav
from genedge.train.data.spoken_digits import make_spoken_digits

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
RESULTS = Path(__file__).parent / "results"
#: The recogniser's rate; clips are resampled to it and padded with this much silence.
ASR_RATE, PAD_S = 16000, 0.2


def recognise(clips: np.ndarray, rate: int, work: Path) -> list[str]:
    """The grammar word pocketsphinx hears in each clip ``(N, samples)`` at ``rate``."""
    grammar = work / "digits.gram"
    grammar.write_text("#JSGF V1.0;\ngrammar d;\npublic <d> = " + " | ".join(WORDS) + ";\n")
    pad = np.zeros(int(PAD_S * ASR_RATE))
    heard = []
    for clip in clips:
        y = resample(np.asarray(clip, np.float64), rate, ASR_RATE)
        y = np.concatenate([pad, 0.8 * y / max(1e-9, float(np.abs(y).max())), pad])
        path = work / "clip.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(ASR_RATE)
            w.writeframes((y * 32767).astype("<i2").tobytes())
        out = subprocess.run(
            ["pocketsphinx_continuous", "-infile", str(path), "-jsgf", str(grammar),
             "-logfn", "/dev/null"],
            capture_output=True, text=True, check=False,
        ).stdout.split()  # fmt: skip
        heard.append(out[0] if out else "")
    return heard


def score(heard: list[str], digits: np.ndarray) -> dict[str, object]:
    """Share of clips heard as their digit, overall and per digit."""
    hits = np.array([h == WORDS[d] for h, d in zip(heard, digits, strict=True)])
    per = {WORDS[d]: float(hits[digits == d].mean()) for d in range(10)}
    return {"heard_as_asked": float(hits.mean()), "per_digit": per, "clips": len(hits)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", type=Path, help="an audio artifact trained on spoken_digits")
    p.add_argument("--per-class", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=RESULTS / "audio_heard.json")
    args = p.parse_args()
    if shutil.which("pocketsphinx_continuous") is None:
        raise SystemExit("needs pocketsphinx: apt-get install pocketsphinx pocketsphinx-en-us")
    sampler = Sampler(args.model, threads=1)
    spec = audio_spec(sampler.manifest)
    k = args.per_class
    digits = np.repeat(np.arange(10), k)
    folder = make_spoken_digits()
    files = [sorted((folder / str(d)).glob("*.wav"))[i] for d in range(10) for i in range(k)]
    raw = [read_wav(f) for f in files]
    rate = spec.sample_rate
    fitted = np.stack(
        [fit_clip(resample(np.asarray(x, np.float64), r, rate), spec.clip_samples, spec.hop)
         for x, r in raw]
    ).astype(np.float32)  # fmt: skip
    generated = np.concatenate(
        [spec.clips(sampler.sample(k, args.seed, labels=d)) for d in range(10)]
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows = {
            "real": score([recognise(x[None], r, work)[0] for x, r in raw], digits),
            "real-8k": score(
                recognise(spec.clips(spec.spectrograms(fitted)), spec.sample_rate, work), digits
            ),
            "generated": score(recognise(generated, spec.sample_rate, work), digits),
        }
    result = {"model": str(args.model), "seed": args.seed, "per_class": k,
              "sample_rate": spec.sample_rate, "rows": rows}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{'clips':10s} {'heard as asked':>15s}  per digit")
    for name, r in rows.items():
        per = " ".join(f"{w[:3]} {v:.1f}" for w, v in r["per_digit"].items())  # type: ignore[attr-defined]
        print(f"{name:10s} {r['heard_as_asked']:>15.2f}  {per}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

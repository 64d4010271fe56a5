"""The runtime's TextSampler: decoding options and their errors, streaming, the same text for
sequence i at any n and batch size, the noise recipe of docs/models.md, and no torch."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genedge.runtime import TextSampler
from genedge.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend
from genedge.runtime.errors import InputError, ManifestError
from genedge.runtime.text_decoding import (
    GumbelBlocks,
    Settings,
    check_settings,
    choose,
    sequence_stream,
)

TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\n\nJULIET:\nAy me.\n\n"


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from genedge.export.text_export import export_text_run
    from genedge.train.loop import train

    root = tmp_path_factory.mktemp("text-sampler")
    (root / "c.txt").write_text(TEXT * 40)
    overrides = {"embed": 16, "hidden": 32, "layers": 1, "length": 32, "batch_size": 8}
    train(
        root / "run", "text", str(root / "c.txt"), overrides={**overrides, "steps": 40}, threads=1
    )
    export_text_run(root / "run", root / "t.onnx")
    return root / "t.onnx"


@pytest.fixture(scope="module")
def sampler(artifact: Path) -> TextSampler:
    return TextSampler(artifact, backend="cpu", threads=1)


def test_sequence_i_is_the_same_at_any_n_and_batch_size(sampler: TextSampler) -> None:
    five = sampler.generate("ROMEO:", n=5, length=50, seed=7)
    assert len(set(five)) > 1  # seeded sampling differs between sequences
    assert sampler.generate("ROMEO:", n=2, length=50, seed=7) == five[:2]
    assert sampler.generate("ROMEO:", n=5, length=50, seed=7, batch_size=2) == five
    assert sampler.generate("ROMEO:", n=1, length=50, seed=7, start=3) == five[3:4]
    assert sampler.generate("ROMEO:", n=5, length=50, seed=8) != five


def test_streaming_gives_generate_s_text(sampler: TextSampler) -> None:
    kw = {"n": 3, "length": 40, "seed": 1, "stop": ["\n\n", "ye"], "batch_size": 2}
    texts = ["", "", ""]
    pieces = 0
    for i, piece in sampler.stream("JULIET:", **kw):
        texts[i] += piece
        pieces += 1
    assert texts == sampler.generate("JULIET:", **kw)
    assert pieces > 3  # pieces come as they are produced, not one per sequence


def test_stop_strings_end_the_text_before_them(sampler: TextSampler) -> None:
    free = sampler.generate("ROMEO:", n=4, length=80, seed=2)
    stopped = sampler.generate("ROMEO:", n=4, length=80, seed=2, stop="\n")
    for a, b in zip(free, stopped, strict=True):
        assert b == a.split("\n")[0]


def test_greedy_top_k_one_and_a_tiny_top_p_agree(sampler: TextSampler) -> None:
    greedy = sampler.generate("ROMEO:", n=2, length=30, temperature=0)
    assert greedy[0] == greedy[1] == sampler.generate("ROMEO:", length=30, temperature=0.0)[0]
    assert sampler.generate("ROMEO:", n=2, length=30, top_k=1, seed=4) == greedy
    assert sampler.generate("ROMEO:", n=2, length=30, top_p=1e-9, seed=4) == greedy


def test_choose_follows_the_documented_recipe() -> None:
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3, 11)).astype(np.float32)
    s = Settings(length=1, temperature=0.7, top_k=4, top_p=0.8, stop=())
    got = choose(logits, s, [sequence_stream(9, i) for i in range(3)])
    for i in range(3):
        z = logits[i].astype(np.float64) / 0.7
        keep = z >= np.sort(z)[-4]
        p = np.where(keep, np.exp(z - z.max()), 0.0)
        p /= p.sum()
        order = sorted(range(11), key=lambda j: (-p[j], j))
        mass, nucleus = 0.0, set()
        for j in order:
            if mass < 0.8:
                nucleus.add(j)
            mass += p[j]
        u = np.random.Generator(np.random.PCG64(np.random.SeedSequence([9, i]))).random(11)
        score = [z[j] - np.log(-np.log(u[j])) if j in nucleus else -np.inf for j in range(11)]
        assert got[i] == int(np.argmax(score))


@pytest.mark.parametrize(("rows", "vocab", "steps"), [(3, 11, 150), (2, 5000, 7), (1, 70, 1)])
def test_noise_drawn_in_blocks_is_the_recipe_s_one_draw_per_step(
    rows: int, vocab: int, steps: int
) -> None:
    blocks = GumbelBlocks([sequence_stream(5, i) for i in range(rows)], vocab, steps)
    streams = [sequence_stream(5, i) for i in range(rows)]
    for _ in range(steps):
        u = np.stack([rng.random(vocab) for rng in streams])
        np.testing.assert_array_equal(blocks.next(), -np.log(-np.log(u)))


def test_an_empty_prompt_starts_from_bos(sampler: TextSampler) -> None:
    assert sampler.spec.bos == "\n"
    assert sampler.generate("", length=20, seed=0) == sampler.generate("\n", length=20, seed=0)


def test_unseen_characters_use_the_fallback_when_there_is_one(artifact: Path) -> None:
    plain = TextSampler(artifact, backend="cpu")
    with pytest.raises(InputError, match=r"'#' \(U\+0023\) is not in the model's"):
        plain.generate("RO#", length=5)
    spec = dataclasses.replace(plain.manifest.text, unknown=" ")
    lenient = TextSampler.from_backend(
        plain.manifest.with_updates(text=spec), OnnxRuntimeBackend(artifact, "cpu")
    )
    assert lenient.generate("RO#", length=20, seed=0) == lenient.generate("RO ", length=20, seed=0)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"length": 0}, "length must be a positive"),
        ({"temperature": -0.1}, "temperature must be a number >= 0"),
        ({"temperature": float("nan")}, "temperature must be a number >= 0"),
        ({"top_p": 0.0}, r"top_p must be in \(0, 1\]"),
        ({"top_p": 1.5}, r"top_p must be in \(0, 1\]"),
        ({"top_k": 0}, "top_k must be a whole number >= 1"),
        ({"stop": [""]}, "stop strings must be non-empty"),
        ({"n": 0}, "n must be positive"),
        ({"seed": -1}, "seed must be a whole number >= 0"),
        ({"batch_size": 0}, "batch_size must be a positive"),
    ],
)
def test_bad_settings_are_one_clear_error(
    sampler: TextSampler, kw: dict[str, object], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        sampler.generate("ROMEO:", **kw)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=message):
        sampler.stream("ROMEO:", **kw)  # type: ignore[arg-type]  # checked before the first piece


def test_check_settings_accepts_the_edges() -> None:
    s = check_settings(1, 0, 1, 1.0, "x")
    assert (s.length, s.temperature, s.top_k, s.top_p, s.stop) == (1, 0.0, 1, 1.0, ("x",))


def test_an_image_artifact_is_refused_with_a_pointer(gan_image_onnx: Path) -> None:
    with pytest.raises(ManifestError, match="not a text model; use genedge.runtime.Sampler"):
        TextSampler(gan_image_onnx)


def test_generating_text_loads_no_torch(artifact: Path) -> None:
    code = (
        "import sys\n"
        "from genedge.runtime import TextSampler\n"
        f"s = TextSampler({str(artifact)!r}, backend='cpu')\n"
        "assert len(s.generate('ROMEO:', n=2, length=10, seed=0)[1]) == 10\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx')"
        " or m.startswith(('genedge.train', 'genedge.export')))\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_the_text_section_round_trips_and_is_validated(sampler: TextSampler) -> None:
    from genedge.runtime.manifest import Manifest

    m = sampler.manifest
    assert Manifest.from_json(m.to_json()) == m
    d = json.loads(m.to_json())
    assert d["text"]["vocab"] == sampler.vocab and d["output_kind"] == "text"
    bad = {**d, "text": {**d["text"], "vocab": "aa"}}
    with pytest.raises(ManifestError, match="at least 2 distinct characters"):
        Manifest.from_dict(bad)
    bad = {**d, "text": {**d["text"], "unknown": "#"}}
    with pytest.raises(ManifestError, match="text.unknown must be null or one character"):
        Manifest.from_dict(bad)
    bad = {**d, "text": {**d["text"], "logits": "nope"}}
    with pytest.raises(ManifestError, match="text.logits 'nope' is not a tensor"):
        Manifest.from_dict(bad)
    with pytest.raises(ManifestError, match="output kind text and a text section go together"):
        Manifest.from_dict({k: v for k, v in d.items() if k != "text"})
    assert "text" not in m.with_updates(text=None, output_kind="sequence").to_dict()

"""Fixtures of the web tests: the tools (node, the npm packages of web/, Chromium), a small
artifact of every family, and ``genedge web`` folders of them.

Locally a missing tool skips the tests; with ``GENEDGE_REQUIRE_WEB=1`` (``scripts/test_web.sh``,
CI) it fails them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from webtools import CHROMIUM, ORT_DIST, ROOT, WEB, Tools, image_artifact, require

sys.path.insert(0, str(ROOT / "tests" / "runtime"))
import tiny_artifacts as ta  # noqa: E402


@pytest.fixture(scope="session")
def tools() -> Tools:
    """node >= 18 and web/'s onnxruntime-web; the check comes before any artifact is built."""
    node = shutil.which("node")
    require(node, "node is not installed")
    assert node is not None
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
    require(version.startswith("v") and int(version[1:].split(".")[0]) >= 18, "node < 18")
    require((ORT_DIST / "ort.wasm.min.mjs").is_file(), "web/node_modules is missing")
    return Tools(node, ORT_DIST)


@pytest.fixture(scope="session")
def chromium(tools: Tools) -> str:
    """The system Chromium and web/'s playwright-core."""
    found = next((c for c in CHROMIUM if Path(c).is_file()), None)
    require(found, "Chromium is not installed")
    require((WEB / "node_modules" / "playwright-core").is_dir(), "playwright-core is missing")
    assert found is not None
    return found


def _tone_clips(folder: Path) -> Path:
    """A four-class folder of short 16-bit WAV tones (audio data for the audio family)."""
    rng = np.random.default_rng(0)
    for label, hz in (("a", 200.0), ("b", 350.0), ("c", 500.0), ("d", 700.0)):
        (folder / label).mkdir(parents=True)
        for i in range(8):
            t = np.arange(400) / 2000
            x = 0.5 * np.sin(2 * np.pi * hz * rng.uniform(0.95, 1.05) * t)
            with wave.open(str(folder / label / f"{i}.wav"), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(2000)
                w.writeframes((x * 32767).astype("<i2").tobytes())
    return folder


def _export(run: Path, out: Path) -> Path:
    from genedge.export.onnx_export import export_run

    export_run(run, out, batch_sizes=(2,), quality_check=False)
    return out


@pytest.fixture(scope="session")
def artifacts(tools: Tools, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One briefly trained artifact of every family genedge trains (fp32, blocks64), plus
    hand-made ones: noise and label inputs, a truncation input, a 1.3 (stream) sequence, and
    an image model whose pixels span the whole grey range."""
    from genedge.train.loop import train
    from genedge.train.threads import torch_scope

    root = tmp_path_factory.mktemp("web-artifacts")
    corpus = root / "play.txt"
    corpus.write_text(
        "ROMEO:\nBut soft, what light through yonder window breaks?\n\n"
        "JULIET:\nO Romeo, Romeo, wherefore art thou Romeo?\n\n" * 30,
        encoding="utf-8",
    )
    runs = {
        "dcgan": ("dcgan", "digits", {}),
        "cgan": ("cgan", "digits", {}),
        "vae": ("vae", "digits", {}),
        "rgan": ("rgan", "sines", {}),
        "gan": ("gan", "ring8", {}),
        "text": ("text", str(corpus), {"embed": 8, "hidden": 16, "layers": 1, "length": 16}),
        "audio": (
            "audio",
            str(_tone_clips(root / "tones")),
            {
                "g_width": 8,
                "d_width": 8,
                "z_dim": 8,
                "embed_dim": 8,
                "sample_rate": 2000,
                "clip_seconds": 0.25,
            },
        ),
    }
    out: dict[str, Path] = {}
    with torch_scope(1):
        for name, (family, data, extra) in runs.items():
            run = root / f"run-{name}"
            overrides = {"steps": 2, "batch_size": 8, **extra}
            train(run, family, data, overrides=overrides, seed=0, device="cpu", threads=1)
            out[name] = _export(run, root / f"{name}.onnx")
    out["toy-noise"] = ta.build(root / "toy-noise.onnx", labels=True, noise=True)
    out["toy-psi"] = ta.build(root / "toy-psi.onnx", truncation_input=True)
    out["toy-legacy"] = ta.build(root / "toy-legacy.onnx", sequence=True, legacy=True)
    out["toy-image"] = image_artifact(root / "toy-image.onnx")
    return out


@pytest.fixture(scope="session")
def web_folders(
    artifacts: dict[str, Path], tools: Tools, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """``genedge web`` folders of the image, conditional, sequence, points and text artifacts."""
    from genedge.web import build_web

    root = tmp_path_factory.mktemp("web-folders")
    return {
        name: build_web(artifacts[name], root / name, ort_dir=tools.ort_dist).folder
        for name in ("dcgan", "cgan", "rgan", "gan", "text", "toy-image")
    }

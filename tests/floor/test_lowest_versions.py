"""The runtime on the lowest numpy and onnxruntime that pyproject.toml admits, without the
``train`` extra: run by scripts/test_floor.sh in its own venv, on artifacts (and the samples
they gave) built by scripts/floor_artifacts.py with the current versions. Skipped elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ARTIFACTS = os.environ.get("GENEDGE_FLOOR_ARTIFACTS")
pytestmark = pytest.mark.skipif(
    not ARTIFACTS, reason="run by scripts/test_floor.sh (GENEDGE_FLOOR_ARTIFACTS unset)"
)


def _folder() -> Path:
    assert ARTIFACTS
    return Path(ARTIFACTS)


def test_this_venv_holds_the_declared_floors_and_no_torch() -> None:
    import numpy
    import onnxruntime

    assert numpy.__version__ == os.environ["GENEDGE_FLOOR_NUMPY"]
    assert onnxruntime.__version__ == os.environ["GENEDGE_FLOOR_ORT"]
    with pytest.raises(ModuleNotFoundError):
        import torch  # noqa: F401


@pytest.mark.parametrize(
    "name",
    [
        "gan",
        "dcgan",
        "dcgan-fp16",
        "cgan",
        "vae",
        "rgan",
        "custom",  # genedge's own export of a user's module (noise input)
        "custom-style",  # noise maps and a truncation psi
        "wrapped",  # a plain ONNX file given a manifest by wrap_onnx
    ],
)
def test_every_family_loads_and_reproduces_its_samples(name: str) -> None:
    from genedge.runtime import Sampler

    expected = np.load(_folder() / "expected.npz")[name]
    x = Sampler(_folder() / f"{name}.onnx", backend="cpu", threads=1).sample(8, seed=0)
    # Another onnxruntime may pick other kernels: float32 rounding, never a different sample.
    span = float(np.ptp(expected)) or 1.0
    np.testing.assert_allclose(x, expected, rtol=0, atol=1e-4 * span)


def test_the_text_model_writes_the_same_text() -> None:
    import json

    from genedge.runtime import TextSampler

    recorded = json.loads((_folder() / "text.json").read_text("utf-8"))
    sampler = TextSampler(_folder() / "text.onnx", backend="cpu", threads=1)
    # Token choices are argmaxes of float32 logits plus noise: other kernels may round
    # differently, but a different character would take a near-tie; none is expected here.
    assert sampler.generate(**recorded["request"]) == recorded["text"]


def _genedge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "genedge", *args],
        capture_output=True,
        text=True,
        cwd=_folder(),
        timeout=120,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["train", "gan", "--data", "ring8", "--out", "r"],
        ["export", "runs/gan-ring8", "--out", "x.onnx"],
        ["verify", "gan.onnx", "--against", "runs/gan-ring8"],
        ["eval", "gan.onnx", "--data", "ring8"],
        ["sample", "runs/gan-ring8", "-n", "4", "--out", "x.npy"],
        ["bench", "gan.onnx", "--against", "runs/gan-ring8", "--budget", "0.01"],
    ],
    ids=lambda a: a[0],
)
def test_train_only_commands_name_the_extra_in_one_line(args: list[str]) -> None:
    r = _genedge(*args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert 'pip install "genedge[train]"' in lines[0]


def test_runtime_commands_work_without_torch(tmp_path: Path) -> None:
    r = _genedge(
        "sample", "dcgan.onnx", "-n", "16", "--seed", "0", "--out", str(tmp_path / "g.png")
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
    r = _genedge("info", "cgan.onnx")
    assert r.returncode == 0, r.stderr
    assert "cgan" in r.stdout
    r = _genedge("sample", "text.onnx", "--prompt", "ROMEO:", "--length", "30", "--out", "-")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()
    r = _genedge("eval", "text.onnx", "--data", "corpus.txt", "-n", "2", "--length", "40")
    assert r.returncode == 0, r.stderr
    assert "held-out loss (nats/char)" in r.stdout

"""Helpers of the web tests (tests/web/conftest.py holds the fixtures)."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
JS_TESTS = Path(__file__).parent / "js"
ASSETS = ROOT / "genedge" / "web" / "assets"
ORT_DIST = WEB / "node_modules" / "onnxruntime-web" / "dist"
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/chromium-headless-shell")


def require(ok: object, what: str) -> None:
    """Skip (or, with GENEDGE_REQUIRE_WEB=1, fail) when a tool is missing."""
    if ok:
        return
    message = f"{what} (see docs/web.md: npm ci in web/, apt-get install chromium)"
    if os.environ.get("GENEDGE_REQUIRE_WEB") == "1":
        pytest.fail(f"GENEDGE_REQUIRE_WEB=1 but {message}", pytrace=False)
    pytest.skip(message)


@dataclass(frozen=True)
class Tools:
    node: str
    ort_dist: Path


def run_node(tools: Tools, args: list[str], env: dict[str, str], timeout: int = 120) -> str:
    """Run node in the repository root; a failure shows its output."""
    proc = subprocess.run(
        [tools.node, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env},
        cwd=ROOT,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    return output


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def image_artifact(path: Path, side: int = 6) -> Path:
    """A hand-made image artifact whose pixels span the whole range: ``tanh(2 z)`` of a
    ``side * side`` latent, reshaped to one grey ``side x side`` image (data units 0..16)."""
    import onnx
    from onnx import TensorProto, helper

    from genedge.runtime.manifest import (
        METADATA_KEY,
        GraphSpec,
        Manifest,
        Preprocessing,
        TensorSpec,
    )

    d = side * side
    nodes = [
        helper.make_node("Mul", ["z", "two"], ["z2"]),
        helper.make_node("Tanh", ["z2"], ["t"]),
        helper.make_node("Reshape", ["t", "shape"], ["x"]),
    ]
    inits = [
        helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
        helper.make_tensor("shape", TensorProto.INT64, [4], [-1, 1, side, side]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", d])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1, side, side])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    manifest = Manifest(
        family="toy-image",
        graphs={
            "sampler": GraphSpec(
                None,
                (TensorSpec("z", "float32", ("batch", d), "latent"),),
                (TensorSpec("x", "float32", ("batch", 1, side, side)),),
            )
        },
        latent_dim=d,
        output_kind="image",
        sample_shape=(1, side, side),
        preprocessing=Preprocessing("minmax", 0.0, 16.0, -1.0, 1.0),
    )
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, manifest.to_json()
    onnx.save(model, path)
    return path

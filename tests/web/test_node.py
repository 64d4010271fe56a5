"""genedge.js in Node, checked against the Python runtime: the references are drawn here, by
genedge.runtime, and Node's test runner (tests/web/js/*.test.mjs) compares.

- noise: latents of seeds 0-99 under both schemes (over 10^6 values, the ziggurat's tail and
  wedges included), with offsets, noise inputs, truncation, big seeds, and text-sampling
  uniforms: bit-identical.
- models: every family's manifest equals ``genedge info --json``; latents bit-identical;
  samples within float error of ``Sampler.sample`` (wasm vs native onnxruntime); text the same
  text for the same seed and settings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from typer.testing import CliRunner
from webtools import ASSETS, JS_TESTS, Tools, run_node, write_json

from genedge.cli import app
from genedge.runtime import Sampler, TextSampler
from genedge.runtime.images import make_grid, to_uint8, upscale
from genedge.runtime.manifest import METADATA_KEY
from genedge.runtime.noise import draw_noise
from genedge.runtime.text_decoding import sequence_stream

SEEDS = list(range(100))
#: Samples' tolerance, relative to the samples' largest magnitude: wasm and native
#: onnxruntime differ by float rounding only (measured: at most 1.2e-7 of it).
REL_TOL = 1e-5


def _info(model: Path) -> dict:
    result = CliRunner().invoke(app, ["info", str(model), "--json"])
    assert result.exit_code == 0, result.output
    info: dict = json.loads(result.output)
    return info


def _with_manifest(model: Path, out: Path, change: Callable[[dict], dict]) -> Path:
    """A copy of ``model`` with its manifest (as a dict) changed by ``change``."""
    proto = onnx.load(model)
    for p in proto.metadata_props:
        if p.key == METADATA_KEY:
            p.value = json.dumps(change(json.loads(p.value)))
    onnx.save(proto, out)
    return out


def _as_1_2(d: dict) -> dict:
    """A 2.0 manifest as a 1.2 one wrote it: no clusters, likelihood nor noise scheme."""
    d = {k: v for k, v in d.items() if k not in ("clusters", "likelihood", "noise_scheme")}
    hparams = {"clusters": 8, "likelihood": "gaussian"}
    return {**d, "schema_version": "1.2", "provenance": {**d["provenance"], "hparams": hparams}}


def test_noise_is_bit_identical(tools: Tools, tmp_path: Path) -> None:
    noise = []
    draws = [
        ("blocks64", "blocks64", 0, 0, 130, [40], None, 60),
        ("stream", "stream", 0, 0, 130, [40], None, 60),
        ("blocks64 noise k=2 from 37", "blocks64", 2, 37, 100, [7], None, 0),
        ("stream noise k=1 from 37", "stream", 1, 37, 100, [7], None, 0),
        ("blocks64 truncated 0.5", "blocks64", 0, 0, 70, [16], 0.5, 0),
        ("blocks64 truncated 2.5", "blocks64", 0, 0, 70, [16], 2.5, 0),
        ("stream truncated 1.0", "stream", 0, 3, 20, [16], 1.0, 0),
    ]
    for label, scheme, k, start, count, shape, psi, min_tail in draws:
        file = tmp_path / f"noise-{len(noise)}.f32"
        seeds = SEEDS if min_tail or psi is None else SEEDS[:40]
        values = [draw_noise(scheme, s, k, start, count, tuple(shape), psi) for s in seeds]
        np.concatenate([v.ravel() for v in values]).astype(np.float32).tofile(file)
        noise.append(
            {
                "label": label,
                "scheme": scheme,
                "k": k,
                "start": start,
                "count": count,
                "shape": shape,
                "truncation": psi,
                "seeds": seeds,
                "file": str(file),
                "min_tail": min_tail,
            }
        )
    big = [2**32, 2**33 + 7, 2**53 - 1]
    file = tmp_path / "noise-big.f32"
    np.concatenate([draw_noise("blocks64", s, 0, 60, 10, (5,)).ravel() for s in big]).tofile(file)
    noise.append(
        {"label": "big seeds", "scheme": "blocks64", "k": 0, "start": 60, "count": 10,
         "shape": [5], "truncation": None, "seeds": big, "file": str(file), "min_tail": 0}
    )  # fmt: skip
    uniforms = tmp_path / "uniforms.f64"
    index = [s % 3 for s in SEEDS]
    np.concatenate(
        [sequence_stream(s, i).random(2000) for s, i in zip(SEEDS, index, strict=True)]
    ).tofile(uniforms)
    cases = {
        "genedge_js": str(ASSETS / "genedge.js"),
        "noise": noise,
        "uniforms": {"seeds": SEEDS, "index": index, "count": 2000, "file": str(uniforms)},
    }
    env = {"GENEDGE_WEB_CASES": str(write_json(tmp_path / "cases.json", cases))}
    run_node(tools, ["--test", str(JS_TESTS / "noise.test.mjs")], env)


def _sample_cases(name: str, model: Path, tmp_path: Path) -> list[dict]:
    s = Sampler(model, backend="cpu", threads=1)
    m = s.manifest
    options: list[dict] = [{"seed": 0}, {"seed": 5, "start": 60}]
    if m.sampler.input("latent") is not None and m.output_kind != "sequence":
        options.append({"seed": 1, "truncation": 0.7})
    if m.num_classes:
        options.append({"seed": 2, "labels": 3})
        options.append({"seed": 4, "labels": [i * 7 % m.num_classes for i in range(10)]})
    if m.output_kind == "image":
        options.append({"seed": 6, "raw": True})
    if m.output_kind == "sequence":
        options.append({"seed": 3, "length": 7})
    out = []
    for i, opts in enumerate(options):
        n = 70 if i == 0 else 10
        kw = {k: v for k, v in opts.items() if k != "seed"}
        x = s.sample(n, opts["seed"], **kw)
        z = s.latents(
            n, opts["seed"], start=kw.get("start", 0), truncation=kw.get("truncation"),
            length=kw.get("length"),
        )  # fmt: skip
        file, latents = tmp_path / f"{name}-{i}.f32", tmp_path / f"{name}-{i}.z.f32"
        x.tofile(file)
        z.tofile(latents)
        atol = REL_TOL * max(1.0, float(np.abs(x).max()))
        out.append(
            {"name": name, "model": str(model), "n": n, "options": opts, "file": str(file),
             "latents": str(latents), "shape": list(x.shape), "atol": atol}
        )  # fmt: skip
    s.close()
    return out


def test_models_in_node(
    tools: Tools, artifacts: dict[str, Path], web_folders: dict[str, Path], tmp_path: Path
) -> None:
    manifests = [
        {"name": name, "model": str(path), "info": _info(path)} for name, path in artifacts.items()
    ]
    # A 1.2 manifest: clusters and likelihood come from the training hyper-parameters.
    old = _with_manifest(artifacts["toy-noise"], tmp_path / "old.onnx", _as_1_2)
    manifests.append({"name": "1.2", "model": str(old), "info": _info(old)})
    assert manifests[-1]["info"]["clusters"] == 8
    encoder = artifacts["vae"].with_suffix(".encoder.onnx")
    manifests.append(
        {"name": "vae encoder", "model": str(encoder), "info": _info(encoder), "companion": True}
    )
    samples = []
    for name, path in artifacts.items():
        if name != "text":
            samples += _sample_cases(name, path, tmp_path)
    texts = []
    t = TextSampler(artifacts["text"], backend="cpu", threads=1)
    settings: list[dict] = [
        {"seed": 0, "length": 60},
        {"seed": 1, "length": 40, "temperature": 0},
        {"seed": 2, "length": 60, "topK": 5, "topP": 0.9},
        {"seed": 3, "length": 60, "temperature": 1.3, "topP": 0.5, "stop": "\n\n"},
    ]
    for opts in settings:
        py = {"top_k": opts.get("topK"), "top_p": opts.get("topP"), "stop": opts.get("stop")}
        py.update({k: opts[k] for k in ("seed", "length", "temperature") if k in opts})
        want = t.generate("ROMEO:", n=3, **py)
        texts.append({"name": "text", "model": str(artifacts["text"]), "prompt": "ROMEO:",
                      "options": opts, "want": want})  # fmt: skip

    # An artifact whose noise scheme genedge.js does not know: samples with a warning.
    unknown = _with_manifest(
        artifacts["toy-noise"], tmp_path / "future.onnx", lambda d: {**d, "noise_scheme": "x"}
    )
    with Sampler(artifacts["dcgan"], backend="cpu", threads=1) as s:
        x = s.sample(10, seed=0)
    img = upscale(make_grid(to_uint8(x, s.manifest.value_range)), 7)
    grid = tmp_path / "grid.u8"
    img.tofile(grid)
    cases = {
        "genedge_js": str(web_folders["dcgan"] / "genedge.js"),
        "manifests": manifests,
        "samples": samples,
        "texts": texts,
        "unknown_scheme": {"model": str(unknown)},
        "grid": {"model": str(artifacts["dcgan"]), "n": 10, "file": str(grid),
                 "width": img.shape[1], "height": img.shape[0], "channels": 1},
    }  # fmt: skip
    env = {"GENEDGE_WEB_CASES": str(write_json(tmp_path / "cases.json", cases))}
    run_node(tools, ["--test", str(JS_TESTS / "models.test.mjs")], env)

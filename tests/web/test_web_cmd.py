"""``genedge web``: the folder it writes, the page weight it prints, ``--precision fp16``, where
it finds onnxruntime-web, and its one-line errors."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner
from webtools import ORT_DIST, Tools, image_artifact, run_node

from genedge.cli import app, main
from genedge.runtime import Sampler
from genedge.runtime.artifact import read_manifest
from genedge.web import ort_files
from genedge.web.ort_files import ORT_FILES, ORT_WEB_VERSION, OrtFilesMissing, find_ort_files

NODE_SAMPLE = """
import { writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const job = JSON.parse(process.argv[1]);
const g = await import(pathToFileURL(job.genedge_js).href);
const m = await g.load(job.model);
const x = await m.sample(job.n, { seed: 0 });
writeFileSync(job.out, Buffer.from(x.data.buffer));
"""


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return image_artifact(tmp_path_factory.mktemp("web-cmd") / "toy.onnx")


def _main(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str]:
    """Run the console script in-process: (exit code, stderr)."""
    monkeypatch.setattr(sys, "argv", ["genedge", *args])
    code = 0
    try:
        main()
    except SystemExit as e:
        code = int(e.code or 0)
    return code, capsys.readouterr().err


def test_web_writes_a_self_contained_folder(tools: Tools, toy: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    r = CliRunner().invoke(app, ["web", str(toy), "--out", str(out), "--ort-dir", str(ORT_DIST)])
    assert r.exit_code == 0, r.output
    names = {p.name for p in out.iterdir()}
    assert {
        "index.html",
        "genedge.js",
        "noise.js",
        "toy.onnx",
        "manifest.json",
        *ORT_FILES,
    } <= names
    assert not [n for n in names if n.startswith(".")]
    info = CliRunner().invoke(app, ["info", str(toy), "--json"])
    assert json.loads((out / "manifest.json").read_text()) == json.loads(info.output)
    page = (out / "index.html").read_text()
    assert '<meta name="genedge-model" content="toy.onnx">' in page
    assert "http://" not in page and "https://" not in page  # no CDN, nothing fetched elsewhere
    wasm = (out / "ort-wasm-simd-threaded.wasm").stat().st_size
    assert "page weight" in r.output and f"wasm {wasm / 2**20:.2f} MiB" in r.output
    assert "gzip" in r.output
    # Again into the same folder: replaced, nothing left over.
    r = CliRunner().invoke(app, ["web", str(toy), "--out", str(out), "--ort-dir", str(ORT_DIST)])
    assert r.exit_code == 0, r.output
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_fp16_halves_the_model_and_samples_alike(
    tools: Tools, toy: Path, artifacts: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "half"
    args = ["web", str(artifacts["dcgan"]), "-o", str(out), "--precision", "fp16"]
    r = CliRunner().invoke(app, [*args, "--ort-dir", str(ORT_DIST)])
    assert r.exit_code == 0, r.output
    half = out / "dcgan.onnx"
    assert half.stat().st_size < 0.6 * artifacts["dcgan"].stat().st_size
    assert read_manifest(half).precision == "fp16" and "(fp16)" in r.output
    assert json.loads((out / "manifest.json").read_text())["precision"] == "fp16"
    got = tmp_path / "x.f32"
    job = {"genedge_js": str(out / "genedge.js"), "model": str(half), "n": 20, "out": str(got)}
    run_node(tools, ["--input-type=module", "-e", NODE_SAMPLE, json.dumps(job)], {})
    with Sampler(half, backend="cpu", threads=1) as s:
        want = s.sample(20, seed=0)
    with Sampler(artifacts["dcgan"], backend="cpu", threads=1) as s:
        full = s.sample(20, seed=0)
    x = np.fromfile(got, np.float32).reshape(want.shape)
    scale = float(np.abs(full).max())
    np.testing.assert_allclose(x, want, atol=1e-3 * scale, rtol=0)  # fp16 on wasm vs native
    np.testing.assert_allclose(x, full, atol=2e-2 * scale, rtol=0)  # fp16 vs fp32
    # An artifact exported at fp16 is copied as it is.
    again = tmp_path / "again"
    r = CliRunner().invoke(app, ["web", str(half), "-o", str(again), "--precision", "fp16"])
    assert r.exit_code == 0, r.output
    assert (again / "dcgan.onnx").read_bytes() == half.read_bytes()


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("ort-dir", "does not hold onnxruntime-web's"),
        ("precision", "--precision must be one of fp32, fp16"),
        ("foreign-folder", "is not empty and not a genedge web folder"),
        ("companion", "encoder"),
    ],
)
def test_user_errors_are_one_line_exit_2(
    case: str,
    message: str,
    tools: Tools,
    toy: Path,
    artifacts: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    model, out, ort = str(toy), str(tmp_path / "site"), str(ORT_DIST)
    extra: list[str] = []
    if case == "ort-dir":
        ort = str(tmp_path / "nowhere")
    elif case == "precision":
        extra = ["--precision", "int8"]
    elif case == "foreign-folder":
        out = str(foreign)
    else:
        model = str(artifacts["vae"].with_suffix(".encoder.onnx"))
    code, err = _main(["web", model, "-o", out, "--ort-dir", ort, *extra], capsys, monkeypatch)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert message in err
    assert (foreign / "notes.txt").read_text() == "mine"
    assert not (tmp_path / "site").exists()


def test_fp16_without_the_train_extra_says_so(tools: Tools, toy: Path, tmp_path: Path) -> None:
    code = (
        "import sys\nsys.modules['onnx'] = None\n"
        "sys.argv = ['genedge', *sys.argv[1:]]\nfrom genedge.cli import main\nmain()\n"
    )
    args = ["web", str(toy), "-o", str(tmp_path / "s"), "--precision", "fp16", "--ort-dir"]
    r = subprocess.run(
        [sys.executable, "-c", code, *args, str(ORT_DIST)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    assert r.returncode == 2, r.stderr
    want = 'error: this needs onnx, which is not installed: pip install "genedge[train]"'
    assert r.stderr.strip().splitlines() == [want]


def test_ort_files_are_fetched_once_with_npm_pack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No --ort-dir, no checkout copy, an empty cache: `npm pack` (a stand-in here) fills the
    cache, and the next call finds it there without npm."""
    tgz = tmp_path / "pkg.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        for name, data in [("package/package.json", b'{"version": "x"}')] + [
            (f"package/dist/{f}", f.encode()) for f in ORT_FILES
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    script = f'#!/bin/sh\necho "$@" > "{tmp_path}/npm-args"\ncp "{tgz}" onnxruntime-web-x.tgz\n'
    npm.write_text(script)
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(ort_files.ENV_VAR, raising=False)
    monkeypatch.setattr(ort_files, "_checkout_dist", lambda: None)
    with pytest.raises(OrtFilesMissing, match="--ort-dir"):
        find_ort_files(fetch=False)
    dist = find_ort_files()
    assert f"onnxruntime-web@{ORT_WEB_VERSION}" in (tmp_path / "npm-args").read_text()
    assert dist == ort_files.cache_dir() / "dist"
    assert (dist / "ort.wasm.min.mjs").read_text() == "ort.wasm.min.mjs"
    npm.unlink()
    assert find_ort_files() == dist  # cached: npm is not needed again
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache2"))
    with pytest.raises(OrtFilesMissing, match="npm is not installed"):
        find_ort_files()


def test_the_pinned_version_is_web_package_json_s() -> None:
    package = json.loads((ORT_DIST.parents[2] / "package.json").read_text())
    assert package["devDependencies"]["onnxruntime-web"] == ORT_WEB_VERSION

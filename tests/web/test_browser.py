"""The demo page in a real headless browser (Debian's Chromium over the DevTools protocol,
playwright-core): ``genedge web`` folders served on localhost, each page's first run (seed 0)
compared with the Python runtime, and a screenshot of each kind of page.

The canvas of an image model must equal ``genedge sample --seed 0 --out grid.png`` to within
one grey level on at most 0.5 % of the pixels: wasm and native onnxruntime differ by float
rounding only (measured at most 1.2e-7 of the samples' range, so a pixel moves only where a
value sits on a rounding edge of the uint8 conversion). Set ``GENEDGE_WEB_SCREENSHOTS`` to a
folder to keep the screenshots (docs/web.md's come from there).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
from typer.testing import CliRunner
from webtools import JS_TESTS, Tools, run_node, write_json

from genedge.cli import app
from genedge.runtime import Sampler, TextSampler
from genedge.runtime.images import read_image

#: Largest grey-level difference, and the share of pixels that may differ at all.
PIXEL_TOL, PIXEL_SHARE = 1, 0.005
REL_TOL = 1e-5

#: The sequence page: play the first sequence (Web Audio), then sample again.
PLAY = "document.getElementById('play').click(); document.getElementById('go').click()"
#: The conditional page: pick class 3 and sample again.
PICK_CLASS_3 = "document.getElementById('class').value = '3'; document.getElementById('go').click()"


def _close(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    atol = REL_TOL * max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=0, atol=atol)


def test_demo_pages_in_chromium(
    tools: Tools,
    chromium: str,
    artifacts: dict[str, Path],
    web_folders: dict[str, Path],
    tmp_path: Path,
) -> None:
    pages = [
        {"name": "image", "folder": str(web_folders["dcgan"])},
        {"name": "pixels", "folder": str(web_folders["toy-image"])},
        {"name": "conditional", "folder": str(web_folders["cgan"]), "setup": PICK_CLASS_3},
        {"name": "sequence", "folder": str(web_folders["rgan"]), "height": 760, "setup": PLAY},
        {"name": "points", "folder": str(web_folders["gan"])},
        {"name": "text", "folder": str(web_folders["text"]), "height": 600},
    ]
    job = {"out": str(tmp_path), "chromium": chromium, "pages": pages}
    run_node(
        tools, [str(JS_TESTS / "browser.mjs"), str(write_json(tmp_path / "job.json", job))], {}
    )
    results = json.loads((tmp_path / "results.json").read_text())
    for name, r in results.items():
        assert r["state"] == "done", (name, r["status"], r["logs"])
        assert not [m for m in r["logs"] if m.startswith(("error", "pageerror"))], r["logs"]
        assert r["foreign"] == [], f"{name} fetched from elsewhere: {r['foreign']}"

    def samples(name: str) -> np.ndarray:
        s = results[name]["samples"]
        return np.fromfile(tmp_path / s["data"], np.float32).reshape(s["shape"])

    # An image page's canvas is genedge sample's grid.png.
    for page, model in (("image", "dcgan"), ("pixels", "toy-image")):
        grid = tmp_path / f"{model}-grid.png"
        args = ["sample", str(artifacts[model]), "--seed", "0", "-o", str(grid)]
        cli = CliRunner().invoke(app, args)
        assert cli.exit_code == 0, cli.output
        want = read_image(grid).astype(int)
        got = read_image(tmp_path / results[page]["canvas"]).astype(int)
        got = got[..., 0] if got.ndim == 3 and want.ndim == 2 else got
        assert got.shape == want.shape
        diff = np.abs(got - want)
        assert diff.max() <= PIXEL_TOL and (diff > 0).mean() <= PIXEL_SHARE, diff.max()

    with Sampler(artifacts["cgan"], backend="cpu", threads=1) as s:
        _close(samples("conditional"), s.sample(64, seed=0, labels=3))
    with Sampler(artifacts["rgan"], backend="cpu", threads=1) as s:
        _close(samples("sequence"), s.sample(4, seed=0))
    with Sampler(artifacts["gan"], backend="cpu", threads=1) as s:
        _close(samples("points"), s.sample(1000, seed=0))
    text = TextSampler(artifacts["text"], backend="cpu", threads=1)
    prompt = "" if text.spec.bos is not None else "".join(text.vocab.split())[:1]
    assert results["text"]["text"] == text.generate(prompt, length=200, seed=0)[0]

    keep = os.environ.get("GENEDGE_WEB_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for p in pages:
            shutil.copy(tmp_path / f"{p['name']}.png", Path(keep) / f"web-{p['name']}.png")

"""docs/byom.md, executed: the walkthrough's blocks run in order in an empty folder.

A ``python`` block whose first line is ``# file: NAME`` is written to ``NAME``; any other
``python`` block runs as a script, and every command of a ``sh`` block runs through the shell
(``text`` blocks are output, not run). What the page assumes the reader has is made here:
``netG.pth`` (random weights for the page's ``models.py`` at its ``ngf``) and ``faces/`` (a
folder of random 64x64 RGB images). Every block must succeed, and what the commands say they
write must be there.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

DOC = Path(__file__).parents[2] / "docs" / "byom.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)
#: The width the page builds its ``models.py`` Generator with (``--init '{"ngf": N}'``).
NGF = re.compile(r"""--init '\{"ngf": (\d+)\}'""")
#: Files the walkthrough's commands write (a check that the commands really did their job).
WRITTEN = (
    "g.onnx", "grid.png", "samples.npy", "walk.png", "g8.onnx", "gn.onnx", "c.onnx",
    "cgrid.png", "plain.onnx", "w.onnx", "models/gn/config.pbtxt", "models/gn/1/model.onnx",
)  # fmt: skip


def blocks(text: str) -> list[tuple[str, str]]:
    """``(language, body)`` of each fenced block, in page order."""
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(text)]


def commands(body: str) -> list[str]:
    """A ``sh`` block's commands: continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", body)
    lines = (ln.split("  #")[0].strip() for ln in joined.splitlines())
    return [ln for ln in lines if ln and not ln.startswith("#")]


def test_the_page_has_what_the_runner_expects() -> None:
    langs = [lang for lang, _ in blocks(DOC.read_text())]
    assert set(langs) <= {"python", "sh", "text"}, langs
    assert langs.count("sh") >= 5 and langs.count("python") >= 6
    assert len(set(NGF.findall(DOC.read_text()))) == 1  # one width throughout


def _setup(folder: Path, ngf: int) -> None:
    """What the reader brings: netG.pth for models.py's Generator, and faces/."""
    script = (
        "import torch\n"
        "from models import Generator\n"
        "torch.manual_seed(0)\n"
        f"G = Generator(ngf={ngf})\n"
        "for m in G.modules():\n"
        "    if isinstance(m, torch.nn.BatchNorm2d):\n"  # trained-looking running statistics
        "        m.running_mean.normal_(0, 0.1); m.running_var.uniform_(1, 1.2)\n"
        "torch.save(G.state_dict(), 'netG.pth')\n"
    )
    _run([sys.executable, "-c", script], folder)
    from PIL import Image

    faces = folder / "faces"
    faces.mkdir()
    rng = np.random.default_rng(0)
    for i in range(200):
        pixels = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(faces / f"{i:03d}.png")


def _env() -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)  # the venv's `genedge` and `python`
    return {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "COLUMNS": "200",
        "NO_COLOR": "1",
        "OMP_NUM_THREADS": "1",
    }


def _run(args: list[str] | str, folder: Path) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        args,
        cwd=folder,
        shell=isinstance(args, str),
        capture_output=True,
        text=True,
        timeout=600,
        env=_env(),
    )
    shown = args if isinstance(args, str) else args[-1]
    assert r.returncode == 0, f"{shown}\n--- stdout\n{r.stdout[-2000:]}\n--- stderr\n{r.stderr}"
    return r


def test_the_walkthrough_runs(tmp_path: Path) -> None:
    text = DOC.read_text()
    (ngf,) = set(NGF.findall(text))
    ran: list[str] = []
    for lang, body in blocks(text):
        first = body.splitlines()[0] if body.strip() else ""
        if lang == "python" and first.startswith("# file: "):
            (tmp_path / first.removeprefix("# file: ").strip()).write_text(body)
            if first.endswith("models.py"):
                _setup(tmp_path, int(ngf))
        elif lang == "python":
            _run([sys.executable, "-c", body], tmp_path)
            ran.append("python")
        elif lang == "sh":
            for cmd in commands(body):
                r = _run(cmd, tmp_path)
                ran.append(cmd.split()[1])
                if cmd.startswith("genedge bench"):
                    assert "torch" in r.stdout and "vs torch" in r.stdout
                if cmd.startswith("genedge eval"):
                    assert "unavailable: classes covered:" in r.stdout
    assert {"export", "verify", "sample", "interpolate", "info", "bench", "eval", "wrap"} <= set(
        ran
    )
    missing = [name for name in WRITTEN if not (tmp_path / name).is_file()]
    assert not missing, missing


if __name__ == "__main__":  # pragma: no cover - run the page by hand: python test_byom_doc.py
    sys.exit(pytest.main([__file__, "-q"]))

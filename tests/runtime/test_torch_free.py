"""The runtime never loads torch, nor genedge.train or genedge.export."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import genedge.runtime

RUNTIME = Path(genedge.runtime.__file__).parent


def test_sampling_in_a_fresh_process_loads_no_torch(gan_image_onnx: Path) -> None:
    code = (
        "import sys\n"
        "from genedge.runtime import Sampler\n"
        f"x = Sampler({str(gan_image_onnx)!r}).sample(64, seed=0)\n"
        "assert x.shape == (64, 1, 8, 8)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx', 'sklearn')"
        " or m.startswith(('genedge.train', 'genedge.export')))\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_cli_sample_from_onnx_loads_no_torch(gan_image_onnx: Path, tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from genedge.cli import main\n"
        f"sys.argv = ['genedge', 'sample', {str(gan_image_onnx)!r}, '-n', '8', '--seed', '0',"
        f" '--out', {str(tmp_path / 'x.npy')!r}]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_no_runtime_module_imports_torch_train_or_export() -> None:
    for path in RUNTIME.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
            else:
                continue
            for name in names:
                assert not name.startswith(("torch", "genedge.train", "genedge.export", "..")), (
                    f"{path.relative_to(RUNTIME)} imports {name}"
                )

"""``genedge calibrate``: the table, the choice, the file it writes, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from genedge.runtime.backends.calibration import calibration_path

pytest.importorskip("openvino")

#: Runs ``genedge ARGS`` through the real entry point, with ``calibrate`` registered on the app
#: if this checkout's command list does not have it yet.
_MAIN = """
import sys
from genedge.cli import app, main
from genedge.cli.calibrate_cmd import calibrate
if not any(c.callback is calibrate for c in app.registered_commands):
    app.command()(calibrate)
sys.argv = ["genedge", *sys.argv[1:]]
main()
"""


def genedge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _MAIN, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )


def test_calibrate_prints_the_table_and_the_choice(gan_image_onnx: Path, tmp_path: Path) -> None:
    model = tmp_path / "g.onnx"
    model.write_bytes(gan_image_onnx.read_bytes())
    report = tmp_path / "cal.json"
    r = genedge(
        "calibrate", str(model), "--threads", "1", "--batch-sizes", "1,4", "--json", str(report)
    )
    assert r.returncode == 0, r.stderr
    assert "onnxruntime ms" in r.stdout and "openvino f32 ms" in r.stdout
    assert "auto on the CPU: " in r.stdout
    assert "bf16: " in r.stdout
    assert calibration_path(model).is_file()
    data = json.loads(report.read_text())
    assert data["threads"] == 1 and data["batch_sizes"] == [1, 4]
    assert data["auto"]["engine"] in ("cpu", "openvino")
    assert set(data["faster"]) == {"1", "4"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-sizes", "1,x"], "--batch-sizes must be comma-separated integers"),
        (["--batch-sizes", "0"], "batch sizes must be positive integers"),
        (["--threads", "0"], "threads must be a positive integer"),
    ],
)
def test_bad_values_are_one_line_errors(gan_image_onnx: Path, args: list, message: str) -> None:
    r = genedge("calibrate", str(gan_image_onnx), *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], r.stderr


def test_the_cli_defaults_are_the_apis() -> None:
    import inspect

    from genedge.cli.calibrate_cmd import calibrate
    from genedge.runtime.backends import calibration

    cli = inspect.signature(calibrate).parameters
    api = inspect.signature(calibration.calibrate).parameters
    assert cli["batch_sizes"].default == ",".join(map(str, api["batch_sizes"].default))
    assert cli["threads"].default is api["threads"].default is None


def test_a_missing_file_is_a_one_line_error(tmp_path: Path) -> None:
    r = genedge("calibrate", str(tmp_path / "nope.onnx"))
    assert r.returncode == 2 and "model file not found" in r.stderr

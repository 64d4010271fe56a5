"""Errors from the outside world end as one line and exit 2 (or 128 + signal), never a
traceback: a missing extra, a full disk, a signal."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

_NO_TORCH = (
    "import sys\n"
    "sys.modules['torch'] = None  # as if the train extra were not installed\n"
    "sys.argv = ['genedge', *sys.argv[1:]]\n"
    "from genedge.cli import main\n"
    "main()\n"
)


def _no_torch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _NO_TORCH, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )


@pytest.mark.parametrize(
    "args",
    [
        ["train", "gan", "--data", "ring8", "--out", "r"],
        ["export", "RUN", "--out", "x.onnx"],
        ["verify", "MODEL", "--against", "RUN"],
        ["eval", "MODEL", "--data", "ring8"],
        ["sample", "RUN", "-n", "4", "--out", "x.npy"],
        ["bench", "MODEL", "--against", "RUN", "--budget", "0.01"],
    ],
    ids=lambda a: a[0],
)
def test_train_only_commands_without_the_extra_say_which_in_one_line(
    args: list[str], gan_points_run: Path, gan_points_onnx: Path, tmp_path: Path
) -> None:
    args = [{"RUN": str(gan_points_run), "MODEL": str(gan_points_onnx)}.get(a, a) for a in args]
    r = _no_torch(*args, cwd=tmp_path)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert 'pip install "genedge[train]"' in lines[0]


def test_a_missing_module_no_extra_provides_keeps_its_traceback() -> None:
    from genedge.runtime.errors import missing_extra

    assert missing_extra(ModuleNotFoundError("x", name="genedge.nonexistent")) is None
    found = missing_extra(ModuleNotFoundError("x", name="onnx.checker"))
    assert found is not None and 'pip install "genedge[train]"' in str(found)


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare"
)
def test_full_disk_is_one_line_exit_2_and_leaves_nothing(gan_image_onnx: Path) -> None:
    # A 1 MiB tmpfs in a private mount namespace: gone when the command ends.
    script = (
        'mount -t tmpfs -o size=1m tmpfs "$1" && cd "$1" && '
        f'"{sys.executable}" -m genedge sample "$2" -n 100000 --seed 0 --out out.npy; '
        'rc=$?; ls -A "$1"; exit $rc'
    )
    folder = Path("/tmp") / f"genedge-full-{os.getpid()}"
    folder.mkdir(exist_ok=True)
    try:
        r = subprocess.run(
            ["unshare", "-m", "sh", "-c", script, "sh", str(folder), str(gan_image_onnx)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
        )
    finally:
        folder.rmdir()
    if "mount:" in r.stderr:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "no space left on device" in lines[0].lower(), r.stderr
    assert r.stdout.strip() == ""  # `ls -A` of the full folder: no temp file left behind


def test_file_size_limit_is_one_line_exit_2(gan_image_onnx: Path, tmp_path: Path) -> None:
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, 2**20))

    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "genedge",
            "sample",
            str(gan_image_onnx),
            "-n",
            "100000",
            "--out",
            str(tmp_path / "out.npy"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_train_with_128_plus_its_number(
    sig: signal.Signals, code: int, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "genedge",
            "train",
            "gan",
            "--data",
            "ring8",
            "--out",
            str(run),
            "--steps",
            "100000",
            "--checkpoint-every",
            "100000",
            "--threads",
            "1",
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    deadline = time.monotonic() + 120
    while not (run / "metrics.jsonl").exists() or not (run / "metrics.jsonl").stat().st_size:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "training did not start"
        time.sleep(0.05)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    assert list((run / "checkpoints").glob("step-*.json"))

"""`genedge sample --shard K/N`: each shard writes its slice of the single run, the slices
concatenate into it byte for byte, and bad requests end in one line with exit code 2."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent.parent / "runtime"))
import tiny_artifacts as ta  # noqa: E402


def genedge(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "genedge", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli-shard")
    return ta.build(folder / "m.onnx", labels=True, noise=True)


def test_shards_union_is_the_single_run(model: Path, tmp_path: Path) -> None:
    from genedge.cli.sample_cmd import merge

    single = tmp_path / "all.npy"
    parts = []
    for k in range(3):
        part = tmp_path / f"part{k}.npy"
        r = genedge(
            "sample",
            model,
            "-n",
            "150",
            "--seed",
            "3",
            "--shard",
            f"{k}/3",
            "-o",
            part,
            "--labels",
            "1,2,3",
        )
        assert r.returncode == 0, r.stderr
        assert f"samples {50 * k}..{50 * k + 49} of 150" in r.stdout
        parts.append(part)
    # --labels 1,2,3 repeats by position, so each shard has its own part of it.
    r = genedge("sample", model, "-n", "150", "--seed", "3", "-o", single, "--labels", "1,2,3")
    assert r.returncode == 0, r.stderr
    app = __import__("typer").Typer()
    app.command()(merge)
    app.command("unused")(lambda: None)  # more than one command: `merge` is a subcommand
    merged = tmp_path / "merged.npy"
    result = CliRunner().invoke(app, ["merge", *map(str, parts), "-o", str(merged)])
    assert result.exit_code == 0, result.output
    assert "150 samples" in result.output
    assert _sha(merged) == _sha(single)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-n", "10", "--shard", "0/2"], "--shard needs --seed"),
        (["--seed", "0", "--shard", "0/2"], "--shard needs -n"),
        (["-n", "10", "--seed", "0", "--shard", "2/2"], "shards count from 0 to 1"),
        (["-n", "10", "--seed", "0", "--shard", "x"], "K/N"),
        (["-n", "2", "--seed", "0", "--shard", "2/3", "-o", "a.npy"], "holds none of 2"),
        (["-n", "10", "--seed", "0", "--shard", "0/2", "-o", "a.png"], "concatenate"),
    ],
)
def test_bad_shard_requests_exit_2_with_one_line(
    model: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    r = genedge("sample", model, *args)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], r.stderr


class _PositionalText:
    """A stand-in text sampler whose sequence i is "text i", like TextSampler's own streams."""

    backend = "stub"

    def generate(self, prompt: str, n: int, *, start: int = 0, **_: object) -> list[str]:
        return [f"text {i}" for i in range(start, start + n)]


@pytest.mark.parametrize("suffix", [".txt", ".jsonl"])
def test_text_shards_concatenate_into_the_single_run(tmp_path: Path, suffix: str) -> None:
    from genedge.cli.sample_text import sample_text
    from genedge.runtime.shards import shard_range

    kw = dict(prompt="P:", length=5, temperature=0.8, top_k=None, top_p=None, stop=[], seed=1)
    single = tmp_path / f"all{suffix}"
    sample_text(_PositionalText(), str(single), n=7, batch_size=None, **kw)  # type: ignore[arg-type]
    joined = b""
    for k in range(3):
        start, count = shard_range(7, k, 3)
        part = tmp_path / f"part{k}{suffix}"
        sample_text(
            _PositionalText(),  # type: ignore[arg-type]
            str(part),
            n=7,
            batch_size=None,
            start=start,
            count=count,
            **kw,
        )
        joined += part.read_bytes()
    assert joined == single.read_bytes()
    assert b"text 6" in joined

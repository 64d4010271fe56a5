"""``genedge sample`` on text models: .txt, .jsonl and stdout, one-line errors with exit code 2,
and the rows ``genedge info`` shows for them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from genedge.runtime.artifact import read_manifest
from genedge.runtime.describe_text import text_latent, text_rows
from genedge.runtime.text import TextSampler

pytestmark = pytest.mark.usefixtures("pinned_threads")

TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\n\nJULIET:\nAy me.\n\n"


def genedge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "genedge", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )


def assert_clean_error(r: subprocess.CompletedProcess[str], message: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert message in lines[0], lines[0]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from genedge.export.text_export import export_text_run
    from genedge.train.loop import train

    root = tmp_path_factory.mktemp("cli-text")
    (root / "c.txt").write_text(TEXT * 40)
    small = {"embed": 16, "hidden": 32, "layers": 1, "length": 32, "batch_size": 8, "steps": 30}
    train(root / "run", "text", str(root / "c.txt"), overrides=small)
    export_text_run(root / "run", root / "t.onnx")
    return root / "run", root / "t.onnx"


def test_sample_to_txt_jsonl_and_stdout_agree(model: tuple[Path, Path], tmp_path: Path) -> None:
    _, onnx = model
    common = ["--prompt", "ROMEO:", "-n", "3", "--length", "40", "--seed", "0", "--top-k", "8"]
    r = genedge("sample", str(onnx), *common, "--out", str(tmp_path / "s.jsonl"))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert [row["index"] for row in rows] == [0, 1, 2]
    assert all(row["prompt"] == "ROMEO:" for row in rows)
    assert rows[0]["settings"] == {
        "length": 40,
        "temperature": 0.8,
        "top_k": 8,
        "top_p": None,
        "stop": None,
        "seed": 0,
    }
    texts = [row["text"] for row in rows]
    assert texts == TextSampler(onnx, backend="cpu").generate(
        "ROMEO:", n=3, length=40, seed=0, top_k=8
    )
    r = genedge("sample", str(onnx), *common, "--out", str(tmp_path / "s.txt"))
    assert r.returncode == 0, r.stderr
    expected = "".join(f"--- sample {i} ---\nROMEO:{t}\n" for i, t in enumerate(texts))
    assert (tmp_path / "s.txt").read_text() == expected
    r = genedge("sample", str(onnx), *common, "--out", "-")
    assert r.returncode == 0, r.stderr
    assert r.stdout == expected


def test_a_run_folder_samples_the_same_text_with_pytorch(model: tuple[Path, Path]) -> None:
    run, onnx = model
    args = ["--prompt", "JULIET:", "--length", "30", "--seed", "5"]
    a, b = genedge("sample", str(run), *args), genedge("sample", str(onnx), *args)
    assert a.returncode == 0 and b.returncode == 0, (a.stderr, b.stderr)
    assert a.stdout == b.stdout and a.stdout.startswith("JULIET:")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--temperature", "-1"], "temperature must be a number >= 0"),
        (["--top-p", "1.5"], "top_p must be in (0, 1]"),
        (["--top-k", "0"], "top_k must be a whole number >= 1"),
        (["--length", "0"], "length must be a positive"),
        (["--prompt", "RO#"], "'#' (U+0023) is not in the model's"),
        (["--out", "x.png"], "text samples are written to a .txt or .jsonl file or -"),
        (["--class", "1"], "do not apply to text models"),
    ],
)
def test_bad_text_options_are_one_line(
    model: tuple[Path, Path], args: list[str], message: str
) -> None:
    assert_clean_error(genedge("sample", str(model[1]), *args), message)


def test_text_options_on_an_image_model_are_one_line(gan_image_onnx: Path) -> None:
    r = genedge("sample", str(gan_image_onnx), "--prompt", "hi")
    assert_clean_error(r, "apply to text models only")


def test_info_rows_show_vocabulary_and_state(model: tuple[Path, Path]) -> None:
    m = read_manifest(model[1])
    rows = dict(text_rows(m))
    vocab = "".join(sorted(set(TEXT)))
    assert rows["vocabulary"].startswith(f"{len(vocab)} characters: ")
    assert rows["state"] == "state (batch, 1, 32) -> state_out, zeros to start"
    assert rows["unseen characters"] == "refused"
    assert rows["empty prompt"] == "starts from '\\n'"
    assert text_latent(m) == f"none: {len(vocab)} uniforms per generated character (Gumbel-max)"


def test_export_and_verify_of_a_text_run_through_the_cli(
    model: tuple[Path, Path], tmp_path: Path
) -> None:
    run, _ = model
    out = tmp_path / "cli.onnx"
    r = genedge("export", str(run), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert read_manifest(out).output_kind == "text"
    r = genedge("verify", str(out), "--against", str(run))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "decode" in r.stdout


def test_eval_of_a_text_artifact_reports_loss_and_sample_statistics(
    model: tuple[Path, Path], tmp_path: Path
) -> None:
    run, onnx = model
    data = str(run.parent / "c.txt")
    report = tmp_path / "eval.json"
    r = genedge(
        "eval", str(onnx), "--data", data, "-n", "4", "--length", "40", "--json", str(report)
    )
    assert r.returncode == 0, r.stderr
    assert "held-out loss (nats/char)" in r.stdout and "copied 32-char windows" in r.stdout
    metrics = {m["key"]: m for m in json.loads(report.read_text())["metrics"]}
    # The same figure the library computes for the same call.
    from genedge.eval.text_metrics import evaluate_text_file

    lib = evaluate_text_file(onnx, data, n=4, length=40, seed=0)
    assert metrics["heldout_nats"]["value"] == pytest.approx(lib.heldout_nats, rel=1e-6)
    assert metrics["distinct_2"]["value"] == pytest.approx(lib.samples.distinct[2])
    assert_clean_error(
        genedge("eval", str(run), "--data", data), "eval takes a text model's artifact"
    )


def test_bench_of_a_text_artifact_against_its_run(model: tuple[Path, Path], tmp_path: Path) -> None:
    run, onnx = model
    js = tmp_path / "bench.json"
    r = genedge(
        "bench", str(onnx), "--against", str(run), "--batch-sizes", "1,2",
        "--budget", "0.05", "--threads", "1", "--json", str(js),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    rows = json.loads(js.read_text())["rows"]
    assert {(row["backend"], row["batch"]) for row in rows} >= {("cpu", 1), ("torch", 2)}
    assert "chars/s" in r.stdout
    assert_clean_error(
        genedge("bench", str(onnx), "--against", "models.py:G"), "takes --against RUN"
    )

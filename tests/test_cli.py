"""The CLI end to end: each command's output, and one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genedge.runtime.images import decode_png


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


def test_train_export_verify_sample_info(digits_npz: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    r = genedge(
        "train",
        "gan",
        "--data",
        str(digits_npz),
        "--out",
        str(run),
        "--steps",
        "20",
        "--quiet",
        "--device",
        "cpu",
    )
    assert r.returncode == 0, r.stderr
    assert (run / "run.json").exists() and (run / "samples" / "latest.png").exists()

    onnx_path = tmp_path / "gan.onnx"
    r = genedge("export", str(run), "--out", str(onnx_path))
    assert r.returncode == 0, r.stderr
    assert "PASSED" in r.stdout and onnx_path.exists()

    r = genedge("verify", str(onnx_path), "--against", str(run), "--json", str(tmp_path / "p.json"))
    assert r.returncode == 0 and "PASSED" in r.stdout
    assert '"passed": true' in (tmp_path / "p.json").read_text()

    r = genedge(
        "sample", str(onnx_path), "-n", "64", "--seed", "0", "--out", str(tmp_path / "g.png")
    )
    assert r.returncode == 0, r.stderr
    img = decode_png((tmp_path / "g.png").read_bytes())
    assert img.ndim == 2 and img.shape[0] == img.shape[1]  # an 8x8 grid, upscaled

    r = genedge(
        "sample", str(onnx_path), "-n", "500", "--seed", "0", "--out", str(tmp_path / "a.npy")
    )
    assert r.returncode == 0
    r = genedge("sample", str(run), "-n", "500", "--seed", "0", "--out", str(tmp_path / "b.npy"))
    assert r.returncode == 0 and "torch" in r.stdout
    a, b = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    assert a.dtype == np.float32 and a.shape == (500, 1, 8, 8)
    np.testing.assert_allclose(a, b, atol=16 * 1e-5)

    r = genedge("sample", str(onnx_path), "-n", "5", "--seed", "1", "--out", str(tmp_path / "pngs"))
    assert r.returncode == 0 and len(list((tmp_path / "pngs").glob("*.png"))) == 5

    r = genedge("info", str(onnx_path))
    assert r.returncode == 0
    for needle in ("family", "gan", "PASSED", "z[latent]", "backend cuda", "not available"):
        assert needle in r.stdout, needle
    r = genedge("info", str(onnx_path), "--json")
    assert '"family": "gan"' in r.stdout


def test_version() -> None:
    r = genedge("--version")
    assert r.returncode == 0 and r.stdout.startswith("genedge ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sample", "missing.onnx"], "model file not found"),
        (["info", "missing.onnx"], "model file not found"),
        (["sample", "{onnx}", "-n", "0"], "n must be positive"),
        (["sample", "{onnx}", "-n", "-3"], "n must be positive"),
        (["sample", "{onnx}", "--labels", "1,2"], "takes no labels"),
        (["sample", "{onnx}", "--out", "/nonexistent-dir/x.npy"], "does not exist"),
        (["sample", "{onnx}", "--out", "{tmp}/x.gif"], "use a .png, .npy"),
        (["sample", "{onnx}", "--labels", "a,b"], "comma-separated integers"),
        (["sample", "{tmp}/corrupt.onnx"], "truncated"),
        (["export", "{tmp}/no-run", "--out", "{tmp}/m.onnx"], "run folder not found"),
        (["train", "gan", "--data", "nosuchdata", "--out", "{tmp}/r"], "unknown dataset"),
        (["train", "gan", "--out", "{tmp}/r"], "--data is required"),
        (["train", "wgan", "--data", "ring8", "--out", "{tmp}/r"], "'wgan' is not one of 'gan'"),
        (["verify", "{onnx}", "--against", "{tmp}"], "not a genedge run folder"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(
    gan_points_onnx: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "corrupt.onnx").write_bytes(gan_points_onnx.read_bytes()[:300])
    filled = [a.format(onnx=gan_points_onnx, tmp=tmp_path) for a in args]
    assert_clean_error(genedge(*filled), message)
    assert not (tmp_path / "x.gif").exists()


def test_usage_errors_exit_2() -> None:
    r = genedge("sample")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_an_unknown_choice_is_a_usage_error(gan_points_onnx: Path) -> None:
    r = genedge("sample", str(gan_points_onnx), "--backend", "warp")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "'warp' is not one of" in r.stderr and "'ort-tensorrt'" in r.stderr


def test_the_cli_defaults_are_the_apis() -> None:
    import inspect

    from genedge.cli.export_cmd import export, verify
    from genedge.export.onnx_export import export_run, verify_artifact
    from genedge.runtime.backends import BACKEND_NAMES
    from genedge.train import distributed as ddp

    def defaults(fn: object) -> dict[str, object]:
        return {
            k: getattr(p.default, "value", p.default)
            for k, p in inspect.signature(fn).parameters.items()  # type: ignore[arg-type]
        }

    api, cli = defaults(export_run), defaults(export)
    assert cli["quality_check"] == api["quality_check"] and cli["precision"] == api["precision"]
    api, cli = defaults(verify_artifact), defaults(verify)
    assert cli["backend"] == api["backend"] and cli["check_finite"] == api["check_finite"]
    assert BACKEND_NAMES[0] == "auto" and ddp.BACKENDS[0] == "auto"


def test_importing_the_cli_loads_no_torch() -> None:
    """The family choices come from names alone; the registry (and torch) loads on `train`."""
    code = "import sys, genedge.cli; sys.exit('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_the_family_choices_are_the_registrys_names() -> None:
    from genedge.cli._app import FAMILY_ENTRY_POINTS, FamilyName, family_choices
    from genedge.train import families

    assert FAMILY_ENTRY_POINTS == families.ENTRY_POINT_GROUP
    assert [m.value for m in FamilyName] == family_choices()
    assert sorted(family_choices()) == sorted(families.family_names())


def test_a_family_registered_in_process_is_offered(monkeypatch: pytest.MonkeyPatch) -> None:
    from genedge.cli._app import family_choices
    from genedge.train import families

    monkeypatch.setitem(families._registered, "toy-registered", object)  # type: ignore[arg-type]
    assert family_choices()[-1] == "toy-registered"

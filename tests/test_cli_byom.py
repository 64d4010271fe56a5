"""The bring-your-own-generator commands end to end (docs/byom.md): export --module, verify
--against FILE.py:Name, wrap, info and sample on a plain or custom file."""

from __future__ import annotations

import json
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from genedge.runtime import Sampler, read_manifest

sys.path.insert(0, str(Path(__file__).parent / "export"))
import byom_models as bm  # noqa: E402
from test_cli import assert_clean_error, genedge  # noqa: E402

DCGAN = ["--latent", "100x1x1", "--value-range", "0,255", "--model-range", "-1,1"]
INIT = ["--init", '{"ngf": 8}']


@pytest.fixture
def user_files(tmp_path: Path, torch_seed: int) -> Path:
    """A user's folder: models.py (the generators of tests/export/byom_models.py), netG.pth."""
    shutil.copy(Path(__file__).parent / "export" / "byom_models.py", tmp_path / "models.py")
    G = bm.randomise_batchnorm(bm.ExamplesDCGAN(ngf=8))
    torch.save(G.state_dict(), tmp_path / "netG.pth")
    return tmp_path


def test_export_verify_sample_info_a_module(user_files: Path) -> None:
    d = user_files
    models, weights, out = str(d / "models.py"), str(d / "netG.pth"), d / "g.onnx"
    mod = f"{models}:ExamplesDCGAN"
    r = genedge("export", "--module", mod, *INIT, "--weights", weights, *DCGAN, "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "PASSED" in r.stdout and "wrote" in r.stdout
    prov = read_manifest(out).provenance
    assert prov["source"] == "module" and prov["weights"] == "netG.pth"
    assert len(prov["weights_sha256"]) == 64
    r = genedge("verify", str(out), "--against", mod, *INIT, "--weights", weights)
    assert r.returncode == 0 and "PASSED" in r.stdout, r.stderr
    info = genedge("info", str(out))
    assert "exported from module" in info.stdout and "None" not in info.stdout
    r = genedge("sample", str(out), "-n", "5", "--seed", "0", "--out", str(d / "x.npy"))
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(d / "x.npy"), Sampler(out).sample(5, seed=0))


def test_weights_that_do_not_fit_are_listed_in_one_line(user_files: Path) -> None:
    d = user_files
    r = genedge(
        "export", "--module", f"{d / 'models.py'}:ExamplesDCGAN", "--init", '{"ngf": 16}',
        "--weights", str(d / "netG.pth"), *DCGAN, "--out", str(d / "g.onnx"),
    )  # fmt: skip
    assert_clean_error(r, "netG.pth does not fit ExamplesDCGAN: shapes differ for main.0.weight")
    assert not (d / "g.onnx").exists()


def test_pickled_code_is_never_loaded(user_files: Path) -> None:
    d = user_files
    torch.save({"model": bm.ExamplesDCGAN(ngf=8)}, d / "whole.pth")  # a pickled module object
    r = genedge(
        "export", "--module", f"{d / 'models.py'}:ExamplesDCGAN", *INIT,
        "--weights", str(d / "whole.pth"), *DCGAN, "--out", str(d / "g.onnx"),
    )  # fmt: skip
    assert_clean_error(r, "cannot be read as plain weights (weights_only=True")


def test_noise_in_forward_is_one_line_exit_2(user_files: Path) -> None:
    d = user_files
    r = genedge(
        "export", "--module", f"{d / 'models.py'}:NoisyDCGAN", *INIT, *DCGAN,
        "--out", str(d / "n.onnx"),
    )  # fmt: skip
    assert_clean_error(r, "the graph draws its own noise at node")
    r = genedge(
        "export", "--module", f"{d / 'models.py'}:NoiseAsInputDCGAN", *INIT, *DCGAN,
        "--noise", "noise=100x1x1", "--out", str(d / "n.onnx"),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr


def test_plain_onnx_info_suggests_wrap_and_wrap_makes_an_artifact(user_files: Path) -> None:
    d = user_files
    G = bm.ExamplesDCGAN(ngf=8)
    G.load_state_dict(torch.load(d / "netG.pth", weights_only=True))
    plain = d / "plain.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            G.eval(), (torch.zeros(2, 100, 1, 1),), str(plain), input_names=["input"],
            output_names=["out"], dynamic_axes={"input": {0: "N"}, "out": {0: "N"}}, dynamo=False,
        )  # fmt: skip
    info = genedge("info", str(plain))
    assert info.returncode == 0 and "input input: tensor(float) [Nx100x1x1]" in info.stdout
    assert "genedge wrap plain.onnx --latent input" in info.stdout
    assert_clean_error(genedge("sample", str(plain), "-n", "2"), "genedge wrap plain.onnx")
    r = genedge(
        "wrap", str(plain), "--value-range", "0,255", "--model-range", "-1,1",
        "--out", str(d / "w.onnx"), "--against", f"{d / 'models.py'}:ExamplesDCGAN", *INIT,
        "--weights", str(d / "netG.pth"),
    )  # fmt: skip
    assert r.returncode == 0 and "PASSED" in r.stdout, r.stderr
    assert "wrapped ONNX file" in genedge("info", str(d / "w.onnx")).stdout


def test_bench_against_a_module_adds_the_torch_rows(user_files: Path) -> None:
    d = user_files
    mod, weights, out = f"{d / 'models.py'}:NoiseAsInputDCGAN", str(d / "netG.pth"), d / "n.onnx"
    r = genedge(
        "export", "--module", mod, *INIT, "--weights", weights, *DCGAN,
        "--noise", "noise=100x1x1", "--out", str(out),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = genedge(
        "bench", str(out), "--against", mod, *INIT, "--weights", weights,
        "--backends", "torch,cpu,cpu-bare,torch-cuda", "--batch-sizes", "1,3", "--budget", "0.02",
        "--precisions", "fp16", "--json", str(d / "b.json"),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    report = json.loads((d / "b.json").read_text())
    ran = [
        row for row in report["rows"] if row["status"] == "ok" and row["backend"] != "torch-cuda"
    ]
    assert {(row["backend"], row["batch"]) for row in ran} == {
        (b, n) for b in ("torch", "cpu", "cpu-bare") for n in (1, 3)
    }
    # The torch row is the module itself, so the artifact's rows carry their parity with it.
    assert all(row["speedup_vs_torch"] > 0 for row in ran)
    assert all(row["parity_max_abs"] < 1e-5 for row in ran if row["backend"] != "torch")
    assert report["flops_per_sample"] > 0
    skipped = {row["backend"]: row["status"] for row in report["rows"] if row["batch"] == 0}
    assert skipped["cpu-fp16"].startswith("skipped: pass --against RUN to export")
    if not torch.cuda.is_available():  # the GPU row is built from the module too: its reason
        assert skipped["torch-cuda"].startswith("not available: torch")
    assert "torch" in r.stdout and "cpu-bare" in r.stdout


def test_bench_against_a_module_with_bad_weights_is_one_line(user_files: Path) -> None:
    d = user_files
    out = d / "g.onnx"
    mod = f"{d / 'models.py'}:ExamplesDCGAN"
    r = genedge("export", "--module", mod, *INIT, *DCGAN, "--out", str(out))
    assert r.returncode == 0, r.stderr
    r = genedge(
        "bench", str(out), "--against", mod, "--init", '{"ngf": 16}',
        "--weights", str(d / "netG.pth"), "--backends", "torch", "--batch-sizes", "1",
    )  # fmt: skip
    assert_clean_error(r, "netG.pth does not fit ExamplesDCGAN: shapes differ")

"""The vae family: it learns (held-out ELBO), exports encoder and decoder with parity, and the
torch-free runtime encodes, reconstructs, repairs and interpolates; mistakes get one clear line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch

from genedge.export.onnx_export import ExportResult, export_run
from genedge.runtime.artifact import read_manifest
from genedge.runtime.errors import ArtifactError, InputError
from genedge.runtime.images import decode_png, encode_png
from genedge.runtime.interpolate import interpolate, latent_path, slerp
from genedge.runtime.vae import VAESampler, data_to_image
from genedge.train.data import load_dataset
from genedge.train.families.vae import negative_elbo
from genedge.train.preprocess import to_model_units
from genedge.train.run_folder import load_trained

if TYPE_CHECKING:
    from conftest import ShortRun

STEPS = 1200
OVERRIDES = {"steps": STEPS, "hidden": [256, 128], "z_dim": 8}

# Two intra-op threads on two shared cores slow small networks down many times over.
pytestmark = pytest.mark.usefixtures("pinned_threads")


@pytest.fixture(scope="module")
def digits_split(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """1500 of the 8x8 digits as a training file, and the other 297 held out."""
    ds = load_dataset("digits")
    order = np.random.default_rng(0).permutation(len(ds))
    path = tmp_path_factory.mktemp("data") / "digits-train.npy"
    np.save(path, ds.x[order[:1500]])
    return path, ds.x[order[1500:]]


@pytest.fixture(scope="module")
def vae_run(
    digits_split: tuple[Path, np.ndarray],
    tmp_path_factory: pytest.TempPathFactory,
    short_run: ShortRun,
) -> Path:
    run = tmp_path_factory.mktemp("runs") / "vae-digits"
    return short_run(run, "vae", str(digits_split[0]), **OVERRIDES)


@pytest.fixture(scope="module")
def exported(vae_run: Path, tmp_path_factory: pytest.TempPathFactory) -> ExportResult:
    return export_run(vae_run, tmp_path_factory.mktemp("artifacts") / "vae.onnx")


@pytest.fixture(scope="module")
def vae(exported: ExportResult) -> VAESampler:
    return VAESampler(exported.path, backend="cpu")


@pytest.fixture(scope="module")
def held_out(digits_split: tuple[Path, np.ndarray]) -> np.ndarray:
    return digits_split[1]


def genedge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "genedge", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )


def assert_one_line_error(r: subprocess.CompletedProcess[str], message: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], r.stderr


# --- learning ----------------------------------------------------------------------------------


def test_held_out_elbo_improves(vae_run: Path, held_out: np.ndarray) -> None:
    cfg, family, trained, _ = load_trained(vae_run)
    hp = family.from_hparams(cfg.hparams)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)  # the loop's initial weights
        init = family.build(hp, cfg.data_info)
    x = torch.from_numpy(to_model_units(held_out, cfg.preprocessing))
    eps = torch.randn(len(x), hp.z_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before, _, _ = negative_elbo(init, x, eps, hp)
        after, rec, kl = negative_elbo(trained, x, eps, hp)
    print(f"held-out -ELBO: {before:.2f} -> {after:.2f} nats (recon {rec:.2f}, KL {kl:.2f})")
    assert after < 0.75 * before
    assert kl > 1.0  # the latent is used, not collapsed onto the prior


def test_reconstructions_beat_the_data_variance(vae: VAESampler, held_out: np.ndarray) -> None:
    rec = vae.reconstruct(held_out)
    mse = float(np.mean((rec - held_out) ** 2))
    var = float(np.mean((held_out - held_out.mean(0)) ** 2))
    print(f"held-out reconstruction MSE {mse:.2f} vs data variance {var:.2f} (data units^2)")
    assert rec.shape == held_out.shape and rec.dtype == np.float32
    assert mse < 0.5 * var


# --- export --------------------------------------------------------------------------------------


def test_export_checks_both_graphs(exported: ExportResult) -> None:
    assert exported.report.passed
    cases = {(c.graph, c.batch) for c in exported.report.cases}
    assert cases == {(g, b) for g in ("sampler", "encoder") for b in (1, 37)}
    assert [f.name for f in exported.files] == ["vae.encoder.onnx", "vae.onnx"]
    m = read_manifest(exported.path)
    assert m.family == "vae" and m.graphs["encoder"].file == "vae.encoder.onnx"
    assert [(t.name, t.role) for t in m.graphs["encoder"].inputs] == [("x", "data")]
    assert [t.name for t in m.graphs["encoder"].outputs] == ["mu", "logvar"]
    assert m.preprocessing.model_min == 0.0 and m.preprocessing.model_max == 1.0


def test_encoder_file_describes_itself(exported: ExportResult) -> None:
    """The companion is marked as the encoder of vae.onnx: opening it says which file to open."""
    from genedge.runtime.artifact import CompanionError

    encoder = exported.path.parent / "vae.encoder.onnx"
    assert read_manifest(encoder, companions=True).companion is not None
    assert read_manifest(exported.path).companion is None
    for opener in (read_manifest, VAESampler):
        with pytest.raises(CompanionError, match="^vae.encoder.onnx is the encoder of vae.onnx"):
            opener(encoder)
    r = genedge("sample", str(encoder), "-n", "2")
    assert_one_line_error(r, "vae.encoder.onnx is the encoder of vae.onnx: open vae.onnx")


def test_encode_maps_data_units_to_the_models(
    vae: VAESampler, vae_run: Path, held_out: np.ndarray
) -> None:
    cfg, _, models, _ = load_trained(vae_run)
    with torch.no_grad():
        mu_ref, lv_ref = models["encoder"](
            torch.from_numpy(to_model_units(held_out, cfg.preprocessing))
        )
    mu, logvar = vae.encode(held_out, batch_size=50)
    assert mu.shape == logvar.shape == (len(held_out), 8)
    np.testing.assert_allclose(mu, mu_ref.numpy(), atol=1e-4)
    np.testing.assert_allclose(logvar, lv_ref.numpy(), atol=1e-4)


# --- runtime: repair and interpolation ------------------------------------------------------------


def test_repair_fills_missing_pixels_and_keeps_known_ones(
    vae: VAESampler, held_out: np.ndarray
) -> None:
    truth = held_out[:100]
    mask = np.ones((1, 8, 8), np.uint8)
    mask[:, 4:, :] = 0  # the bottom half is lost
    damaged = truth * mask
    fixed = vae.repair(damaged, mask, steps=20)
    lost = np.broadcast_to(mask == 0, truth.shape)
    before = float(np.mean((damaged - truth)[lost] ** 2))
    after = float(np.mean((fixed - truth)[lost] ** 2))
    print(f"MSE on the missing pixels: damaged {before:.2f} -> repaired {after:.2f}")
    assert after < 0.6 * before
    assert np.array_equal(fixed[~lost], damaged[~lost])


def test_interpolation_ends_at_the_seeded_samples(vae: VAESampler) -> None:
    walk = interpolate(vae, 7, seed=5)
    assert walk.shape == (7, 1, 8, 8)
    assert np.array_equal(walk[0], vae.sample(1, seed=5)[0])
    assert np.array_equal(walk[-1], vae.sample(1, seed=6)[0])
    assert not np.allclose(walk[3], walk[0]) and not np.allclose(walk[3], walk[-1])
    z = latent_path(vae, 7, seed=5, end_seed=9, spherical=False)
    assert np.allclose(z[3], (z[0] + z[-1]) / 2, atol=1e-6)


def test_interpolation_works_for_a_gan(gan_image_onnx: Path) -> None:
    from genedge.runtime import Sampler

    s = Sampler(gan_image_onnx, backend="cpu")
    walk = interpolate(s, 4, seed=2, end_seed=8)
    assert np.array_equal(walk[0], s.sample(1, seed=2)[0])
    assert np.array_equal(walk[-1], s.sample(1, seed=8)[0])


def test_slerp() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3, 16)).astype(np.float32)
    path = slerp(a, b, np.linspace(0, 1, 5))
    assert path.shape == (5, 3, 16)
    assert np.array_equal(path[0], a) and np.array_equal(path[-1], b)
    b = b * (np.linalg.norm(a) / np.linalg.norm(b))  # equal norms: slerp keeps the norm
    norms = np.linalg.norm(slerp(a, b, np.linspace(0, 1, 9)).reshape(9, -1), axis=1)
    np.testing.assert_allclose(norms, np.linalg.norm(a), rtol=1e-5)
    np.testing.assert_allclose(slerp(a, 2 * a, 0.5), 1.5 * a, rtol=1e-6)  # parallel: a line
    with pytest.raises(InputError, match="one shape"):
        slerp(a, b[:2], 0.5)


# --- errors --------------------------------------------------------------------------------------


def test_clear_errors(
    vae: VAESampler, exported: ExportResult, tmp_path: Path, gan_image_onnx: Path
):
    with pytest.raises(InputError, match="not a VAE"):
        VAESampler(gan_image_onnx)
    with pytest.raises(InputError, match=r"shaped \(n, 1, 8, 8\)"):
        vae.encode(np.zeros((2, 8, 8)))
    with pytest.raises(InputError, match="no samples"):
        vae.encode(np.zeros((0, 1, 8, 8)))
    with pytest.raises(InputError, match="NaN"):
        vae.encode(np.full((1, 1, 8, 8), np.nan))
    with pytest.raises(InputError, match="mask must be shaped"):
        vae.repair(np.zeros((2, 1, 8, 8)), np.ones((8, 8)))
    with pytest.raises(InputError, match="only 0"):
        vae.repair(np.zeros((2, 1, 8, 8)), np.full((1, 8, 8), 0.5))
    with pytest.raises(InputError, match="steps"):
        vae.repair(np.zeros((2, 1, 8, 8)), np.ones((1, 8, 8)), steps=0)
    alone = tmp_path / "vae.onnx"
    shutil.copy(exported.path, alone)
    with pytest.raises(ArtifactError, match="encoder of vae.onnx is missing"):
        VAESampler(alone)


# --- CLI -----------------------------------------------------------------------------------------


def test_cli_reconstruct_interpolate_repair(
    exported: ExportResult, held_out: np.ndarray, tmp_path: Path
) -> None:
    model = str(exported.path)
    np.save(tmp_path / "imgs.npy", held_out[:10])
    r = genedge(
        "reconstruct", model, "--input", str(tmp_path / "imgs.npy"), "-o", str(tmp_path / "rec.png")
    )
    assert r.returncode == 0, r.stderr
    assert "reconstructed 10 samples" in r.stdout
    assert decode_png((tmp_path / "rec.png").read_bytes()).ndim == 2

    r = genedge(
        "interpolate", model, "--steps", "6", "--seed", "0", "-o", str(tmp_path / "walk.png")
    )
    assert r.returncode == 0, r.stderr
    walk = decode_png((tmp_path / "walk.png").read_bytes())
    assert walk.shape[1] > 5 * walk.shape[0]  # one row of six

    vae = VAESampler(exported.path, backend="cpu")
    mask = np.full((8, 8), 255, np.uint8)
    mask[4:] = 0
    damaged = data_to_image(held_out[0], vae.manifest) * (mask > 0)
    (tmp_path / "damaged.png").write_bytes(encode_png(damaged.astype(np.uint8)))
    (tmp_path / "mask.png").write_bytes(encode_png(mask))
    r = genedge(
        "repair",
        model,
        "--image",
        str(tmp_path / "damaged.png"),
        "--mask",
        str(tmp_path / "mask.png"),
        "--out",
        str(tmp_path / "fixed.png"),
    )
    assert r.returncode == 0, r.stderr
    fixed = decode_png((tmp_path / "fixed.png").read_bytes())
    assert fixed.shape == (8, 8)
    assert np.array_equal(fixed[:4], damaged[:4])
    assert fixed[4:].any()  # the lost half is drawn in


def test_cli_errors(exported: ExportResult, gan_image_onnx: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "imgs.npy", np.zeros((3, 1, 8, 8), np.float32))
    r = genedge("reconstruct", str(gan_image_onnx), "--input", str(tmp_path / "imgs.npy"))
    assert_one_line_error(r, "not a VAE")
    np.save(tmp_path / "bad.npy", np.zeros((3, 8, 8), np.float32))
    r = genedge("reconstruct", str(exported.path), "--input", str(tmp_path / "bad.npy"))
    assert_one_line_error(r, "shaped (n, 1, 8, 8)")
    (tmp_path / "img.png").write_bytes(encode_png(np.zeros((8, 8), np.uint8)))
    (tmp_path / "mask.png").write_bytes(encode_png(np.zeros((9, 9), np.uint8)))
    r = genedge(
        "repair",
        str(exported.path),
        "--image",
        str(tmp_path / "img.png"),
        "--mask",
        str(tmp_path / "mask.png"),
        "--out",
        str(tmp_path / "fixed.png"),
    )
    assert_one_line_error(r, "9x9 pixels")
    assert not (tmp_path / "fixed.png").exists()

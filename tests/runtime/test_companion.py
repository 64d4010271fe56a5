"""A companion graph's file (a VAE's encoder) describes itself: opening it as an artifact is one
clear line naming the file to open, and `genedge info` says what it is. Companions of 1.0
artifacts, which carry the decoder's manifest unmarked, keep working through the artifact."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx
import pytest

from genedge.runtime import Sampler
from genedge.runtime.artifact import CompanionError, read_manifest
from genedge.runtime.manifest import METADATA_KEY, Companion
from genedge.runtime.vae import VAESampler

if TYPE_CHECKING:
    from conftest import ShortRun

ENCODER_ERROR = "vae.encoder.onnx is the encoder of vae.onnx: open vae.onnx"


#: One torch thread for the module and its training fixture (see tests/conftest.py).
pytestmark = pytest.mark.usefixtures("pinned_threads")


@pytest.fixture(scope="module")
def vae_onnx(
    tmp_path_factory: pytest.TempPathFactory,
    short_run: ShortRun,
    digits_npz: Path,
    pinned_threads: int,
) -> Path:
    """A VAE trained for a few steps on 8x8 digits, exported as vae.onnx + vae.encoder.onnx
    (torch's global RNG, which training and export draw from, put back after)."""
    import torch

    from genedge.export.onnx_export import export_run

    out = tmp_path_factory.mktemp("artifacts") / "vae.onnx"
    with torch.random.fork_rng(devices=[]):
        run = short_run(tmp_path_factory.mktemp("runs") / "vae", "vae", str(digits_npz), 5)
        export_run(run, out)
    return out


@pytest.fixture
def legacy(vae_onnx: Path, tmp_path: Path) -> Path:
    """The artifact as genedge wrote it before schema 1.1: both files carry the decoder's 1.0
    manifest, the encoder's unmarked."""
    for name in ("vae.onnx", "vae.encoder.onnx"):
        model = onnx.load(vae_onnx.parent / name)
        d = json.loads(model.metadata_props[0].value)
        d.pop("companion", None)
        d["schema_version"] = "1.0"
        del model.metadata_props[:]
        entry = model.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, json.dumps(d)
        onnx.save(model, tmp_path / name)
    return tmp_path / "vae.onnx"


def genedge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "genedge", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )


def _rows(stdout: str) -> dict[str, str]:
    """The field -> value rows of `genedge info`'s table."""
    cells = (ln.split("│") for ln in stdout.splitlines())
    return {c[1].strip(): c[2].strip() for c in cells if len(c) == 4}


def _one_line_error(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_export_marks_the_encoder_as_a_companion(vae_onnx: Path) -> None:
    main = read_manifest(vae_onnx)
    assert main.companion is None and main.schema_version == "2.0"
    # 1.3: the decoder's likelihood is contract, written by the export from the run.
    assert main.likelihood == main.provenance["hparams"]["likelihood"] == "bernoulli"
    assert main.can_encode and main.clusters == 0
    assert "companion" not in json.loads(main.to_json())
    encoder = read_manifest(vae_onnx.parent / "vae.encoder.onnx", companions=True)
    assert encoder.companion == Companion(role="encoder", artifact="vae.onnx")
    assert encoder.graphs == main.graphs


@pytest.mark.parametrize("opener", [read_manifest, Sampler, VAESampler])
def test_opening_the_encoder_names_the_artifact(vae_onnx: Path, opener: object) -> None:
    with pytest.raises(CompanionError) as e:
        opener(vae_onnx.parent / "vae.encoder.onnx")  # type: ignore[operator]
    assert str(e.value) == ENCODER_ERROR
    assert e.value.companion == Companion("encoder", "vae.onnx")


def test_a_renamed_encoder_still_names_its_artifact(vae_onnx: Path, tmp_path: Path) -> None:
    shutil.copy(vae_onnx.parent / "vae.encoder.onnx", tmp_path / "enc.onnx")
    with pytest.raises(CompanionError, match="^enc.onnx is the encoder of vae.onnx: open vae"):
        read_manifest(tmp_path / "enc.onnx")


def test_cli_info_describes_the_encoder_itself(vae_onnx: Path) -> None:
    encoder = vae_onnx.parent / "vae.encoder.onnx"
    r = genedge("info", str(encoder))
    assert r.returncode == 0, r.stderr
    rows = _rows(r.stdout)
    assert rows["companion"] == "the encoder graph of vae.onnx (open vae.onnx to use it)"
    assert rows["inputs"] == "x[data] float32['batch', 1, 8, 8]"
    assert rows["outputs"].startswith("mu float32['batch', ") and ", logvar " in rows["outputs"]
    assert rows["size"] == f"{encoder.stat().st_size / 1024:.0f} KiB"  # its own size, once
    assert not {"latent", "graph sampler", "parity"} & rows.keys()  # not the decoder's summary
    r = genedge("info", str(encoder), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["companion"] == {"role": "encoder", "artifact": "vae.onnx"}


def test_cli_info_on_the_artifact_counts_both_files(vae_onnx: Path) -> None:
    r = genedge("info", str(vae_onnx))
    assert r.returncode == 0, r.stderr
    total = sum((vae_onnx.parent / n).stat().st_size for n in ("vae.onnx", "vae.encoder.onnx"))
    rows = _rows(r.stdout)
    assert rows["size"] == f"{total / 1024:.0f} KiB"
    assert "companion" not in rows and rows["graph encoder"].startswith("vae.encoder.onnx: ")


def test_cli_sample_on_the_encoder_is_one_line(vae_onnx: Path, tmp_path: Path) -> None:
    r = genedge("sample", str(vae_onnx.parent / "vae.encoder.onnx"), "-o", str(tmp_path / "x.npy"))
    assert ENCODER_ERROR in _one_line_error(r)
    assert not (tmp_path / "x.npy").exists()


def test_legacy_artifact_still_loads_and_encodes(legacy: Path) -> None:
    assert read_manifest(legacy).schema_version == "1.0"
    vae = VAESampler(legacy, backend="cpu")
    x = vae.sample(3, seed=0)
    mu, logvar = vae.encode(x)
    assert mu.shape == logvar.shape == (3, vae.manifest.latent_dim)
    assert np.isfinite(vae.reconstruct(x)).all()


def test_legacy_encoder_is_recognised_by_its_name(legacy: Path) -> None:
    encoder = legacy.parent / "vae.encoder.onnx"
    with pytest.raises(CompanionError, match=f"^{ENCODER_ERROR}$"):
        Sampler(encoder, backend="cpu")
    marked = read_manifest(encoder, companions=True)
    assert marked.companion == Companion("encoder", "vae.onnx")
    r = genedge("info", str(encoder))
    assert r.returncode == 0, r.stderr
    assert "the encoder graph of vae.onnx" in r.stdout and "graph sampler" not in r.stdout


def test_open_source_opens_an_encoder_when_the_model_has_one(vae_onnx: Path) -> None:
    from genedge.source import open_source

    vae = open_source(vae_onnx, backend="cpu")
    assert isinstance(vae, VAESampler) and vae.manifest.can_encode
    plain = open_source(vae_onnx, backend="cpu", encoder=False)
    assert type(plain) is Sampler
    np.testing.assert_array_equal(plain.sample(5, seed=2), vae.sample(5, seed=2))

"""One ``open_source()`` for "an artifact or a run folder": the runtime's Sampler for an
artifact, PyTorch's for a run, with the same noise path and the same 1.3 contract fields."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genedge.runtime import Sampler
from genedge.runtime.errors import ArtifactError
from genedge.runtime.vae import VAESampler
from genedge.source import open_source

#: One torch thread for the module and its training fixture (see tests/conftest.py).
pytestmark = pytest.mark.usefixtures("pinned_threads")


def test_an_artifact_opens_in_the_runtime(gan_points_onnx: Path) -> None:
    s = open_source(gan_points_onnx, backend="cpu")
    assert type(s) is Sampler and s.backend == "cpu" and s.path == gan_points_onnx


def test_a_run_opens_on_pytorch_with_the_exports_samples_and_contract(
    gan_points_run: Path, gan_points_onnx: Path
) -> None:
    run = open_source(gan_points_run)
    art = open_source(gan_points_onnx, backend="cpu")
    assert type(run) is Sampler and run.backend == "torch"
    # fp32 parity between torch and onnxruntime is ~1e-7 here; the export's own bar is 1e-5.
    np.testing.assert_allclose(run.sample(64, seed=1), art.sample(64, seed=1), atol=1e-5)
    hp_clusters = run.manifest.provenance["hparams"]["clusters"]
    assert run.manifest.clusters == art.manifest.clusters == hp_clusters
    assert run.manifest.likelihood is art.manifest.likelihood is None


def test_a_missing_file_is_an_artifact_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="not found"):
        open_source(tmp_path / "nope.onnx")


def test_the_vae_class_is_only_for_models_that_encode(gan_points_onnx: Path) -> None:
    assert not isinstance(open_source(gan_points_onnx, backend="cpu"), VAESampler)

"""The runtime samples any family whose input roles and output kind it knows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from genedge.runtime import Sampler, read_manifest
from genedge.runtime.manifest import METADATA_KEY


def test_an_artifact_of_a_family_the_runtime_never_heard_of_samples(
    gan_points_onnx: Path, tmp_path: Path
) -> None:
    model = onnx.load(gan_points_onnx)
    renamed = read_manifest(gan_points_onnx).with_updates(family="acme-flow.v2")
    for p in model.metadata_props:
        if p.key == METADATA_KEY:
            p.value = renamed.to_json()
    onnx.save(model, tmp_path / "acme.onnx")
    s = Sampler(tmp_path / "acme.onnx", backend="cpu", threads=1)
    assert s.manifest.family == "acme-flow.v2"
    np.testing.assert_array_equal(
        s.sample(50, seed=3), Sampler(gan_points_onnx, backend="cpu", threads=1).sample(50, seed=3)
    )

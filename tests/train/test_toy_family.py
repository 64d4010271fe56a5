"""docs/families.md's toy family, run as written: registered from outside genedge, trained,
exported with parity and sampled torch-free, with no genedge file edited."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from genedge.train.families import family_names, get_family, unregister_family

DOC = Path(__file__).resolve().parents[2] / "docs" / "families.md"


@pytest.fixture
def toy_family() -> Iterator[str]:
    block = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert block, "docs/families.md lost its toy family"
    assert len(block.group(1).splitlines()) < 100
    exec(compile(block.group(1), str(DOC), "exec"), {"__name__": "toy_family_doc"})
    yield "toy-gaussian"
    unregister_family("toy-gaussian")


def test_the_documented_toy_family_trains_exports_and_samples(
    toy_family: str, tmp_path: Path
) -> None:
    from genedge.export.onnx_export import export_run
    from genedge.runtime import Sampler
    from genedge.train.data import load_dataset
    from genedge.train.loop import train

    assert toy_family in family_names() and get_family(toy_family).name == toy_family
    run = tmp_path / "run"
    train(
        run,
        toy_family,
        "ring8",
        overrides={"steps": 150},
        seed=0,
        device="cpu",
        checkpoint_every=150,
        sample_every=150,
        threads=1,
    )
    result = export_run(run, tmp_path / "toy.onnx")
    assert result.report.passed
    s = Sampler(result.path, backend="cpu", threads=1)
    assert s.manifest.family == toy_family
    x = s.sample(4000, seed=0)
    real = load_dataset("ring8", seed=0).x
    # It learned the data's first two moments (ring8: mean ~0, std ~1.4 per axis).
    np.testing.assert_allclose(x.mean(0), real.mean(0), atol=0.15 * real.std())
    np.testing.assert_allclose(x.std(0), real.std(0), rtol=0.15)
    np.testing.assert_array_equal(x, s.sample(4000, seed=0))

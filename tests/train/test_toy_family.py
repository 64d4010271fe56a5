"""docs/families.md's toy families, run as written: registered from outside genedge, trained,
exported with parity and sampled torch-free, with no genedge file edited; one with a typed
config, one with the dict API."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from genedge.train.families import family_names, get_family, unregister_family

DOC = Path(__file__).resolve().parents[2] / "docs" / "families.md"


NAMES = ("toy-gaussian", "toy-gaussian-dict")


@pytest.fixture(params=NAMES)
def toy_family(request: pytest.FixtureRequest) -> Iterator[str]:
    """Both of the page's blocks run in one namespace (the second reuses the first's
    imports); yields the family the test trains."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 2, "docs/families.md lost a toy family"
    assert all(len(b.splitlines()) < 100 for b in blocks)
    namespace = {"__name__": "toy_family_doc"}
    try:
        for block in blocks:
            # dont_inherit: the page's code, not this module's `from __future__` annotations.
            exec(compile(block, str(DOC), "exec", dont_inherit=True), namespace)
        yield str(request.param)
    finally:
        for name in NAMES:
            unregister_family(name)


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


def test_the_typed_toy_checks_its_settings(toy_family: str) -> None:
    from genedge.runtime.errors import InputError
    from genedge.train.run import DataInfo

    family = get_family(toy_family)
    info = DataInfo("ring8", "points", (2,), (-2.0, 2.0), size=2000)
    cfg = family.config({"steps": 5, "lr": 1}, info)
    settings = family.config_dict(cfg)
    assert settings == {"steps": 5, "batch_size": 256, "lr": 1, "z_dim": 2}
    if family.config_type is not None:  # typed: attributes, and the value coerced
        assert (cfg.steps, cfg.z_dim, type(settings["lr"])) == (5, 2, float)
        with pytest.raises(InputError, match="toy-gaussian setting z_dim must be an integer"):
            family.config({"z_dim": "two"}, info)
    with pytest.raises(InputError) as e:
        family.config({"depth": 3}, info)
    assert str(e.value) == (
        f"{toy_family} has no setting 'depth'; settings: batch_size, lr, steps, z_dim"
    )

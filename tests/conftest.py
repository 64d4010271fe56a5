"""Shared fixtures: small trained runs and their exported artifacts, built once per session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

ShortRun = Callable[..., Path]


def _short_run(
    run: Path, family: str, data: str, steps: int, threads: int | None = None, **overrides: object
) -> Path:
    """Train ``family`` on ``data`` for ``steps`` (seed 0, CPU), one checkpoint and grid at the
    end; ``overrides`` join ``steps``."""
    from genedge.train.loop import train

    train(
        run,
        family,
        data,
        overrides={"steps": steps, **overrides},
        seed=0,
        device="cpu",
        checkpoint_every=steps,
        sample_every=steps,
        threads=threads,
    )
    return run


@pytest.fixture(scope="session")
def short_run() -> ShortRun:
    """:func:`_short_run`: the brief, seeded training the family tests build on."""
    return _short_run


@pytest.fixture(scope="session")
def gan_points_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain GAN trained briefly on ring8 (2-D points).

    Self-conditioning is off (``clusters=0``) so that z is the 2 values wide the runtime tests
    spell out; the self-conditioned default is covered by the family and precision tests."""
    run = tmp_path_factory.mktemp("runs") / "gan-ring8"
    return _short_run(run, "gan", "ring8", 300, clusters=0)


@pytest.fixture(scope="session")
def gan_points_onnx(gan_points_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from genedge.export.onnx_export import export_run

    out = tmp_path_factory.mktemp("artifacts") / "gan-ring8.onnx"
    export_run(gan_points_run, out)
    return out


@pytest.fixture(scope="session")
def digits_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small image data set on disk: 200 of scikit-learn's 8x8 digits with labels."""
    from genedge.train.data import load_dataset

    ds = load_dataset("digits", n=200, seed=0)
    path = tmp_path_factory.mktemp("data") / "digits200.npz"
    np.savez(path, x=ds.x, y=ds.y)
    return path


@pytest.fixture(scope="session")
def gan_image_run(digits_npz: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A classic GAN trained for a few steps on 8x8 digit images (shape tests, not quality)."""
    run = tmp_path_factory.mktemp("runs") / "gan-digits"
    return _short_run(run, "gan", str(digits_npz), 30, batch_size=32)


@pytest.fixture(scope="session")
def gan_image_onnx(gan_image_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from genedge.export.onnx_export import export_run

    out = tmp_path_factory.mktemp("artifacts") / "gan-digits.onnx"
    export_run(gan_image_run, out)
    return out

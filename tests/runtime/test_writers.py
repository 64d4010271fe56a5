"""Sample files: every format streams (or refuses up front), and honours the umask."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from genedge.runtime import Sampler
from genedge.runtime.errors import OutputError
from genedge.runtime.writers import MAX_PNG_SAMPLES, write_samples


def _chunks(s: Sampler, n: int, batch: int, labels: object = None) -> Iterator:
    ys = s.labels_for(n, labels, repeat=True)
    return s.iter_samples(n, 0, labels=ys, batch_size=batch)


def test_npz_streams_chunks_into_the_same_arrays(gan_points_onnx: Path, tmp_path: Path) -> None:
    s = Sampler(gan_points_onnx, threads=1)
    write_samples(tmp_path / "a.npz", _chunks(s, 1000, 64), s.manifest, 1000)
    with np.load(tmp_path / "a.npz") as z:
        assert list(z.keys()) == ["x"]
        np.testing.assert_array_equal(z["x"], s.sample(1000, seed=0))


@pytest.fixture(scope="module")
def cgan_points_onnx(short_run, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: ANN001
    from genedge.export.onnx_export import export_run

    run = short_run(tmp_path_factory.mktemp("runs") / "cgan-ring8", "cgan", "ring8", 20)
    out = tmp_path_factory.mktemp("artifacts") / "cgan-ring8.onnx"
    export_run(run, out)
    return out


def test_labelled_npz_holds_x_and_y(tmp_path: Path, cgan_points_onnx: Path) -> None:
    s = Sampler(cgan_points_onnx, threads=1)
    write_samples(tmp_path / "c.npz", _chunks(s, 300, 64, [2, 0]), s.manifest, 300)
    with np.load(tmp_path / "c.npz") as z:
        x, y = s.sample_labelled(300, seed=0, labels=s.labels_for(300, [2, 0], repeat=True))
        np.testing.assert_array_equal(z["x"], x)
        np.testing.assert_array_equal(z["y"], np.resize([2, 0], 300))


def test_csv_streams_with_one_header_and_global_sequence_numbers(
    gan_points_onnx: Path, tmp_path: Path
) -> None:
    s = Sampler(gan_points_onnx, threads=1)
    write_samples(tmp_path / "a.csv", _chunks(s, 500, 64), s.manifest, 500)
    lines = (tmp_path / "a.csv").read_text().splitlines()
    assert lines[0] == "x0,x1" and len(lines) == 501
    got = np.loadtxt(tmp_path / "a.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(got, s.sample(500, seed=0), rtol=1e-6, atol=1e-6)


def test_png_of_too_many_samples_is_refused_before_any_is_drawn(
    gan_image_onnx: Path, gan_points_onnx: Path, tmp_path: Path
) -> None:
    def never() -> Iterator:
        raise AssertionError("samples were drawn")
        yield

    images = Sampler(gan_image_onnx, threads=1).manifest
    with pytest.raises(OutputError, match="write a folder"):
        write_samples(tmp_path / "g.png", never(), images, MAX_PNG_SAMPLES + 1)
    points = Sampler(gan_points_onnx, threads=1).manifest
    with pytest.raises(OutputError, match="which stream"):
        write_samples(tmp_path / "p.png", never(), points, 10**8)
    assert list(tmp_path.iterdir()) == []


_UMASK_PROBE = """
import os, sys
os.umask(int(sys.argv[1], 8))
from genedge.runtime import Sampler
from genedge.runtime.writers import write_samples
s = Sampler(sys.argv[2], threads=1)
for out in sys.argv[3:]:
    write_samples(out, s.iter_samples(20, 0), s.manifest, 20)
"""


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_written_files_and_folders_honour_the_umask(
    umask: int, gan_image_onnx: Path, tmp_path: Path
) -> None:
    outs = [tmp_path / f for f in ("a.npy", "a.npz", "a.png", "pngs")]
    subprocess.run(
        [sys.executable, "-c", _UMASK_PROBE, oct(umask), str(gan_image_onnx), *map(str, outs)],
        check=True,
        capture_output=True,
    )
    for f in outs[:3]:
        assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~umask, f
    assert stat.S_IMODE(outs[3].stat().st_mode) == 0o777 & ~umask
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask for p in outs[3].iterdir())


def test_umask_is_read_without_changing_it() -> None:
    from genedge.runtime.atomic import current_umask

    old = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        assert os.umask(0o027) == 0o027  # still what it was
    finally:
        os.umask(old)

"""Peak memory stays flat in n and under a stated bound, whatever the model.

Peaks are read as VmHWM from /proc in the probe itself: ``ru_maxrss`` carries the parent's
peak across fork + exec, so a probe started from a process holding torch would report
torch's footprint (a probe holding 200k samples showed 0.0 MiB of growth that way)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genedge.runtime.batching import PEAK_RSS_BOUND

_PROBE = """
import sys
from genedge.runtime import Sampler
from genedge.runtime.writers import write_samples
s = Sampler(sys.argv[1], backend="cpu", threads=1)
n = int(sys.argv[2])
bs = None if sys.argv[4] == "default" else int(sys.argv[4])
hold = sys.argv[5] == "hold"
chunks = s.iter_samples(n, seed=0, batch_size=bs)
if hold:
    kept = [x for x, _ in chunks]
else:
    write_samples(sys.argv[3], chunks, s.manifest, n)
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print(int(line.split()[1]))  # KiB
"""


def _peak_mib(model: Path, n: int, out: Path, batch: str = "default", hold: bool = False) -> float:
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            _PROBE,
            str(model),
            str(n),
            str(out),
            batch,
            "hold" if hold else "stream",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(r.stdout.strip()) / 1024


@pytest.mark.parametrize(
    "suffix, artifact, floats",
    [
        (".npy", "gan_image_onnx", 64),
        (".npz", "gan_image_onnx", 64),
        (".csv", "gan_points_onnx", 2),
    ],
)
def test_streaming_peak_rss_is_flat_in_n(
    suffix: str, artifact: str, floats: int, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    model: Path = request.getfixturevalue(artifact)
    small, large = (20_000, 200_000) if floats > 2 else (100_000, 1_000_000)
    peak_small = _peak_mib(model, small, tmp_path / f"small{suffix}", "2048")
    peak_large = _peak_mib(model, large, tmp_path / f"large{suffix}", "2048")
    data_mib = large * floats * 4 / 2**20
    # Holding the samples would add their size (46 MiB of images, 8 MiB of points as floats,
    # several times that as CSV text); streaming adds at most a few chunk buffers.
    assert peak_large - peak_small < 0.25 * data_mib, (peak_small, peak_large)
    if suffix == ".npy":
        arr = np.load(tmp_path / "large.npy", mmap_mode="r")
        assert arr.shape == (large, 1, 8, 8) and arr.dtype == np.float32
        from genedge.runtime import Sampler

        np.testing.assert_allclose(arr[-5:], Sampler(model).sample(large, seed=0)[-5:], atol=1e-5)


def test_the_probe_sees_memory_a_process_holds(gan_image_onnx: Path, tmp_path: Path) -> None:
    # The measurement itself: holding 200k samples (49 MiB) must show as growth.
    streamed = _peak_mib(gan_image_onnx, 200_000, tmp_path / "a.npy", "2048")
    held = _peak_mib(gan_image_onnx, 200_000, tmp_path / "b.npy", "2048", hold=True)
    assert held - streamed > 40, (streamed, held)


@pytest.fixture(scope="module")
def dcgan_mnist_onnx(short_run, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: ANN001
    """A DCGAN on 28x28 MNIST, trained 2 steps: its feature maps, not its weights, matter."""
    from genedge.export.onnx_export import export_run

    run = short_run(tmp_path_factory.mktemp("runs") / "dcgan-mnist", "dcgan", "mnist", 2)
    out = tmp_path_factory.mktemp("artifacts") / "dcgan-mnist.onnx"
    export_run(run, out)
    return out


def test_default_batch_keeps_a_dcgan_under_the_bound(
    dcgan_mnist_onnx: Path, tmp_path: Path
) -> None:
    # Sized by output floats alone, the default chunk (5349 samples) peaked at 1.4 GiB here.
    peak = _peak_mib(dcgan_mnist_onnx, 30_000, tmp_path / "x.npy")
    assert peak < PEAK_RSS_BOUND / 2**20, peak
    assert np.load(tmp_path / "x.npy", mmap_mode="r").shape == (30_000, 1, 28, 28)


def test_default_batch_keeps_an_old_artifact_under_the_bound(
    dcgan_mnist_onnx: Path, tmp_path: Path
) -> None:
    # Schema 1.0 artifacts carry no measured memory: the runtime's fallback must hold too.
    import onnx

    from genedge.runtime.artifact import read_manifest
    from genedge.runtime.manifest import METADATA_KEY

    model = onnx.load(dcgan_mnist_onnx)
    manifest = read_manifest(dcgan_mnist_onnx)
    graphs = {k: g.__class__(g.file, g.inputs, g.outputs) for k, g in manifest.graphs.items()}
    old = manifest.with_updates(graphs=graphs)
    assert old.sampler.memory is None
    for p in model.metadata_props:
        if p.key == METADATA_KEY:
            p.value = old.to_json()
    onnx.save(model, tmp_path / "old.onnx")
    peak = _peak_mib(tmp_path / "old.onnx", 30_000, tmp_path / "x.npy")
    assert peak < PEAK_RSS_BOUND / 2**20, peak

"""Calibration: measured once, cached beside the artifact, read by ``auto``, stale when things
change; without it ``auto`` stays on onnxruntime and says how to calibrate."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from genedge.runtime import Sampler
from genedge.runtime.atomic import file_mode
from genedge.runtime.backends import calibration as cal
from genedge.runtime.errors import InputError

pytest.importorskip("openvino")


@pytest.fixture()
def model(gan_image_onnx: Path, tmp_path: Path) -> Path:
    """A private copy of a small image artifact (its calibration goes beside it)."""
    path = tmp_path / "m.onnx"
    path.write_bytes(gan_image_onnx.read_bytes())
    return path


def _quick(path: Path, threads: int | None = 1) -> cal.Calibration:
    return cal.calibrate(path, batch_sizes=(1, 7), threads=threads, rounds=1, block_s=0)


def _set_medians(path: Path, threads: str, cpu: float, ov: float) -> None:
    """Rewrite the recorded medians (the header stays valid) to force auto's choice."""
    file = cal.calibration_path(path)
    doc = json.loads(file.read_text())
    medians = doc["entries"][threads]["median_ms"]
    for b in medians["cpu"]:
        medians["cpu"][b], medians["openvino"][b] = cpu, ov
    file.write_text(json.dumps(doc))


def test_auto_without_calibration_stays_on_onnxruntime_and_says_why(model: Path) -> None:
    s = Sampler(model, threads=1)
    assert s.backend == "cpu"
    assert "openvino: not calibrated: run `genedge calibrate m.onnx --threads 1`" in (
        s.backend_selection
    )
    assert not cal.calibration_path(model).exists()  # auto never measures


def test_calibrate_writes_a_cache_auto_reads(model: Path) -> None:
    result = _quick(model)
    file = cal.calibration_path(model)
    assert result.path == file and file.is_file()
    assert file.stat().st_mode & 0o777 == file_mode()
    assert set(result.median_ms) >= {"cpu", "openvino"}
    assert set(result.median_ms["cpu"]) == {1, 7} and set(result.faster) == {1, 7}
    assert all(v > 0 for d in result.median_ms.values() for v in d.values())
    assert result.bf16["openvino_fp32_max_abs_data"] < 1e-2  # f32 parity, in data units
    data, why = cal.read_calibration(model)
    assert data is not None and why == ""
    assert data["entries"]["1"]["batch_sizes"] == [1, 7]
    engine, reason = cal.cpu_engine(model, 1)
    assert engine == result.auto[0] and "calibrated" in reason
    # another thread count is its own entry; the first one is kept
    _quick(model, threads=2)
    data, _ = cal.read_calibration(model)
    assert data is not None and set(data["entries"]) == {"1", "2"}


def test_auto_takes_openvino_where_it_was_measured_faster(model: Path) -> None:
    _quick(model)
    _set_medians(model, "1", cpu=2.0, ov=1.0)
    s = Sampler(model, threads=1, backend_options={"optimized_model_cache": False})
    assert s.backend == "openvino"
    assert "cpu: openvino measured 2.00x faster at batch 7" in s.backend_selection
    ref = Sampler(model, backend="cpu", threads=1).sample(5, seed=1, raw=True)
    np.testing.assert_allclose(s.sample(5, seed=1, raw=True), ref, rtol=0, atol=1e-4)
    # a hint picks the nearest calibrated batch; within the margin onnxruntime stays
    _set_medians(model, "1", cpu=1.0, ov=0.97)
    s = Sampler(model, threads=1, backend_options={"batch_size_hint": 1})
    assert s.backend == "cpu"
    assert "openvino: onnxruntime measured as fast or faster at batch 1" in s.backend_selection
    # other thread counts are not calibrated
    s = Sampler(model, threads=2)
    assert s.backend == "cpu" and "not calibrated for threads=2 (calibrated: 1)" in (
        s.backend_selection
    )


def test_a_changed_artifact_makes_the_calibration_stale(model: Path) -> None:
    _quick(model)
    st = model.stat()
    os.utime(model, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # same bytes, newer mtime
    assert cal.read_calibration(model)[0] is not None  # the hash still matches
    m = onnx.load(model)
    init = m.graph.initializer[0]
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + 1, init.name))
    onnx.save(m, model)
    data, why = cal.read_calibration(model)
    assert data is None and why == "calibration stale (the artifact changed since)"
    assert "openvino: calibration stale (the artifact changed since): run `genedge calibrate" in (
        Sampler(model, threads=1).backend_selection
    )
    _quick(model)  # recalibrating replaces the stale file
    assert cal.read_calibration(model)[0] is not None


def test_new_versions_or_another_cpu_make_it_stale(
    model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _quick(model)
    real = cal._versions()
    monkeypatch.setattr(cal, "_versions", lambda: {**real, "openvino": "0.0"})
    assert cal.read_calibration(model)[1] == (
        "calibration stale (onnxruntime or openvino changed since)"
    )
    monkeypatch.setattr(cal, "_versions", lambda: real)
    monkeypatch.setattr(cal, "_machine", lambda: {"cpu": "elsewhere", "isa": "x"})
    assert cal.read_calibration(model)[1] == "calibration stale (it was measured on another CPU)"
    cal.calibration_path(model).write_text("{not json")
    assert "unreadable" in cal.read_calibration(model)[1]


def test_without_openvino_auto_says_so(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cal.importlib.util, "find_spec", lambda name: None)
    assert cal.cpu_engine(model, None) == (
        "cpu",
        "openvino is not installed: pip install 'genedge[openvino]'",
    )


@pytest.mark.parametrize("sizes", [(), (0,), (2, -1), (True,), (100_000,)])
def test_bad_batch_sizes_are_refused(model: Path, sizes: tuple) -> None:
    with pytest.raises(InputError, match="batch sizes"):
        cal.calibrate(model, batch_sizes=sizes)


def test_bad_batch_size_hint_is_refused(model: Path) -> None:
    with pytest.raises(InputError, match="'batch_size_hint' must be a positive batch size"):
        Sampler(model, backend_options={"batch_size_hint": 0})

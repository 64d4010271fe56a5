"""Every graph export writes is valid ONNX: onnx.checker (full check) and strict shape
inference accept it, for every family at every precision, and export refuses one that is not."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import onnx
import pytest
from onnx import TensorProto, helper

from genedge.export import onnx_export
from genedge.export.onnx_checks import InvalidGraphError, check_onnx
from genedge.export.onnx_export import export_run

if TYPE_CHECKING:
    from conftest import ShortRun

FAMILIES = ("gan", "dcgan", "cgan", "vae", "rgan")
PRECISIONS = ("fp32", "fp16", "int8")
#: rgan int8 is refused before anything is written (tests/export/test_precision.py).
CASES = [(f, p) for f in FAMILIES for p in PRECISIONS if (f, p) != ("rgan", "int8")]
STEPS = 5

Runs = Callable[[str], Path]


#: One torch thread for the module and its training fixture (see tests/conftest.py).
pytestmark = pytest.mark.usefixtures("pinned_threads")


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory,
    short_run: ShortRun,
    digits_npz: Path,
    pinned_threads: int,
) -> Runs:
    """Each family trained for a few steps on small data (graph structure, not quality),
    once per module; 8x8 digits for the image families, sines for rgan. Torch's global RNG
    is put back after each (training seeds it)."""
    import torch

    trained: dict[str, Path] = {}

    def run(family: str) -> Path:
        if family not in trained:
            data = "sines" if family == "rgan" else str(digits_npz)
            folder = tmp_path_factory.mktemp("runs") / family
            with torch.random.fork_rng(devices=[]):
                trained[family] = short_run(folder, family, data, STEPS)
        return trained[family]

    return run


def _assert_valid(path: Path) -> None:
    onnx.checker.check_model(str(path), full_check=True)
    onnx.shape_inference.infer_shapes(onnx.load(path), strict_mode=True)


@pytest.mark.parametrize(("family", "precision"), CASES)
@pytest.mark.usefixtures("torch_seed")
def test_every_written_graph_is_valid_onnx(
    runs: Runs, family: str, precision: str, tmp_path: Path
) -> None:
    result = export_run(runs(family), tmp_path / f"{family}.onnx", precision=precision)
    written = sorted(tmp_path.iterdir())
    assert written == sorted(result.files)  # the temp folder is gone, nothing else is there
    expected = {f"{family}.onnx"} | ({f"{family}.encoder.onnx"} if family == "vae" else set())
    assert {p.name for p in written} == expected
    for path in written:
        _assert_valid(path)


def _stale_value_info(model: onnx.ModelProto) -> onnx.ModelProto:
    """The fp16 defect: a value_info declaring a float32 initializer as float16."""
    broken = onnx.ModelProto()
    broken.CopyFrom(model)
    init = next(t for t in broken.graph.initializer if t.data_type == TensorProto.FLOAT)
    dims = list(init.dims)
    broken.graph.value_info.append(
        helper.make_tensor_value_info(init.name, TensorProto.FLOAT16, dims)
    )
    return broken


def test_check_names_a_stale_declared_type() -> None:
    w = helper.make_tensor("w", TensorProto.FLOAT, [2], [1.0, 2.0])
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
        initializer=[w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    check_onnx(model)  # valid as built
    with pytest.raises(InvalidGraphError, match="'w' is declared FLOAT16 but its initializer"):
        check_onnx(_stale_value_info(model), "sampler graph")


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.usefixtures("torch_seed")
def test_export_refuses_an_invalid_graph_and_writes_nothing(
    runs: Runs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, force: bool
) -> None:
    convert = onnx_export.convert_precision
    monkeypatch.setattr(
        onnx_export, "convert_precision", lambda *a, **k: _stale_value_info(convert(*a, **k))
    )
    old = tmp_path / "gan.onnx"
    old.write_bytes(b"the previous artifact")
    with pytest.raises(InvalidGraphError, match=r"^exported sampler graph is not valid ONNX: "):
        export_run(runs("gan"), old, force=force)
    assert [p.name for p in tmp_path.iterdir()] == ["gan.onnx"]
    assert old.read_bytes() == b"the previous artifact"

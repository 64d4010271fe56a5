"""Exporting a text model: the step graph and its manifest, parity on logits and state at two
batch sizes and two lengths, and the same tokens from PyTorch and the runtime (greedy and
seeded) at two batch sizes; a Chinese corpus end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from genedge.export.text_export import (
    export_text_run,
    load_torch_text_sampler,
    verify_text_artifact,
)
from genedge.export.text_parity import check_step_parity
from genedge.runtime.artifact import read_manifest
from genedge.runtime.backends.onnxruntime_backend import OnnxRuntimeBackend
from genedge.runtime.errors import InputError
from genedge.runtime.text import TextSampler
from genedge.train.loop import train

pytestmark = pytest.mark.usefixtures("pinned_threads")

SMALL = {"embed": 16, "hidden": 48, "layers": 2, "length": 32, "batch_size": 8, "steps": 30}
TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
CHINESE = "床前明月光，疑是地上霜。举头望明月，低头思故乡。\n春眠不觉晓，处处闻啼鸟。\n"


def trained_export(root: Path, text: str) -> tuple[Path, Path]:
    data = root / "corpus.txt"
    data.write_text(text, encoding="utf-8")
    run = root / "run"
    train(run, "text", str(data), overrides=SMALL)
    out = root / "text.onnx"
    export_text_run(run, out)
    return run, out


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return trained_export(tmp_path_factory.mktemp("text-export"), TEXT * 40)


def test_step_graph_has_dynamic_batch_and_length(exported: tuple[Path, Path]) -> None:
    _, path = exported
    m = read_manifest(path)
    assert m.output_kind == "text" and m.schema_version == "2.0" and m.text is not None
    spec = m.text
    assert spec.vocab == "".join(sorted(set(TEXT)))
    assert (spec.tokens, spec.state, spec.state_out, spec.logits) == (
        "tokens",
        "state",
        "state_out",
        "logits",
    )
    assert spec.state_shape == ("batch", 2, 48) and spec.unknown is None and spec.bos == "\n"
    assert [t.role for t in m.sampler.inputs] == ["tokens", "state"]
    graph = onnx.load(str(path)).graph
    dims = {
        v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in [*graph.input, *graph.output]
    }
    assert dims["tokens"] == ["batch", "length"]
    assert dims["logits"] == ["batch", "length", len(spec.vocab)]
    assert dims["state"] == ["batch", 2, 48] == dims["state_out"]


def test_parity_is_recorded_and_passes(exported: tuple[Path, Path]) -> None:
    _, path = exported
    parity = read_manifest(path).parity
    assert parity["passed"] and parity["decode"]["passed"]
    cases = {(c["graph"], c["batch"], c["length"]) for c in parity["cases"]}
    assert {("sampler", b, t) for b in (1, 7) for t in (1, 23)} <= cases
    assert parity["max_abs"] < 1e-5


def test_torch_and_runtime_give_the_same_tokens(exported: tuple[Path, Path]) -> None:
    run, path = exported
    torch_side = load_torch_text_sampler(run)
    runtime = TextSampler(path, backend="cpu")
    for n in (1, 6):
        greedy = runtime.generate("All:", n=n, length=60, temperature=0)
        assert greedy == torch_side.generate("All:", n=n, length=60, temperature=0)
        assert len(set(greedy)) == 1  # greedy has no randomness: every sequence alike
        for kw in ({"temperature": 0.8}, {"temperature": 1.2, "top_k": 4, "top_p": 0.9}):
            ours = runtime.generate("All:", n=n, length=60, seed=3, **kw)
            assert ours == torch_side.generate("All:", n=n, length=60, seed=3, **kw)
            assert all(len(t) == 60 for t in ours)


def test_logits_and_state_match_at_other_sizes(exported: tuple[Path, Path]) -> None:
    run, path = exported
    torch_side = load_torch_text_sampler(run)
    report = check_step_parity(
        torch_side._backend,
        OnnxRuntimeBackend(path, "cpu"),
        torch_side.manifest,
        batch_sizes=(3, 64),
        lengths=(2, 300),
        seed=5,
    )
    assert report.passed, report.to_dict()
    assert {o.name for c in report.cases for o in c.outputs} == {"logits", "state_out"}


def test_verify_passes_against_the_run(exported: tuple[Path, Path]) -> None:
    run, path = exported
    report = verify_text_artifact(path, run)
    assert report.passed
    assert any(c.graph == "decode" for c in report.cases)


def test_chinese_model_exports_and_continues_a_chinese_prompt(tmp_path: Path) -> None:
    run, path = trained_export(tmp_path, CHINESE * 30)
    s = TextSampler(path, backend="cpu")
    (text,) = s.generate("明月", length=30, seed=0)
    assert len(text) == 30 and set(text) <= set(CHINESE)
    assert text == load_torch_text_sampler(run).generate("明月", length=30, seed=0)[0]
    with pytest.raises(InputError, match="not in the model's"):
        s.generate("moon", length=5)


def test_only_fp32_and_only_text_runs(exported: tuple[Path, Path], tmp_path: Path) -> None:
    run, _ = exported
    with pytest.raises(InputError, match="fp32 only"):
        export_text_run(run, tmp_path / "x.onnx", precision="fp16")
    assert not (tmp_path / "x.onnx").exists()
    assert np.isfinite(read_manifest(exported[1]).parity["max_abs"])

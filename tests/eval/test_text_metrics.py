"""genedge.eval.text_metrics: the hashed window index, distinct-n, copied share and frequency
distance on hand-made texts with known answers; the held-out loss through a tiny artifact
against the PyTorch model's own loss; the report and its rendering."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from genedge.eval.text_eval import ROWS
from genedge.eval.text_metrics import (
    DISTINCT_NS,
    RENDER_COLUMNS,
    TextEvalReport,
    WindowIndex,
    evaluate_text_file,
    evaluate_text_report,
    render_notes,
    render_rows,
    text_stats,
    window_hashes,
)
from genedge.runtime.errors import DataError, InputError
from genedge.runtime.text import TextSampler

pytestmark = pytest.mark.usefixtures("pinned_threads")

SMALL = {"embed": 16, "hidden": 32, "layers": 1, "length": 32, "batch_size": 8, "steps": 20}
TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A text run trained for a few steps, its artifact and its corpus."""
    from genedge.export.text_export import export_text_run
    from genedge.train.loop import train

    root = tmp_path_factory.mktemp("text-metrics")
    data = root / "corpus.txt"
    data.write_text(TEXT * 40, encoding="utf-8")
    run = root / "run"
    train(run, "text", str(data), overrides=SMALL, device="cpu", sample_every=10**6)
    out = root / "text.onnx"
    export_text_run(run, out)
    return run, out, data


def test_equal_windows_hash_equal_in_any_script() -> None:
    text = "明月光abc明月光abc"
    h = window_hashes(text, 6)
    assert h.dtype == np.uint64 and len(h) == len(text) - 6 + 1
    assert h[0] == h[6]  # "明月光abc" twice
    assert len(set(h.tolist())) == 6  # the other windows all differ
    assert window_hashes("abc", 4).size == 0
    with pytest.raises(InputError):
        window_hashes("abc", 0)


def test_window_index_finds_exactly_the_windows_of_the_text() -> None:
    idx = WindowIndex("abcdefgh", window=4)
    assert len(idx) == 5
    assert idx.contains(["abcd", "efgh", "bcde"]).tolist() == [True, True, True]
    assert idx.contains(["abce", "hgfe", "dcba"]).tolist() == [False, False, False]
    with pytest.raises(InputError, match="exactly 4"):
        idx.contains(["abc"])
    assert WindowIndex("ab", window=4).contains(["abcd"]).tolist() == [False]


def test_copied_share_counts_every_window_start() -> None:
    idx = WindowIndex("abcdefgh", window=4)
    # windows of "abcdxyz": abcd (copied), bcdx, cdxy, dxyz
    assert idx.copied_share(["abcdxyz"]) == pytest.approx(1 / 4)
    assert idx.copied_share(["abcdefgh", "zzzzz"]) == pytest.approx(5 / 7)
    assert idx.copied_share(["abc"]) == 0.0  # too short to hold a window
    assert idx.copied_share([]) == 0.0


def test_text_stats_known_answers() -> None:
    train = "abab"
    idx = WindowIndex(train, window=2)
    s = text_stats(["aaaa", "abab"], idx, train)
    # 1-grams: a a a a a b a b -> {a, b} of 8; 2-grams: aa aa aa ab ba ab -> 3 of 6
    assert s.distinct[1] == pytest.approx(2 / 8)
    assert s.distinct[2] == pytest.approx(3 / 6)
    # 3-grams: aaa aaa aba bab -> 3 of 4; 4-grams: aaaa abab -> 2 of 2
    assert s.distinct[3] == pytest.approx(3 / 4) and s.distinct[4] == 1.0
    # windows: aa aa aa (not in "abab"), ab ba ab (in it)
    assert s.copied == pytest.approx(3 / 6)
    # frequencies: a 6/8, b 2/8 against a 1/2, b 1/2
    assert s.char_tv == pytest.approx(0.25)
    assert s.characters == 8


def test_heldout_loss_through_the_artifact_matches_the_torch_model(
    tiny: tuple[Path, Path, Path],
) -> None:
    import torch
    from torch.nn import functional as F

    from genedge.eval.text_eval import heldout_loss
    from genedge.train.data.text import load_text
    from genedge.train.run_folder import load_trained

    run, path, data = tiny
    ds = load_text(str(data))
    sampler = TextSampler(path, backend="cpu", threads=1)
    ours = heldout_loss(sampler, ds.heldout_text)
    # The torch model reads each row in one go from a zero state: the artifact's chunked
    # reading with the state carried must give the same loss.
    _, _, models, _ = load_trained(run)
    model = models["LM"].eval()
    ids = torch.from_numpy(sampler.encode(ds.heldout_text))
    per = len(ids) // ROWS
    grid = ids[: per * ROWS].reshape(ROWS, per)
    with torch.no_grad():
        logits, _ = model(grid[:, :-1], model.initial_state(ROWS, torch.device("cpu")))
        ref = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), grid[:, 1:].reshape(-1))
    assert ours["characters"] == grid[:, 1:].numel()
    assert ours["nats"] == pytest.approx(float(ref), rel=1e-5)
    assert ours["bits"] == pytest.approx(float(ref) / np.log(2), rel=1e-5)


def test_report_is_seeded_complete_and_renders(tiny: tuple[Path, Path, Path]) -> None:
    _, path, data = tiny
    a = evaluate_text_file(path, str(data), backend="cpu", threads=1, n=4, length=40, seed=3)
    b = evaluate_text_file(path, str(data), backend="cpu", threads=1, n=4, length=40, seed=3)
    assert isinstance(a, TextEvalReport)
    assert a == b
    assert a.samples.characters == 4 * 40 == a.real.characters
    assert set(a.samples.distinct) == set(DISTINCT_NS)
    assert a.heldout_nats > 0 and a.heldout_bits == pytest.approx(a.heldout_nats / np.log(2))
    # The corpus repeats itself, so real held-out text is all found in the training text.
    assert a.real.copied == 1.0
    d = json.loads(json.dumps(a.to_dict()))
    keys = [m["key"] for m in d["metrics"]]
    assert keys[:3] == ["heldout_nats", "heldout_bits", "unigram_nats"]
    assert "copied" in keys and "char_tv" in keys
    assert a.metric("copied") == (a.samples.copied, a.real.copied)
    rows = render_rows(a)
    assert len(rows) == len(d["metrics"]) and all(len(r) == len(RENDER_COLUMNS) for r in rows)
    assert rows[0][2] == "-"  # the loss has no real-text figure


def test_sample_count_is_capped_at_non_overlapping_real_pieces(
    tiny: tuple[Path, Path, Path],
) -> None:
    _, path, _ = tiny
    sampler = TextSampler(path, backend="cpu", threads=1)
    held = TEXT * 2  # 166 characters: four pieces of 40
    r = evaluate_text_report(sampler, TEXT * 20, held, n=10, length=40, seed=0)
    assert (r.settings["n"], r.settings["n_asked"]) == (4, 10)
    assert r.samples.characters == r.real.characters == 4 * 40
    assert any("capped at 4" in line for line in render_notes(r))
    with pytest.raises(InputError):
        evaluate_text_report(sampler, TEXT * 20, held, n=0, length=40)


def test_refuses_data_the_model_cannot_read(tiny: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, path, _ = tiny
    other = tmp_path / "other.txt"
    other.write_text("Ωmega " * 400, encoding="utf-8")
    with pytest.raises(DataError, match="never saw"):
        evaluate_text_file(path, str(other), backend="cpu", threads=1)
    sampler = TextSampler(path, backend="cpu", threads=1)
    with pytest.raises(DataError, match="fewer than"):
        evaluate_text_report(sampler, TEXT * 4, TEXT[:30], length=40)

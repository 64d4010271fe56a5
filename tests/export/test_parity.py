"""The comparator on planted arrays: statistics, tolerances, shapes and non-finite values."""

from __future__ import annotations

import json

import numpy as np

from genedge.export.parity import CaseResult, ParityReport, compare_outputs


def test_statistics_on_a_planted_difference() -> None:
    ref = {"x": np.array([1.0, 2.0, 4.0, 0.0], np.float32)}
    out = {"x": np.array([1.0, 2.5, 4.0, 1e-6], np.float32)}
    (c,) = compare_outputs(ref, out, atol=1e-5, rtol=1e-5)
    assert c.max_abs == 0.5
    assert abs(c.mean_abs - (0.5 + 1e-6) / 4) < 1e-9
    assert abs(c.max_rel - 0.25) < 1e-9 or c.max_rel > 0.25  # 1e-6 / ~0 is huge
    assert c.required_atol == 0.5
    assert not c.passed
    (ok,) = compare_outputs(ref, out, atol=0.5, rtol=0.0)
    assert ok.passed


def test_identical_outputs_pass_with_zero_tolerance() -> None:
    a = {"x": np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)}
    (c,) = compare_outputs(a, {"x": a["x"].copy()}, atol=0.0, rtol=0.0)
    assert c.passed and c.max_abs == 0.0


def test_shape_mismatch_fails() -> None:
    (c,) = compare_outputs({"x": np.zeros((2, 3))}, {"x": np.zeros((3, 2))}, 1.0, 1.0)
    assert not c.passed and c.shape == (3, 2)


def test_missing_output_fails() -> None:
    (c,) = compare_outputs({"x": np.zeros(3)}, {"y": np.zeros(3)}, 1.0, 1.0)
    assert not c.passed


def test_nan_in_candidate_fails_even_with_huge_tolerance() -> None:
    out = np.zeros(5)
    out[2] = np.nan
    (c,) = compare_outputs({"x": np.zeros(5)}, {"x": out}, 1e9, 1e9)
    assert not c.passed and c.nonfinite == 1 and c.ref_nonfinite == 0


def test_report_truthiness_and_json() -> None:
    ref = {"x": np.zeros(3)}
    good = CaseResult("sampler", 1, None, compare_outputs(ref, {"x": np.zeros(3)}, 0, 0))
    bad = CaseResult("sampler", 37, None, compare_outputs(ref, {"x": np.ones(3)}, 0, 0))
    report = ParityReport("torch", "cpu", 0.0, 0.0, [good])
    assert report and report.passed
    report.cases.append(bad)
    assert not report
    d = json.loads(json.dumps(report.to_dict()))
    assert d["passed"] is False and d["max_abs"] == 1.0
    assert [c["batch"] for c in d["cases"]] == [1, 37]
    assert report.summary()["cases"][1] == {
        "graph": "sampler",
        "batch": 37,
        "length": None,
        "passed": False,
    }
    assert not ParityReport("torch", "cpu", 0, 0)  # no cases is not a pass


def test_within_share_bounds_the_tail_not_the_max() -> None:
    from genedge.export.parity import DEFAULT_WITHIN_SHARE

    ref = np.zeros((4, 250), np.float32)
    few, many = ref.copy(), ref.copy()
    few.flat[:5] = 1.0  # 0.5% of elements far off
    many.flat[:20] = 1.0  # 2%
    (strict,) = compare_outputs({"x": ref}, {"x": few}, 0.1, 0.0)
    (tail,) = compare_outputs({"x": ref}, {"x": few}, 0.1, 0.0, within_share=0.99)
    (wide,) = compare_outputs({"x": ref}, {"x": many}, 0.1, 0.0, within_share=0.99)
    assert not strict.passed and tail.passed and not wide.passed
    assert tail.max_abs == 1.0  # the report still shows the worst element
    assert DEFAULT_WITHIN_SHARE == {"fp32": 1.0, "fp16": 1.0, "int8": 0.99}

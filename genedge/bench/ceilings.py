"""Machine ceilings: GFLOP/s each engine reaches on a large float32 GEMM."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from genedge.bench.interleave import time_interleaved


def onnxruntime_gemm_ceiling(
    n: int = 1024, budget_s: float = 1.0, threads: int | None = None
) -> float:
    """GFLOP/s of an ``n x n x n`` float32 MatMul through onnxruntime (median of calls)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from genedge.runtime.backends.ort_session import session_options

    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [n, n])
    c = helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])
    model = helper.make_model(
        helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "gemm", [a, b], [c]),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    sess = ort.InferenceSession(
        model.SerializeToString(), session_options(threads), providers=["CPUExecutionProvider"]
    )
    rng = np.random.default_rng(0)
    feed = {
        "a": rng.standard_normal((n, n), np.float32),
        "b": rng.standard_normal((n, n), np.float32),
    }
    times = time_interleaved({"gemm": lambda _: sess.run(None, feed)}, 1, budget_s, block_s=0)[
        "gemm"
    ]
    return 2 * n**3 / float(np.median(times)) / 1e9


def torch_gemm_ceiling(n: int = 1024, budget_s: float = 1.0) -> float:
    """GFLOP/s of an ``n x n x n`` float32 ``torch.mm`` (median of calls)."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    times = time_interleaved({"gemm": lambda _: torch.mm(a, b)}, 1, budget_s, block_s=0)["gemm"]
    return 2 * n**3 / float(np.median(times)) / 1e9


def _ceil_or_none(fn: Callable[[], float]) -> float | None:
    try:
        v = fn()
        return v if math.isfinite(v) else None
    except Exception:  # noqa: BLE001 - a missing engine is a missing ceiling, not a crash
        return None

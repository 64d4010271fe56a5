"""Interleaved timing rounds: every runner in blocks, turn by turn, within a budget."""

from __future__ import annotations

import time
from collections.abc import Callable

from genedge.bench.timers import Timing

Runner = Callable[[int], object]


def time_interleaved(
    runners: dict[str, Runner],
    batch: int,
    budget_s: float,
    warmup_s: float = 0.2,
    clock: Callable[[], float] = time.perf_counter,
    block_s: float | None = None,
    settle: Callable[[], None] | None = None,
    phases_out: dict[str, dict[str, list[float]]] | None = None,
) -> dict[str, list[float]]:
    """Warm each runner up, then time calls in rounds until every runner has used ``budget_s``
    or run 10,000 calls. Returns per-call seconds by runner.

    Each round gives every runner a block of consecutive calls lasting ``block_s`` (defaults
    to a fifth of the budget, at most 0.1 s; 0 means one call per round), then ``settle()``
    runs before the next runner. Blocks matter on a small machine: onnxruntime's and OpenMP's
    thread pools spin for a while after each call, and a runner started while another engine's
    threads still spin loses its cores (measured here: torch twice as slow when alternating
    call by call with onnxruntime). The default ``settle()`` therefore sleeps half a block,
    up to 50 ms, before each block: after 5 ms, bare OpenVINO following onnxruntime in the
    rounds ran the MNIST DCGAN at batch 1024 in 128 ms, after 50 or 200 ms in 108-109 ms.

    A runner that returns a :class:`Timing` is timed by its own clock (CUDA events): its
    ``total_s`` is recorded instead of the host's, and its phases go to ``phases_out``
    (runner -> phase -> seconds per call), if given.
    """
    if block_s is None:
        block_s = min(0.1, budget_s / 5)
    if settle is None:
        pause = min(0.05, max(0.005, block_s / 2))
        settle = (lambda: time.sleep(pause)) if block_s > 0 else (lambda: None)
    for fn in runners.values():
        end = clock() + warmup_s
        fn(batch)
        while clock() < end:
            fn(batch)
    times: dict[str, list[float]] = {k: [] for k in runners}
    spent = dict.fromkeys(runners, 0.0)

    def open_(k: str) -> bool:
        return spent[k] < budget_s and len(times[k]) < 10_000

    while any(open_(k) for k in runners):
        for k, fn in runners.items():
            if not open_(k):
                continue
            settle()
            block_end = spent[k] + block_s
            while True:
                t0 = clock()
                result = fn(batch)
                dt = clock() - t0
                if isinstance(result, Timing):
                    dt = result.total_s
                    if phases_out is not None:
                        for phase, sec in result.phases.items():
                            phases_out.setdefault(k, {}).setdefault(phase, []).append(sec)
                times[k].append(dt)
                spent[k] += dt
                if spent[k] >= block_end or not open_(k):
                    break
    return times

"""Cold starts: fresh-process import + load + first sample, and peak RSS, per backend."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

# VmHWM, not ru_maxrss: Linux carries the parent's peak into ru_maxrss across fork + exec, so a
# probe launched from a process holding torch would report torch's footprint.
_PEAK = (
    "import time\n"
    "def _peak_kib():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            return int(line.split()[1])\n"
    "    import resource; return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
)

_COLD_ORT = (
    _PEAK + "t=time.perf_counter()\n"
    "from genedge.runtime import Sampler\n"
    "t1=time.perf_counter()\n"
    "s = Sampler({model!r}, backend='cpu')\n"
    "t2=time.perf_counter()\n"
    "x = s.sample(64, seed=0)\n"
    "print(time.perf_counter()-t, t2-t1, _peak_kib())\n"
)
#: name -> (probe, environment overrides). ``onnxruntime`` loads the optimised model cached
#: beside the artifact (primed by one untimed process); the second row turns the cache off.
_COLD_PROBE = {
    "onnxruntime": (_COLD_ORT, {}),
    "onnxruntime-no-ort-cache": (_COLD_ORT, {"GENEDGE_ORT_CACHE": "0"}),
    "torch": (
        _PEAK + "t=time.perf_counter()\n"
        "from genedge.train.reference import load_torch_sampler\n"
        "t1=time.perf_counter()\n"
        "s = load_torch_sampler({run!r})\n"
        "t2=time.perf_counter()\n"
        "x = s.sample(64, seed=0)\n"
        "print(time.perf_counter()-t, t2-t1, _peak_kib())\n",
        {},
    ),
}


def cold_start(model: Path, run: Path | None, repeats: int = 3) -> list[dict[str, Any]]:
    """Fresh-process wall time (import + load + first ``sample(64)``), load time alone and peak
    RSS per backend; the median of ``repeats`` processes, taken in interleaved rounds.

    ``onnxruntime`` runs as users get it, with the optimised-model cache primed by one untimed
    process; ``onnxruntime-no-ort-cache`` sets ``GENEDGE_ORT_CACHE=0``.
    """
    import os

    env = dict(os.environ)
    runs: dict[str, tuple[str, dict[str, str]]] = {}
    results: dict[str, dict[str, Any]] = {}
    for backend, (probe, extra) in _COLD_PROBE.items():
        if backend == "torch" and run is None:
            results[backend] = {
                "backend": backend,
                "status": "skipped: PyTorch cold start needs --against RUN (not a module)",
            }
            continue
        runs[backend] = (probe.format(model=str(model), run=str(run)), {**env, **extra})
    if "onnxruntime" in runs:  # prime the cache (and the page cache) untimed
        subprocess.run([sys.executable, "-c", runs["onnxruntime"][0]], capture_output=True)
    samples: dict[str, list[tuple[float, float, float]]] = {k: [] for k in runs}
    for _ in range(repeats):
        for backend, (code, penv) in runs.items():
            if backend in results:
                continue  # failed already
            r = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, env=penv
            )
            if r.returncode != 0:
                results[backend] = {
                    "backend": backend,
                    "status": f"failed: {r.stderr.strip()[-200:]}",
                }
                continue
            w, load, m = r.stdout.split()
            samples[backend].append((float(w), float(load), int(m) / 1024))
    out = []
    for backend in _COLD_PROBE:
        if backend in results:
            out.append(results[backend])
            continue
        walls, loads, rss = zip(*samples[backend], strict=True)
        out.append(
            {
                "backend": backend,
                "status": "ok",
                "wall_s": float(np.median(walls)),
                "load_s": float(np.median(loads)),
                "peak_rss_mib": float(np.median(rss)),
            }
        )
    ok = {r["backend"]: r for r in out if r.get("status") == "ok"}
    if "torch" in ok:
        for name in ("onnxruntime", "onnxruntime-no-ort-cache"):
            if name in ok:
                ok[name]["speedup_vs_torch"] = ok["torch"]["wall_s"] / ok[name]["wall_s"]
    return out

"""What the machine is: Python, platform, CPU model and vector/matrix flags, cores and thread
counts, engine versions."""

from __future__ import annotations

import contextlib
import os
import platform
import re
from pathlib import Path
from typing import Any

#: CPU flags that decide which kernels the engines pick (AVX-512, VNNI, bf16, AMX), as Linux
#: names them in /proc/cpuinfo.
CPU_FLAGS = re.compile(
    r"^(avx2|fma|f16c|avx_vnni|avx512(f|bw|dq|vl|cd|_vnni|_bf16|_fp16|vbmi|_vbmi2|ifma)|amx_\w+)$"
)


def _cpuinfo(text: str) -> dict[str, Any]:
    """CPU model name and the :data:`CPU_FLAGS` of the first processor in /proc/cpuinfo."""
    info: dict[str, Any] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and "cpu" not in info:
            info["cpu"] = value.strip()
        elif key == "flags" and "cpu_flags" not in info:
            info["cpu_flags"] = sorted(f for f in value.split() if CPU_FLAGS.match(f))
        if "cpu" in info and "cpu_flags" in info:
            break
    return info


def machine_info() -> dict[str, Any]:
    """Python and platform; CPU model, its AVX2/AVX-512/VNNI/bf16/AMX flags and whether it has
    bf16 units; logical cores and the ones this process may use; torch's thread count;
    versions of numpy, onnxruntime, torch and openvino (those installed); OPENBLAS_CORETYPE."""
    import numpy as np
    import onnxruntime as ort

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "numpy": np.__version__,
        "onnxruntime": ort.__version__,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", ""),
    }
    if hasattr(os, "sched_getaffinity"):
        info["usable_cores"] = len(os.sched_getaffinity(0))
    with contextlib.suppress(OSError):
        info.update(_cpuinfo(Path("/proc/cpuinfo").read_text()))
    flags = info.get("cpu_flags")
    if flags is not None:
        info["bf16_units"] = any(f in flags for f in ("avx512_bf16", "amx_bf16"))
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:  # pragma: no cover - bench needs [train]
        pass
    try:
        import openvino

        info["openvino"] = openvino.__version__.split("-")[0]
    except ImportError:
        info["openvino"] = None
    return info

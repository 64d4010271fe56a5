"""Build one small artifact per family, with the samples the current versions give, for the
lowest-versions check (scripts/test_floor.sh): the runtime must load and reproduce them with
the oldest numpy and onnxruntime that pyproject.toml admits."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from genedge.export.onnx_export import export_run
from genedge.runtime import Sampler
from genedge.train.loop import train

#: (artifact name, family, data, steps, overrides, precision)
CASES = [
    ("gan", "gan", "ring8", 20, {}, "fp32"),
    ("dcgan", "dcgan", "digits", 5, {}, "fp32"),
    ("dcgan-fp16", "dcgan", "digits", 5, {}, "fp16"),
    ("cgan", "cgan", "digits", 5, {}, "fp32"),
    ("vae", "vae", "digits", 20, {}, "fp32"),
    ("rgan", "rgan", "sines", 5, {}, "fp32"),
]


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    expected: dict[str, np.ndarray] = {}
    runs = {}
    for name, family, data, steps, overrides, precision in CASES:
        run = out / "runs" / f"{family}-{data}"
        if run not in runs.values():
            train(
                run,
                family,
                data,
                overrides={"steps": steps, **overrides},
                seed=0,
                device="cpu",
                checkpoint_every=steps,
                sample_every=steps,
                threads=1,
            )
            runs[name] = run
        path = out / f"{name}.onnx"
        export_run(run, path, precision=precision, quality_check=False)
        expected[name] = Sampler(path, backend="cpu", threads=1).sample(8, seed=0)
    np.savez(out / "expected.npz", **expected)
    print(f"wrote {len(CASES)} artifacts and expected.npz to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))

"""What a plain ONNX file (no genedge manifest) takes and returns, for ``genedge info``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from genedge.runtime.errors import ArtifactError


@dataclass(frozen=True)
class Port:
    """One graph input or output as onnxruntime reports it."""

    kind: str  # "input" or "output"
    name: str
    dtype: str  # onnxruntime's type name, e.g. "tensor(float)"
    shape: tuple[int | str | None, ...]

    def describe(self) -> str:
        dims = "x".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.kind} {self.name}: {self.dtype} [{dims}]"


def plain_signature(path: str | Path) -> list[Port]:
    """The inputs and outputs of any ONNX file, read by onnxruntime on the CPU."""
    import onnxruntime as ort

    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ArtifactError(f"onnxruntime cannot load {Path(path).name}: {first}") from None
    ports = [Port("input", i.name, i.type, tuple(i.shape)) for i in sess.get_inputs()]
    ports += [Port("output", o.name, o.type, tuple(o.shape)) for o in sess.get_outputs()]
    return ports


def wrap_hint(path: str | Path, ports: list[Port]) -> str:
    """The ``genedge wrap`` command line that would give this file a manifest."""
    name = Path(path).name
    floats = [p.name for p in ports if p.kind == "input" and p.dtype == "tensor(float)"]
    latent = f" --latent {floats[0]}" if len(floats) >= 1 else ""
    return (
        f"genedge wrap {name}{latent} --value-range LO,HI [--model-range -1,1] "
        f"--out {Path(name).stem}.genedge.onnx"
    )

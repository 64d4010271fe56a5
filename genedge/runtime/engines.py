"""Compiled engines beside an artifact: their keys, shape profiles, and which one may run here.

A TensorRT engine is valid only on the GPU architecture, TensorRT version and precision it was
built for, and only for the exact graph it was built from. ``genedge compile`` records those
facts in the artifact's manifest (``engines``; the recording is an export step,
:mod:`genedge.export.engine_record`); :func:`select_engine` checks them against this machine
before anything is deserialized, and refuses a foreign or stale engine with a message that
names what differs. The runtime only reads engines. Nothing here imports TensorRT, CUDA or
torch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genedge.runtime.errors import ArtifactError, InputError
from genedge.runtime.manifest import GraphSpec, Manifest
from genedge.runtime.onnx_wire import MODEL_METADATA_PROPS, iter_fields

#: Engine precisions ``genedge compile`` builds (int8 would need calibration data).
ENGINE_PRECISIONS = ("fp16", "fp32")
#: Folder beside an artifact for TensorRT caches (the EP's engines, timing caches).
TRT_CACHE_DIR = ".genedge-trt-cache"
#: Default min:opt:max batch of an engine's optimisation profile.
DEFAULT_BATCH_RANGE = (1, 64, 1024)
#: Fields every engine record carries.
ENGINE_KEYS = (
    "file",
    "precision",
    "gpu_name",
    "compute_capability",
    "tensorrt_version",
    "batch_range",
    "length_range",
    "onnx_sha256",
)

Range = tuple[int, int, int]
Shape = tuple[int, ...]


def parse_range(text: str, what: str = "range") -> Range:
    """Parse ``"MIN:OPT:MAX"`` (e.g. ``"1:64:1024"``) into a validated triple.

    Raises:
        InputError: Not three positive integers with ``min <= opt <= max``.
    """
    parts = text.split(":")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3:
        raise InputError(f"{what} takes MIN:OPT:MAX (e.g. 1:64:1024), got {text!r}")
    return check_range(values, what)


def check_range(values: Sequence[int], what: str = "range") -> Range:
    """Validate a ``(min, opt, max)`` triple of positive integers in order.

    Raises:
        InputError: Wrong length, non-integers, values below 1, or out of order.
    """
    vals = tuple(values)
    if len(vals) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
        raise InputError(f"{what} must be three integers (min, opt, max), got {values!r}")
    lo, opt, hi = vals
    if lo < 1:
        raise InputError(f"{what}: sizes must be at least 1, got {lo}:{opt}:{hi}")
    if not lo <= opt <= hi:
        raise InputError(f"{what} needs min <= opt <= max, got {lo}:{opt}:{hi}")
    return lo, opt, hi


def default_length_range(manifest: Manifest) -> Range | None:
    """For sequence models, lengths 1 to 256 (or the training length if longer), tuned for the
    training length; ``None`` for models without a time axis."""
    if not has_axis(manifest.sampler, "length"):
        return None
    t = max(1, manifest.default_length)
    return 1, t, max(256, t)


def has_axis(graph: GraphSpec, axis: str) -> bool:
    """Whether any input of the graph has the named dynamic axis."""
    return any(d == axis for t in graph.inputs for d in t.shape)


def profile_shapes(
    graph: GraphSpec, batch_range: Range, length_range: Range | None = None
) -> dict[str, tuple[Shape, Shape, Shape]]:
    """Min/opt/max shapes of every input with a dynamic axis, for one optimisation profile.

    ``"batch"`` axes take ``batch_range`` wherever they sit (a state input may carry its batch
    on another axis than 0); ``"length"`` axes take ``length_range``.

    Raises:
        InputError: A range is invalid, a sequence model has no length range, a length range is
            given for a model without a time axis, or an input has an axis of another name.
    """
    ranges: dict[str, Range] = {"batch": check_range(batch_range, "batch range")}
    if length_range is not None:
        if not has_axis(graph, "length"):
            raise InputError("a length range applies only to sequence models")
        ranges["length"] = check_range(length_range, "length range")
    shapes: dict[str, tuple[Shape, Shape, Shape]] = {}
    for t in graph.inputs:
        if all(isinstance(d, int) for d in t.shape):
            continue
        for d in t.shape:
            if isinstance(d, str) and d not in ranges:
                hint = " (give a length range)" if d == "length" else ""
                raise InputError(f"input {t.name} has a dynamic axis {d!r} with no range{hint}")
        shapes[t.name] = tuple(  # type: ignore[assignment]
            tuple(ranges[d][i] if isinstance(d, str) else d for d in t.shape) for i in range(3)
        )
    return shapes


def model_sha256(path: str | Path) -> str:
    """SHA-256 of an ONNX model's content apart from its metadata.

    Recording an engine rewrites the manifest (``metadata_props``) of the very file the engine
    was built from, so a hash of the whole file would make every engine stale the moment it is
    recorded. Every other top-level field (graph, weights, opsets, IR version) is hashed, in
    order, with its field number: any change to what the engine computes changes the hash.

    Raises:
        ArtifactError: The file cannot be read or is not a protobuf message.
    """
    path = Path(path)
    try:
        buf = path.read_bytes()
    except OSError as e:
        raise ArtifactError(f"cannot read {path}: {e.strerror or e}") from None
    h = hashlib.sha256()
    for number, wire, value in iter_fields(buf):
        if number == MODEL_METADATA_PROPS:
            continue
        h.update(f"{number}:{wire}:".encode())
        h.update(value if isinstance(value, bytes) else str(value).encode())
        h.update(b";")
    return h.hexdigest()


def sm_label(compute_capability: str) -> str:
    """``"8.6"`` -> ``"sm_86"``, the name engines and CUDA use for an architecture."""
    return "sm_" + str(compute_capability).replace(".", "")


def select_engine(
    manifest: Manifest,
    artifact_path: str | Path,
    gpu_name: str,
    compute_capability: str,
    trt_version: str,
    precision: str | None = None,
) -> tuple[Path | None, str]:
    """Pick the engine recorded in the manifest that may run on this GPU, or say why none may.

    An engine matches when its file exists beside the artifact, its compute capability,
    TensorRT version and precision equal this machine's (and the asked precision), and the
    ONNX graph it was built from is the artifact's current one. A different GPU model of the
    same compute capability is accepted, and the reason says so (TensorRT warns about it).

    Args:
        manifest: The artifact's manifest.
        artifact_path: The artifact's ``.onnx`` file; engines are looked for beside it.
        gpu_name: This GPU's name, e.g. ``"NVIDIA A100-SXM4-80GB"``.
        compute_capability: This GPU's compute capability, e.g. ``"8.0"``.
        trt_version: The installed TensorRT version (``tensorrt.__version__``).
        precision: ``"fp16"`` or ``"fp32"``; ``None`` accepts either (fp16 first).

    Returns:
        ``(path, reason)``: the engine's path and what was chosen, or ``(None, reason)`` with
        every engine's mismatch and how to fix it.

    Example:
        >>> plan, why = select_engine(m, "gan.onnx", "NVIDIA L4", "8.9", "10.3.0", "fp16")
        >>> if plan is None:
        ...     raise BackendUnavailableError(why)
    """
    artifact_path = Path(artifact_path)
    fix = f"rebuild it with `genedge compile {artifact_path.name}"
    fix += f" --precision {precision}`" if precision else "`"
    if not manifest.engines:
        return None, (
            f"no TensorRT engine has been compiled for {artifact_path.name}: run "
            f"`genedge compile {artifact_path.name}` on this machine first"
        )
    current_hash: str | None = None
    problems: list[str] = []
    order = sorted(
        manifest.engines,
        key=lambda e: (
            ENGINE_PRECISIONS.index(e["precision"])
            if e.get("precision") in ENGINE_PRECISIONS
            else len(ENGINE_PRECISIONS)
        ),
    )
    for e in order:
        name = e["file"]
        if current_hash is None and not [k for k in ENGINE_KEYS if k not in e]:
            plan = artifact_path.parent / name
            if plan.is_file() and _machine_matches(e, compute_capability, trt_version):
                current_hash = model_sha256(artifact_path)
        problem = engine_problem(
            e, artifact_path, compute_capability, trt_version, precision, current_hash
        )
        if problem is not None:
            problems.append(problem)
            continue
        built = f"{sm_label(e['compute_capability'])} / TensorRT {e['tensorrt_version']}"
        reason = f"using {name} ({e['precision']}, {built})"
        if e["gpu_name"] != gpu_name:
            reason += (
                f"; built on {e['gpu_name']}, running on {gpu_name} of the same compute "
                "capability (rebuild it here for the best kernels)"
            )
        return artifact_path.parent / name, reason
    return None, "; ".join(problems) + f": {fix}"


def _machine_matches(e: dict[str, Any], compute_capability: str, trt_version: str) -> bool:
    target = (str(e["compute_capability"]), str(e["tensorrt_version"]))
    return target == (str(compute_capability), str(trt_version))


def engine_problem(
    e: dict[str, Any],
    artifact_path: Path,
    compute_capability: str | None,
    trt_version: str | None,
    precision: str | None = None,
    current_hash: str | None = None,
) -> str | None:
    """Why one recorded engine may not run here, or ``None`` if it may.

    ``compute_capability`` / ``trt_version`` of ``None`` skip the machine checks (no GPU or
    no TensorRT: the caller says so); ``current_hash`` of ``None`` skips the staleness check.
    """
    name = e.get("file", "?")
    missing = [k for k in ENGINE_KEYS if k not in e]
    if missing:
        return f"engine {name} has an incomplete record (no {', '.join(missing)})"
    built = f"{sm_label(e['compute_capability'])} / TensorRT {e['tensorrt_version']}"
    machine_known = compute_capability is not None and trt_version is not None
    if machine_known and not _machine_matches(e, compute_capability, trt_version):  # type: ignore[arg-type]
        here = f"{sm_label(str(compute_capability))} / TensorRT {trt_version}"
        return f"engine {name} was built for {built}; this GPU is {here}"
    if precision is not None and e["precision"] != precision:
        return f"engine {name} is {e['precision']}; {precision} was asked for"
    if not (Path(artifact_path).parent / name).is_file():
        return f"engine {name} is in the manifest but missing beside the artifact"
    if current_hash is not None and e["onnx_sha256"] != current_hash:
        return (
            f"engine {name} is stale: it was built from another version of "
            f"{Path(artifact_path).name} (graph hash {str(e['onnx_sha256'])[:12]}, now "
            f"{current_hash[:12]})"
        )
    return None


def engine_key(e: dict[str, Any]) -> str:
    """One line naming what an engine is valid for, e.g.
    ``fp16, sm_89 (NVIDIA L4), TensorRT 10.3.0, batch 1:64:1024``."""
    parts = [
        str(e.get("precision", "?")),
        f"{sm_label(e.get('compute_capability', '?'))} ({e.get('gpu_name', '?')})",
        f"TensorRT {e.get('tensorrt_version', '?')}",
    ]
    for axis in ("batch", "length"):
        r = e.get(f"{axis}_range")
        if r:
            parts.append(f"{axis} {':'.join(map(str, r))}")
    return ", ".join(parts)


def describe_engines(
    manifest: Manifest,
    artifact_path: str | Path,
    gpu: tuple[str, str] | str,
    trt_version: str | None,
) -> list[tuple[str, str, str]]:
    """Every engine recorded for the artifact, or lying beside it, with its key and whether it
    would run here: ``(file, key, "available" | "not available: <reasons>")``.

    Args:
        manifest: The artifact's manifest.
        artifact_path: The artifact's ``.onnx`` file.
        gpu: ``(name, compute capability)`` of this machine's GPU, or why there is none.
        trt_version: The installed TensorRT version, or ``None`` if TensorRT is missing.
    """
    artifact_path = Path(artifact_path)
    out: list[tuple[str, str, str]] = []
    current: str | None = None
    cc = gpu[1] if isinstance(gpu, tuple) else None
    for e in manifest.engines:
        if current is None and (artifact_path.parent / str(e.get("file"))).is_file():
            current = model_sha256(artifact_path)
        reasons = []
        problem = engine_problem(e, artifact_path, cc, trt_version, None, current)
        if problem is not None:
            reasons.append(problem.removeprefix(f"engine {e.get('file')} "))
        if isinstance(gpu, str):
            reasons.append(gpu)
        elif trt_version is None:
            reasons.append("TensorRT is not installed")
        status = "available" if not reasons else "not available: " + "; ".join(reasons)
        out.append((str(e.get("file", "?")), engine_key(e), status))
    recorded = {str(e.get("file")) for e in manifest.engines}
    for plan in sorted(artifact_path.parent.glob(f"{artifact_path.stem}.*.plan")):
        if plan.name not in recorded:
            out.append(
                (
                    plan.name,
                    "unknown (not recorded in the manifest)",
                    "not available: not recorded in the manifest; rebuild it with "
                    f"`genedge compile {artifact_path.name}` or delete it",
                )
            )
    return out

"""Compile an artifact's sampler to a TensorRT engine for this GPU (``genedge compile``).

The engine is written beside the ONNX file as ``<stem>.<precision>.<sm>.plan`` and recorded in
the artifact's manifest with the keys it is valid for (GPU architecture, TensorRT version,
precision, shape ranges, and the hash of the graph it came from); the runtime's ``tensorrt``
backend runs it only where those keys match. Needs the ``tensorrt`` extra and an NVIDIA GPU,
but neither torch nor onnx.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genedge.export.engine_record import engine_file_name, engine_record, record_engine
from genedge.runtime.artifact import read_manifest
from genedge.runtime.atomic import write_bytes_atomic
from genedge.runtime.backends.tensorrt_backend import cuda_device, tensorrt_status
from genedge.runtime.engines import (
    DEFAULT_BATCH_RANGE,
    ENGINE_PRECISIONS,
    TRT_CACHE_DIR,
    Range,
    check_range,
    default_length_range,
    model_sha256,
    profile_shapes,
    sm_label,
)
from genedge.runtime.errors import BackendUnavailableError, GenedgeError, InputError

#: Builder scratch memory limit: ample for genedge's small generators.
WORKSPACE_BYTES = 1 << 30


class EngineBuildError(GenedgeError):
    """TensorRT could not parse the graph or build an engine for it."""


def engine_from_onnx(
    onnx_path: str | Path,
    *,
    precision: str = "fp16",
    batch_range: Range = DEFAULT_BATCH_RANGE,
    length_range: Range | None = None,
    timing_cache: str | Path | None = None,
    device: int = 0,
) -> Path:
    """Build a TensorRT engine from an artifact's sampler and record it in the manifest.

    Args:
        onnx_path: The artifact's ``.onnx`` file.
        precision: ``"fp16"`` (TensorRT may pick fp16 kernels; inputs and outputs stay fp32)
            or ``"fp32"``. Defaults to ``"fp16"``.
        batch_range: ``(min, opt, max)`` batch of the optimisation profile, applied to the batch
            axis of every input (latents, labels, state). Defaults to ``(1, 64, 1024)``.
        length_range: ``(min, opt, max)`` sequence length for sequence models; defaults to
            ``(1, T, max(256, T))`` for training length ``T``. Refused for other models.
        timing_cache: TensorRT timing cache file, read if present and updated after the build
            (it makes rebuilds fast). Defaults to ``.genedge-trt-cache/timing-<sm>.cache``
            beside the artifact.
        device: CUDA device to build for.

    Returns:
        Path of the written ``<stem>.<precision>.<sm>.plan``.

    Raises:
        BackendUnavailableError: TensorRT, cuda-python or a GPU is missing.
        InputError: Bad precision or ranges.
        ArtifactError: The file is not a genedge artifact.
        EngineBuildError: TensorRT cannot parse the graph or build the engine.

    Example:
        >>> plan = engine_from_onnx("gan.onnx", precision="fp16", batch_range=(1, 64, 1024))
        >>> Sampler("gan.onnx", backend="tensorrt").sample(64, seed=0)
    """
    if precision not in ENGINE_PRECISIONS:
        choices = ", ".join(ENGINE_PRECISIONS)
        raise InputError(f"precision must be one of {choices}, got {precision!r}")
    batch_range = check_range(batch_range, "batch range")
    if length_range is not None:
        length_range = check_range(length_range, "length range")
    status = tensorrt_status()
    if status != "available":
        raise BackendUnavailableError(status)
    onnx_path = Path(onnx_path)
    manifest = read_manifest(onnx_path)
    if length_range is None:
        length_range = default_length_range(manifest)
    shapes = profile_shapes(manifest.sampler, batch_range, length_range)
    gpu_name, cc = cuda_device(device)
    graph_hash = model_sha256(onnx_path)
    folder = onnx_path.parent
    if timing_cache is None:
        timing_cache = folder / TRT_CACHE_DIR / f"timing-{sm_label(cc)}.cache"
    timing_cache = Path(timing_cache)

    try:
        import tensorrt as trt
    except (ImportError, OSError) as e:
        raise BackendUnavailableError(f"tensorrt is installed but fails to load: {e}") from None
    plan_bytes, cache_bytes = _build(trt, onnx_path, precision, shapes, timing_cache)

    plan = folder / engine_file_name(onnx_path.stem, precision, cc)
    write_bytes_atomic(plan, plan_bytes)
    timing_cache.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(timing_cache, cache_bytes)
    record_engine(
        onnx_path,
        engine_record(
            file=plan.name,
            precision=precision,
            gpu_name=gpu_name,
            compute_capability=cc,
            tensorrt_version=trt.__version__,
            batch_range=batch_range,
            length_range=length_range,
            onnx_sha256=graph_hash,
        ),
    )
    return plan


def _build(
    trt: Any,
    onnx_path: Path,
    precision: str,
    shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]],
    timing_cache: Path,
) -> tuple[bytes, bytes]:
    """Parse the ONNX file and build a serialized engine; returns ``(plan, timing cache)``."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineBuildError(f"TensorRT cannot parse {onnx_path.name}: {errors or 'unknown'}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    for name, (lo, opt, hi) in shapes.items():
        profile.set_shape(name, lo, opt, hi)
    config.add_optimization_profile(profile)
    previous = timing_cache.read_bytes() if timing_cache.is_file() else b""
    # ignore_mismatch=False: a cache recorded on another GPU is refused rather than trusted.
    config.set_timing_cache(config.create_timing_cache(previous), False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EngineBuildError(
            f"TensorRT could not build an engine for {onnx_path.name} (its log is above); "
            "try --precision fp32 or a smaller --batch-range"
        )
    return bytes(serialized), bytes(config.get_timing_cache().serialize())

"""Runners: PyTorch eager (CPU and GPU, CUDA graphs; from a run folder or a user's module) and
the runtime's GPU backends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genedge.bench.flops import count_flops
from genedge.bench.interleave import Runner
from genedge.bench.timers import CudaEventTimer, HostPhaseTimer, Timing, TorchEventTimer

if TYPE_CHECKING:
    from genedge.runtime.manifest import Manifest


@dataclass(frozen=True)
class TorchSource:
    """Where the PyTorch rows of a benchmark come from (``--against``).

    Attributes:
        against: A trained run folder, or a user's module, ``FILE.py:Name`` or
            ``package.module:Name`` (docs/byom.md), fed the inputs the artifact declares.
        init: A module's ``--init`` JSON keyword arguments.
        weights: A module's weights (``.pth``/``.pt`` or ``.safetensors``).
    """

    against: str | Path
    init: str | None = None
    weights: str | Path | None = None

    @property
    def is_module(self) -> bool:
        """Whether ``against`` names a module rather than a run folder."""
        from genedge.export.user_module import is_module_spec

        return is_module_spec(str(self.against))

    @property
    def run_dir(self) -> Path | None:
        """The run folder, or ``None`` for a module (which has no run to re-export from)."""
        return None if self.is_module else Path(self.against)


def _source(against: TorchSource | str | Path) -> TorchSource:
    return against if isinstance(against, TorchSource) else TorchSource(against)


def _torch_parts(
    against: TorchSource | str | Path, manifest: Manifest | None = None
) -> tuple[Any, Any, Callable[..., tuple[Any, ...]], Any]:
    """The sampler module, its torch reference sampler, an input maker ``inputs(batch,
    device)`` and the graph spec: of a run folder, or of a user's module fed as ``manifest``
    (the artifact's) declares."""
    source = _source(against)
    if source.is_module:
        return _module_parts(source, manifest)
    run = Path(source.against)

    from genedge.train.reference import torch_sampler
    from genedge.train.run_folder import load_trained
    from genedge.train.torch_feeds import torch_inputs

    cfg, family, models, step = load_trained(run)
    sampler = torch_sampler(cfg, family, models, step)
    module = family.sampler_module(models, family.from_hparams(cfg.hparams), cfg.data_info)
    graph = sampler.manifest.sampler
    k = sampler.manifest.num_classes
    length = sampler.manifest.default_length or None

    def inputs(batch: int, device: str = "cpu") -> tuple[Any, ...]:
        return torch_inputs(graph, batch, length=length, num_classes=k, device=device)

    return module, sampler, inputs, graph


def _module_parts(
    source: TorchSource, manifest: Manifest | None
) -> tuple[Any, Any, Callable[..., tuple[Any, ...]], Any]:
    """:func:`_torch_parts` of a user's module: built and loaded as ``verify --against`` does."""
    from genedge.export.user_module import build_module
    from genedge.runtime.errors import InputError
    from genedge.runtime.sampler import Sampler
    from genedge.train.reference import TorchBackend
    from genedge.train.torch_feeds import torch_inputs

    if manifest is None:
        raise InputError(f"--against {source.against} needs the artifact it is compared with")
    if set(manifest.graphs) != {"sampler"}:
        raise InputError(
            f"the artifact has graphs {sorted(manifest.graphs)}; bench it against the run "
            "folder it came from (--against RUN)"
        )
    module, _ = build_module(str(source.against), source.init, source.weights)
    module = module.eval()
    graph = manifest.sampler
    sampler = Sampler.from_backend(manifest, TorchBackend(module, graph.inputs, graph.outputs))
    k = manifest.num_classes
    length = manifest.default_length or None

    def inputs(batch: int, device: str = "cpu") -> tuple[Any, ...]:
        return torch_inputs(graph, batch, length=length, num_classes=k, device=device)

    return module, sampler, inputs, graph


def _torch_runner(
    against: TorchSource | str | Path, manifest: Manifest | None = None
) -> tuple[Runner, Any, float]:
    """PyTorch eager as its users sample: noise drawn by torch, then the module, per call.

    Returns:
        ``(runner, reference sampler, FLOPs per sample)``.
    """
    import torch

    module, sampler, inputs, _ = _torch_parts(against, manifest)

    @torch.inference_mode()
    def run_(batch: int) -> object:
        return module(*inputs(batch))

    return run_, sampler, count_flops(module, inputs(1))


def _outputs(out: Any) -> tuple[Any, ...]:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def torch_cuda_runners(
    against: TorchSource | str | Path, device: str = "cuda", manifest: Manifest | None = None
) -> dict[str, Runner]:
    """PyTorch on the GPU: ``torch-cuda`` (eager) and ``torch-cuda-graph`` (torch.cuda.graphs).

    ``against`` is a run folder or a :class:`TorchSource` (a user's module needs the
    artifact's ``manifest`` for its inputs).

    Both draw the noise on the device, run the generator and copy the samples to the host (as
    the runtime's rows do), timed with ``torch.cuda.Event``: phases ``compute`` (noise +
    generator) and ``d2h``. The graph row captures one CUDAGraph per batch size on its first
    call, after three warm-up runs on a side stream (torch's documented recipe), and each call
    refills the static latent/label tensors in place before ``replay()``.

    Raises:
        BackendUnavailableError: torch sees no CUDA GPU.
    """
    import copy

    import torch

    from genedge.runtime.errors import BackendUnavailableError

    if not torch.cuda.is_available():
        raise BackendUnavailableError(
            f"torch {torch.__version__} sees no CUDA GPU"
            + ("" if torch.version.cuda else " (a CPU-only build)")
        )
    module, sampler, inputs, graph = _torch_parts(against, manifest)
    module = copy.deepcopy(module).to(device).eval()  # the CPU row keeps its own copy
    k = max(1, sampler.manifest.num_classes)
    timer = TorchEventTimer()

    def eager(batch: int) -> Timing:
        timer.reset()
        timer.mark("start")
        with torch.inference_mode():
            outs = _outputs(module(*inputs(batch, device)))
            timer.mark("compute")
            for o in outs:
                o.cpu()  # a blocking copy to pageable host memory
        timer.mark("d2h")
        return timer.finish()

    graphs: dict[int, tuple[Any, list[Any], tuple[Any, ...]]] = {}

    def capture(batch: int) -> tuple[Any, list[Any], tuple[Any, ...]]:
        static = list(inputs(batch, device))
        side = torch.cuda.Stream()  # type: ignore[no-untyped-call]  # torch leaves it untyped
        side.wait_stream(torch.cuda.current_stream())
        with torch.no_grad(), torch.cuda.stream(side):
            for _ in range(3):  # warm-up (cuDNN/cuBLAS choices, lazy init) before capture
                module(*static)
        torch.cuda.current_stream().wait_stream(side)
        g = torch.cuda.CUDAGraph()
        with torch.no_grad(), torch.cuda.graph(g):
            outs = _outputs(module(*static))
        return g, static, outs

    def graphed(batch: int) -> Timing:
        entry = graphs.get(batch)
        if entry is None:
            entry = graphs[batch] = capture(batch)
        g, static, outs = entry
        timer.reset()
        timer.mark("start")
        with torch.no_grad():
            for t, value in zip(graph.inputs, static, strict=True):
                if t.role in ("latent", "noise"):
                    value.normal_()  # fresh noise into the captured address
                elif t.role == "label":
                    value.random_(0, k)
            g.replay()
            timer.mark("compute")
            for o in outs:
                o.cpu()
        timer.mark("d2h")
        return timer.finish()

    return {"torch-cuda": eager, "torch-cuda-graph": graphed}


def _feed_maker(probe: Any) -> Callable[[int], dict[str, np.ndarray]]:
    """Pre-drawn graph inputs per batch size (the same seeded latents for every backend)."""
    feeds: dict[int, dict[str, np.ndarray]] = {}

    def feed_for(batch: int) -> dict[str, np.ndarray]:
        if batch not in feeds:
            feeds[batch] = probe.feed(batch, seed=0)
        return feeds[batch]

    return feed_for


def gpu_runner(
    name: str,
    model: Path,
    probe: Any,
    threads: int | None = None,
    event_timer: Callable[[], Any] | None = None,
) -> tuple[Runner, Any, str]:
    """A runtime GPU row: ``cuda``, ``cuda-graph`` (cuda + CUDA graphs), ``ort-tensorrt`` or
    ``tensorrt``, run on pre-drawn inputs and timed on the device.

    Each call goes through ``Sampler.run_graph(feed, timer=...)``: with IOBinding (``cuda``)
    and the native TensorRT backend the timer sees H2D, compute and D2H apart. onnxruntime sessions
    run on the timer's stream (``user_compute_stream``) so its events bracket their work.

    Returns:
        ``(runner, sampler, timing kind)``.

    Raises:
        BackendUnavailableError: The backend (or its GPU) is not available here.
    """
    from genedge.runtime import GenedgeError, Sampler

    backend = {"cuda-graph": "cuda"}.get(name, name)
    options: dict[str, Any] = {"cuda_graph": True} if name == "cuda-graph" else {}
    if backend == "cuda":
        options["optimized_model_cache"] = False  # load time is the cold-start row's business
    timer: Any = None
    kind = "perf_counter"
    if backend in ("cuda", "ort-tensorrt", "tensorrt"):
        try:
            timer = (event_timer or CudaEventTimer)()
            kind = timer.kind
        except GenedgeError as e:
            timer, kind = HostPhaseTimer(), f"perf_counter (no CUDA events: {e})"
        stream = getattr(timer, "stream", None)
        if stream is not None and backend != "tensorrt":
            options["provider_options"] = {"user_compute_stream": str(int(stream))}
    s = Sampler(model, backend=backend, threads=threads, backend_options=options)
    feed_for = _feed_maker(probe)
    timer = timer or HostPhaseTimer()

    def call(batch: int) -> Timing:
        timer.reset()
        s.run_graph(feed_for(batch), timer=timer)
        timing: Timing = timer.finish()
        return timing

    return call, s, kind

"""Open what a command is pointed at: an artifact (the runtime, torch-free) or a run folder.

:func:`open_source` is the one place that decides between the two, for ``genedge sample``,
``interpolate``, ``reconstruct``, ``eval`` and the quality gate. Artifacts open without torch;
a run folder imports PyTorch (the ``train`` extra) only when it is given one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from genedge.runtime.artifact import read_manifest
from genedge.runtime.manifest import contract_from_hparams
from genedge.runtime.sampler import Sampler
from genedge.runtime.vae import VAESampler

__all__ = ["open_source"]


def open_source(
    source: str | Path,
    backend: str = "auto",
    threads: int | None = None,
    backend_options: Mapping[str, object] | None = None,
    *,
    encoder: bool = True,
) -> Sampler:
    """A sampler over an ``.onnx`` artifact, or PyTorch's over a trained run folder.

    Either way the noise, labels and post-processing are the runtime's own, so the same seed
    gives the same samples from a run and from its export. With ``encoder``, a model with an
    ``encoder`` graph (:attr:`~genedge.runtime.manifest.Manifest.can_encode`, e.g. a VAE)
    opens as a :class:`~genedge.runtime.vae.VAESampler`, which can also encode.

    Args:
        source: An artifact's ``.onnx`` file, or a run folder (its newest checkpoint).
        backend: The artifact's backend (see :class:`~genedge.runtime.Sampler`); a run folder
            runs on PyTorch.
        threads: onnxruntime's CPU threads (artifacts).
        backend_options: The backend's options (artifacts).
        encoder: Also open the encoder of a model that has one. Defaults to True; ``False``
            for sampling alone (an artifact's encoder file is then not read).

    Returns:
        A :class:`~genedge.runtime.Sampler` (a :class:`~genedge.runtime.vae.VAESampler` for
        models that encode, unless ``encoder`` is False).

    Raises:
        ArtifactError: The artifact cannot be loaded.
        RunError: The folder is not a trained run.
        MissingExtraError: A run folder needs PyTorch (``genedge[train]``), not installed.

    Example:
        >>> s = open_source("runs/gan")          # PyTorch
        >>> t = open_source("gan.onnx")          # the runtime
        >>> (s.sample(4, seed=0) - t.sample(4, seed=0)).max()  # parity-sized
    """
    path = Path(source)
    if not path.is_dir():
        cls = VAESampler if encoder and read_manifest(path).can_encode else Sampler
        return cls(path, backend=backend, threads=threads, backend_options=backend_options)
    return _open_run(path, encoder)


def _open_run(run_dir: Path, encoder: bool) -> Sampler:
    from genedge.train.describe import manifest_for_run
    from genedge.train.reference import TorchBackend
    from genedge.train.run_folder import load_trained

    cfg, family, models, step = load_trained(run_dir)
    manifest = manifest_for_run(cfg, family, step)
    # What an export of the run would carry as contract (schema 1.3).
    manifest = manifest.with_updates(**contract_from_hparams(cfg.hparams))
    modules = family.export_modules(models, cfg.hparams, cfg.data_info)

    def backend_of(role: str) -> TorchBackend:
        graph = manifest.graphs[role]
        return TorchBackend(modules[role], graph.inputs, graph.outputs)

    if encoder and manifest.can_encode:
        return VAESampler.from_backends(manifest, backend_of("sampler"), backend_of("encoder"))
    return Sampler.from_backend(manifest, backend_of("sampler"))

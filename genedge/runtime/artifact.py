"""Read an artifact's manifest straight from the ONNX file, without onnx or a session.

The file's ``metadata_props`` are read by walking its protobuf top level
(:mod:`genedge.runtime.onnx_wire`): microseconds, and truncated files are caught before
onnxruntime sees them.
"""

from __future__ import annotations

from pathlib import Path

from genedge.runtime.errors import ArtifactError, ManifestError
from genedge.runtime.manifest import METADATA_KEY, Companion, Manifest
from genedge.runtime.onnx_wire import external_locations, read_metadata_props


def check_external_data(path: Path, graph: bytes) -> None:
    """Refuse external-data references that leave the model's folder.

    A crafted artifact could otherwise make the loader read any file the process can (recent
    onnxruntime releases refuse this too; genedge does not rely on the installed version).
    """
    folder = path.resolve().parent
    for loc in external_locations(graph):
        target = (folder / loc).resolve()
        if Path(loc).is_absolute() or folder not in target.parents:
            raise ArtifactError(
                f"{path.name} refers to external data {loc!r} outside its folder; "
                "refusing to load it"
            )


def read_metadata(path: str | Path) -> dict[str, str]:
    """All ``metadata_props`` of an ONNX file, after checking its structure.

    Raises:
        ArtifactError: The file is missing, unreadable, truncated, not an ONNX model, or refers
            to external data outside its folder.
    """
    path = Path(path)
    try:
        buf = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactError(f"model file not found: {path}") from None
    except IsADirectoryError:
        raise ArtifactError(f"expected an .onnx file, got a folder: {path}") from None
    except OSError as e:
        raise ArtifactError(f"cannot read {path}: {e.strerror or e}") from None
    if not buf:
        raise ArtifactError(f"{path} is empty")
    try:
        props, graph = read_metadata_props(buf)
    except UnicodeDecodeError:
        raise ArtifactError(f"{path}: metadata is not UTF-8") from None
    if graph is None:
        raise ArtifactError(f"{path} is not an ONNX model (no graph)")
    check_external_data(path, graph)
    return props


class CompanionError(ManifestError):
    """The file is a companion graph of an artifact (a VAE's encoder), not an artifact itself.

    Attributes:
        companion: Which graph the file is, and the artifact to open instead.
    """

    def __init__(self, name: str, companion: Companion) -> None:
        super().__init__(
            f"{name} is the {companion.role} of {companion.artifact}: open {companion.artifact}"
        )
        self.companion = companion


def companion_of(manifest: Manifest, name: str) -> Companion | None:
    """What the file called ``name`` is if its manifest marks it as a companion, else ``None``.

    Schema 1.1 companions say so (``manifest.companion``). 1.0 companions carry their
    artifact's manifest unmarked: the file is then the graph whose ``file`` is its own name, and
    the artifact is the export's naming, ``<stem>.<role>.onnx`` beside ``<stem>.onnx``.
    """
    if manifest.companion is not None:
        return manifest.companion
    for role, graph in manifest.graphs.items():
        if graph.file is not None and graph.file == name:
            suffix = f".{role}.onnx"
            stem = name[: -len(suffix)] if name.endswith(suffix) else Path(name).stem
            return Companion(role=role, artifact=f"{stem}.onnx")
    return None


def read_manifest(path: str | Path, *, companions: bool = False) -> Manifest:
    """The genedge manifest of an ONNX artifact.

    Args:
        path: The artifact's ``.onnx`` file.
        companions: Also read a companion graph's file (e.g. ``vae.encoder.onnx``): return its
            artifact's manifest with :attr:`Manifest.companion` saying which graph the file
            is (filled in for 1.0 companions too). By default a companion is refused.

    Raises:
        ArtifactError: As :func:`read_metadata`.
        ManifestError: The file has no genedge manifest, or it is invalid.
        CompanionError: The file is a companion, not an artifact (unless ``companions``):
            ``vae.encoder.onnx is the encoder of vae.onnx: open vae.onnx``.
    """
    props = read_metadata(path)
    name = Path(path).name
    if METADATA_KEY not in props:
        raise ManifestError(
            f"{name} has no genedge manifest (a plain ONNX file): give it one with "
            f"`genedge wrap {name} --value-range LO,HI --out OUT.onnx` (`genedge info {name}` "
            "lists its inputs)"
        )
    manifest = Manifest.from_json(props[METADATA_KEY])
    companion = companion_of(manifest, name)
    if companion is None:
        return manifest
    if not companions:
        raise CompanionError(name, companion)
    return manifest.with_updates(companion=companion)

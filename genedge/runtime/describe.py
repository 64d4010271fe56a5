"""What ``genedge info`` says about an artifact, as plain text rows (the CLI only prints them).

Everything here reads the manifest and the files beside it, for any family: the latent is
described from the sampler's latent input (any rank), sizes from the graphs' files.
"""

from __future__ import annotations

from pathlib import Path

from genedge.runtime.audio_spec import audio_rows
from genedge.runtime.describe_text import text_latent, text_rows
from genedge.runtime.errors import GenedgeError
from genedge.runtime.manifest import Manifest, TensorSpec


def kib(nbytes: int) -> str:
    """``nbytes`` as whole KiB, the unit of artifact files."""
    return f"{nbytes / 1024:.0f} KiB"


def mib(nbytes: int) -> str:
    """``nbytes`` as MiB with one decimal, the unit of compiled engines."""
    return f"{nbytes / 2**20:.1f} MiB"


def sized(path: Path, unit: str = "KiB") -> str:
    """``"<path> (<size>)"``: what ``genedge export`` and ``compile`` say they wrote."""
    size = path.stat().st_size
    return f"{path} ({mib(size) if unit == 'MiB' else kib(size)})"


def artifact_files(path: Path, manifest: Manifest) -> list[Path]:
    """The files of an artifact set that are present: this one and its companions' files."""
    files = [path if g.file is None else path.parent / g.file for g in manifest.graphs.values()]
    return list(dict.fromkeys(f for f in files if f == path or f.exists()))


def artifact_size(path: Path, manifest: Manifest) -> int:
    """Bytes of the artifact set's files (a companion's own file alone when it is one)."""
    if manifest.companion is not None:
        return path.stat().st_size
    return sum(f.stat().st_size for f in artifact_files(path, manifest))


def _dims(t: TensorSpec) -> str:
    dims = [d for d in t.shape if d != "batch"]
    return "x".join(str(d) if isinstance(d, int) else f"({d})" for d in dims) or "1"


def latent_text(manifest: Manifest) -> str:
    """The sampler's latent input, e.g. ``"z: 100x1x1 normal"``, for any family and rank.

    A self-conditioned model (the manifest's ``clusters``, schema 1.3) has one latent value per
    vector that picks a k-means cluster; the text spells that out.
    """
    if manifest.output_kind == "text":
        return text_latent(manifest)
    latent = manifest.sampler.input("latent")
    text = f"{manifest.latent_dim}" if latent is None else f"{latent.name}: {_dims(latent)}"
    text += " normal"
    clusters = manifest.clusters
    if clusters:
        text += (
            f" ({manifest.latent_dim - 1} noise + 1 that picks one of {clusters} k-means clusters)"
        )
    return text


def _inputs(manifest: Manifest, role: str) -> tuple[str, str]:
    g = manifest.graphs[role]
    ins = ", ".join(f"{t.name}[{t.role}] {t.dtype}{list(t.shape)}" for t in g.inputs)
    outs = ", ".join(f"{t.name} {t.dtype}{list(t.shape)}" for t in g.outputs)
    return ins, outs


def describe_companion(path: Path, manifest: Manifest) -> list[tuple[str, str]]:
    """Rows for one companion graph's file (a VAE's encoder): what it is, not the set."""
    c = manifest.companion
    assert c is not None, "describe_companion needs a companion's manifest"
    ins, outs = _inputs(manifest, c.role)
    return [
        ("companion", f"the {c.role} graph of {c.artifact} (open {c.artifact} to use it)"),
        ("family", manifest.family),
        ("schema", f"{manifest.schema_version} (genedge {manifest.genedge_version})"),
        ("precision", manifest.precision),
        ("inputs", ins),
        ("outputs", outs),
        ("size", kib(artifact_size(path, manifest))),
    ]


def describe_artifact(path: Path, manifest: Manifest) -> list[tuple[str, str]]:
    """The field -> value rows of ``genedge info``: manifest, graphs, size, engines, backends.

    On a companion graph's file, :func:`describe_companion`'s rows. Never writes beside the
    artifact (``auto``'s pick is made without the optimised-model cache).
    """
    if manifest.companion is not None:
        return describe_companion(path, manifest)
    from genedge.runtime.backends import backend_status, select_backend
    from genedge.runtime.backends.tensorrt_backend import local_gpu, local_tensorrt_version
    from genedge.runtime.engines import describe_engines

    m = manifest
    rows = [
        ("family", m.family),
        ("schema", f"{m.schema_version} (genedge {m.genedge_version})"),
        ("precision", m.precision),
        ("latent", latent_text(m)),
        ("sample", f"{m.output_kind} {tuple(m.sample_shape)}, data range {m.value_range}"),
        ("classes", str(m.num_classes) if m.num_classes else "-"),
        *text_rows(m),
        *audio_rows(m.audio),
        ("size", kib(artifact_size(path, m))),
    ]
    for role, g in m.graphs.items():
        ins, outs = _inputs(m, role)
        rows.append((f"graph {role}", f"{g.file or path.name}: {ins} -> {outs}"))
    p = m.parity
    if p:
        rows.append(
            (
                "parity",
                f"{'PASSED' if p.get('passed') else 'FAILED'} vs {p.get('reference')}"
                f", max abs {p.get('max_abs', float('nan')):.2e} (atol {p.get('atol')})",
            )
        )
    rows.append(provenance_row(m.provenance))
    gpu = local_gpu()
    engines = describe_engines(m, path, gpu, local_tensorrt_version())
    for file, key, status in engines:
        rows.append((f"engine {file}", f"{key}: {status}"))
    if not engines:
        rows.append(("engines", f"none compiled (`genedge compile {path.name}` on a GPU)"))
    rows.append(
        ("gpu", f"{gpu[0]} (sm_{gpu[1].replace('.', '')})" if isinstance(gpu, tuple) else gpu)
    )
    for name, status in backend_status().items():
        rows.append((f"backend {name}", status))
    try:  # info must not write the optimised-model cache beside the artifact
        chosen, skipped = select_backend(path, optimized_model_cache=False)
        why = "; ".join(f"{n}: {r}" for n, r in skipped)
        rows.append(("backend auto", chosen.name + (f" (skipped {why})" if why else "")))
    except GenedgeError as e:
        rows.append(("backend auto", f"none: {e}"))
    return rows


def provenance_row(prov: dict[str, object]) -> tuple[str, str]:
    """Where the model came from: a training run, a user's module, or a wrapped ONNX file."""
    source = prov.get("source")
    if source == "module":
        what = str(prov.get("module") or prov.get("class"))
        if prov.get("weights"):
            digest = str(prov.get("weights_sha256", ""))[:12]
            what += f", weights {prov['weights']}" + (f" (sha256 {digest}...)" if digest else "")
        return "exported from module", f"{what}, torch {prov.get('torch')}, {prov.get('exported')}"
    if source == "onnx":
        what = f"{prov.get('file')}"
        if prov.get("module"):
            what += f", checked against {prov['module']}"
        return "wrapped ONNX file", what
    return (
        "trained",
        f"{prov.get('data')} ({prov.get('data_size')} samples), "
        f"{prov.get('step')} steps, seed {prov.get('seed')}, "
        f"torch {prov.get('torch')}",
    )

"""``genedge web``: a self-contained folder that samples an artifact in the browser.

The folder holds the model, its ``manifest.json`` (what ``genedge info --json`` prints), the ES
modules of ``genedge.js`` (``genedge/web/assets``, no build step), the onnxruntime-web files it
runs on (:mod:`genedge.web.ort_files`, vendored, no CDN) and ``index.html``, a demo page. Any
static server serves it, offline; docs/web.md says how it works.
"""

from __future__ import annotations

import gzip
import html
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from genedge.runtime.artifact import read_manifest
from genedge.runtime.atomic import file_mode, make_temp_folder
from genedge.runtime.errors import InputError, OutputError
from genedge.runtime.manifest import Manifest
from genedge.web.ort_files import ORT_FILES, ORT_WEB_VERSION, find_ort_files

#: The page's own files in ``genedge/web/assets``.
ASSETS = (
    "genedge.js",
    "manifest.js",
    "noise.js",
    "ziggurat.js",
    "images.js",
    "text.js",
    "demo.js",
    "demo.css",
    "index.html",
)
#: Precisions ``genedge web --precision`` offers: the artifact's own, or fp16.
WEB_PRECISIONS = ("fp32", "fp16")
_MODEL_META = '<meta name="genedge-model" content="model.onnx">'


@dataclass(frozen=True)
class PageWeight:
    """Bytes a visitor downloads, by part; ``gzip`` what a compressing server sends."""

    model: int
    wasm: int
    js: int
    page: int
    gzip: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.model + self.wasm + self.js + self.page


@dataclass(frozen=True)
class WebBuild:
    """What :func:`build_web` wrote."""

    folder: Path
    model_file: str
    manifest: Manifest
    weight: PageWeight
    ort_version: str


def _asset(name: str) -> bytes:
    return resources.files("genedge.web").joinpath("assets").joinpath(name).read_bytes()


def _weight(folder: Path, model_file: str) -> PageWeight:
    parts = {"model": 0, "wasm": 0, "js": 0, "page": 0}
    packed = dict(parts)
    for f in folder.iterdir():
        if f.name == model_file:
            kind = "model"
        elif f.suffix == ".wasm":
            kind = "wasm"
        elif f.suffix in (".js", ".mjs"):
            kind = "js"
        elif f.suffix in (".html", ".css"):
            kind = "page"
        else:
            continue
        data = f.read_bytes()
        parts[kind] += len(data)
        packed[kind] += len(gzip.compress(data, 6, mtime=0))
    return PageWeight(parts["model"], parts["wasm"], parts["js"], parts["page"], packed)


def _check_target(out: Path) -> None:
    """Refuse to replace a folder that is not empty and not an earlier ``genedge web`` one."""
    if not out.exists():
        return
    if not out.is_dir():
        raise OutputError(f"cannot write {out}: it is a file, not a folder")
    entries = list(out.iterdir())
    if entries and not ((out / "genedge.js").is_file() and (out / "index.html").is_file()):
        raise OutputError(
            f"{out} is not empty and not a genedge web folder: give a new or empty folder"
        )


def _model_bytes(model: Path, manifest: Manifest, precision: str | None) -> tuple[bytes, Manifest]:
    data = model.read_bytes()
    if precision is None or precision == manifest.precision:
        return data, manifest
    if precision not in WEB_PRECISIONS:
        raise InputError(f"--precision must be one of {', '.join(WEB_PRECISIONS)}, got {precision}")
    if precision == "fp32":
        raise InputError(
            f"{model.name} is {manifest.precision}; export it again at fp32 for an fp32 page"
        )
    if manifest.precision != "fp32":
        raise InputError(f"{model.name} is {manifest.precision}: only fp32 converts to fp16")
    from genedge.web.precision import fp16_model  # needs onnx (the train extra)

    return fp16_model(data, manifest)


def build_web(
    model: str | Path,
    out: str | Path,
    *,
    precision: str | None = None,
    ort_dir: str | Path | None = None,
    fetch_ort: bool = True,
) -> WebBuild:
    """Write the demo folder of an artifact.

    Args:
        model: The artifact's ``.onnx`` file.
        out: The folder to write (created; an earlier ``genedge web`` folder is replaced).
        precision: ``"fp16"`` converts an fp32 model (halves its bytes; needs the train
            extra's onnx); ``None`` or the artifact's own precision copies it as it is.
        ort_dir: onnxruntime-web's ``dist`` folder; see :func:`find_ort_files` for where it
            is looked for otherwise.
        fetch_ort: Allow fetching onnxruntime-web with ``npm pack`` when it is nowhere here.

    Returns:
        The folder, the model file's name, its manifest and the page weight.

    Raises:
        ArtifactError: ``model`` is not a genedge artifact (or is a companion graph).
        InputError: A precision it cannot convert to.
        OutputError: ``out`` cannot be written or holds other files.
        OrtFilesMissing: onnxruntime-web's files cannot be found or fetched.
    """
    model, out = Path(model), Path(out)
    manifest = read_manifest(model)
    data, manifest = _model_bytes(model, manifest, precision)
    dist = find_ort_files(None if ort_dir is None else Path(ort_dir), fetch=fetch_ort)
    _check_target(out)
    if not out.parent.is_dir():
        raise OutputError(f"cannot write {out}: folder {out.parent} does not exist")
    model_file = model.name
    tmp = make_temp_folder(out)
    try:
        files: dict[str, bytes] = {name: _asset(name) for name in ASSETS}
        page = files["index.html"].decode("utf-8")
        meta = f'<meta name="genedge-model" content="{html.escape(model_file)}">'
        title = f"<title>{html.escape(model.stem)}: genedge demo</title>"
        page = page.replace(_MODEL_META, meta).replace("<title>genedge demo</title>", title)
        files["index.html"] = page.encode("utf-8")
        files[model_file] = data
        files["manifest.json"] = (manifest.to_json() + "\n").encode("utf-8")
        for name in ORT_FILES:
            files[name] = (dist / name).read_bytes()
        files["ORT-NOTICE.txt"] = (
            f"ort.wasm.min.mjs, ort-wasm-simd-threaded.mjs and ort-wasm-simd-threaded.wasm are\n"
            f"onnxruntime-web {ORT_WEB_VERSION} (https://github.com/microsoft/onnxruntime),\n"
            "Copyright (c) Microsoft Corporation, under the MIT License.\n"
        ).encode()
        for name, content in files.items():
            path = tmp / name
            path.write_bytes(content)
            path.chmod(file_mode())
        _replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return WebBuild(out, model_file, manifest, _weight(out, model_file), ORT_WEB_VERSION)


def _replace(tmp: Path, out: Path) -> None:
    """Move the finished folder into place; an earlier one goes only once the new one is in."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
    try:
        tmp.rename(out)
    except OSError as e:
        if old is not None:
            old.rename(out)
        raise OutputError(f"cannot write {out}: {e.strerror or e}") from None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)

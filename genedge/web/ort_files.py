"""Where ``genedge web`` finds the onnxruntime-web files it vendors into a page's folder.

A page needs three files of the npm package ``onnxruntime-web`` (its ``dist`` folder): the ES
module ``ort.wasm.min.mjs``, the Emscripten glue ``ort-wasm-simd-threaded.mjs`` and its wasm.
They are looked for, in order, in:

1. ``ort_dir`` (``genedge web --ort-dir``): a ``dist`` folder, or a package folder holding one;
2. ``$GENEDGE_ORT_WEB``, the same;
3. a development checkout's ``web/node_modules/onnxruntime-web`` (``npm ci`` in ``web/``);
4. the user cache, ``$XDG_CACHE_HOME/genedge/onnxruntime-web-<version>`` (``~/.cache``),
   filled once by ``npm pack onnxruntime-web@<version>`` when ``npm`` is on the PATH.

Never a CDN: the folder works offline. Without any of these: one line saying how to provide
them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from genedge.runtime.errors import GenedgeError

#: The onnxruntime-web release genedge.js is tested with (web/package.json pins the same).
ORT_WEB_VERSION = "1.31.1"
#: The files a page needs: the module genedge.js imports, its wasm glue and the wasm binary
#: (the SIMD build, run single-threaded so no cross-origin isolation headers are needed).
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
ENV_VAR = "GENEDGE_ORT_WEB"


class OrtFilesMissing(GenedgeError):
    """onnxruntime-web's files are nowhere to be found (and cannot be fetched)."""


def _dist(folder: Path) -> Path | None:
    """``folder`` or its ``dist`` (or ``package/dist``) when that holds every needed file."""
    for cand in (folder, folder / "dist", folder / "package" / "dist"):
        if all((cand / f).is_file() for f in ORT_FILES):
            return cand
    return None


def _version(dist: Path) -> str | None:
    try:
        meta = json.loads((dist.parent / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    version = meta.get("version") if isinstance(meta, dict) else None
    return version if isinstance(version, str) else None


def cache_dir() -> Path:
    """The user cache of fetched onnxruntime-web files."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "genedge" / f"onnxruntime-web-{ORT_WEB_VERSION}"


def _checkout_dist() -> Path | None:
    """A development checkout's ``web/node_modules/onnxruntime-web`` of the pinned version."""
    root = Path(__file__).resolve().parents[2]
    found = _dist(root / "web" / "node_modules" / "onnxruntime-web")
    return found if found is not None and _version(found) == ORT_WEB_VERSION else None


def _npm_pack(target: Path) -> Path:
    """Fetch the pinned onnxruntime-web with ``npm pack`` (the npm registry) into ``target``."""
    npm = shutil.which("npm")
    if npm is None:
        raise OrtFilesMissing(
            "genedge web needs onnxruntime-web's files and npm is not installed: pass --ort-dir "
            f"DIR (the dist folder of onnxruntime-web@{ORT_WEB_VERSION}) or set ${ENV_VAR}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        proc = subprocess.run(
            [npm, "pack", f"onnxruntime-web@{ORT_WEB_VERSION}", "--silent", "--ignore-scripts"],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=600,
        )
        tgz = next(Path(tmp).glob("onnxruntime-web-*.tgz"), None)
        if proc.returncode != 0 or tgz is None:
            last = (proc.stderr.strip().splitlines() or ["no package file"])[-1]
            raise OrtFilesMissing(
                f"npm pack onnxruntime-web@{ORT_WEB_VERSION} failed ({last}); pass --ort-dir DIR "
                f"or set ${ENV_VAR} to onnxruntime-web's dist folder"
            )
        staged = Path(tmp) / "files"
        staged.mkdir()
        with tarfile.open(tgz) as tar:
            for name in ("package/package.json", *(f"package/dist/{f}" for f in ORT_FILES)):
                member = tar.getmember(name)
                src = tar.extractfile(member)
                if src is None:
                    raise OrtFilesMissing(f"onnxruntime-web's package lacks {name}")
                dest = staged / ("dist" if "/dist/" in name else "") / Path(name).name
                dest.parent.mkdir(exist_ok=True)
                dest.write_bytes(src.read())
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)
    return target / "dist"


def find_ort_files(ort_dir: Path | None = None, *, fetch: bool = True) -> Path:
    """The folder holding :data:`ORT_FILES` (see the module docstring for the search order).

    Raises:
        OrtFilesMissing: ``ort_dir`` (or ``$GENEDGE_ORT_WEB``) lacks them, or none is found
            and ``npm pack`` is not possible.
    """
    for given, what in ((ort_dir, "--ort-dir"), (os.environ.get(ENV_VAR), f"${ENV_VAR}")):
        if given:
            found = _dist(Path(given))
            if found is None:
                raise OrtFilesMissing(
                    f"{what} {given} does not hold onnxruntime-web's {', '.join(ORT_FILES)} "
                    "(give the package's dist folder)"
                )
            return found
    found = _checkout_dist() or _dist(cache_dir())
    if found is not None:
        return found
    if not fetch:
        raise OrtFilesMissing(
            f"onnxruntime-web's files are not here: pass --ort-dir DIR (the dist folder of "
            f"onnxruntime-web@{ORT_WEB_VERSION}), set ${ENV_VAR}, or allow fetching them with npm"
        )
    return _npm_pack(cache_dir())

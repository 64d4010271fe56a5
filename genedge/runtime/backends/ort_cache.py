"""The optimised-model cache: onnxruntime's graph optimisation done once per model, machine and
provider setting, kept beside the artifact (or where ``$GENEDGE_ORT_CACHE`` says)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path

import onnxruntime as ort

from genedge.runtime.atomic import file_mode
from genedge.runtime.backends.ort_session import check_model_file, load_session, session_options
from genedge.runtime.errors import ArtifactError

#: Folder beside an artifact where optimised models are cached (see :func:`cached_session`).
ORT_CACHE_DIR = ".genedge-ort-cache"
#: ``0``/``off`` turns the optimised-model cache off; a folder path moves it there.
ORT_CACHE_ENV = "GENEDGE_ORT_CACHE"
ORT_CACHE_SUFFIX = ".ort-opt.onnx"
#: Bumped when what the cache key covers changes, so older cache files are never reused.
_CACHE_FORMAT = 1


def ort_cache_folder(path: Path, cache: bool | str | os.PathLike[str] | None = None) -> Path | None:
    """Where the optimised model of ``path`` is cached, or ``None`` when caching is off.

    ``cache=None`` follows ``$GENEDGE_ORT_CACHE`` (unset: on, beside the artifact in
    ``.genedge-ort-cache/``; ``0``/``off``/``false``: off; anything else: that folder);
    ``True`` is on (the variable's folder if it names one), ``False`` off, a path that folder.
    """
    if cache is False:
        return None
    if cache is None or cache is True:
        env = os.environ.get(ORT_CACHE_ENV, "").strip()
        if env.lower() in ("0", "off", "false", "no"):
            return None if cache is None else Path(path).parent / ORT_CACHE_DIR
        if env and env.lower() not in ("1", "on", "true", "yes"):
            return Path(env).expanduser()
        return Path(path).parent / ORT_CACHE_DIR
    return Path(cache).expanduser()


@functools.cache
def _machine_key() -> str:
    """The CPU architecture and instruction-set flags: ``ORT_ENABLE_ALL`` writes layout
    transforms (e.g. NCHWc blocks sized for AVX-512) valid only on a compatible CPU."""
    flags = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith(("flags", "Features")):
                flags = line.split(":", 1)[1].strip()
                break
    return f"{os.uname().machine}:{hashlib.sha256(flags.encode()).hexdigest()[:16]}"


def optimized_model_key(
    model_hash: str, providers: list[str], provider_options: list[dict[str, str]] | None
) -> str:
    """``<model hash>.<settings hash>``: the cache key of a model's optimised form.

    ``model_hash`` is the SHA-256 of the artifact's bytes; the second part covers everything
    else the optimised graph depends on: the onnxruntime version, the graph optimisation level,
    the providers and their options, and this CPU's architecture and instruction-set flags. A
    changed artifact or onnxruntime never reuses a stale file.
    """
    settings = json.dumps(
        {
            "format": _CACHE_FORMAT,
            "onnxruntime": ort.__version__,
            "level": "ORT_ENABLE_ALL",
            "providers": providers,
            # A stream handle changes every process and does not change the graph.
            "provider_options": [
                {k: v for k, v in o.items() if k != "user_compute_stream"}
                for o in provider_options or []
            ],
            "machine": _machine_key(),
        },
        sort_keys=True,
    )
    return f"{model_hash[:20]}.{hashlib.sha256(settings.encode()).hexdigest()[:12]}"


def _model_hash(path: Path, folder: Path) -> str | None:
    """SHA-256 of the artifact's bytes, or ``None`` for a model with external data (its
    weights live in another file, outside the hash).

    Hashing a 1 MB generator costs about as much as optimising it, so the hash is remembered
    in ``<stem>.sha256.json`` beside the cached models, against the file's device, inode,
    size, modification and change times: any write to the artifact changes its change time
    (which, unlike the modification time, programs cannot set), and then the bytes are hashed
    again.
    """
    st = path.stat()
    stamp = [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
    memo = folder / f"{path.stem}.sha256.json"
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
        known = json.loads(memo.read_text())
        if known["stat"] == stamp and isinstance(known["sha256"], str):
            return known["sha256"]
    model = path.read_bytes()
    if b"location" in model:  # maybe external data (the key's name); never cache those
        return None
    digest = hashlib.sha256(model).hexdigest()
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{memo.name}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "w") as f:
            json.dump({"stat": stamp, "sha256": digest}, f)
        try:
            os.chmod(tmp, file_mode())
            os.replace(tmp, memo)
        except OSError:
            os.unlink(tmp)
    return digest


def cached_session(
    path: Path,
    providers: list[str] | None = None,
    threads: int | None = None,
    provider_options: list[dict[str, str]] | None = None,
    cache: bool | str | os.PathLike[str] | None = None,
) -> tuple[ort.InferenceSession, str]:
    """Open a session, reusing the optimised model saved by an earlier load.

    The first load optimises the graph as usual (``ORT_ENABLE_ALL``) and has onnxruntime save
    the result (``SessionOptions.optimized_model_filepath``) to a temporary file in the cache
    folder, renamed into place once the session is up: a reader never sees half a file. Later
    loads open ``<stem>.<key>.ort-opt.onnx`` (see :func:`optimized_model_key`) with graph
    optimisation off, skipping work already done. A folder that cannot be written, a cache
    file that does not load, or a model with external data fall back silently to a normal
    load. Files of older versions of the same artifact are removed from the default folder.

    Returns:
        ``(session, status)``: status is ``"off"``, ``"hit <file>"``, ``"written <file>"`` or
        ``"skipped: <why>"``.

    Raises:
        ArtifactError: The model itself cannot be loaded.
    """
    path = Path(path)
    providers = providers or ["CPUExecutionProvider"]
    check_model_file(path)
    folder = ort_cache_folder(path, cache)
    plain = session_options(threads)  # validates threads before anything is written
    if folder is None:
        return load_session(path, plain, providers, provider_options), "off"
    try:
        model_hash = _model_hash(path, folder)
    except OSError as e:
        raise ArtifactError(f"cannot read {path}: {e.strerror or e}") from None
    if model_hash is None:
        return load_session(path, plain, providers, provider_options), "skipped: external data"
    key = optimized_model_key(model_hash, providers, provider_options)
    target = folder / f"{path.stem}.{key}{ORT_CACHE_SUFFIX}"
    if target.is_file():
        so = session_options(threads)
        # Optimised already: redoing the passes would only cost start-up time.
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            return load_session(target, so, providers, provider_options), f"hit {target}"
        except ArtifactError:  # truncated or foreign: drop it and rebuild below
            with contextlib.suppress(OSError):
                target.unlink()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # ".onnx" last: onnxruntime picks the saved format (ONNX vs ORT) from the suffix.
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp.onnx", dir=folder)
        os.close(fd)
    except OSError:  # read-only folder or disk: load as usual
        session = load_session(path, plain, providers, provider_options)
        return session, "skipped: folder not writable"
    tmp = Path(tmp_name)
    try:
        session = load_session(path, session_options(threads, tmp), providers, provider_options)
    except ArtifactError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        # Saving may be what failed (a full disk): a plain load says whether the model is bad.
        return load_session(path, plain, providers, provider_options), "skipped: could not save"
    try:
        if tmp.stat().st_size == 0:
            raise OSError("onnxruntime wrote no optimised model")
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        tmp.chmod(file_mode())  # mkstemp made it private; honour the umask as open() would
        os.replace(tmp, target)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        return session, "skipped: could not write the optimised model"
    if folder == path.parent / ORT_CACHE_DIR:
        _prune(folder, path.stem, key.split(".")[0])
    return session, f"written {target}"


def _prune(folder: Path, stem: str, model_hash: str) -> None:
    """Remove cached optimised models of other versions of this artifact."""
    with contextlib.suppress(OSError):
        for p in folder.iterdir():
            name = p.name
            if not (name.startswith(stem + ".") and name.endswith(ORT_CACHE_SUFFIX)):
                continue
            parts = name[len(stem) + 1 : -len(ORT_CACHE_SUFFIX)].split(".")
            if len(parts) == 2 and parts[0] != model_hash:
                with contextlib.suppress(OSError):
                    p.unlink()

"""Write files all-or-nothing: into a temporary file beside the target, then rename."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from genedge.runtime.errors import USER_ERRNOS, OutputError


def current_umask() -> int:
    """The process's umask, read without changing it where Linux tells it (/proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere the only way to read it is to set it, then restore
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give a new file: ``0o666`` less the umask."""
    return 0o666 & ~current_umask()


def folder_mode() -> int:
    """The mode ``mkdir`` would give a new folder: ``0o777`` less the umask."""
    return 0o777 & ~current_umask()


def make_temp_folder(target: Path) -> Path:
    """A new hidden folder beside ``target`` with the mode ``mkdir`` would give it
    (``mkdtemp`` makes it private, 0700).

    Raises:
        OutputError: The folder cannot be created.
    """
    parent = target.parent if str(target.parent) else Path(".")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
        tmp.chmod(folder_mode())
    except OSError as e:
        raise OutputError(f"cannot write {target}: {e.strerror or e}") from None
    return tmp


@contextlib.contextmanager
def atomic_new_folder(target: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success it becomes ``target``.

    ``target`` must not exist or be an empty folder, and its parent must exist. If the block
    raises, the temporary folder is removed and ``target`` is left as it was.

    Raises:
        OutputError: ``target`` exists and is not an empty folder, or its folder is missing.
    """
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise OutputError(f"{target} exists and is not an empty folder")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"cannot write {target}: folder {parent} does not exist")
    tmp = make_temp_folder(target)
    try:
        yield tmp
        if target.exists():
            target.rmdir()
        tmp.rename(target)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        raise


@contextlib.contextmanager
def atomic_path(target: str | Path, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it replaces ``target``.

    If the block raises, the temporary file is removed and ``target`` is left untouched. The
    file gets the mode a plain ``open`` would give it (``0o666`` less the umask), not
    ``mkstemp``'s private 0600.

    Raises:
        OutputError: The target's folder does not exist or is not writable, or writing failed
            for a reason the user can fix (a full disk, a quota, a read-only file system).
    """
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"cannot write {target}: folder {folder} does not exist")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise OutputError(f"cannot write {target}: {e.strerror or e}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tmp.chmod(file_mode())
        yield tmp
        if fsync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if e.errno in USER_ERRNOS:
            raise OutputError(f"cannot write {target}: {(e.strerror or str(e)).lower()}") from None
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_bytes_atomic(target: str | Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)

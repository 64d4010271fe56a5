"""One exception family for everything a user can cause.

The CLI prints any :class:`GenedgeError` as a single line and exits with code 2; anything else
is a bug in genedge and keeps its traceback.
"""

from __future__ import annotations

import errno


class GenedgeError(Exception):
    """Base class of every error a user can cause and fix."""


class ArtifactError(GenedgeError):
    """The model file is missing, unreadable, truncated, corrupt or unsafe."""


class ManifestError(ArtifactError):
    """The artifact's manifest is missing, malformed or of an unsupported version."""


class InputError(GenedgeError, ValueError):
    """A value passed to the API is out of range or of the wrong shape or dtype."""


class BackendUnavailableError(GenedgeError):
    """The requested execution backend cannot run on this machine."""


class DataError(GenedgeError):
    """Training or evaluation data is missing, empty, malformed or non-finite."""


class OutputError(GenedgeError):
    """An output path cannot be written."""


class Interrupted(GenedgeError):
    """Stopped by a signal (Ctrl-C is SIGINT) after leaving a consistent state behind.

    The CLI exits with ``128 + signal``, as shells report a process a signal ended: 130 for
    Ctrl-C, 143 for SIGTERM.
    """

    def __init__(self, message: str, signal: int = 2) -> None:
        super().__init__(message)
        self.signal = signal

    @property
    def exit_code(self) -> int:
        """``128 + signal``."""
        return 128 + self.signal


class MissingExtraError(GenedgeError):
    """A command needs an optional dependency group (an "extra") that is not installed."""


#: Top-level modules of the optional extras, and the extra that brings each.
EXTRA_OF_MODULE = {
    "torch": "train",
    "onnx": "train",
    "onnxscript": "train",
    "onnxconverter_common": "train",
    "safetensors": "train",
    "sklearn": "train",
    "mlxtend": "train",
    "PIL": "train",
    "matplotlib": "train",
    "openvino": "openvino",
    "tensorrt": "tensorrt",
    "cuda": "tensorrt",
}


def missing_extra(error: ModuleNotFoundError) -> MissingExtraError | None:
    """The one-line error for a missing optional dependency, or ``None`` if ``error`` names a
    module no extra provides (then it is a bug, and keeps its traceback)."""
    top = (error.name or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(top)
    if extra is None:
        return None
    return MissingExtraError(
        f'this needs {top}, which is not installed: pip install "genedge[{extra}]"'
    )


#: OS errors a user causes and fixes (a full disk, a read-only folder, a missing path):
#: printed as one line, never a traceback.
USER_ERRNOS = frozenset(
    {
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
        errno.ENOENT,
        errno.ENOTDIR,
        errno.EISDIR,
        errno.EFBIG,
        errno.ENAMETOOLONG,
    }
)


def os_error_message(error: OSError) -> str:
    """One line for an OS error a user can fix, e.g. ``no space left on device: out.npy``."""
    what = (error.strerror or str(error)).rstrip(".")
    what = what[:1].lower() + what[1:]
    where = error.filename if error.filename is not None else ""
    hint = " (free some space or write elsewhere)" if error.errno == errno.ENOSPC else ""
    return f"{what}{': ' + str(where) if where else ''}{hint}"


def user_message(error: GenedgeError) -> str:
    """The one line the CLI prints for ``error``."""
    message = str(error)
    if isinstance(error, BackendUnavailableError) and "available" not in message:
        message = f"not available: {message}"
    return message

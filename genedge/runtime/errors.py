"""One exception family for everything a user can cause.

The CLI prints any :class:`GenedgeError` as a single line and exits with code 2; anything else
is a bug in genedge and keeps its traceback.
"""

from __future__ import annotations


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

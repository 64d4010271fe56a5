"""The embeddable sampler runtime: numpy + onnxruntime only, never torch.

Example:
    >>> from genedge.runtime import Sampler
    >>> s = Sampler("gan.onnx")
    >>> x = s.sample(64, seed=0)
"""

from genedge.runtime.artifact import read_manifest
from genedge.runtime.errors import (
    ArtifactError,
    BackendUnavailableError,
    DataError,
    GenedgeError,
    InputError,
    ManifestError,
    OutputError,
)
from genedge.runtime.manifest import Manifest
from genedge.runtime.sampler import Sampler
from genedge.runtime.text import TextSampler

__all__ = [
    "ArtifactError",
    "BackendUnavailableError",
    "DataError",
    "GenedgeError",
    "InputError",
    "Manifest",
    "ManifestError",
    "OutputError",
    "Sampler",
    "TextSampler",
    "read_manifest",
]

"""The artifact manifest: the versioned contract between export and runtime.

Every genedge ONNX file carries one JSON manifest in its metadata under :data:`METADATA_KEY`.
It says what the graphs expect (inputs with their roles), what they return, how to turn the
output back into the data's own units, and where it came from. Loading is strict: an unknown
major version, a missing field or a wrong type is a :class:`ManifestError`.

Schema history (a reader accepts every minor version of its major one; fields added in a minor
version are optional, so older artifacts keep loading):

- 1.0: the first schema.
- 1.1: ``companion``. A companion graph's file (a VAE's ``<stem>.encoder.onnx``) carries its
  artifact's manifest with ``companion`` set to ``{"role": "encoder", "artifact":
  "<stem>.onnx"}``: which of the manifest's graphs the file is, and the file to open instead.
  The artifact's own file has no ``companion``. 1.0 companions carry the artifact's manifest
  unmarked; readers recognise them by name (a graph's ``file`` is the file's own name).
  Also ``graphs.<role>.memory``: ``{"bytes_per_sample": P, "bytes_per_step": Q}``, the tensor
  bytes one more sample costs the graph (plus ``Q`` per step of a sequence), measured at
  export; the runtime sizes its default batch by it. Without it (1.0) the runtime assumes a
  conservative multiple of the output's size.
- 1.2: two input roles for generators genedge did not train: ``noise`` (further seeded
  standard-normal inputs, e.g. per-layer noise maps; each from its own stream, see
  :mod:`genedge.runtime.feeds`) and ``truncation`` (a psi the runtime feeds, 1.0 unless asked).
  The latent input may have any rank (``["batch", 100, 1, 1]``); ``latent_dim`` is the product
  of its fixed sizes. ``provenance.source`` says where a model came from: ``"module"`` (exported
  from a user's ``nn.Module`` by ``export_module``), ``"onnx"`` (an ONNX file given a manifest by
  ``genedge wrap``), or absent for a run genedge trained. A 1.1 reader refuses the new roles
  by name; 1.0 and 1.1 artifacts load unchanged.
- 1.3: fields promoted from training provenance to contract, and the ``text`` output kind.
  ``clusters`` (int, 0 when off): a self-conditioned sampler's k-means clusters, picked by the
  latent's last value. ``likelihood`` (``"bernoulli"``, ``"gaussian"`` or ``null``): the
  decoder's likelihood for models with an encoder (VAEs). Whether a model can encode is the
  presence of an ``encoder`` graph with a ``data`` input (:attr:`Manifest.can_encode`), never
  its family. Where the fields are absent (1.0-1.2), the reader takes them from
  ``provenance.hparams``, where those versions kept them (:func:`contract_from_hparams`).
  Output kind ``text``, with input role ``tokens`` and a ``text`` section
  (:class:`~genedge.runtime.text_spec.TextSpec`): a step graph the runtime calls once per
  character, carrying its ``state``; a 1.2 reader refuses the kind and role by name.
- 2.0: ``noise_scheme``, how a seed becomes the graph's noise inputs: ``"stream"`` (what 1.x
  artifacts use, and the reading of an absent field) draws every sample's latents in turn from
  one ``PCG64(seed)`` stream; ``"blocks64"`` (what new exports write) draws sample ``i``'s from
  block ``i // 64``'s own stream, so a sample depends only on ``(seed, i)`` and a run can be
  split across machines (``--shard``). The exact recipe is in ``docs/manifest.md``. A major
  step because a 1.x reader would misread it (other samples for the same seed): it refuses 2.0
  by its major version, while this reader keeps reading every 1.x artifact as before.
- 2.1: output kind ``audio`` and the ``audio`` section
  (:class:`~genedge.runtime.audio_spec.AudioSpec`): samples are log-magnitude spectrograms
  that the runtime turns into clips (numpy STFT and Griffin-Lim). Written only by audio
  models (others stay 2.0); a 2.0 reader refuses the kind by name.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from typing import Any

from genedge import __version__
from genedge.runtime.audio_spec import AUDIO_SCHEMA, AudioSpec
from genedge.runtime.errors import ManifestError
from genedge.runtime.text_spec import TextSpec

METADATA_KEY = "genedge.manifest"
SCHEMA_VERSION = "2.0"
#: Major versions this reader accepts: 1.x with the 1.x meanings of absent fields, and 2.x.
READABLE_MAJORS = ("1", "2")

#: The families genedge trains itself. The runtime accepts any other family name too: it works
#: by the graphs' input roles and the output kind, never by the family.
FAMILIES = ("gan", "dcgan", "vae", "cgan", "rgan", "text", "audio")
_FAMILY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,63}")
#: What an input of a graph is for; the runtime builds each input from its role.
INPUT_ROLES = ("latent", "label", "state", "data", "noise", "truncation", "tokens")
#: How a seed becomes noise inputs (2.0): ``stream`` (1.0-1.3) or positional ``blocks64``.
NOISE_SCHEMES = ("stream", "blocks64")
#: What the noise scheme of a manifest without the field is (every 1.0-1.3 artifact).
LEGACY_NOISE_SCHEME = "stream"

OUTPUT_KINDS = ("image", "points", "sequence", "vector", "text", "audio")
PRECISIONS = ("fp32", "fp16", "int8")
DTYPES = ("float32", "float16", "int64", "int32")
#: Known values of ``likelihood`` (1.3); a newer minor version may add others.
LIKELIHOODS = ("bernoulli", "gaussian")

Dim = int | str  # a fixed size, or a symbolic name such as "batch" or "length"


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output.

    Attributes:
        name: The tensor's name in the ONNX graph.
        dtype: numpy dtype name, e.g. ``"float32"``.
        shape: Sizes; strings name dynamic axes (``"batch"``, ``"length"``).
        role: For inputs, what the runtime feeds: ``latent`` noise, a class ``label``, a zero
            initial ``state``, user ``data``, further seeded ``noise`` (1.2) or the
            ``truncation`` psi (1.2). Empty for outputs.
    """

    name: str
    dtype: str
    shape: tuple[Dim, ...]
    role: str = ""

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str) -> TensorSpec:
        _require(d, ("name", "dtype", "shape"), where)
        if d["dtype"] not in DTYPES:
            raise ManifestError(f"{where}: unknown dtype {d['dtype']!r}")
        shape = d["shape"]
        if not isinstance(shape, list) or not all(
            (isinstance(s, int) and not isinstance(s, bool) and s >= 0) or isinstance(s, str)
            for s in shape
        ):
            raise ManifestError(f"{where}: shape must be a list of sizes or axis names")
        role = d.get("role", "")
        if role and role not in INPUT_ROLES:
            raise ManifestError(f"{where}: unknown input role {role!r}")
        return cls(name=str(d["name"]), dtype=d["dtype"], shape=tuple(shape), role=role)


@dataclass(frozen=True)
class MemoryEstimate:
    """Working memory of a graph per sample, measured at export (schema 1.1).

    Attributes:
        bytes_per_sample: Bytes of all tensors (inputs, intermediates, outputs) that one more
            sample adds, counted as if all were alive at once: an upper bound.
        bytes_per_step: For sequence graphs, what each time step of one sample adds on top.
    """

    bytes_per_sample: int
    bytes_per_step: int = 0

    def per_sample(self, length: int = 0) -> int:
        """Bytes for one sample of ``length`` steps (``0`` for graphs without a length)."""
        return self.bytes_per_sample + self.bytes_per_step * max(0, length)

    @classmethod
    def from_dict(cls, d: object, where: str) -> MemoryEstimate:
        if not isinstance(d, dict):
            raise ManifestError(f"{where}: memory must be an object")
        _require(d, ("bytes_per_sample",), where)
        vals = (d["bytes_per_sample"], d.get("bytes_per_step", 0))
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in vals):
            raise ManifestError(f"{where}: memory sizes must be non-negative integers")
        return cls(*vals)


@dataclass(frozen=True)
class GraphSpec:
    """One ONNX graph of the artifact set.

    Attributes:
        file: File name relative to the manifest's own file; ``None`` for the file that holds
            the manifest (the sampler).
        inputs: The graph's inputs, in order.
        outputs: The graph's outputs, in order.
        memory: Its working memory per sample (schema 1.1), or ``None`` if unknown.
    """

    file: str | None
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    memory: MemoryEstimate | None = None

    def input(self, role: str) -> TensorSpec | None:
        """The first input with this role, or ``None``."""
        return next((t for t in self.inputs if t.role == role), None)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str) -> GraphSpec:
        _require(d, ("inputs", "outputs"), where)
        file = d.get("file")
        if file is not None:
            _check_companion_name(file, where)
        ins = tuple(
            TensorSpec.from_dict(t, f"{where}.inputs[{i}]") for i, t in enumerate(d["inputs"])
        )
        outs = tuple(
            TensorSpec.from_dict(t, f"{where}.outputs[{i}]") for i, t in enumerate(d["outputs"])
        )
        if not outs:
            raise ManifestError(f"{where}: a graph needs at least one output")
        memory = d.get("memory")
        if memory is not None:
            memory = MemoryEstimate.from_dict(memory, f"{where}.memory")
        return cls(file=file, inputs=ins, outputs=outs, memory=memory)


@dataclass(frozen=True)
class Preprocessing:
    """Affine map from data units to the model's range, inverted on sampling.

    ``model = (data - data_min) / (data_max - data_min) * (model_max - model_min) + model_min``
    """

    kind: str = "minmax"
    data_min: float = 0.0
    data_max: float = 1.0
    model_min: float = -1.0
    model_max: float = 1.0

    @property
    def scale_offset(self) -> tuple[float, float]:
        """``(a, b)`` such that ``data = a * model + b``."""
        a = (self.data_max - self.data_min) / (self.model_max - self.model_min)
        return a, self.data_min - a * self.model_min

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str) -> Preprocessing:
        _require(d, ("kind", "data_min", "data_max", "model_min", "model_max"), where)
        if d["kind"] != "minmax":
            raise ManifestError(f"{where}: unknown preprocessing {d['kind']!r}")
        vals = [d[k] for k in ("data_min", "data_max", "model_min", "model_max")]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            raise ManifestError(f"{where}: bounds must be numbers")
        if not (vals[1] > vals[0] and vals[3] > vals[2]):
            raise ManifestError(f"{where}: each range needs max > min")
        return cls("minmax", *map(float, vals))


@dataclass(frozen=True)
class Companion:
    """What a companion graph's file is: one graph of an artifact set, not the artifact.

    Attributes:
        role: Which of the manifest's graphs the file holds (e.g. ``"encoder"``).
        artifact: File name of the artifact it belongs to (beside it), the file to open.
    """

    role: str
    artifact: str

    @classmethod
    def from_dict(cls, d: dict[str, Any], graphs: dict[str, GraphSpec]) -> Companion:
        _require(d, ("role", "artifact"), "companion")
        role = d["role"]
        if not isinstance(role, str) or role == "sampler" or role not in graphs:
            raise ManifestError(
                f"companion: role {role!r} must name one of the manifest's companion graphs"
            )
        _check_companion_name(d["artifact"], "companion.artifact")
        return cls(role=role, artifact=d["artifact"])


@dataclass(frozen=True)
class Manifest:
    """Everything the runtime needs to know about an artifact set.

    Attributes:
        family: Model family: one genedge trains (``gan``, ``dcgan``, ``vae``, ``cgan``,
            ``rgan``) or any other name; the runtime samples by input roles, not by family.
        graphs: Graphs by role: ``sampler`` always (this file); ``encoder`` for a VAE.
        latent_dim: Size of one latent vector (per time step for sequences).
        output_kind: ``image`` (C, H, W), ``points`` (D,), ``sequence`` (T, F) or ``vector``.
        sample_shape: Shape of one sample, without the batch axis; a sequence's length is
            ``"length"``.
        preprocessing: What to invert to get data units back.
        num_classes: Number of classes for conditional models, else 0.
        class_names: Optional display names of the classes.
        precision: ``fp32``, ``fp16`` or ``int8`` (inputs and outputs stay float32).
        default_length: For sequences, the training length used when none is asked for.
        engines: Compiled companions (e.g. TensorRT plans) with the keys they were built for.
        provenance: How the model was trained (data, steps, seed, versions, ...).
        parity: The parity report written at export.
        schema_version: Manifest schema version; the major part must match the reader's.
        genedge_version: genedge version that wrote it.
        companion: Set only in a companion graph's file (schema 1.1): which graph the file is
            and the artifact it belongs to. ``None`` in the artifact's own file.
        clusters: Self-conditioning (schema 1.3): the number of k-means clusters the latent's
            last value picks from; 0 when the model is not self-conditioned.
        likelihood: The decoder's likelihood for models with an encoder (schema 1.3):
            ``"bernoulli"`` or ``"gaussian"``; ``None`` for other models or when unknown.
        text: Text models (schema 1.3, output kind ``text``): the vocabulary, the rule for
            unseen characters and the step graph's token and state tensors
            (:class:`TextSpec`); ``None`` for every other model.
        noise_scheme: How a seed becomes the noise inputs (schema 2.0, :data:`NOISE_SCHEMES`):
            ``"blocks64"`` (positional, what new exports write) or ``"stream"`` (1.0-1.3).
        audio: Audio models (schema 2.1, output kind ``audio``): how the spectrogram samples
            become clips (:class:`AudioSpec`); ``None`` for every other model.
    """

    family: str
    graphs: dict[str, GraphSpec]
    latent_dim: int
    output_kind: str
    sample_shape: tuple[Dim, ...]
    preprocessing: Preprocessing
    num_classes: int = 0
    class_names: tuple[str, ...] = ()
    precision: str = "fp32"
    default_length: int = 0
    engines: tuple[dict[str, Any], ...] = ()
    provenance: dict[str, Any] = field(default_factory=dict)
    parity: dict[str, Any] = field(default_factory=dict)
    schema_version: str = SCHEMA_VERSION
    genedge_version: str = __version__
    companion: Companion | None = None
    clusters: int = 0
    likelihood: str | None = None
    text: TextSpec | None = None
    noise_scheme: str = "blocks64"
    audio: AudioSpec | None = None

    def __post_init__(self) -> None:
        if self.audio is not None and _version_tuple(self.schema_version) < _version_tuple(
            AUDIO_SCHEMA
        ):
            object.__setattr__(self, "schema_version", AUDIO_SCHEMA)  # 2.1 holds the section

    @property
    def sampler(self) -> GraphSpec:
        """The graph that turns latents (and labels) into samples."""
        return self.graphs["sampler"]

    @property
    def can_encode(self) -> bool:
        """Whether the set has an ``encoder`` graph that takes ``data`` (a VAE's): what makes a
        model encode, reconstruct and repair, whatever its family."""
        encoder = self.graphs.get("encoder")
        return encoder is not None and encoder.input("data") is not None

    @property
    def value_range(self) -> tuple[float, float]:
        """Range of samples in data units."""
        return self.preprocessing.data_min, self.preprocessing.data_max

    def with_updates(self, **changes: Any) -> Manifest:
        """A copy with some fields replaced (the manifest itself is immutable)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.companion is None:
            del d["companion"]  # as in 1.0: only a companion's file has the field
        if self.text is None:
            del d["text"]  # 1.3: only text models have the section
        if self.audio is None:
            del d["audio"]  # 2.1: only audio models have the section
        for g in d["graphs"].values():
            if g["memory"] is None:
                del g["memory"]
        d["schema"] = METADATA_KEY
        major = str(d["schema_version"]).split(".")[0]
        if self.noise_scheme != LEGACY_NOISE_SCHEME and major == "1":
            d["schema_version"] = SCHEMA_VERSION  # a 1.x reader would misread a 2.0 field
        return d

    def to_json(self) -> str:
        """Serialise to JSON (stable key order)."""
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse and validate; raises :class:`ManifestError` on anything unexpected."""
        try:
            d = json.loads(text)
        except (json.JSONDecodeError, TypeError) as e:
            raise ManifestError(f"manifest is not valid JSON: {e}") from None
        if not isinstance(d, dict):
            raise ManifestError("manifest must be a JSON object")
        return cls.from_dict(d)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        _require(d, ("schema_version", "family", "graphs", "latent_dim", "output_kind"), "manifest")
        version = str(d["schema_version"])
        major = version.split(".")[0]
        if major not in READABLE_MAJORS:
            raise ManifestError(
                f"manifest schema version {version} is not supported by genedge {__version__} "
                f"(reads {', '.join(m + '.x' for m in READABLE_MAJORS)}); re-export the model "
                "or upgrade genedge"
            )
        family = d["family"]
        if not isinstance(family, str) or not _FAMILY_NAME.fullmatch(family):
            raise ManifestError(
                f"manifest: family must be a name (letters, digits, '_', '.', '-'), got {family!r}"
            )
        if d["output_kind"] not in OUTPUT_KINDS:
            raise ManifestError(f"manifest: unknown output kind {d['output_kind']!r}")
        graphs_raw = d["graphs"]
        if not isinstance(graphs_raw, dict) or "sampler" not in graphs_raw:
            raise ManifestError("manifest: graphs must include a 'sampler'")
        graphs = {k: GraphSpec.from_dict(v, f"graphs.{k}") for k, v in graphs_raw.items()}
        if graphs["sampler"].file is not None:
            raise ManifestError(
                "manifest: the sampler graph is the file itself (file must be null)"
            )
        latent_dim = d["latent_dim"]
        if not isinstance(latent_dim, int) or isinstance(latent_dim, bool) or latent_dim <= 0:
            raise ManifestError("manifest: latent_dim must be a positive integer")
        num_classes = d.get("num_classes", 0)
        if not isinstance(num_classes, int) or num_classes < 0:
            raise ManifestError("manifest: num_classes must be a non-negative integer")
        precision = d.get("precision", "fp32")
        if precision not in PRECISIONS:
            raise ManifestError(f"manifest: unknown precision {precision!r}")
        for e in d.get("engines", []):
            if not isinstance(e, dict) or "file" not in e:
                raise ManifestError("manifest: each engine needs a 'file'")
            _check_companion_name(e["file"], "engines")
        for key in ("provenance", "parity"):
            if not isinstance(d.get(key, {}), dict):
                raise ManifestError(f"manifest: {key} must be an object")
        companion = d.get("companion")
        if companion is not None:
            companion = Companion.from_dict(companion, graphs)
        # 1.0-1.2 kept these in the training provenance only: read them from there.
        promoted = {**contract_from_hparams(d.get("provenance", {}).get("hparams")), **d}
        clusters = promoted["clusters"]
        if not isinstance(clusters, int) or isinstance(clusters, bool) or clusters < 0:
            raise ManifestError("manifest: clusters must be a non-negative integer")
        likelihood = promoted["likelihood"]
        if likelihood is not None and not isinstance(likelihood, str):
            raise ManifestError("manifest: likelihood must be a name or null")
        text = d.get("text")
        if (text is None) != (d["output_kind"] != "text"):
            raise ManifestError("manifest: output kind text and a text section go together")
        audio = d.get("audio")
        if (audio is None) != (d["output_kind"] != "audio"):
            raise ManifestError("manifest: output kind audio and an audio section go together")
        noise_scheme = d.get("noise_scheme", LEGACY_NOISE_SCHEME)
        if noise_scheme not in NOISE_SCHEMES:
            raise ManifestError(
                f"manifest: unknown noise scheme {noise_scheme!r} (this genedge reads "
                f"{', '.join(NOISE_SCHEMES)}); upgrade genedge"
            )
        return cls(
            family=d["family"],
            graphs=graphs,
            latent_dim=latent_dim,
            output_kind=d["output_kind"],
            sample_shape=tuple(d.get("sample_shape", ())),
            preprocessing=Preprocessing.from_dict(d.get("preprocessing", {}), "preprocessing"),
            num_classes=num_classes,
            class_names=tuple(str(c) for c in d.get("class_names", ())),
            precision=precision,
            default_length=int(d.get("default_length", 0)),
            engines=tuple(d.get("engines", ())),
            provenance=dict(d.get("provenance", {})),
            parity=dict(d.get("parity", {})),
            schema_version=version,
            genedge_version=str(d.get("genedge_version", "")),
            companion=companion,
            clusters=clusters,
            likelihood=likelihood,
            text=None if text is None else TextSpec.from_dict(text, graphs["sampler"]),
            noise_scheme=noise_scheme,
            audio=None if audio is None else AudioSpec.from_dict(audio),
        )


def contract_from_hparams(hparams: object) -> dict[str, Any]:
    """The 1.3 contract fields a run's hyper-parameters imply: ``clusters`` and ``likelihood``.

    The exporter writes them from a trained run's hyper-parameters; a reader of a 1.0-1.2
    manifest, which kept them only in ``provenance.hparams``, takes them from there.

    Args:
        hparams: The run's hyper-parameters: a mapping or a family's typed config (a
            dataclass); anything else counts as none.

    Returns:
        ``{"clusters": int, "likelihood": str | None}``: 0 and ``None`` where not set.

    Example:
        >>> contract_from_hparams({"clusters": 8, "lr": 2e-4})
        {'clusters': 8, 'likelihood': None}
    """
    if is_dataclass(hparams) and not isinstance(hparams, type):
        hparams = asdict(hparams)
    hp = hparams if isinstance(hparams, dict) else {}
    clusters = hp.get("clusters") or 0
    likelihood = hp.get("likelihood")
    return {
        "clusters": int(clusters) if isinstance(clusters, (int, float)) else clusters,
        "likelihood": likelihood,
    }


def _version_tuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return (0,)


def _require(d: Any, keys: tuple[str, ...], where: str) -> None:
    if not isinstance(d, dict):
        raise ManifestError(f"{where}: expected an object")
    missing = [k for k in keys if k not in d]
    if missing:
        raise ManifestError(f"{where}: missing field(s) {', '.join(missing)}")


def _check_companion_name(name: Any, where: str) -> None:
    # Companions must sit beside the artifact: a path that leaves its folder could make a
    # crafted artifact read arbitrary files.
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ManifestError(
            f"{where}: companion file {name!r} must be a plain name beside the artifact"
        )

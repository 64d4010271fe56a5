"""The manifest is strict: what it accepts round-trips, what it rejects says why."""

from __future__ import annotations

import json

import pytest

from genedge.runtime.errors import ManifestError
from genedge.runtime.manifest import GraphSpec, Manifest, Preprocessing, TensorSpec


def _manifest(**kw) -> Manifest:
    z = TensorSpec("z", "float32", ("batch", 100), "latent")
    x = TensorSpec("x", "float32", ("batch", 1, 28, 28))
    enc = GraphSpec(
        "m.encoder.onnx",
        (TensorSpec("x", "float32", ("batch", 1, 28, 28), "data"),),
        (TensorSpec("mu", "float32", ("batch", 100)),),
    )
    base = dict(
        family="vae",
        graphs={"sampler": GraphSpec(None, (z,), (x,)), "encoder": enc},
        latent_dim=100,
        output_kind="image",
        sample_shape=(1, 28, 28),
        preprocessing=Preprocessing("minmax", 0.0, 255.0, 0.0, 1.0),
    )
    base.update(kw)
    return Manifest(**base)


def test_round_trip_keeps_every_field() -> None:
    m = _manifest(
        num_classes=10,
        class_names=tuple("0123456789"),
        provenance={"step": 5},
        parity={"passed": True},
        engines=({"file": "m.plan", "gpu": "H100"},),
    )
    again = Manifest.from_json(m.to_json())
    assert again == m
    assert again.sampler.input("latent").name == "z"
    assert again.graphs["encoder"].file == "m.encoder.onnx"


def test_scale_offset_inverts_minmax() -> None:
    p = Preprocessing("minmax", 0.0, 255.0, -1.0, 1.0)
    a, b = p.scale_offset
    assert a * -1.0 + b == pytest.approx(0.0)
    assert a * 1.0 + b == pytest.approx(255.0)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(schema_version="3.0"), "schema version 3.0 is not supported"),
        (lambda d: d.pop("graphs"), "missing field(s) graphs"),
        (lambda d: d.update(family=""), "family must be a name"),
        (lambda d: d.update(family=7), "family must be a name"),
        (lambda d: d["graphs"].pop("sampler"), "must include a 'sampler'"),
        (lambda d: d["graphs"]["encoder"].update(file="../../etc/passwd"), "plain name beside"),
        (lambda d: d["graphs"]["encoder"].update(file="/abs/enc.onnx"), "plain name beside"),
        (lambda d: d.update(latent_dim=-3), "latent_dim must be a positive integer"),
        (lambda d: d["graphs"]["sampler"]["inputs"][0].update(dtype="complex64"), "unknown dtype"),
        (lambda d: d["graphs"]["sampler"]["inputs"][0].update(role="magic"), "unknown input role"),
        (lambda d: d["preprocessing"].update(data_max=-1.0), "max > min"),
        (lambda d: d.update(precision="fp8"), "unknown precision"),
    ],
)
def test_invalid_manifests_are_refused_with_a_reason(edit, message: str) -> None:
    d = json.loads(_manifest().to_json())
    edit(d)
    with pytest.raises(ManifestError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Manifest.from_json(json.dumps(d))


def test_minor_version_bump_is_accepted() -> None:
    d = json.loads(_manifest().to_json())
    d["schema_version"] = "1.7"
    assert Manifest.from_json(json.dumps(d)).schema_version == "1.7"


@pytest.mark.parametrize("text", ["", "not json", "[1, 2]", "null"])
def test_garbage_is_a_manifest_error(text: str) -> None:
    with pytest.raises(ManifestError):
        Manifest.from_json(text)


# --- schema 1.1: companion ------------------------------------------------------------------


def test_new_manifests_are_schema_1_3_and_omit_companion_unless_set() -> None:
    from genedge.runtime.manifest import SCHEMA_VERSION

    d = json.loads(_manifest().to_json())
    assert SCHEMA_VERSION == "2.0" and d["schema_version"] == "2.0"
    assert "companion" not in d


def test_companion_round_trips() -> None:
    from genedge.runtime.manifest import Companion

    m = _manifest(companion=Companion(role="encoder", artifact="m.onnx"))
    d = json.loads(m.to_json())
    assert d["companion"] == {"role": "encoder", "artifact": "m.onnx"}
    assert Manifest.from_json(m.to_json()) == m


def test_a_1_0_manifest_without_companion_still_loads() -> None:
    d = json.loads(_manifest().to_json())
    d["schema_version"] = "1.0"
    m = Manifest.from_json(json.dumps(d))
    assert m.schema_version == "1.0" and m.companion is None
    assert m.graphs["encoder"].file == "m.encoder.onnx"


@pytest.mark.parametrize(
    ("companion", "message"),
    [
        ({"role": "sampler", "artifact": "m.onnx"}, "must name one of the manifest's companion"),
        ({"role": "decoder", "artifact": "m.onnx"}, "must name one of the manifest's companion"),
        ({"role": "encoder", "artifact": "../m.onnx"}, "plain name beside"),
        ({"role": "encoder"}, r"missing field\(s\) artifact"),
        ("encoder", "companion: expected an object"),
    ],
)
def test_invalid_companions_are_refused(companion: object, message: str) -> None:
    d = json.loads(_manifest().to_json())
    d["companion"] = companion
    with pytest.raises(ManifestError, match=message):
        Manifest.from_json(json.dumps(d))


# --- schema 1.3: provenance promoted to contract ---------------------------------------------


def test_clusters_and_likelihood_are_manifest_fields() -> None:
    m = _manifest(clusters=8, likelihood="bernoulli")
    d = json.loads(m.to_json())
    assert d["clusters"] == 8 and d["likelihood"] == "bernoulli"
    assert Manifest.from_json(m.to_json()) == m


def test_a_1_3_manifest_reads_its_fields_not_the_provenance() -> None:
    """The contract wins: hyper-parameters are only a record of the training."""
    d = json.loads(_manifest(clusters=0, likelihood="gaussian").to_json())
    d["provenance"] = {"hparams": {"clusters": 5, "likelihood": "bernoulli"}}
    m = Manifest.from_json(json.dumps(d))
    assert (m.clusters, m.likelihood) == (0, "gaussian")


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2"])
def test_older_manifests_take_the_fields_from_the_provenance(version: str) -> None:
    d = json.loads(_manifest().to_json())
    del d["clusters"], d["likelihood"]
    d["schema_version"] = version
    d["provenance"] = {"hparams": {"clusters": 5, "likelihood": "bernoulli", "lr": 1e-3}}
    m = Manifest.from_json(json.dumps(d))
    assert (m.clusters, m.likelihood) == (5, "bernoulli")
    d["provenance"] = {"hparams": {"lr": 1e-3}}
    assert (Manifest.from_json(json.dumps(d)).clusters, m.schema_version) == (0, version)
    del d["provenance"]
    assert Manifest.from_json(json.dumps(d)).likelihood is None


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(clusters=-1), "clusters must be a non-negative integer"),
        (lambda d: d.update(clusters="8"), "clusters must be a non-negative integer"),
        (lambda d: d.update(clusters=True), "clusters must be a non-negative integer"),
        (lambda d: d.update(likelihood=3), "likelihood must be a name or null"),
    ],
)
def test_invalid_contract_fields_are_refused(edit, message: str) -> None:
    d = json.loads(_manifest().to_json())
    edit(d)
    with pytest.raises(ManifestError, match=message):
        Manifest.from_json(json.dumps(d))


def test_encoding_is_the_encoder_graph_not_the_family() -> None:
    assert _manifest().can_encode
    assert _manifest(family="my-own-vae").can_encode
    sampler_only = _manifest()
    sampler_only = sampler_only.with_updates(graphs={"sampler": sampler_only.sampler})
    assert not sampler_only.with_updates(family="vae").can_encode


def test_latent_text_reads_clusters_from_old_and_new_manifests() -> None:
    from genedge.runtime.describe import latent_text

    new = _manifest(clusters=4)
    d = json.loads(_manifest().to_json())
    del d["clusters"], d["likelihood"]
    d["schema_version"], d["provenance"] = "1.2", {"hparams": {"clusters": 4}}
    old = Manifest.from_json(json.dumps(d))
    want = "z: 100 normal (99 noise + 1 that picks one of 4 k-means clusters)"
    assert latent_text(new) == latent_text(old) == want
    assert latent_text(_manifest()) == "z: 100 normal"

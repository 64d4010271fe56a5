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
        (lambda d: d.update(schema_version="2.0"), "schema version 2.0 is not supported"),
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


def test_new_manifests_are_schema_1_2_and_omit_companion_unless_set() -> None:
    from genedge.runtime.manifest import SCHEMA_VERSION

    d = json.loads(_manifest().to_json())
    assert SCHEMA_VERSION == "1.2" and d["schema_version"] == "1.2"
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

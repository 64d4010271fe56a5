"""Typed family configs: run.json keeps its flat ``hparams`` dict, overrides are checked and
coerced in one line each, and runs written before a setting existed load with the value they
were trained with, and resume bit-exactly."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from genedge.runtime.errors import InputError
from genedge.train.families import get_family
from genedge.train.families.config import TrainConfig
from genedge.train.loop import train
from genedge.train.run import DataInfo, RunError
from genedge.train.run_folder import load_trained

pytestmark = pytest.mark.usefixtures("pinned_threads")

POINTS = DataInfo("ring8", "points", (2,), (-2.0, 2.0), 8, tuple("abcdefgh"), 2000)
FEW_POINTS = DataInfo("few", "points", (2,), (-2.0, 2.0), 0, (), 40)
IMAGES = DataInfo("digits", "image", (1, 8, 8), (0.0, 16.0), 10, tuple("0123456789"), 1797)
SEQUENCES = DataInfo("sines", "sequence", (24, 5), (0.0, 1.0), 0, (), 1000)
CASES = [
    ("gan", POINTS),
    ("gan", FEW_POINTS),
    ("gan", IMAGES),
    ("dcgan", IMAGES),
    ("cgan", POINTS),
    ("cgan", IMAGES),
    ("vae", POINTS),
    ("vae", IMAGES),
    ("rgan", SEQUENCES),
]
KW: dict[str, Any] = dict(device="cpu", threads=1, sample_every=10**6, checkpoint_every=10**6)


@pytest.mark.parametrize(("name", "info"), CASES, ids=[f"{n}-{i.name}" for n, i in CASES])
def test_every_family_is_typed_and_round_trips_through_run_json(name: str, info: DataInfo) -> None:
    family = get_family(name)
    cfg = family.defaults(info)
    assert family.config_type is not None and isinstance(cfg, family.config_type)
    assert isinstance(cfg, TrainConfig) and family.common(cfg) is cfg
    d = family.config_dict(cfg)
    # JSON types only (lists, not tuples), and None fields are not settings.
    assert json.loads(json.dumps(d)) == d and None not in d.values()
    assert all(not isinstance(v, tuple) for v in d.values())
    assert family.from_hparams(json.loads(json.dumps(d))) == cfg
    assert family.config({}, info) == cfg


def test_settings_are_the_data_dependent_ones() -> None:
    cgan = get_family("cgan")
    # A cGAN on points has no conv widths: run.json leaves them out, --set refuses them.
    assert "g_width" not in cgan.config_dict(cgan.defaults(POINTS))
    assert cgan.config_dict(cgan.defaults(IMAGES))["g_width"] == 16
    with pytest.raises(InputError, match="cgan has no setting 'g_width'; settings: arch, "):
        cgan.config({"g_width": 8}, POINTS)
    # A GAN's D learns at G's rate: no d_lr; RGAN's has its own.
    gan, rgan = get_family("gan"), get_family("rgan")
    assert "d_lr" not in gan.config_dict(gan.defaults(POINTS))
    cfg = rgan.defaults(SEQUENCES)
    assert (cfg.d_lr, cfg.discriminator_lr, gan.defaults(POINTS).discriminator_lr) == (
        2e-4,
        2e-4,
        1e-3,
    )


def test_overrides_are_coerced_or_refused_in_one_line() -> None:
    gan = get_family("gan")
    cfg = gan.config({"clusters": 4.0, "lr": 1, "g_hidden": [64, 32], "ema": 0}, POINTS)
    assert (cfg.clusters, cfg.lr, cfg.g_hidden, cfg.ema) == (4, 1.0, (64, 32), 0.0)
    assert type(cfg.clusters) is int and type(cfg.lr) is float
    assert gan.config_dict(cfg)["g_hidden"] == [64, 32]
    refused = {
        "z_dim": ("abc", "gan setting z_dim must be an integer, got 'abc'"),
        "steps": (2.5, "gan setting steps must be an integer, got 2.5"),
        "lr": (True, "gan setting lr must be a number, got True"),
        "g_hidden": (64, "gan setting g_hidden must be a list of integers, got 64"),
        "out_act": (1, "gan setting out_act must be a string, got 1"),
    }
    for key, (value, message) in refused.items():
        with pytest.raises(InputError) as e:
            gan.config({key: value}, POINTS)
        assert str(e.value) == message
    rgan, vae = get_family("rgan"), get_family("vae")
    assert rgan.config({"static_latent": 0}, SEQUENCES).static_latent is False
    with pytest.raises(InputError, match="static_latent must be true or false, got 'yes'"):
        rgan.config({"static_latent": "yes"}, SEQUENCES)
    assert vae.config({"sigma": 1}, POINTS).sigma == 1.0
    assert vae.config({"sigma": "learned"}, POINTS).sigma == "learned"
    with pytest.raises(InputError, match="sigma must be 'learned' or a positive number"):
        vae.build(vae.config({"sigma": "fixed"}, POINTS), POINTS)


def test_an_unknown_override_names_the_family_s_settings(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        train(tmp_path / "run", "vae", "ring8", overrides={"depth": 3}, **KW)
    assert str(e.value) == (
        "vae has no setting 'depth'; settings: batch_size, hidden, likelihood, lr, sigma, "
        "steps, z_dim"
    )
    assert not (tmp_path / "run").exists()


def test_run_json_written_by_hand_badly_is_one_line() -> None:
    gan = get_family("gan")
    d = gan.config_dict(gan.defaults(POINTS))
    with pytest.raises(RunError, match="run.json: gan settings lack z_dim"):
        gan.from_hparams({k: v for k, v in d.items() if k != "z_dim"})
    with pytest.raises(RunError, match="run.json: gan setting lr must be a number"):
        gan.from_hparams({**d, "lr": "fast"})
    # A setting an older genedge wrote and this one no longer reads is ignored.
    assert gan.from_hparams({**d, "d_steps": 2}) == gan.defaults(POINTS)


def test_a_typed_family_takes_run_json_s_dict_too() -> None:
    dcgan = get_family("dcgan")
    cfg = dcgan.defaults(IMAGES)
    d = dcgan.config_dict(cfg)
    assert dcgan.graphs(d, IMAGES) == dcgan.graphs(cfg, IMAGES)
    assert dcgan.latent_dim(d) == dcgan.latent_dim(cfg) == cfg.z_dim + 1
    assert dcgan.latent_dim(cfg=d) == cfg.z_dim + 1


#: What a plain points GAN's run.json lacked before self-conditioning, PacGAN, the linear
#: output, the moving average and the rate decay: the values it was trained with.
LEGACY = {
    "clusters": 0,
    "embed_dim": 16,
    "pack": 1,
    "out_act": "tanh",
    "mode_seeking": 0.0,
    "ema": 0.0,
    "lr_decay": 0.0,
}


def _weights(run: Path) -> dict[str, torch.Tensor]:
    _, _, models, _ = load_trained(run)
    return {f"{k}.{n}": t for k, m in models.items() for n, t in m.state_dict().items()}


def test_a_run_from_before_a_setting_existed_resumes_bit_exactly(tmp_path: Path) -> None:
    base = {"g_hidden": [32, 32], "d_hidden": [32], "batch_size": 64}
    full, old = tmp_path / "full", tmp_path / "old"
    train(full, "gan", "ring8", overrides={"steps": 40, **base, **LEGACY}, **KW)
    train(old, "gan", "ring8", overrides={"steps": 20, **base, **LEGACY}, **KW)
    # Make it an old run folder: run.json without the settings that did not exist yet.
    path = old / "run.json"
    run = json.loads(path.read_text())
    run["hparams"] = {k: v for k, v in run["hparams"].items() if k not in LEGACY}
    path.write_text(json.dumps(run))
    family = get_family("gan")
    loaded = family.from_hparams(run["hparams"])
    assert {k: getattr(loaded, k) for k in LEGACY} == LEGACY
    train(old, resume=True, overrides={"steps": 40}, **KW)
    a, b = _weights(full), _weights(old)
    assert a.keys() == b.keys() and "G_ema.net.0.weight" not in a  # ema 0: no average
    assert all(torch.equal(a[k], b[k]) for k in a)
    # The old run.json is kept as it was.
    assert json.loads(path.read_text())["hparams"] == run["hparams"]


def test_dataclass_configs_are_frozen() -> None:
    cfg = get_family("vae").defaults(POINTS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 1.0  # type: ignore[misc]


def test_the_cli_refuses_a_bad_set_in_one_line(tmp_path: Path) -> None:
    args = ["train", "gan", "--data", "ring8", "--out", str(tmp_path / "run"), "--quiet"]
    for given, message in [
        ("z_dim=two", "gan setting z_dim must be an integer, got 'two'"),
        ("warp=1", "gan has no setting 'warp'; settings: batch_size, beta1, beta2, "),
    ]:
        r = subprocess.run(
            [sys.executable, "-m", "genedge", *args, "--set", given, "--threads", "1"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
        )
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode == 2 and len(lines) == 1 and message in lines[0], r.stderr
    assert not (tmp_path / "run").exists()

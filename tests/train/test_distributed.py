"""Training on several processes with DistributedDataParallel: the helpers, and short 2-process
gloo runs on the CPU through ``genedge train --nproc 2`` and through ``torchrun``."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from genedge.runtime.errors import InputError
from genedge.train import distributed as ddp
from genedge.train.checkpoint import list_checkpoints, load_checkpoint
from genedge.train.data import load_dataset
from genedge.train.loop import train
from genedge.train.run_folder import load_trained
from genedge.train.settings import new_config

# A tiny GAN on 2-D points: the default global batch of 256 is 2 x 128. A constant learning
# rate (no annealing over the run's total steps), so extending a run with --resume matches a
# longer uninterrupted run.
STEPS, MORE = 40, 60
ARGS = ["gan", "--data", "ring8", "--checkpoint-every", "20", "--sample-every", "40"]
ARGS += ["--set", "lr_decay=0"]
ARGS += ["--seed", "5", "--device", "cpu", "--threads", "1", "--quiet"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200", "NO_COLOR": "1"}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=300, env=ENV
    )


def genedge(*args: str) -> subprocess.CompletedProcess[str]:
    return run("-m", "genedge", *args)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return {k: v for k, v in load_file(str(path)).items() if k.startswith("model/")}


# ---------------------------------------------------------------------------------------------
# Pure helpers


def test_default_global_batch_keeps_the_family_batch_when_it_splits() -> None:
    assert ddp.default_global_batch(64, 1) == 64
    assert ddp.default_global_batch(64, 2) == 64
    assert ddp.default_global_batch(64, 4) == 64
    assert ddp.default_global_batch(64, 3) == 66  # 3 x 22
    assert ddp.default_global_batch(64, 8) == 128  # at least 16 per process
    assert ddp.default_global_batch(256, 16) == 256


def test_scaled_lr_is_the_square_root_rule() -> None:
    assert ddp.scaled_lr(2e-4, 64, 64) == pytest.approx(2e-4)
    assert ddp.scaled_lr(2e-4, 256, 64) == pytest.approx(4e-4)


def test_process_batch_splits_evenly_or_says_how() -> None:
    assert ddp.process_batch(64, 2) == 32
    with pytest.raises(InputError, match="--batch-size 64 or 66"):
        ddp.process_batch(65, 2)


def test_rank_seeds_are_distinct_and_rank0_keeps_the_run_seed() -> None:
    seeds = [ddp.rank_seed(7, r) for r in range(8)]
    assert seeds[0] == 7 and len(set(seeds)) == 8
    assert seeds == [ddp.rank_seed(7, r) for r in range(8)]
    assert all(0 <= s < 2**63 for s in seeds)
    assert ddp.rank_seed(8, 1) != seeds[1]


def test_shards_are_disjoint_equal_and_cover_the_data() -> None:
    n, size = 1001, 4
    shards = [ddp.shard_indices(n, ddp.World(r, size), seed=3) for r in range(size)]
    assert len({len(s) for s in shards}) == 1
    every = torch.cat(shards)
    assert set(every.tolist()) == set(range(n))
    assert len(every) - n < size  # padding repeats fewer than one sample per rank
    assert torch.equal(shards[1], ddp.shard_indices(n, ddp.World(1, size), seed=3))


def test_world_from_env() -> None:
    assert ddp.world_from_env({}) == ddp.World()
    env = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "h"}
    assert ddp.launched_by_torchrun(env)
    assert ddp.world_from_env(env) == ddp.World(3, 4, 1)
    with pytest.raises(InputError, match="inconsistent"):
        ddp.world_from_env({**env, "RANK": "4"})


def test_backend_choice() -> None:
    assert ddp.choose_backend("auto", "cpu") == "gloo"
    assert ddp.choose_backend("gloo", "cpu") == "gloo"
    with pytest.raises(InputError, match="unknown backend"):
        ddp.choose_backend("mpi", "cpu")
    with pytest.raises(InputError, match="nccl"):
        ddp.choose_backend("nccl", "cpu")


def test_default_batch_and_lr_scale_with_the_number_of_processes() -> None:
    ds = load_dataset("digits", n=200, seed=0)
    one = new_config("gan", "digits", {}, 0, ds)
    two = new_config("gan", "digits", {}, 0, ds, world_size=2)
    eight = new_config("gan", "digits", {}, 0, ds, world_size=8)
    assert one.hparams == two.hparams  # 64 = 2 x 32: the same run as one process
    assert eight.hparams["batch_size"] == 128
    assert eight.hparams["lr"] == pytest.approx(one.hparams["lr"] * math.sqrt(2))
    assert eight.provenance["batch_scaling"]["reference_batch"] == 64
    given = new_config("gan", "digits", {"batch_size": 32, "lr": 1e-3}, 0, ds, world_size=8)
    assert (given.hparams["batch_size"], given.hparams["lr"]) == (32, 1e-3)


@pytest.mark.usefixtures("torch_seed")
def test_replica_runs_the_modules_own_methods_through_ddp_forward() -> None:
    """``decoder.logits(z)`` on the wrapper must enter DDP's forward (else its gradients would
    stay local); plain attributes come from the module."""
    from genedge.train.families.vae import Decoder

    store = torch.distributed.HashStore()
    torch.distributed.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        dec = Decoder(2, [8], (3,), bernoulli=True)
        calls: list[str] = []
        dec.register_forward_pre_hook(lambda m, a: calls.append("forward"))
        rep = ddp.Replica(dec)
        z = torch.randn(4, 2)
        torch.testing.assert_close(rep.logits(z), dec.logits(z))
        assert calls == ["forward"] and dec.forward.__func__ is Decoder.forward
        assert rep.bernoulli is True and rep.shape == (3,)
        assert list(rep.parameters()) == list(dec.parameters())
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.parametrize(
    ("family", "data", "sets", "expected"),
    [
        ("vae", "ring8", {"sigma": 0.1}, {"decoder"}),  # the learned sigma is never used
        ("vae", "ring8", {}, set()),
        ("gan", "ring8", {}, set()),
    ],
)
@pytest.mark.usefixtures("torch_seed")
def test_partly_used_models_are_found_without_touching_the_originals(
    family: str, data: str, sets: dict, expected: set[str]
) -> None:
    from genedge.train.families import get_family

    fam = get_family(family)
    ds = load_dataset(data, n=64, seed=0)
    cfg = new_config(family, data, {**sets, "batch_size": 16}, 0, ds)
    hp = fam.from_hparams(cfg.hparams)
    models = fam.build(hp, cfg.data_info)
    opts = fam.optimizers(models, hp)
    before = {f"{k}.{n}": p.clone() for k, m in models.items() for n, p in m.named_parameters()}
    x = torch.rand(16, *cfg.data_info.sample_shape)
    gen = torch.Generator().manual_seed(0)
    state, rng = gen.get_state(), torch.get_rng_state()
    found = ddp.partly_used_models(
        lambda m, o: fam.train_step(m, o, x, None, gen, hp), models, opts
    )
    assert found == expected
    after = {f"{k}.{n}": p for k, m in models.items() for n, p in m.named_parameters()}
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for m in models.values() for p in m.parameters())
    assert torch.equal(torch.get_rng_state(), rng)
    assert not torch.equal(gen.get_state(), state)  # the step drew from the generator given


# ---------------------------------------------------------------------------------------------
# User errors: one line, exit code 2, before any worker starts


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--nproc", "0"], "--nproc must be at least 1"),
        (["--nproc", "2", "--batch-size", "65"], "does not split evenly over 2 processes"),
        (["--nproc", "2", "--backend", "mpi"], "unknown backend"),
    ],
)
def test_user_errors_before_launch(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    extra: list[str],
    message: str,
) -> None:
    from genedge.cli import main

    monkeypatch.setattr(sys, "argv", ["genedge", "train", *ARGS, "--out", str(tmp_path), *extra])
    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], lines


@pytest.mark.skipif(torch.cuda.is_available(), reason="nccl may run here")
def test_nccl_without_gpu_is_a_user_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from genedge.cli import main

    argv = ["genedge", "train", *ARGS, "--out", str(tmp_path), "--nproc", "2", "--backend", "nccl"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code == 2 and "needs CUDA GPUs" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# 2-process gloo runs on the CPU


@pytest.fixture(scope="module")
def nproc_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``genedge train --nproc 2`` for STEPS steps, then ``--resume`` to MORE steps."""
    out = tmp_path_factory.mktemp("ddp") / "run"
    r = genedge("train", *ARGS, "--out", str(out), "--steps", str(STEPS), "--nproc", "2")
    assert r.returncode == 0, r.stderr
    # Rank 0 alone reports: one launch line and one summary line.
    assert r.stdout.count("DDP: 2 processes (gloo on cpu), global batch 256 = 2 x 128") == 1
    assert r.stdout.count("trained gan on 2 processes") == 1
    # Rank 0 alone writes: two complete checkpoints (hash-verified), nothing else.
    names = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert names == [f"step-000000{s}.{x}" for s in (20, 40) for x in ("json", "safetensors")]
    for meta in list_checkpoints(out / "checkpoints"):
        state, tensors = load_checkpoint(meta, "gan")
        assert state["world_size"] == 2 and "rng/torch/rank1" in tensors
    assert sorted(p.name for p in (out / "samples").iterdir()) == [
        "latest.png",
        "step-00000040.png",
    ]
    prov = json.loads((out / "run.json").read_text())["provenance"]["distributed"]
    assert prov["world_size"] == 2 and prov["process_batch"] == 128 and prov["backend"] == "gloo"

    r = genedge("train", *ARGS, "--out", str(out), "--steps", str(MORE), "--nproc", "2", "--resume")
    assert r.returncode == 0, r.stderr
    assert list_checkpoints(out / "checkpoints")[0].name == f"step-{MORE:08d}.json"
    lines = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
    assert [ln["step"] for ln in lines] == [40, 50, 60]  # one writer, no duplicates
    assert all(ln["samples_per_s"] > 0 for ln in lines)
    return out


def test_torchrun_run_matches_the_nproc_run_resumed(nproc_run: Path, tmp_path: Path) -> None:
    """One uninterrupted torchrun run gives the very weights of ``--nproc 2`` + ``--resume``:
    the two launch paths are one code path, and resuming under DDP is exact."""
    out = tmp_path / "run"
    r = run(
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "genedge",
        "train",
        *ARGS,
        "--out",
        str(out),
        "--steps",
        str(MORE),
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("trained gan on 2 processes") == 1
    name = f"step-{MORE:08d}.safetensors"
    a, b = weights(out / "checkpoints" / name), weights(nproc_run / "checkpoints" / name)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


def test_ddp_run_exports_and_resumes_on_one_process(nproc_run: Path, tmp_path: Path) -> None:
    onnx_path = tmp_path / "gan.onnx"
    r = genedge("export", str(nproc_run), "--out", str(onnx_path))
    assert r.returncode == 0, r.stderr
    assert "PASSED" in r.stdout

    from genedge.runtime import Sampler

    s = Sampler(onnx_path)
    assert s.manifest.provenance["distributed"]["world_size"] == 2
    x = s.sample(16, seed=0)
    assert x.shape == (16, 2) and np.isfinite(x).all()

    # The DDP checkpoint loads and trains on in a single process.
    single = tmp_path / "single"
    import shutil

    shutil.copytree(nproc_run, single)
    notes: list[str] = []
    train(
        single,
        resume=True,
        overrides={"steps": MORE + 10},
        device="cpu",
        threads=1,
        on_start=lambda info: notes.extend(info["notes"]),
    )
    _, _, _, step = load_trained(single)
    assert step == MORE + 10
    assert notes and "written by 2 process(es)" in notes[0]
    prov = json.loads((single / "run.json").read_text())["provenance"]["distributed"]
    assert prov["world_size"] == 1


def test_a_failing_worker_stops_the_launch(tmp_path: Path) -> None:
    """A worker's error stops every worker (no hang) and the launcher says which one failed."""
    r = genedge(
        "train",
        "gan",
        "--data",
        str(tmp_path / "missing.npy"),
        "--out",
        str(tmp_path / "run"),
        "--nproc",
        "2",
        "--threads",
        "1",
        "--quiet",
    )
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert "no such file" in r.stderr
    assert "training worker" in r.stderr.splitlines()[-1]
    assert not (tmp_path / "run" / "run.json").exists()


def test_text_trains_under_ddp_and_exports(tmp_path: Path) -> None:
    """The text family through the same launcher: 2 gloo processes (each drawing its own
    crops with its rank's generator), then a torch-free artifact that generates from the DDP
    weights."""
    corpus = tmp_path / "play.txt"
    lines = [f"{who}:\nthou art my love and my light.\n\n" for who in ("ROMEO", "JULIET") * 150]
    corpus.write_text("".join(lines), encoding="utf-8")
    small = ["embed=8", "hidden=32", "layers=1", "length=32", "batch_size=16"]
    sets = [a for s in small for a in ("--set", s)]
    out = tmp_path / "run"
    r = genedge(
        "train", "text", "--data", str(corpus), *sets, "--steps", "6", "--nproc", "2",
        "--seed", "3", "--device", "cpu", "--threads", "1", "--quiet", "--out", str(out),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("DDP: 2 processes (gloo on cpu), global batch 16 = 2 x 8") == 1
    assert r.stdout.count("trained text on 2 processes") == 1
    prov = json.loads((out / "run.json").read_text())["provenance"]["distributed"]
    assert prov["world_size"] == 2 and prov["process_batch"] == 8

    r = genedge("export", str(out), "--out", str(tmp_path / "text.onnx"))
    assert r.returncode == 0 and "PASSED" in r.stdout, r.stdout + r.stderr
    from genedge.runtime import TextSampler

    texts = TextSampler(tmp_path / "text.onnx").generate("ROMEO:", n=2, length=20, seed=0)
    letters = set(corpus.read_text())
    assert len(texts) == 2 and all(len(t) == 20 and set(t) <= letters for t in texts)

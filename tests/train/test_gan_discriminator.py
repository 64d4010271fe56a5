"""The classic GAN's discriminator options: minibatch standard deviation, spectral norm,
dropout and the R1 penalty do what they claim, are off by default without changing D, and
train end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from genedge.runtime.errors import InputError
from genedge.train.adversarial import r1_penalty
from genedge.train.families import get_family
from genedge.train.families.gan import MinibatchStd, MLPDiscriminator
from genedge.train.loop import train
from genedge.train.run import DataInfo

pytestmark = pytest.mark.usefixtures("pinned_threads")

IMAGES = DataInfo("digits", "image", (1, 8, 8), (0.0, 16.0), 10, tuple("0123456789"), 1797)


def test_minibatch_std_is_zero_for_a_collapsed_batch_and_grows_with_spread() -> None:
    gen = torch.Generator().manual_seed(0)
    same = torch.randn(1, 5, generator=gen).expand(8, 5)
    varied = torch.randn(8, 5, generator=gen)
    layer = MinibatchStd(group=4)
    out_same, out_varied = layer(same), layer(varied)
    assert out_same.shape == (8, 6) and torch.equal(out_same[:, :5], same)
    assert out_same[:, 5].max().item() < 1e-3
    assert out_varied[:, 5].min().item() > 0.3
    doubled = layer(2 * varied)[:, 5].mean().item()
    assert doubled == pytest.approx(2 * out_varied[:, 5].mean().item(), rel=1e-4)
    # a batch of 6 with groups of 4: the group shrinks to 3, which divides it
    assert layer(varied[:6]).shape == (6, 6)


def test_default_discriminator_is_the_classic_one(torch_seed: int) -> None:
    """Options off: the same modules and checkpoint keys as before the options existed."""
    d = MLPDiscriminator((64,), [32, 16])
    assert sorted(d.state_dict()) == [
        "features.net.1.bias",
        "features.net.1.weight",
        "features.net.3.bias",
        "features.net.3.weight",
        "logit.bias",
        "logit.weight",
    ]
    cfg = get_family("gan").defaults(DataInfo("ring8", "points", (2,), (-2.0, 2.0), 8, (), 2000))
    assert (cfg.d_dropout, cfg.d_spectral, cfg.d_mbstd, cfg.r1) == (0.0, False, False, 0.0)


def test_spectral_norm_bounds_each_layer_and_dropout_is_off_in_eval(torch_seed: int) -> None:
    d = MLPDiscriminator((64,), [32, 16], dropout=0.5, spectral=True, mbstd=True)
    x = torch.randn(8, 64, generator=torch.Generator().manual_seed(1))
    d.train()
    for _ in range(30):  # power iterations converge in training mode
        d(x)
    d.eval()
    linears = [m for m in d.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 3
    for m in linears:
        assert torch.linalg.matrix_norm(m.weight, ord=2).item() == pytest.approx(1.0, abs=0.02)
    assert d(x).shape == (8,)
    assert torch.equal(d(x), d(x))  # no dropout in eval mode


def test_bad_discriminator_options_raise_input_errors(torch_seed: int) -> None:
    with pytest.raises(InputError, match="d_mbstd needs at least two"):
        MLPDiscriminator((64,), [32], mbstd=True)
    with pytest.raises(InputError, match="d_dropout"):
        MLPDiscriminator((64,), [32, 16], dropout=1.0)
    family = get_family("gan")
    cfg = family.config({"clusters": 5, "d_mbstd": True}, IMAGES)
    with pytest.raises(InputError, match="d_mbstd works without clusters"):
        family.build(cfg, IMAGES)


def test_r1_penalty_is_half_gamma_times_the_squared_gradient_at_real_data() -> None:
    w = torch.tensor([3.0, -4.0])  # D(x) = w . x + x0^2: gradient (3 + 2 x0, -4)
    real = torch.tensor([[0.0, 1.0], [1.0, 2.0]], requires_grad=True)
    d_real = real @ w + real[:, 0] ** 2
    # |grad|^2: 25 at x0 = 0, 41 at x0 = 1; mean 33; times gamma / 2 = 1
    assert r1_penalty(real, d_real, 2.0).item() == pytest.approx(33.0)
    flat = torch.zeros(2, 2, requires_grad=True)
    assert r1_penalty(flat, flat.sum(1) * 0.0, 10.0).item() == 0.0


def test_gan_trains_with_every_discriminator_option(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(
        run,
        "gan",
        "digits",
        overrides={
            "steps": 30,
            "d_dropout": 0.2,
            "d_spectral": True,
            "d_mbstd": True,
            "r1": 1.0,
        },
        seed=0,
        device="cpu",
        threads=1,
        sample_every=30,
        checkpoint_every=30,
    )
    assert (run / "samples" / "latest.png").read_bytes()[:4] == b"\x89PNG"
    last = (run / "metrics.jsonl").read_text().splitlines()[-1]
    assert '"d_loss"' in last and '"d_reg"' in last

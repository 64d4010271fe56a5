"""WaveGAN or SpecGAN? The two published routes to audio GANs, measured on the built-in spoken
digits at the same wall-clock budget and scored by the same held-out classifier.

- SpecGAN: the ``audio`` family's defaults (log-magnitude spectrograms as images, DCGAN
  networks, class-conditional), sampled as heard (Griffin-Lim, then read back).
- WaveGAN (Donahue et al. 2019), scaled down as the spectrogram model is: 1-D transposed
  convolutions (kernel 25, stride 4) from ``(16 * width, 24)`` to the 6144-sample clip, D with
  phase shuffle (n=2), WGAN-GP (lambda 10, 5 D steps per G step, Adam 1e-4, betas 0.5/0.9), the
  label as an embedding concatenated to z in G and a projection term in D.

    .venv/bin/python benchmarks/audio_routes.py --seconds 600 --threads 1

Writes ``benchmarks/results/audio_routes.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genedge.eval.audio_eval import as_heard, audio_scores
from genedge.train.data import load_dataset
from genedge.train.loop import TrainingInterrupted, train
from genedge.train.reference import load_torch_sampler

RESULTS = Path(__file__).parent / "results"


class PhaseShuffle(nn.Module):
    """Shift each sample's feature map in time by a random -n..n (reflect-padded)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.n == 0:
            return x
        k = int(torch.randint(-self.n, self.n + 1, (1,)))
        if k == 0:
            return x
        padded = F.pad(x, (max(k, 0), max(-k, 0)), mode="reflect")
        return padded[:, :, max(-k, 0) : max(-k, 0) + x.shape[2]]


class WaveG(nn.Module):
    def __init__(self, z_dim: int, classes: int, width: int, start: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(classes, 16)
        c0 = width * 16
        self.start = (c0, start)
        self.project = nn.Linear(z_dim + 16, c0 * start)
        layers: list[nn.Module] = [nn.ReLU()]
        c = c0
        for i in range(4):
            out = 1 if i == 3 else c // 2
            layers.append(nn.ConvTranspose1d(c, out, 25, 4, 11, output_padding=1))
            layers.append(nn.Tanh() if i == 3 else nn.ReLU())
            c = out
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.project(torch.cat([z, self.embed(y)], 1)).view(-1, *self.start)
        out: torch.Tensor = self.net(h)
        return out


class WaveD(nn.Module):
    def __init__(self, classes: int, width: int, length: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 1
        for i in range(4):
            out = width * 2**i
            layers += [nn.Conv1d(c, out, 25, 4, 11), nn.LeakyReLU(0.2)]
            if i < 3:
                layers.append(PhaseShuffle(2))
            c = out
        self.net = nn.Sequential(*layers, nn.Flatten(1))
        feat = c * (length // 256)
        self.head = nn.Linear(feat, 1)
        self.embed = nn.Embedding(classes, feat)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.net(x)
        out: torch.Tensor = self.head(h).squeeze(1) + (self.embed(y) * h).sum(1)
        return out


def train_wavegan(clips: np.ndarray, y: np.ndarray, seconds: float, seed: int) -> tuple[WaveG, int]:
    torch.manual_seed(seed)
    length = clips.shape[1]
    G, D = WaveG(64, 10, 8, length // 256), WaveD(10, 8, length)
    og = torch.optim.Adam(G.parameters(), 1e-4, betas=(0.5, 0.9))
    od = torch.optim.Adam(D.parameters(), 1e-4, betas=(0.5, 0.9))
    x_all = torch.from_numpy(clips.astype(np.float32))[:, None]
    y_all = torch.from_numpy(y.astype(np.int64))
    gen = torch.Generator().manual_seed(seed)
    t0, steps, batch = time.perf_counter(), 0, 32
    while time.perf_counter() - t0 < seconds:
        for _ in range(5):
            idx = torch.randint(0, len(x_all), (batch,), generator=gen)
            real, yb = x_all[idx], y_all[idx]
            fake = G(torch.randn(batch, 64, generator=gen), yb).detach()
            eps = torch.rand(batch, 1, 1, generator=gen)
            mix = (eps * real + (1 - eps) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(D(mix, yb).sum(), mix, create_graph=True)
            gp = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
            loss = D(fake, yb).mean() - D(real, yb).mean() + 10 * gp
            od.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            od.step()
        yb = y_all[torch.randint(0, len(x_all), (batch,), generator=gen)]
        g_loss = -D(G(torch.randn(batch, 64, generator=gen), yb), yb).mean()
        og.zero_grad()
        g_loss.backward()  # type: ignore[no-untyped-call]
        og.step()
        steps += 1
    return G.eval(), steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=Path("/tmp/genedge-audio-routes"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ds = load_dataset("spoken_digits")
    assert ds.y is not None and ds.audio is not None and ds.clips is not None
    spec, m = ds.audio, len(ds) // 2
    order = np.random.default_rng(args.seed).permutation(len(ds))
    a_idx, b_idx = order[:m], order[m : 2 * m]
    labels = ds.y[a_idx]
    results = {}

    t0 = time.perf_counter()
    run = args.work / "specgan"
    shutil.rmtree(run, ignore_errors=True)
    run.parent.mkdir(parents=True, exist_ok=True)
    done = {"steps": 0}

    def budget(step: int, total: int, losses: dict[str, float]) -> None:
        done["steps"] = step
        if time.perf_counter() - t0 > args.seconds:
            os.kill(os.getpid(), signal.SIGINT)  # the loop checkpoints and stops

    with contextlib.suppress(TrainingInterrupted):
        train(run, "audio", "spoken_digits", overrides={"steps": 10**6, "lr_decay": 0.0},
              seed=args.seed, device="cpu", threads=args.threads, sample_every=10**9,
              checkpoint_every=10**6, log_every=10, on_step=budget)  # fmt: skip
    steps, train_s = done["steps"], time.perf_counter() - t0
    sampler = load_torch_sampler(run)
    fake = sampler.sample(m, seed=args.seed, labels=labels)
    heard = as_heard(fake, spec)
    s = audio_scores(ds.name, ds.x, ds.y, 10, ds.value_range, a_idx, b_idx, heard, labels)
    results["specgan"] = {"steps": steps, "seconds": train_s, **s.__dict__}

    t0 = time.perf_counter()
    G, steps = train_wavegan(ds.clips, ds.y, args.seconds, args.seed)
    train_s = time.perf_counter() - t0
    with torch.no_grad():
        gen = torch.Generator().manual_seed(args.seed)
        clips = G(torch.randn(m, 64, generator=gen), torch.from_numpy(labels))[:, 0].numpy()
    peak = np.maximum(np.abs(clips).max(axis=1, keepdims=True), 1e-9)
    heard = spec.spectrograms(clips / peak * 0.9)
    s = audio_scores(ds.name, ds.x, ds.y, 10, ds.value_range, a_idx, b_idx, heard, labels)
    results["wavegan"] = {"steps": steps, "seconds": train_s, **s.__dict__}
    RESULTS.mkdir(exist_ok=True)
    out = {"threads": args.threads, "budget_s": args.seconds, "results": results}
    (RESULTS / "audio_routes.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

"""The character language model: embedding -> GRU layers -> linear, by next-character
cross-entropy.

The model reads token ids ``(batch, length)`` and a GRU state ``(batch, layers, hidden)`` (batch
first, like every genedge graph input) and returns logits ``(batch, length, vocab)`` and the
new state. Training maximises the likelihood of each next character (teacher forcing) on a
random crop of ``length + 1`` characters from each of ``batch_size`` training windows, every
batch starting from a zero state. The windows are drawn by the family from the training split
with the run's generator (the loop's own batch also holds held-out windows, marked by the data's
split flags ``y``, so it is not used), which keeps every batch full. The learning rate
halves every ``half_life`` steps, down to ``lr * final_lr``, read from the optimiser's own step
count and independent of ``steps``: a resumed run, and a run continued to more steps, follow
the same schedule (bit-exact).

Each step also reports ``heldout``: the loss (nats per character) on ``heldout_rows`` held-out
windows picked with the run's generator (no gradient), a running view of generalisation. The
full held-out figure is ``genedge eval`` (or :func:`genedge.eval.text_eval.heldout_loss`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from genedge.runtime.errors import DataError, InputError
from genedge.runtime.manifest import GraphSpec, TensorSpec
from genedge.train.families.base import Family, Models, Optimizers
from genedge.train.families.config import TrainConfig
from genedge.train.run import DataInfo

#: Graph tensor names (the manifest's ``text`` section names them too).
TOKENS, STATE, LOGITS, STATE_OUT = "tokens", "state", "logits", "state_out"
#: Characters per training sequence unless the data's windows are shorter.
DEFAULT_LENGTH = 128


@dataclass(frozen=True, kw_only=True)
class TextConfig(TrainConfig):
    """The text family's settings (``run.json``'s ``hparams`` hold them as a flat dict).

    Attributes:
        vocab_size: Tokens (distinct characters of the data); fixed by the data.
        embed: Width of the character embedding.
        hidden: GRU width.
        layers: GRU layers.
        length: Characters per training sequence (a crop of a window of the data).
        batch_size: Sequences per step.
        steps: Optimiser steps.
        lr: Adam's initial learning rate.
        half_life: Steps over which the learning rate halves.
        final_lr: The floor of the learning rate, as a share of ``lr``.
        clip: Gradient norm clipping.
        heldout_rows: Held-out windows scored at each step (the logged ``heldout`` loss).
        unknown: What the runtime does with a prompt character not in the vocabulary: ``""``
            refuses it, a character of the vocabulary replaces it.

    Raises:
        InputError: A size is not positive, ``heldout_rows`` < 0 or ``final_lr`` outside
            [0, 1].
    """

    vocab_size: int
    embed: int = 64
    hidden: int = 256
    layers: int = 2
    length: int = DEFAULT_LENGTH
    batch_size: int = 64
    steps: int = 1200
    lr: float = 3e-3
    half_life: int = 400
    final_lr: float = 0.05
    clip: float = 1.0
    heldout_rows: int = 16
    unknown: str = ""

    def __post_init__(self) -> None:
        sizes = ("vocab_size", "embed", "hidden", "layers", "length", "batch_size", "steps")
        bad = [k for k in (*sizes, "half_life") if getattr(self, k) <= 0]
        if bad or self.heldout_rows < 0 or not 0.0 <= self.final_lr <= 1.0:
            raise InputError(
                "text settings: embed, hidden, layers, length, batch_size, steps and "
                "half_life must be positive, heldout_rows >= 0 and final_lr in [0, 1]"
            )


class CharGRU(nn.Module):
    """``(tokens, state) -> (logits, new state)``: tokens ``(batch, length)`` int64, state
    ``(batch, layers, hidden)``; logits ``(batch, length, vocab)``."""

    def __init__(self, vocab_size: int, embed: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed)
        self.gru = nn.GRU(embed, hidden, num_layers=layers, batch_first=True)
        self.out = nn.Linear(hidden, vocab_size)
        self.vocab_size, self.layers, self.hidden = vocab_size, layers, hidden
        # The training and held-out windows (token ids): set per training start, never saved.
        self.register_buffer("windows", torch.zeros(0, 0, dtype=torch.int32), persistent=False)
        self.register_buffer("heldout", torch.zeros(0, 0, dtype=torch.int32), persistent=False)

    def initial_state(self, batch: int, device: torch.device) -> torch.Tensor:
        """The zero state the runtime starts from, ``(batch, layers, hidden)``."""
        return torch.zeros(batch, self.layers, self.hidden, device=device)

    def forward(
        self, tokens: torch.Tensor, state: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h, new = self.gru(self.embed(tokens), state.transpose(0, 1).contiguous())
        logits: torch.Tensor = self.out(h)
        return logits, new.transpose(0, 1)


def token_ids(x: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Model units (ids scaled onto [0, 1] by the run's preprocessing) -> int64 ids."""
    return torch.round(x * (vocab_size - 1)).long()


def next_char_loss(model: nn.Module, seq: torch.Tensor) -> torch.Tensor:
    """Mean next-character cross-entropy (nats) of ``seq`` ``(batch, length + 1)`` ids, read
    from a zero state."""
    layers, hidden = cast(int, model.layers), cast(int, model.hidden)
    state = torch.zeros(seq.shape[0], layers, hidden, device=seq.device)
    logits, _ = model(seq[:, :-1], state)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), seq[:, 1:].reshape(-1))


class TextFamily(Family[TextConfig]):
    name = "text"
    kinds = ("text",)
    model_range = (0.0, 1.0)
    # The dynamo exporter specialises a GRU's time axis; TorchScript keeps it symbolic.
    exporter = "torchscript"
    config_type = TextConfig

    def check_data(self, info: DataInfo) -> None:
        super().check_data(info)
        if len(info.vocab) < 2:
            raise DataError(
                f"{info.name}: the run's data description has no vocabulary; "
                "text data needs genedge's text loader (genedge.train.data.text)"
            )

    def defaults(self, info: DataInfo) -> TextConfig:
        window = int(info.sample_shape[0]) - 1
        return TextConfig(vocab_size=len(info.vocab), length=min(DEFAULT_LENGTH, window))

    def build(self, cfg: TextConfig, info: DataInfo) -> Models:
        if cfg.vocab_size != len(info.vocab):
            raise InputError(
                f"vocab_size is fixed by the data ({len(info.vocab)} characters), "
                f"got {cfg.vocab_size}"
            )
        if cfg.length > int(info.sample_shape[0]) - 1:
            raise InputError(
                f"length {cfg.length} is longer than the data's windows "
                f"({int(info.sample_shape[0]) - 1} characters)"
            )
        if cfg.unknown and (len(cfg.unknown) != 1 or cfg.unknown not in info.vocab):
            raise InputError(
                f"unknown must be empty (refuse unseen characters) or one character of the "
                f"vocabulary, got {cfg.unknown!r}"
            )
        return {"LM": CharGRU(cfg.vocab_size, cfg.embed, cfg.hidden, cfg.layers)}

    def optimizers(self, models: Models, cfg: TextConfig) -> Optimizers:
        return {"LM": torch.optim.Adam(models["LM"].parameters(), lr=cfg.lr)}

    def training_labels(
        self, models: Models, cfg: TextConfig, x: np.ndarray, y: np.ndarray | None, seed: int
    ) -> np.ndarray | None:
        """Keep the training windows (``y == 0``) and the held-out ones (``y == 1``) on the
        model, as int32 token ids, for :meth:`train_step`; the labels stay the split flags."""
        model = models["LM"]
        vocab = cfg.vocab_size
        split = np.zeros(len(x), np.int64) if y is None else y
        device = next(model.parameters()).device
        for name, part in (("windows", 0), ("heldout", 1)):
            rows = torch.from_numpy(np.ascontiguousarray(x[split == part]))
            setattr(model, name, token_ids(rows, vocab).to(device, torch.int32))
        return y

    def train_step(
        self,
        models: Models,
        opts: Optimizers,
        x: torch.Tensor,
        y: torch.Tensor | None,
        gen: torch.Generator,
        cfg: TextConfig,
    ) -> dict[str, float]:
        model, opt = models["LM"], opts["LM"]
        windows = cast(torch.Tensor, model.windows)
        picked = torch.randint(windows.shape[0], (x.shape[0],), generator=gen)
        start = int(torch.randint(windows.shape[1] - cfg.length, (1,), generator=gen))
        seq = windows[picked.to(windows.device), start : start + cfg.length + 1].long()
        _set_lr(opt, cfg)
        loss = next_char_loss(model, seq)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
        nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        out = {"loss": loss.item()}
        held = cast(torch.Tensor, model.heldout)
        if cfg.heldout_rows and held.numel():
            rows = torch.randint(held.shape[0], (cfg.heldout_rows,), generator=gen)
            with torch.no_grad():
                seq = held[rows.to(held.device), start : start + cfg.length + 1].long()
                out["heldout"] = next_char_loss(model, seq).item()
        return out

    def sampler_module(self, models: Models, cfg: TextConfig, info: DataInfo) -> nn.Module:
        return models["LM"].eval()

    def graphs(self, cfg: TextConfig, info: DataInfo) -> dict[str, GraphSpec]:
        state_shape = ("batch", cfg.layers, cfg.hidden)
        ins = (
            TensorSpec(TOKENS, "int64", ("batch", "length"), "tokens"),
            TensorSpec(STATE, "float32", state_shape, "state"),
        )
        outs = (
            TensorSpec(LOGITS, "float32", ("batch", "length", cfg.vocab_size)),
            TensorSpec(STATE_OUT, "float32", state_shape),
        )
        return {"sampler": GraphSpec(None, ins, outs)}

    def latent_dim(self, cfg: TextConfig) -> int:
        # No latent input: the runtime draws one uniform per token per step (Gumbel-max).
        return cfg.vocab_size

    def output_kind(self, info: DataInfo) -> str:
        return "text"

    def sample_shape(self, info: DataInfo) -> tuple[int | str, ...]:
        return ("length",)

    def default_length(self, info: DataInfo) -> int:
        return int(info.sample_shape[0]) - 1


def _set_lr(opt: torch.optim.Optimizer, cfg: TextConfig) -> None:
    """``lr`` halved every ``half_life`` steps, floored at ``lr * final_lr``, by the
    optimiser's own step count."""
    states = [opt.state[p] for g in opt.param_groups for p in g["params"] if p in opt.state]
    done = int(states[0]["step"]) if states else 0
    scale = max(cfg.final_lr, math.pow(0.5, done / cfg.half_life))
    for g in opt.param_groups:
        g["lr"] = cfg.lr * scale

"""The devices training accepts by name; torch-free, so the CLI can offer them as choices."""

from __future__ import annotations

#: ``--device``/``device=``: ``auto`` is CUDA when torch sees a GPU, else the CPU.
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")

"""Torch's process-wide settings, scoped: CPU thread count and the global random generator.

``torch.set_num_threads`` and ``torch.manual_seed`` change state that every later caller in the
process sees; :func:`torch_scope` sets them for one block and puts back what was there before,
so training or evaluating leaves no trace on the caller (or on the next test).
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterator

import torch

from genedge.runtime.errors import InputError


def check_threads(threads: int | None) -> None:
    """Raise :class:`InputError` unless ``threads`` is ``None`` or a positive whole number."""
    if threads is None:
        return
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or threads <= 0:
        raise InputError(f"threads must be a positive whole number, got {threads!r}")


def seed_global(seed: int) -> None:
    """Seed torch's global generators: the CPU's, and CUDA's where CUDA is initialised.

    Unlike ``torch.manual_seed``, this never queues a seed for a CUDA that starts later, which
    would reach past the end of a :func:`torch_scope`.
    """
    torch._C.default_generator.manual_seed(int(seed))
    # torch leaves cuda.is_initialized unannotated
    if torch.cuda.is_initialized():  # type: ignore[no-untyped-call]
        torch.cuda.manual_seed_all(int(seed))


@contextlib.contextmanager
def torch_scope(threads: int | None = None, seed: int | None = None) -> Iterator[None]:
    """Within the block use ``threads`` CPU threads and a global RNG seeded with ``seed``
    (``None``: leave that one as it is); on exit, normal or by an error, restore the thread
    count and the global RNG state (CPU, and CUDA's when CUDA was initialised on entry).

    Raises:
        InputError: ``threads`` is not a positive whole number.
    """
    check_threads(threads)
    saved_threads = torch.get_num_threads()
    cpu_state = torch.random.get_rng_state()
    # torch leaves cuda.is_initialized unannotated
    initialised = torch.cuda.is_initialized()  # type: ignore[no-untyped-call]
    cuda_states = torch.cuda.get_rng_state_all() if initialised else None
    try:
        if threads is not None:
            torch.set_num_threads(int(threads))
        if seed is not None:
            seed_global(seed)
        yield
    finally:
        torch.set_num_threads(saved_threads)
        torch.random.set_rng_state(cpu_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)

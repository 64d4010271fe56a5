"""Launching the workers of ``genedge train --nproc N`` on this host."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence

from genedge.runtime.errors import GenedgeError, InputError


class WorkerFailed(GenedgeError):
    """A worker process of a multi-process run failed; the launcher stopped the others.

    Attributes:
        rank: Global rank of the first worker that failed.
        exit_code: Its exit code (negative: killed by that signal).
    """

    def __init__(self, message: str, rank: int, exit_code: int) -> None:
        super().__init__(message)
        self.rank, self.exit_code = rank, exit_code


def launch_local(nproc: int, args: Sequence[str], module: str = "genedge") -> None:
    """Run ``python -m <module> <args>`` on ``nproc`` worker processes of this host.

    Uses torchrun's own launcher (an elastic agent with a c10d rendezvous on a free port of
    127.0.0.1), so the workers see exactly the environment ``torchrun --standalone`` gives
    them. When any worker fails, the agent stops the others and this raises.

    Raises:
        InputError: ``nproc`` < 1.
        WorkerFailed: A worker exited with an error (its message is on stderr above).
        KeyboardInterrupt: The launcher was interrupted (the workers were told to stop).
    """
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    if nproc < 1:
        raise InputError(f"--nproc must be at least 1, got {nproc}")
    with tempfile.TemporaryDirectory(prefix="genedge-ddp-") as logs, _quiet_agent():
        config = LaunchConfig(
            min_nodes=1,
            max_nodes=1,
            nproc_per_node=nproc,
            run_id=f"genedge-{uuid.uuid4().hex[:12]}",
            rdzv_backend="c10d",
            rdzv_endpoint="127.0.0.1:0",
            local_addr="127.0.0.1",
            max_restarts=0,
            monitor_interval=0.1,
            logs_specs=DefaultLogsSpecs(log_dir=logs),
        )
        try:
            elastic_launch(config, sys.executable)("-m", module, *args)
        except ChildFailedError as e:
            rank, failure = e.get_first_failure()
            code = int(failure.exitcode)
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            raise WorkerFailed(
                f"training worker {rank} of {nproc} {how}; the others were stopped "
                "(its error is printed above)",
                rank,
                code,
            ) from None
        except SignalException as e:
            raise KeyboardInterrupt(f"launcher stopped by signal {e.sigval}") from None


@contextlib.contextmanager
def _quiet_agent() -> Iterator[None]:
    """Silence the elastic agent's own log lines (a worker's failure is reported once, by
    :class:`WorkerFailed`), unless ``LOGLEVEL`` asks for them."""
    import logging

    if "LOGLEVEL" in os.environ:
        yield
        return
    names = [n for n in logging.root.manager.loggerDict if n.startswith("torch.distributed")]
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)

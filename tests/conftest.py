"""Shared fixtures: small trained runs and their exported artifacts, built once per session;
torch pinned to one thread; and a guard that fails any test leaving process-wide state changed.

The guard (the ``pytest_runtest_*`` hooks below) compares torch's thread count and global RNG
(when torch is loaded) and numpy's legacy global RNG from before a test's setup to after its
teardown, so what a session- or module-scoped fixture changes counts against the test that set
it up, and the message names that fixture. A leak is an error at the test's teardown; the state
is then put back so later tests are judged on their own. Thread counts set by
:func:`pin_threads` (the :func:`pinned_threads` fixture) are not leaks: the pin restores them.
"""

from __future__ import annotations

import contextlib
import functools
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

# The guard's own test (tests/test_isolation.py) runs a small suite through this conftest.
pytest_plugins = ["pytester"]

ShortRun = Callable[..., Path]

#: The torch thread count of :func:`pinned_threads`: the small nets here gain nothing from a
#: second thread and lose several-fold on two shared cores (torch's GRU up to ~50x).
PINNED_THREADS = 1


# --- torch threads and RNG, set for a test and put back ------------------------------------------

#: Thread pins in force, innermost last: ``(count before the pin, pinned count)``.
_PINS: list[tuple[int, int]] = []
#: Torch's thread count right after import, when a pin was what imported it.
_FRESH_THREADS: list[int] = []


@contextlib.contextmanager
def pin_threads(count: int = PINNED_THREADS) -> Iterator[int]:
    """Torch at ``count`` intra-op threads inside the block, the count before restored after."""
    fresh = "torch" not in sys.modules
    import torch

    before = torch.get_num_threads()
    if fresh:
        _FRESH_THREADS.append(before)
    torch.set_num_threads(count)
    _PINS.append((before, count))
    try:
        yield count
    finally:
        _PINS.pop()
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def pinned_threads() -> Iterator[int]:
    """Torch at :data:`PINNED_THREADS` thread(s) for the rest of the module that asks, and
    the count before restored after it.

    Module scope, so that a module's own training fixtures run pinned too; ask for it first,
    with ``pytestmark = pytest.mark.usefixtures("pinned_threads")`` (pytest sets up those
    before the module-scoped fixtures a test names)."""
    with pin_threads() as count:
        yield count


@pytest.fixture
def torch_seed() -> Iterator[int]:
    """Torch's global RNG seeded with 0 for one test, and put back as it was afterwards.

    For tests that build models or draw ``torch.randn`` without a generator: their weights
    are then the same in any order of tests, and the next test's RNG is untouched."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(0)
        yield 0


# --- the guard ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GlobalState:
    """Process-wide state a test must leave as it found it. The torch fields are ``None``
    while torch is not imported (reading them would import it)."""

    torch_loaded: bool
    threads: int | None
    torch_rng: Any  # torch.random.get_rng_state(), a uint8 tensor
    numpy_rng: tuple
    pinned: int | None  # the innermost pin's count, when a pin is in force
    outside: int | None  # the outermost pin's count before it, when a pin is in force


def capture() -> GlobalState:
    """The state now; touches torch only when it is already in ``sys.modules``."""
    pinned = _PINS[-1][1] if _PINS else None
    outside = _PINS[0][0] if _PINS else None
    torch = sys.modules.get("torch")
    if torch is None:
        return GlobalState(False, None, None, np.random.get_state(), pinned, outside)
    return GlobalState(
        True,
        torch.get_num_threads(),
        torch.random.get_rng_state(),
        np.random.get_state(),
        pinned,
        outside,
    )


@functools.cache
def _default_threads() -> int | None:
    """Torch's thread count right after import here (for a test that is first to import it)."""
    if _FRESH_THREADS:
        return _FRESH_THREADS[0]
    proc = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return int(proc.stdout) if proc.returncode == 0 and proc.stdout.strip().isdigit() else None


def _expected_threads(before: GlobalState, after: GlobalState) -> int | None:
    """The thread count ``after`` should have: the pin's while pinned, else the count outside
    pins at ``before`` (torch's default if torch was not loaded yet)."""
    if after.pinned is not None:
        return after.pinned
    if before.pinned is not None:
        return before.outside
    if before.torch_loaded:
        return before.threads
    return _default_threads()


def _same_numpy_rng(a: tuple, b: tuple) -> bool:
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and tuple(a[2:]) == tuple(b[2:])


def compare(before: GlobalState, after: GlobalState) -> dict[str, str]:
    """What ``after`` has changed from ``before``: ``{field: description}``, empty when none."""
    found: dict[str, str] = {}
    if after.torch_loaded:
        import torch

        want = _expected_threads(before, after)
        if want is not None and after.threads != want:
            why = (
                ", the pinned count"
                if after.pinned is not None
                else ("" if before.torch_loaded else ", torch's default")
            )
            found["threads"] = f"torch threads at {after.threads} (was {want}{why})"
        if before.torch_loaded:
            rng_changed = not torch.equal(before.torch_rng, after.torch_rng)
        else:  # imported since: a fresh import's state follows from its (random) initial seed
            fresh = torch.Generator().manual_seed(torch.initial_seed()).get_state()
            rng_changed = not torch.equal(fresh, after.torch_rng)
        if rng_changed:
            found["torch_rng"] = "torch's global RNG state changed (torch.random.get_rng_state())"
    if not _same_numpy_rng(before.numpy_rng, after.numpy_rng):
        found["numpy_rng"] = "numpy's legacy global RNG state changed (np.random.get_state())"
    return found


def restore(before: GlobalState, after: GlobalState, fields: set[str] | dict[str, str]) -> None:
    """Put ``fields`` (keys of :func:`compare`) back as they were at ``before``."""
    if "numpy_rng" in fields:
        np.random.set_state(before.numpy_rng)
    torch = sys.modules.get("torch")
    if torch is None:
        return
    want = _expected_threads(before, after)
    if "threads" in fields and want is not None:
        torch.set_num_threads(want)
    if "torch_rng" in fields and before.torch_loaded:
        torch.random.set_rng_state(before.torch_rng)


def state_leaks(fn: Callable[[], object]) -> list[str]:
    """The guard's check around one call: what ``fn()`` leaves changed (then put back)."""
    before = capture()
    try:
        fn()
    finally:
        after = capture()
        found = compare(before, after)
        restore(before, after, found)
    return list(found.values())


@pytest.fixture
def leak_check() -> Callable[[Callable[[], object]], list[str]]:
    """:func:`state_leaks`, for the guard's own tests."""
    return state_leaks


@dataclass
class _Watch:
    """One test's states: at the start, at the end of each phase, and which fixtures changed
    what (``(phase, "fixture 'name' (scope scope)", fields)``)."""

    start: GlobalState
    phase: str = "setup"
    ends: dict[str, GlobalState] = field(default_factory=dict)
    fixtures: list[tuple[str, str, set[str]]] = field(default_factory=list)
    mark: GlobalState | None = None  # teardown: the state after the last finalizer

    def settle(self, nodeid: str) -> str | None:
        """Compare the end with the start; put back what leaked and say where it changed."""
        end = capture()
        leaks = compare(self.start, end)
        if not leaks:
            return None
        restore(self.start, end, leaks)
        after_setup = self.ends.get("setup", end)
        after_call = self.ends.get("call", after_setup)
        phases = [
            ("setup", "during setup", self.start, after_setup),
            ("call", "in the test", after_setup, after_call),
            ("teardown", "during teardown", after_call, end),
        ]
        lines = [f"{nodeid} left process-wide state changed (now restored for the next test):"]
        for key, what in leaks.items():
            where = []
            for phase, label, a, b in phases:
                by = [name for ph, name, keys in self.fixtures if ph == phase and key in keys]
                if by:
                    label += (", by " if phase != "teardown" else ", in the teardown of ") + (
                        ", ".join(by)
                    )
                if by or key in compare(a, b):
                    where.append(label)
            lines.append(f"  test left {what}" + (f": {'; '.join(where)}" if where else ""))
        lines.append(
            "  Pin threads with the pinned_threads fixture and seed with torch_seed or "
            "torch.random.fork_rng() (tests/conftest.py); both put the state back."
        )
        return "\n".join(lines)


_WATCH: _Watch | None = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    global _WATCH
    _WATCH = watch = _Watch(capture())
    try:
        return (yield)
    finally:
        watch.ends["setup"] = capture()
        watch.phase = "call"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    try:
        return (yield)
    finally:
        if _WATCH is not None:
            _WATCH.ends["call"] = _WATCH.mark = capture()
            _WATCH.phase = "teardown"


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest) -> Any:
    watch = _WATCH
    if watch is None:
        return (yield)
    before = capture()
    try:
        return (yield)
    finally:
        found = compare(before, capture())
        if found:
            name = f"fixture '{fixturedef.argname}' ({fixturedef.scope} scope)"
            watch.fixtures.append((watch.phase, name, set(found)))


def pytest_fixture_post_finalizer(fixturedef: pytest.FixtureDef, request: Any) -> None:
    watch = _WATCH
    if watch is None or watch.phase != "teardown":
        return
    now = capture()
    found = compare(watch.mark or now, now)
    if found:
        watch.fixtures.append(("teardown", f"fixture '{fixturedef.argname}'", set(found)))
    watch.mark = now


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    global _WATCH
    watch = _WATCH
    if watch is not None:
        watch.phase = "teardown"
        watch.mark = watch.mark or capture()
    try:
        result = yield
    except BaseException:
        _WATCH = None
        if watch is not None:
            watch.settle(item.nodeid)  # put the state back; the teardown's own error stands
        raise
    _WATCH = None
    message = watch.settle(item.nodeid) if watch is not None else None
    if message:
        pytest.fail(message, pytrace=False)
    return result


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without ``-m``, skip the slow model-quality runs: the default suite stays fast."""
    if config.getoption("markexpr", ""):
        return
    skip = pytest.mark.skip(reason="slow model-quality run (minutes): select it with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


# --- trained runs and artifacts -------------------------------------------------------------------


def _short_run(
    run: Path, family: str, data: str, steps: int, threads: int | None = None, **overrides: object
) -> Path:
    """Train ``family`` on ``data`` for ``steps`` (seed 0, CPU), one checkpoint and grid at the
    end; ``overrides`` join ``steps``."""
    from genedge.train.loop import train

    train(
        run,
        family,
        data,
        overrides={"steps": steps, **overrides},
        seed=0,
        device="cpu",
        checkpoint_every=steps,
        sample_every=steps,
        threads=threads,
    )
    return run


@pytest.fixture(scope="session")
def short_run() -> ShortRun:
    """:func:`_short_run`: the brief, seeded training the family tests build on."""
    return _short_run


@pytest.fixture(scope="session")
def gan_points_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain GAN trained briefly on ring8 (2-D points), on one torch thread.

    Self-conditioning is off (``clusters=0``) so that z is the 2 values wide the runtime tests
    spell out; the self-conditioned default is covered by the family and precision tests."""
    run = tmp_path_factory.mktemp("runs") / "gan-ring8"
    with pin_threads():
        return _short_run(run, "gan", "ring8", 300, clusters=0)


@pytest.fixture(scope="session")
def gan_points_onnx(gan_points_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from genedge.export.onnx_export import export_run

    out = tmp_path_factory.mktemp("artifacts") / "gan-ring8.onnx"
    export_run(gan_points_run, out)
    return out


@pytest.fixture(scope="session")
def digits_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small image data set on disk: 200 of scikit-learn's 8x8 digits with labels."""
    from genedge.train.data import load_dataset

    ds = load_dataset("digits", n=200, seed=0)
    path = tmp_path_factory.mktemp("data") / "digits200.npz"
    np.savez(path, x=ds.x, y=ds.y)
    return path


@pytest.fixture(scope="session")
def gan_image_run(digits_npz: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A classic GAN trained for a few steps on 8x8 digit images, on one torch thread (shape
    tests, not quality)."""
    run = tmp_path_factory.mktemp("runs") / "gan-digits"
    with pin_threads():
        return _short_run(run, "gan", str(digits_npz), 30, batch_size=32)


@pytest.fixture(scope="session")
def gan_image_onnx(gan_image_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from genedge.export.onnx_export import export_run

    out = tmp_path_factory.mktemp("artifacts") / "gan-digits.onnx"
    export_run(gan_image_run, out)
    return out

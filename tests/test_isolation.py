"""The leak guard of tests/conftest.py: it catches a test, or a fixture set up for it, that
leaves torch's thread count or global RNG, or numpy's legacy global RNG, changed; and it lets
pinned_threads and torch_seed through, as they put the state back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

Check = Callable[[Callable[[], object]], list[str]]


def test_check_names_each_leak_and_puts_the_state_back(leak_check: Check) -> None:
    threads = torch.get_num_threads()
    rng, np_rng = torch.random.get_rng_state(), np.random.get_state()

    assert leak_check(lambda: torch.set_num_threads(threads + 1)) == [
        f"torch threads at {threads + 1} (was {threads})"
    ]
    assert leak_check(lambda: torch.rand(1)) == [
        "torch's global RNG state changed (torch.random.get_rng_state())"
    ]
    assert leak_check(lambda: torch.manual_seed(0)) == [
        "torch's global RNG state changed (torch.random.get_rng_state())"
    ]
    assert leak_check(lambda: np.random.seed(0)) == [
        "numpy's legacy global RNG state changed (np.random.get_state())"
    ]
    # ... and each was put back.
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), rng)
    assert leak_check(lambda: None) == []
    assert np.random.get_state()[1].tolist() == np_rng[1].tolist()


def test_check_passes_code_that_restores_what_it_changes(leak_check: Check) -> None:
    def tidy() -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(3)
            torch.randn(10)
        threads = torch.get_num_threads()
        torch.set_num_threads(threads + 1)
        torch.set_num_threads(threads)
        np.random.default_rng(0).normal(size=3)  # a Generator of its own: not global state

    assert leak_check(tidy) == []


#: Options of the inner runs: the hypothesis plugin would re-import hypothesis (seconds) in each.
INNER = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")

LEAKY_TESTS = """
import numpy as np
import pytest
import torch


@pytest.fixture(scope="session")
def seeded_once():
    torch.manual_seed(5)  # a session fixture that leaks: counts against its first test


def test_threads():
    torch.set_num_threads(torch.get_num_threads() + 1)


def test_numpy():
    np.random.seed(1)


def test_fixture(seeded_once):
    pass


@pytest.fixture
def reseeds_numpy_after():
    yield
    np.random.seed(2)


def test_teardown(reseeds_numpy_after):
    pass


def test_pinned(pinned_threads):  # the pin lasts for the module: no leak here or below
    assert torch.get_num_threads() == pinned_threads == 1


def test_seeded(torch_seed):
    assert torch.rand(1).item() == torch.rand(1, generator=torch.Generator().manual_seed(0)).item()


def test_tidy():
    with torch.random.fork_rng(devices=[]):
        torch.rand(3)
"""


def test_guard_errors_each_leaky_test_and_names_the_fixture(pytester: pytest.Pytester) -> None:
    """A small suite run through this conftest: four leaky tests, three tidy ones."""
    pytester.makeconftest(Path(__file__).with_name("conftest.py").read_text())
    pytester.makepyfile(test_leaky=LEAKY_TESTS)
    threads = torch.get_num_threads()
    rng = torch.random.get_rng_state()
    result = pytester.runpytest(*INNER)
    result.assert_outcomes(passed=7, errors=4)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_threads*",
            "*test_leaky.py::test_threads left process-wide state changed*",
            f"*test left torch threads at {threads + 1} (was {threads}): in the test",
            "*ERROR at teardown of test_numpy*",
            "*test left numpy's legacy global RNG state changed*: in the test",
            "*ERROR at teardown of test_fixture*",
            "*test left torch's global RNG state changed*: during setup, by fixture "
            "'seeded_once' (session scope)",
            "*ERROR at teardown of test_teardown*",
            "*test left numpy's legacy global RNG state changed*: during teardown, in the "
            "teardown of fixture 'reseeds_numpy_after'",
        ]
    )
    for tidy in ("test_pinned", "test_seeded", "test_tidy"):
        result.stdout.no_fnmatch_line(f"*teardown of {tidy}*")
    # The inner guard put everything back.
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), rng)


def test_slow_tests_are_skipped_unless_selected(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(Path(__file__).with_name("conftest.py").read_text())
    pytester.makeini("[pytest]\nmarkers =\n    slow: slow\n")
    pytester.makepyfile(
        test_marks="import pytest\n\n@pytest.mark.slow\ndef test_long():\n    pass\n\n"
        "def test_short():\n    pass\n"
    )
    pytester.runpytest(*INNER).assert_outcomes(passed=1, skipped=1)
    pytester.runpytest(*INNER, "-m", "slow").assert_outcomes(passed=1)

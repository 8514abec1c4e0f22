"""What the hypothesis state machines share: how many examples a run takes (from the profile,
``tests/conftest.py``), and a way to drive async code from hypothesis' synchronous rules.

A ``RuleBasedStateMachine`` is synchronous; the code under test is asyncio. Each test runs its
machine inside one event loop of its own (``asyncio.Runner``), kept for all of the machine's
examples, so connections (Redis, SQLite) are opened once per test rather than once per example.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from hypothesis import settings

T = TypeVar("T")

#: The examples a profile's ``max_examples`` of 100 (the "ci" and "dev" profiles) gives each
#: machine; the "fuzz" profile's 1,000 gives ten times as many.
_BASE = 100


def examples(n: int) -> int:
    """``n`` examples at the CI profile, scaled by the loaded profile's ``max_examples``."""
    current = settings.default
    assert current is not None
    return max(1, n * current.max_examples // _BASE)


class Loop:
    """One event loop for a test's machine; ``run`` drives a coroutine to its end."""

    def __init__(self) -> None:
        self._runner = asyncio.Runner()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(coroutine)

    def close(self) -> None:
        self._runner.close()

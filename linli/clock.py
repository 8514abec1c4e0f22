"""Time as a dependency: one ``Clock`` that timers, expiries and figures are given.

Code that reads ``time.time()`` itself can be tested only by waiting or by patching the ``time``
module, and figures cut into days or weeks cannot be tested at a chosen instant at all. Code that
takes a ``Clock`` is given ``system_clock`` in production and a ``ManualClock`` in tests, which
moves only when the test moves it.

Two readings, because they answer different questions: ``now_ms`` is the wall clock, the time to
store and to show (it can jump when the host's clock is set); ``monotonic`` only ever grows, the
time to measure intervals and deadlines with.
"""

from __future__ import annotations

import time
from typing import Protocol

from linli.types import Millis

_NS_PER_MS = 1_000_000
_NS_PER_S = 1_000_000_000


class Clock(Protocol):
    def now_ms(self) -> Millis:
        """The wall clock: milliseconds since the Unix epoch."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never decreases. Compare only readings of one
        clock in one process."""
        ...


class SystemClock:
    """The host's clocks."""

    def now_ms(self) -> Millis:
        # time_ns, not time() * 1000: integer arithmetic cannot round a millisecond up into
        # the future.
        return time.time_ns() // _NS_PER_MS

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock for tests: it stands still until ``advance`` or ``set_now_ms`` moves it.

    ``advance`` moves both readings, as time passing does; ``set_now_ms`` moves the wall clock
    alone, as setting the host's clock does, so it may go backwards while ``monotonic`` does not.
    """

    def __init__(self, now_ms: Millis = 0, monotonic: float = 0.0) -> None:
        # Nanoseconds, so that advancing by fractions of a millisecond adds up exactly.
        self._wall_ns = now_ms * _NS_PER_MS
        self._monotonic_ns = round(monotonic * _NS_PER_S)

    def now_ms(self) -> Millis:
        return self._wall_ns // _NS_PER_MS

    def monotonic(self) -> float:
        return self._monotonic_ns / _NS_PER_S

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass (0 or more: a monotonic clock never goes back)."""
        if seconds < 0:
            raise ValueError(f"expected seconds >= 0 (time does not run backwards), got {seconds}")
        step = round(seconds * _NS_PER_S)
        self._wall_ns += step
        self._monotonic_ns += step

    def set_now_ms(self, now_ms: Millis) -> None:
        """Set the wall clock to ``now_ms``, earlier or later; ``monotonic`` stays."""
        self._wall_ns = now_ms * _NS_PER_MS


#: The clock to give code that runs for real.
system_clock: Clock = SystemClock()

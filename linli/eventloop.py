"""Which asyncio event loop Linli's processes run on.

``uvloop`` (libuv, written in Cython) runs the same asyncio code with the loop, its transports
and its socket writes in C. On the fan-out path every delivery is one ``transport.write``, so the
loop's own cost per call is much of what a delivery costs; docs/performance.md measures the
difference. It is the default wherever it is installed (Linux and macOS; a dependency of Linli
there); ``LINLI_EVENT_LOOP=asyncio`` selects the standard library's loop, e.g. to rule uvloop out
while debugging.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

CHOICES = ("auto", "uvloop", "asyncio")


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory for ``asyncio.Runner``; None means the standard library's default."""
    if choice not in CHOICES:
        raise ValueError(f"LINLI_EVENT_LOOP must be one of {', '.join(CHOICES)}, not {choice!r}")
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise ValueError("LINLI_EVENT_LOOP=uvloop, but uvloop is not installed") from None
        return None
    return uvloop.new_event_loop


def loop_name() -> str:
    """The running loop's kind (``linli serve`` logs it at start-up)."""
    return (
        "uvloop"
        if type(asyncio.get_running_loop()).__module__.startswith("uvloop")
        else ("asyncio")
    )


def run(main: Coroutine[Any, Any, T], choice: str = "auto") -> T:
    """``asyncio.run`` on the chosen loop."""
    try:
        factory = loop_factory(choice)
    except ValueError:
        main.close()  # never awaited: say nothing about it
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)

"""The cyclic garbage collector's settings for the long-running processes (``linli serve``,
``linli worker``): everything alive once the process has started is frozen out of the
collector's reach, and the first generation is collected every ``gc_threshold`` allocations
instead of Python's 700 (2,000 by default).

Why (docs/performance.md, round 2): at 700, the futures, coroutines and frames of the requests
in flight are alive at nearly every young collection, so they are promoted and then walked again
by the older generations; with 2,000 sockets publishing (S4) a fifth of the server's CPU went to
the collector, most of it in full collections of 0.2-0.4 s. At 10,000 they are gone before
the young collection that would have promoted them; S4 then acknowledged a third more publishes
per server CPU-second and no full collection ran in the measured window, but each young
collection walks up to 10,000 objects and S2's p99 was worse in three runs out of three. 2,000
kept most of the gain (S4 +25 %) with S2's p99 as at 700. Freezing the modules,
the app and its caches after start-up takes ~100,000 objects out of every full collection
(``gc.freeze``: they are never freed, which is what a process's imports are anyway).
"""

from __future__ import annotations

import gc

#: Python's own first-generation threshold (``gc.get_threshold()[0]`` at start).
PYTHON_DEFAULT = 700


def tune_gc(threshold: int) -> None:
    """Freeze what is alive now and set the first generation's threshold; 0 leaves the
    collector as Python set it."""
    if threshold <= 0:
        return
    gc.collect()  # the start-up garbage goes now, not into the permanent generation
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(threshold, older, oldest)

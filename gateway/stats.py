"""The gateway's running totals, as plain integers in one process-wide ``collections.Counter``:
the hot path adds to a dict entry (tens of nanoseconds) and never calls the metrics library;
``linli/metrics.py`` copies the totals into Prometheus counters every few seconds.

Keys: ``publications`` (fanned out by this process), ``deliveries`` (frames queued to sockets),
``closes:<code>`` (connections closed, by close code), ``recoveries:<outcome>`` (``memory`` or
``history`` when a reconnect recovered what it missed, ``refused`` when it could not: the client
reloads), ``resets`` (a channel's position jumped: subscribers told to reload),
``broker_reconnects``, ``aborts`` (closes not finished within ``CLOSE_DEADLINE``: reset, design
0024), ``acked_resubmitted`` and ``acked_dropped`` (``gateway/acked.py``, design 0033).
"""

from __future__ import annotations

from collections import Counter
from typing import Final

STATS: Final[Counter[str]] = Counter()

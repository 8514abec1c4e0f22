"""What of the requests feature crosses processes: a request's change on ``request:<id>``.

The publication carries no text, only that the request changed and its new ``version`` and
``status``; the page then reads the request over HTTP, which checks who may see what (an
internal note never reaches a resident, whatever the channel). Who may subscribe is
``persistence/requests/access.py`` (``gateway/requests/ops.py``). Published with
``persist=False``: the store keeps the request and its history, not the pings.

``data`` (msgpack, like every publication's data)::

    {"kind": "request", "id": 7, "version": 5, "status": "in_progress"}
"""

from __future__ import annotations

import logging
from typing import Any, Final

import msgpack

from channels.broker import Broker, BrokerUnavailable
from channels.names import request_channel
from persistence.requests import Request

log = logging.getLogger(__name__)

#: Timer kinds (``workers/timers.py``): a request's next target, and the teams' daily digest.
OVERDUE_TIMER: Final = "requests.overdue"
DIGEST_TIMER: Final = "requests.digest"


def change_body(request: Request) -> dict[str, Any]:
    return {
        "kind": "request",
        "id": request.id,
        "version": request.version,
        "status": str(request.status),
    }


async def publish_change(broker: Broker, request: Request) -> None:
    """Tell the request's open pages it changed (at most once: a page also reads it whenever
    its connection opens)."""
    try:
        await broker.publish(
            request_channel(request.id), msgpack.packb(change_body(request)), persist=False
        )
    except BrokerUnavailable:
        log.warning("request %d: change not published", request.id)

"""History as privacy wants it: a deleted account's messages in history pages and recovery show
``DELETED_NAME``, and chat older than the chat retention is not served.

The stored history is rewritten when the account is deleted and purged by the retention sweep
(``persistence/privacy``), but the broker's hot history (a Redis stream, the in-process ring)
cannot be edited in place: this view rewrites what a reader is given from it. One query per
page, for the page's authors only; the retention setting is read at most once a minute.
"""

from __future__ import annotations

import logging
import time

import msgpack

from channels.access import Principal
from channels.broker import Publication
from gateway.gateway import Gateway
from linli.feature import Services
from linli.types import ChannelName
from persistence.privacy import DELETED_NAME, RetentionKind
from persistence.privacy.sql import SqlPrivacyStore

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
#: How long a process trusts the chat retention it read (seconds).
RETENTION_CACHE_SECONDS = 60.0


def _body(data: bytes) -> dict[str, object] | None:
    try:
        body = msgpack.unpackb(data, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException):
        return None
    return body if isinstance(body, dict) else None


def _author_of(body: dict[str, object]) -> tuple[dict[str, object], int] | None:
    author = body.get("author")
    if not isinstance(author, dict):
        return None
    author_id = author.get("id")
    if type(author_id) is not int or author.get("name") == DELETED_NAME:
        return None
    return body, author_id


class PrivacyView:
    def __init__(self, services: Services) -> None:
        self.store = SqlPrivacyStore(services.database)
        self.clock = services.clock
        self._chat_days: tuple[float, int | None] | None = None

    async def chat_days(self) -> int | None:
        now = time.monotonic()
        if self._chat_days is None or now - self._chat_days[0] > RETENTION_CACHE_SECONDS:
            try:
                days = (await self.store.retention())[RetentionKind.CHAT]
            except Exception:  # the database is away: keep what was known
                log.warning("chat retention unavailable for history", exc_info=True)
                days = self._chat_days[1] if self._chat_days else None
            self._chat_days = (now, days)
        return self._chat_days[1]

    async def view(
        self, principal: Principal, channel: ChannelName, pubs: list[Publication]
    ) -> list[Publication]:
        """One decode per publication: expired chat dropped, then authors looked up at once."""
        days = await self.chat_days()
        cutoff = None if days is None else self.clock.now_ms() - days * DAY_MS
        kept: list[Publication] = []
        authors: dict[int, tuple[dict[str, object], int]] = {}
        for pub in pubs:
            body = _body(pub.data)
            if body is not None and cutoff is not None and _expired_chat(body, cutoff):
                continue
            found = _author_of(body) if body is not None else None
            if found is not None:
                authors[len(kept)] = found
            kept.append(pub)
        return await self._rename(kept, authors)

    async def _rename(
        self, pubs: list[Publication], authors: dict[int, tuple[dict[str, object], int]]
    ) -> list[Publication]:
        if not authors:
            return pubs
        try:
            deleted = await self.store.deleted_among(a for _, a in authors.values())
        except Exception:  # the database is away: history is still worth reading
            log.warning("deleted accounts unavailable for history", exc_info=True)
            return pubs
        if not deleted:
            return pubs
        out = list(pubs)
        for i, (body, author_id) in authors.items():
            if author_id in deleted:
                author = body["author"]
                assert isinstance(author, dict)
                body["author"] = {**author, "name": DELETED_NAME}
                body.pop("photo", None)  # deleted with the account (design 0032)
                p = pubs[i]
                out[i] = Publication(p.channel, p.offset, p.epoch, msgpack.packb(body))
        return out


def _expired_chat(body: dict[str, object], cutoff: int) -> bool:
    """A chat message older than ``cutoff`` (the sweep deletes it from the store; the hot
    history may still hold it in a quiet room)."""
    if body.get("kind") != "chat":
        return False
    ts = body.get("ts")
    return type(ts) is int and ts < cutoff


def install(gateway: Gateway, services: Services) -> None:
    gateway.history.views.append(PrivacyView(services).view)

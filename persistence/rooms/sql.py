"""``RoomStore`` in SQL, once for SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from linli.types import ChannelName
from persistence.db import Database, Row
from persistence.rooms import Pin

_COLUMNS: Final = (
    'channel, "offset", author_id, author_name, body, official, posted_at, pinned_by, pinned_at'
)


def _pin(row: Row) -> Pin:
    return Pin(
        channel=row["channel"],
        offset=row["offset"],
        author_id=row["author_id"],
        author_name=row["author_name"],
        body=row["body"],
        official=bool(row["official"]),
        posted_at=row["posted_at"],
        pinned_by=row["pinned_by"],
        pinned_at=row["pinned_at"],
    )


class SqlRoomStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def pin(self, pin: Pin) -> None:
        await self._db.execute(
            f"INSERT INTO chat_pins ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
            'ON CONFLICT (channel) DO UPDATE SET "offset" = $2, author_id = $3, '
            "author_name = $4, body = $5, official = $6, posted_at = $7, pinned_by = $8, "
            "pinned_at = $9",
            pin.channel,
            pin.offset,
            pin.author_id,
            pin.author_name,
            pin.body,
            int(pin.official),
            pin.posted_at,
            pin.pinned_by,
            pin.pinned_at,
        )

    async def unpin(self, channel: ChannelName) -> Pin | None:
        async with self._db.transaction() as tx:
            row = await tx.fetchrow(f"SELECT {_COLUMNS} FROM chat_pins WHERE channel = $1", channel)
            if row is None:
                return None
            await tx.execute("DELETE FROM chat_pins WHERE channel = $1", channel)
        return _pin(row)

    async def pin_of(self, channel: ChannelName) -> Pin | None:
        row = await self._db.fetchrow(
            f"SELECT {_COLUMNS} FROM chat_pins WHERE channel = $1", channel
        )
        return _pin(row) if row else None

    async def pins(self, channels: list[ChannelName]) -> dict[ChannelName, Pin]:
        if not channels:
            return {}
        # The pin's copy follows its message: the author's edit (chat_message_state.text), and
        # no pin for a message its author deleted or a moderator (or the auto-hide) took away.
        columns = ", ".join(f"p.{c.strip()}" for c in _COLUMNS.split(","))
        rows = await self._db.fetch(
            f"SELECT {columns}, s.text AS current_text FROM chat_pins p"
            ' LEFT JOIN chat_message_state s ON s.channel = p.channel AND s."offset" = p."offset"'
            " WHERE s.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM mod_messages m"
            ' WHERE m.channel = p.channel AND m."offset" = p."offset"'
            " AND m.visibility <> 'visible')"
        )
        wanted = set(channels)
        found = {}
        for r in rows:
            if r["channel"] in wanted:
                pin = _pin(r)
                if r["current_text"] is not None:
                    pin = replace(pin, body=str(r["current_text"]))
                found[pin.channel] = pin
        return found

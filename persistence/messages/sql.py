"""``MessagesStore`` in SQL for both databases (the statements are portable: ``$n`` parameters,
``ON CONFLICT``, ``RETURNING``)."""

from __future__ import annotations

from typing import Final

from linli.types import ChannelName, Millis, Offset, UserId
from persistence.db import Database, Executor, Row
from persistence.messages import EditAction, EditRecord, MessageState

_SET_READ: Final = (
    "INSERT INTO chat_reads (user_id, channel, read_offset, updated_at) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (user_id, channel) DO UPDATE SET "
    "read_offset = CASE WHEN excluded.read_offset > chat_reads.read_offset "
    "THEN excluded.read_offset ELSE chat_reads.read_offset END, "
    "updated_at = excluded.updated_at RETURNING read_offset"
)
_STATE_COLUMNS: Final = 'channel, "offset", author_id, text, edited_at, deleted_at'
_GET_STATE: Final = (
    f'SELECT {_STATE_COLUMNS} FROM chat_message_state WHERE channel = $1 AND "offset" = $2'
)
_INSERT_EDIT: Final = (
    'INSERT INTO chat_message_edits (channel, "offset", editor_id, action, old_text, new_text, at) '
    "VALUES ($1, $2, $3, $4, $5, $6, $7)"
)


def _state(r: Row) -> MessageState:
    return MessageState(
        channel=r["channel"],
        offset=int(r["offset"]),
        author_id=int(r["author_id"]),
        text=r["text"],
        edited_at=r["edited_at"],
        deleted_at=r["deleted_at"],
    )


async def _current(tx: Executor, channel: ChannelName, offset: Offset) -> MessageState | None:
    row = await tx.fetchrow(_GET_STATE, channel, offset)
    return None if row is None else _state(row)


class SqlMessagesStore:
    """Implements ``persistence.messages.MessagesStore`` over the shared database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def set_read(
        self, user_id: UserId, channel: ChannelName, offset: Offset, *, now: Millis
    ) -> Offset:
        return int(await self._db.fetchval(_SET_READ, user_id, channel, offset, now))

    async def reads(self, user_id: UserId) -> dict[ChannelName, Offset]:
        rows = await self._db.fetch(
            "SELECT channel, read_offset FROM chat_reads WHERE user_id = $1", user_id
        )
        return {r["channel"]: int(r["read_offset"]) for r in rows}

    async def record_edit(
        self,
        channel: ChannelName,
        offset: Offset,
        *,
        author_id: UserId,
        old_text: str,
        new_text: str,
        now: Millis,
    ) -> bool:
        async with self._db.transaction() as tx:
            current = await _current(tx, channel, offset)
            if current is not None and current.deleted_at is not None:
                return False
            if current is None:
                await tx.execute(
                    f"INSERT INTO chat_message_state ({_STATE_COLUMNS}) "
                    "VALUES ($1, $2, $3, $4, $5, NULL)",
                    channel,
                    offset,
                    author_id,
                    new_text,
                    now,
                )
            else:
                old_text = current.text
                await tx.execute(
                    "UPDATE chat_message_state SET text = $3, edited_at = $4 "
                    'WHERE channel = $1 AND "offset" = $2',
                    channel,
                    offset,
                    new_text,
                    now,
                )
            await tx.execute(
                _INSERT_EDIT,
                channel,
                offset,
                author_id,
                EditAction.EDIT.value,
                old_text,
                new_text,
                now,
            )
            return True

    async def record_delete(
        self, channel: ChannelName, offset: Offset, *, author_id: UserId, text: str, now: Millis
    ) -> bool:
        async with self._db.transaction() as tx:
            current = await _current(tx, channel, offset)
            if current is not None and current.deleted_at is not None:
                return False
            if current is None:
                await tx.execute(
                    f"INSERT INTO chat_message_state ({_STATE_COLUMNS}) "
                    "VALUES ($1, $2, $3, $4, NULL, $5)",
                    channel,
                    offset,
                    author_id,
                    text,
                    now,
                )
            else:
                text = current.text
                await tx.execute(
                    "UPDATE chat_message_state SET deleted_at = $3 "
                    'WHERE channel = $1 AND "offset" = $2',
                    channel,
                    offset,
                    now,
                )
            await tx.execute(
                _INSERT_EDIT, channel, offset, author_id, EditAction.DELETE.value, text, None, now
            )
            return True

    async def states(
        self, channel: ChannelName, first: Offset, last: Offset
    ) -> dict[Offset, MessageState]:
        rows = await self._db.fetch(
            f"SELECT {_STATE_COLUMNS} FROM chat_message_state "
            'WHERE channel = $1 AND "offset" >= $2 AND "offset" <= $3',
            channel,
            first,
            last,
        )
        return {int(r["offset"]): _state(r) for r in rows}

    async def edits(self, channel: ChannelName, offset: Offset) -> list[EditRecord]:
        rows = await self._db.fetch(
            'SELECT id, channel, "offset", editor_id, action, old_text, new_text, at '
            'FROM chat_message_edits WHERE channel = $1 AND "offset" = $2 ORDER BY id',
            channel,
            offset,
        )
        return [
            EditRecord(
                id=int(r["id"]),
                channel=r["channel"],
                offset=int(r["offset"]),
                editor_id=int(r["editor_id"]),
                action=EditAction(r["action"]),
                old_text=r["old_text"],
                new_text=r["new_text"],
                at=int(r["at"]),
            )
            for r in rows
        ]

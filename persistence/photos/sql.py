"""The chat photos' table (migration 0031) in SQL for both databases."""

from __future__ import annotations

from typing import Final

from linli.types import ChannelName, Millis, Offset, UserId
from persistence.db import Database, Row
from persistence.photos import ChatPhoto

_COLUMNS: Final = (
    "id, channel, uploader_id, blob_id, thumb_id, media_type, filename, width, height, size, cmid, "
    '"offset", created_at'
)


def _photo(r: Row) -> ChatPhoto:
    return ChatPhoto(
        id=r["id"],
        channel=r["channel"],
        uploader_id=int(r["uploader_id"]),
        blob_id=r["blob_id"],
        thumb_id=r["thumb_id"],
        media_type=r["media_type"],
        filename=r["filename"],
        width=int(r["width"]),
        height=int(r["height"]),
        size=int(r["size"]),
        cmid=r["cmid"],
        offset=None if r["offset"] is None else int(r["offset"]),
        created_at=int(r["created_at"]),
    )


class SqlPhotoStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, photo: ChatPhoto) -> None:
        await self._db.execute(
            f"INSERT INTO chat_photos ({_COLUMNS}) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL, $11)",
            photo.id,
            photo.channel,
            photo.uploader_id,
            photo.blob_id,
            photo.thumb_id,
            photo.media_type,
            photo.filename,
            photo.width,
            photo.height,
            photo.size,
            photo.created_at,
        )

    async def get(self, photo_id: str) -> ChatPhoto | None:
        row = await self._db.fetchrow(f"SELECT {_COLUMNS} FROM chat_photos WHERE id = $1", photo_id)
        return None if row is None else _photo(row)

    async def claim(
        self, photo_id: str, *, uploader_id: UserId, channel: ChannelName, cmid: str
    ) -> ChatPhoto | None:
        """Bind the photo to message ``cmid`` (see the package docstring); None when it is not
        this uploader's photo of this room, or another message holds it."""
        row = await self._db.fetchrow(
            "UPDATE chat_photos SET cmid = $4 WHERE id = $1 AND uploader_id = $2 AND channel = $3 "
            f"AND (cmid IS NULL OR cmid = $4) RETURNING {_COLUMNS}",
            photo_id,
            uploader_id,
            channel,
            cmid,
        )
        return None if row is None else _photo(row)

    async def attach(self, photo_id: str, offset: Offset) -> None:
        await self._db.execute(
            'UPDATE chat_photos SET "offset" = $2 WHERE id = $1 AND "offset" IS NULL',
            photo_id,
            offset,
        )

    async def of_uploader(self, uploader_id: UserId) -> list[ChatPhoto]:
        """Every photo the user uploaded, sent or not, oldest first (the privacy export)."""
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM chat_photos WHERE uploader_id = $1 ORDER BY created_at, id",
            uploader_id,
        )
        return [_photo(r) for r in rows]

    async def unsent_before(self, before: Millis) -> list[ChatPhoto]:
        """Photos uploaded before ``before`` that no published message carries (no offset)."""
        rows = await self._db.fetch(
            f'SELECT {_COLUMNS} FROM chat_photos WHERE "offset" IS NULL AND created_at < $1 '
            "ORDER BY created_at, id",
            before,
        )
        return [_photo(r) for r in rows]

    async def of_messages_before(self, before: Millis) -> list[ChatPhoto]:
        """Photos of the stored chat messages created before ``before`` (what chat's retention
        deletes)."""
        columns = ", ".join(f"p.{c.strip()}" for c in _COLUMNS.split(","))
        rows = await self._db.fetch(
            f"SELECT {columns} FROM chat_photos p JOIN messages m "
            'ON m.channel = p.channel AND m."offset" = p."offset" WHERE m.created_at < $1',
            before,
        )
        return [_photo(r) for r in rows]

    async def of_mod_deleted_before(self, before: Millis) -> list[ChatPhoto]:
        """Photos of the messages a moderator deleted before ``before`` (moderation's purge of
        deleted messages' text; ``mod_messages``, migration 0003)."""
        columns = ", ".join(f"p.{c.strip()}" for c in _COLUMNS.split(","))
        rows = await self._db.fetch(
            f"SELECT {columns} FROM chat_photos p JOIN mod_messages m "
            'ON m.channel = p.channel AND m."offset" = p."offset" '
            "WHERE m.visibility = 'deleted' AND m.deleted_at IS NOT NULL AND m.deleted_at < $1",
            before,
        )
        return [_photo(r) for r in rows]

    async def of_author_deleted(self) -> list[ChatPhoto]:
        """Photos of the messages their author deleted (``chat_message_state``, migration 0019).
        No page serves them any more (``web/photos/actions.py`` ``readable``); the photos' hourly
        sweep deletes their files."""
        columns = ", ".join(f"p.{c.strip()}" for c in _COLUMNS.split(","))
        rows = await self._db.fetch(
            f"SELECT {columns} FROM chat_photos p JOIN chat_message_state s "
            'ON s.channel = p.channel AND s."offset" = p."offset" '
            "WHERE s.deleted_at IS NOT NULL ORDER BY p.created_at, p.id"
        )
        return [_photo(r) for r in rows]

    async def delete(self, photo_id: str) -> bool:
        return bool(await self._db.execute("DELETE FROM chat_photos WHERE id = $1", photo_id))

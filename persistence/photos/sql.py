"""The chat photos' table (migration 0031) in SQL for both databases."""

from __future__ import annotations

from typing import Final

from linli.types import ChannelName, Offset, UserId
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

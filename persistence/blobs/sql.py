"""``BlobStore`` in the shared database (table ``blobs``, migration 0010): ``BYTEA`` on
PostgreSQL, ``BLOB`` on SQLite, the same statements for both.

The row carries size and hash beside the bytes so that ``stat`` reads no bytes. asyncpg binds
``bytes`` to ``bytea`` and aiosqlite to ``BLOB`` without any conversion.
"""

from __future__ import annotations

import hashlib

from linli.types import Millis
from persistence.blobs import BlobId, StoredBlob, is_blob_id, new_blob_id
from persistence.db import Database


class SqlBlobStore:
    """Implements ``persistence.blobs.BlobStore`` over the shared database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def put(self, data: bytes, *, now: Millis) -> StoredBlob:
        if not data:
            raise ValueError("a blob cannot be empty")
        blob = StoredBlob(new_blob_id(), len(data), hashlib.sha256(data).hexdigest())
        await self._db.execute(
            "INSERT INTO blobs (id, size, sha256, data, created_at) VALUES ($1, $2, $3, $4, $5)",
            blob.id,
            blob.size,
            blob.sha256,
            data,
            now,
        )
        return blob

    async def get(self, blob_id: str) -> bytes | None:
        if not is_blob_id(blob_id):
            return None
        data = await self._db.fetchval("SELECT data FROM blobs WHERE id = $1", blob_id)
        return None if data is None else bytes(data)

    async def stat(self, blob_id: str) -> StoredBlob | None:
        if not is_blob_id(blob_id):
            return None
        row = await self._db.fetchrow("SELECT id, size, sha256 FROM blobs WHERE id = $1", blob_id)
        return None if row is None else StoredBlob(BlobId(row["id"]), row["size"], row["sha256"])

    async def delete(self, blob_id: str) -> bool:
        if not is_blob_id(blob_id):
            return False
        return await self._db.execute("DELETE FROM blobs WHERE id = $1", blob_id) > 0

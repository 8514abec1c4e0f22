"""``BlobStore`` as files under one directory: ``<root>/<id[:2]>/<id>``.

A put writes a temporary file in the same folder, flushes and fsyncs it, then renames it into
place (``os.replace`` is atomic on POSIX and Windows), so a reader sees the whole blob or none.
Size and hash are not kept beside the file: ``stat`` reads the file to hash it, which is fine for
what it is used for (tests, an operator's check), while ``get`` — the hot path — reads once.
File work runs in a thread so a 10 MB write never stalls the event loop. Ids are checked to be
32 hex characters before they become a path, so an id can never name a file outside the root.
Every process that serves blobs must see the same directory (one host, or a shared volume).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path

from linli.types import Millis
from persistence.blobs import BlobId, StoredBlob, is_blob_id, new_blob_id


class DirectoryBlobStore:
    """Implements ``persistence.blobs.BlobStore`` over a directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = Path(root)

    def _path(self, blob_id: str) -> Path:
        return self._root / blob_id[:2] / blob_id

    async def put(self, data: bytes, *, now: Millis) -> StoredBlob:
        if not data:
            raise ValueError("a blob cannot be empty")
        blob = StoredBlob(new_blob_id(), len(data), hashlib.sha256(data).hexdigest())
        await asyncio.to_thread(self._write, self._path(blob.id), data)
        return blob

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".put-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    async def get(self, blob_id: str) -> bytes | None:
        if not is_blob_id(blob_id):
            return None
        return await asyncio.to_thread(self._read, self._path(blob_id))

    @staticmethod
    def _read(path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    async def stat(self, blob_id: str) -> StoredBlob | None:
        data = await self.get(blob_id)
        if data is None:
            return None
        return StoredBlob(BlobId(blob_id), len(data), hashlib.sha256(data).hexdigest())

    async def delete(self, blob_id: str) -> bool:
        if not is_blob_id(blob_id):
            return False
        return await asyncio.to_thread(self._unlink, self._path(blob_id))

    @staticmethod
    def _unlink(path: Path) -> bool:
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

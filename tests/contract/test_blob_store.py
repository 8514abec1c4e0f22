"""The ``BlobStore`` contract (``persistence/blobs/__init__.py``), one suite over both backends
(the database's ``blobs`` table, a directory) and both databases."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from linli.config import Settings
from persistence.blobs import BlobStore, blob_store, is_blob_id
from persistence.blobs.directory import DirectoryBlobStore
from persistence.blobs.sql import SqlBlobStore
from persistence.db import Database
from persistence.factory import open_database
from persistence.migrate import migrate

NOW = 1_700_000_000_000


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[Database]:
    await migrate(db_url)
    db = await open_database(db_url)
    yield db
    await db.close()


@pytest.fixture(params=["database", "directory"])
def blobs(request: pytest.FixtureRequest, database: Database, tmp_path: Path) -> BlobStore:
    if request.param == "database":
        return SqlBlobStore(database)
    return DirectoryBlobStore(tmp_path / "blobs")


async def test_round_trip_keeps_every_byte(blobs: BlobStore) -> None:
    # Every byte value, a NUL in the middle and a large enough body to cross any page size.
    data = bytes(range(256)) * 4096 + b"\x00end"
    stored = await blobs.put(data, now=NOW)
    assert is_blob_id(stored.id)
    assert stored.size == len(data) == 1_048_580
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert await blobs.get(stored.id) == data
    assert await blobs.stat(stored.id) == stored


async def test_each_put_is_a_new_blob(blobs: BlobStore) -> None:
    first = await blobs.put(b"same bytes", now=NOW)
    second = await blobs.put(b"same bytes", now=NOW)
    assert first.id != second.id and first.sha256 == second.sha256
    assert await blobs.delete(first.id) is True
    # Deleting one copy leaves the other's owner its file.
    assert await blobs.get(second.id) == b"same bytes"


async def test_unknown_deleted_and_malformed_ids(blobs: BlobStore) -> None:
    stored = await blobs.put(b"x", now=NOW)
    assert await blobs.delete(stored.id) is True
    assert await blobs.delete(stored.id) is False
    assert await blobs.get(stored.id) is None
    assert await blobs.stat(stored.id) is None
    for bad in ("", "../../etc/passwd", "0" * 31, "G" * 32, stored.id.upper(), stored.id + "/"):
        assert await blobs.get(bad) is None
        assert await blobs.stat(bad) is None
        assert await blobs.delete(bad) is False


async def test_empty_is_refused(blobs: BlobStore) -> None:
    with pytest.raises(ValueError, match="empty"):
        await blobs.put(b"", now=NOW)


async def test_concurrent_puts_are_all_kept(blobs: BlobStore) -> None:
    payloads = [os.urandom(1000 + i) for i in range(40)]
    stored = await asyncio.gather(*(blobs.put(p, now=NOW) for p in payloads))
    assert len({s.id for s in stored}) == 40
    got = await asyncio.gather(*(blobs.get(s.id) for s in stored))
    assert got == payloads


async def test_the_settings_pick_the_backend(database: Database, tmp_path: Path) -> None:
    assert isinstance(blob_store(Settings(), database), SqlBlobStore)
    chosen = blob_store(Settings(blob_dir=str(tmp_path / "files")), database)
    assert isinstance(chosen, DirectoryBlobStore)
    stored = await chosen.put(b"on disk", now=NOW)
    assert (tmp_path / "files" / stored.id[:2] / stored.id).read_bytes() == b"on disk"
    # Nothing is left half-written beside it.
    assert sorted(p.name for p in (tmp_path / "files" / stored.id[:2]).iterdir()) == [stored.id]

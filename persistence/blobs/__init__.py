"""Uploaded files' bytes (notice attachments, request photos, thumbnails): one small interface,
two backends, the same contract (``tests/contract/test_blob_store.py`` runs it on both backends
and both databases).

A blob is opaque bytes under an id the store makes. What a blob *is* (its file name, media type,
who may read it) is the feature's business and lives in the feature's own table beside the id;
the store only keeps bytes safe and gives them back.

Guarantees:

* **A new id per ``put``.** Ids are 32 lower-case hex characters drawn from a CSPRNG (128 bits):
  not guessable, so an id in a URL is not by itself a way in (the feature still checks who may
  read), and safe as a file name. Two puts of the same bytes make two blobs, so deleting one
  never breaks the other's owner (no reference counting).
* **All or nothing.** ``put`` returns only after the bytes are durable (committed, or written and
  renamed into place); a ``get`` never sees part of a blob. ``put`` of empty bytes is refused
  (``ValueError``): an empty upload is a mistake the upload checker refuses first.
* **``get`` of an unknown or deleted id is None**, never an error; an id that is not 32 hex
  characters is unknown too (never a path).
* **``delete`` is idempotent**: True when it removed the blob, False when there was none.
* ``StoredBlob.sha256`` is the bytes' SHA-256 (hex), recorded at ``put``: features show it as a
  document's fingerprint (a finance report's) and the tests check the round trip with it.

Which backend (``blob_store(settings, database)``): ``LINLI_BLOB_DIR`` empty (the default) keeps
blobs in the database, table ``blobs`` (migration 0010), which every gateway and worker already
shares in both modes; a directory keeps them as files, for a large archive on a disk or a volume
all processes mount. Both hold up to ``LINLI_UPLOAD_MAX_BYTES`` a blob (10 MB by default).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, NewType, Protocol

if TYPE_CHECKING:
    from linli.config import Settings
    from linli.types import Millis
    from persistence.db import Database

BlobId = NewType("BlobId", str)

_ID_RE: Final = re.compile(r"[0-9a-f]{32}")


def new_blob_id() -> BlobId:
    return BlobId(secrets.token_hex(16))


def is_blob_id(value: str) -> bool:
    """Whether ``value`` has the form of an id (so it is safe as a file name)."""
    return _ID_RE.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class StoredBlob:
    id: BlobId
    size: int
    #: SHA-256 of the bytes, lower-case hex.
    sha256: str


class BlobStore(Protocol):
    """Bytes by id; see the module docstring for the guarantees."""

    async def put(self, data: bytes, *, now: Millis) -> StoredBlob:
        """Store ``data`` (non-empty) under a new id."""

    async def get(self, blob_id: str) -> bytes | None:
        """The bytes of ``blob_id``, or None when there is no such blob."""

    async def stat(self, blob_id: str) -> StoredBlob | None:
        """The id, size and hash of ``blob_id`` without reading its bytes."""

    async def delete(self, blob_id: str) -> bool:
        """Remove ``blob_id``; True when there was one."""


def blob_store(settings: Settings, database: Database) -> BlobStore:
    """The backend the settings pick: a directory when ``blob_dir`` is set, else the database."""
    if settings.blob_dir:
        from persistence.blobs.directory import DirectoryBlobStore

        return DirectoryBlobStore(settings.blob_dir)
    from persistence.blobs.sql import SqlBlobStore

    return SqlBlobStore(database)

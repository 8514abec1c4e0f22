"""Photos in chat rooms (issue 22, docs/design/0032-chat-photos.md): what a photo is (its room,
uploader, blobs, size), and which message carries it. The bytes are in the blob store
(``persistence.blobs``); this table names them.

Guarantees (``tests/e2e/test_chat_photos.py`` on both databases):

* **One message per photo.** ``claim`` binds an unclaimed photo to the uploader's
  ``client_msg_id`` in the photo's own room; a second claim with the same id (a retried
  publish) succeeds again, any other claim fails. So a photo is never shown under two messages,
  nor under someone else's.
* ``attach`` records the offset of the message that claimed it; a photo without one is seen by
  its uploader only (an upload never sent, or a publish whose ack was lost before ``attach``).
* ``unsent_before``, ``of_uploader`` and ``of_messages_before`` find what the removals of design
  0032 delete (a day-old unsent upload, a deleted account's photos, chat retention's); ``delete``
  removes a row only, the blobs are its caller's (``web/photos/actions.py`` ``delete_photos``).
"""

from __future__ import annotations

from dataclasses import dataclass

from linli.types import ChannelName, Offset, UserId


@dataclass(frozen=True, slots=True)
class ChatPhoto:
    id: str
    channel: ChannelName
    uploader_id: UserId
    blob_id: str
    thumb_id: str
    media_type: str
    filename: str
    width: int
    height: int
    size: int
    cmid: str | None
    offset: Offset | None
    created_at: int

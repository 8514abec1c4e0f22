"""Photos in chat rooms: storing a checked upload, and deciding who may fetch one
(docs/design/0032-chat-photos.md). No Starlette types: the CLI or a console may call these."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable

from channels.access import Action, Principal
from channels.names import ChannelRef, parse_channel
from linli.feature import Services
from linli.types import UserId
from persistence.blobs import blob_store, new_blob_id
from persistence.messages.sql import SqlMessagesStore
from persistence.moderation import Visibility
from persistence.moderation.sql import SqlModerationStore
from persistence.photos import ChatPhoto
from persistence.photos.sql import SqlPhotoStore
from web.uploads import CheckedUpload

#: The gateway's ``allowed``: one rule for a room, over the wire and over HTTP alike.
Allowed = Callable[[Principal, ChannelRef, Action], Awaitable[bool]]


class Readable(enum.Enum):
    YES = "yes"
    NO_ROOM = "no_room"  # the reader may not read the photo's room
    GONE = "gone"  # no such photo, or its message is hidden, deleted or not (yet) sent


async def store_photo(
    services: Services, channel: ChannelRef, upload: CheckedUpload, *, uploader_id: UserId
) -> ChatPhoto:
    """The original and its thumbnail as blobs, then the photo's row; the blobs go again if the
    row cannot be written (nothing half-written)."""
    assert upload.thumbnail is not None and upload.width and upload.height, "an image upload"
    blobs = blob_store(services.settings, services.database)
    now = services.clock.now_ms()
    original = await blobs.put(upload.data, now=now)
    thumb = await blobs.put(upload.thumbnail, now=now)
    photo = ChatPhoto(
        id=new_blob_id(),
        channel=channel.name,
        uploader_id=uploader_id,
        blob_id=original.id,
        thumb_id=thumb.id,
        media_type=upload.kind.media_type,
        filename=upload.filename,
        width=upload.width,
        height=upload.height,
        size=upload.size,
        cmid=None,
        offset=None,
        created_at=now,
    )
    try:
        await SqlPhotoStore(services.database).add(photo)
    except BaseException:
        await blobs.delete(original.id)
        await blobs.delete(thumb.id)
        raise
    return photo


async def readable(
    services: Services, allowed: Allowed, principal: Principal, photo: ChatPhoto | None
) -> Readable:
    """Whether ``principal`` may fetch ``photo``: a reader of its room (the rule the history
    uses), while its message is visible to them (not deleted by its author, not hidden or
    deleted by a moderator; moderators still see a hidden one). Its uploader sees it before it
    is sent. Fails closed: a store that cannot answer raises."""
    if photo is None:
        return Readable.GONE
    channel = parse_channel(photo.channel)
    if not await allowed(principal, channel, Action.READ):
        return Readable.NO_ROOM
    if photo.offset is None:
        return Readable.YES if photo.uploader_id == principal.user_id else Readable.GONE
    offset = photo.offset
    state = (await SqlMessagesStore(services.database).states(channel.name, offset, offset)).get(
        offset
    )
    if state is not None and state.deleted_at is not None:
        return Readable.GONE
    hidden = (
        await SqlModerationStore(services.database).hidden_states(channel.name, offset, offset)
    ).get(offset)
    if hidden is Visibility.DELETED or (hidden is not None and not principal.is_staff):
        return Readable.GONE
    return Readable.YES


async def photo_bytes(services: Services, photo: ChatPhoto, *, thumbnail: bool) -> bytes | None:
    blobs = blob_store(services.settings, services.database)
    return await blobs.get(photo.thumb_id if thumbnail else photo.blob_id)

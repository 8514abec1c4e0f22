"""Photos in chat rooms: storing a checked upload, and deciding who may fetch one
(docs/design/0032-chat-photos.md). No Starlette types: the CLI or a console may call these."""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Final

from channels.access import Action, Principal
from channels.names import ChannelRef, parse_channel
from linli.feature import Services
from linli.types import Millis, UserId
from persistence.blobs import blob_store, new_blob_id
from persistence.messages.sql import SqlMessagesStore
from persistence.moderation import Visibility
from persistence.moderation.sql import SqlModerationStore
from persistence.photos import ChatPhoto
from persistence.photos.sql import SqlPhotoStore
from persistence.timers import TimerJob
from web.uploads import CheckedUpload

log = logging.getLogger(__name__)

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


# -- removal (docs/design/0032-chat-photos.md, "Removal") ------------------------------------

#: An upload no published message carries is deleted this long after it was made.
UNSENT_MS: Final = 24 * 3_600_000
#: The unsent photos' sweep, a recurring timer job, hourly.
UNSENT_TIMER: Final = "photos.unsent"
UNSENT_EVERY_MS: Final = 3_600_000


async def delete_photos(services: Services, photos: Iterable[ChatPhoto]) -> int:
    """Each photo's blobs, then its row: a crash between the two leaves the row, so a second run
    finds it and finishes (a blob already gone is no error). How many rows went."""
    blobs = blob_store(services.settings, services.database)
    store = SqlPhotoStore(services.database)
    removed = 0
    for photo in photos:
        await blobs.delete(photo.blob_id)
        await blobs.delete(photo.thumb_id)
        removed += await store.delete(photo.id)
    return removed


async def delete_unsent(services: Services, *, now: Millis) -> int:
    """Delete the photos uploaded more than ``UNSENT_MS`` before ``now`` that no published
    message carries (idempotent)."""
    stale = await SqlPhotoStore(services.database).unsent_before(now - UNSENT_MS)
    return await delete_photos(services, stale)


async def delete_of_user(services: Services, user_id: UserId) -> int:
    """Every photo the user uploaded (their account's deletion)."""
    return await delete_photos(
        services, await SqlPhotoStore(services.database).of_uploader(user_id)
    )


async def delete_of_messages_before(services: Services, before: Millis) -> int:
    """The photos of the chat messages stored before ``before`` (chat's retention, run before
    the messages go, so a crash between the two finds them again)."""
    photos = await SqlPhotoStore(services.database).of_messages_before(before)
    return await delete_photos(services, photos)


async def delete_of_mod_deleted_before(services: Services, before: Millis) -> int:
    """The photos of the messages a moderator deleted before ``before`` (with their text, by
    moderation's ``moderation.purge_deleted``)."""
    photos = await SqlPhotoStore(services.database).of_mod_deleted_before(before)
    return await delete_photos(services, photos)


async def delete_of_author_deleted(services: Services) -> int:
    """The photos of the messages their author deleted. The author asked for the message to go;
    a moderator's review needs the text (kept in ``chat_message_state``), not the picture, and
    keeping a photo of someone's home until chat's retention (a year by default) is more than
    the author agreed to (design 0032, "Removal")."""
    photos = await SqlPhotoStore(services.database).of_author_deleted()
    return await delete_photos(services, photos)


def next_unsent(services: Services) -> Millis:
    """The first run: a minute after the worker starts (then hourly)."""
    return services.clock.now_ms() + 60_000


async def on_unsent_timer(services: Services, job: TimerJob) -> None:
    """``photos.unsent``: delete the stale unsent photos and those of messages their author
    deleted, then schedule the next run."""
    now = services.clock.now_ms()
    removed = await delete_unsent(services, now=now)
    if removed:
        log.info("deleted %d unsent chat photos", removed)
    withdrawn = await delete_of_author_deleted(services)
    if withdrawn:
        log.info("deleted %d photos of messages their authors deleted", withdrawn)
    await services.timers.schedule(job.key, UNSENT_TIMER, now + UNSENT_EVERY_MS, {}, now=now)

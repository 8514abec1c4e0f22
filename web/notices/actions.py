"""Every change of a notice: store write + timers + notification + live reach + audit, with no
HTTP in sight, so the API, the CLI and the admin console make the same change the same way.

Callers have authorised the actor (``web/notices/api.py``: ``Can.POST_NOTICES`` for writing,
``visible`` for reading); an action raises the store's errors for a notice in the wrong state.

Time-based transitions go through the timers (design 0011): a notice with a future
``publish_at`` is ``scheduled`` with a ``notices.publish:<id>`` job; a published notice with an
``expire_at`` has a ``notices.expire:<id>`` job. Both handlers check the state first, so a late,
repeated or superseded job changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from gateway.notices.events import EXPIRE_TIMER, PUBLISH_TIMER, publish_reach
from linli.feature import Services
from linli.richtext import plain
from linli.roles import Can, may
from linli.types import UserId
from persistence.audit import NewEntry
from persistence.blobs import BlobStore, blob_store
from persistence.notices import (
    Attachment,
    AudienceKind,
    Notice,
    NoticeDraft,
    NoticeState,
    NoticeStore,
    Reach,
)
from persistence.notices.sql import SqlNoticeStore
from persistence.notifications import Kind
from persistence.store import User
from persistence.timers import TimerJob
from web.notices.search import index_notice
from web.notifications.actions import notify
from web.uploads import CheckedUpload

log = logging.getLogger(__name__)

FEATURE = "notices"


def notices_store(services: Services) -> NoticeStore:
    return SqlNoticeStore(services.database)


def blobs_of(services: Services) -> BlobStore:
    return blob_store(services.settings, services.database)


def publish_key(notice_id: int) -> str:
    return f"{PUBLISH_TIMER}:{notice_id}"


def expire_key(notice_id: int) -> str:
    return f"{EXPIRE_TIMER}:{notice_id}"


@dataclass(frozen=True, slots=True)
class Reader:
    """Who is reading, as the audience rules need them: the user and their unit's label."""

    user: User
    unit_label: str | None

    @property
    def staff(self) -> bool:
        return may(self.user.role, Can.POST_NOTICES)


async def reader_of(services: Services, user: User) -> Reader:
    label = None
    if user.unit_id is not None:
        label = await notices_store(services).unit_label(user.unit_id)
    return Reader(user, label)


def visible(notice: Notice, reader: Reader) -> bool:
    """Staff who post notices see every notice (drafts too); everyone else a notice that was
    published, if they are in its audience."""
    if reader.staff:
        return True
    user = reader.user
    return notice.readable and notice.draft.audience.includes(
        user.building_id, user.unit_id, reader.unit_label
    )


async def _audit(
    services: Services, action: str, actor_id: UserId | None, notice: Notice, reason: str = ""
) -> None:
    await services.audit.append(
        NewEntry(
            feature=FEATURE,
            action=action,
            actor_id=actor_id,
            reason=reason,
            at=services.clock.now_ms(),
            subject=f"notice:{notice.id}",
            detail={"title": notice.draft.title, "version": notice.version},
        )
    )


async def _schedule(services: Services, notice: Notice) -> None:
    """The notice's timer jobs as its state and times say (idempotent: upserts and cancels)."""
    now = services.clock.now_ms()
    timers = services.timers
    draft = notice.draft
    if notice.state is NoticeState.SCHEDULED and draft.publish_at is not None:
        await timers.schedule(
            publish_key(notice.id),
            PUBLISH_TIMER,
            draft.publish_at,
            {"notice_id": notice.id},
            now=now,
        )
    else:
        await timers.cancel(publish_key(notice.id))
    live = notice.state in {NoticeState.SCHEDULED, NoticeState.PUBLISHED}
    if live and draft.expire_at is not None:
        await timers.schedule(
            expire_key(notice.id), EXPIRE_TIMER, draft.expire_at, {"notice_id": notice.id}, now=now
        )
    else:
        await timers.cancel(expire_key(notice.id))


async def create_notice(
    services: Services, draft: NoticeDraft, *, actor: User, publish: bool
) -> Notice:
    """A new notice: scheduled when ``publish_at`` is ahead, else published now (``publish``)
    or kept as a draft."""
    now = services.clock.now_ms()
    if draft.publish_at is not None and draft.publish_at > now:
        state = NoticeState.SCHEDULED
    else:
        state = NoticeState.PUBLISHED if publish else NoticeState.DRAFT
    notice = await notices_store(services).create_notice(
        draft, state=state, created_by=actor.id, now=now
    )
    await _audit(services, "notice_create", actor.id, notice)
    await _schedule(services, notice)
    if state is NoticeState.PUBLISHED:
        await _published(services, notice, actor.id)
    else:
        await index_notice(services, notice)  # found by the staff who post notices
    return notice


async def publish_now(services: Services, notice_id: int, *, actor: User) -> Notice | None:
    """A draft or scheduled notice published at once; None if it was in neither state."""
    notice = await notices_store(services).publish_due(notice_id, now=services.clock.now_ms())
    if notice is not None:
        await _schedule(services, notice)
        await _audit(services, "notice_publish", actor.id, notice)
        await _published(services, notice, actor.id)
    return notice


async def _published(services: Services, notice: Notice, actor_id: UserId | None) -> None:
    """The audience hears of it (inbox, push, e-mail for urgent ones: ``notify``)."""
    audience = notice.draft.audience
    title = notice.draft.title
    urgent = notice.draft.urgent
    send = partial(
        notify,
        services,
        key=f"notice:{notice.id}",
        kind=Kind.NOTICE,
        text_zh=f"{'緊急公告' if urgent else '新公告'}：{title}",
        text_en=f"{'Urgent notice' if urgent else 'New notice'}: {title}",
        link=f"/notices/{notice.id}",
        urgent=urgent,
        actor_id=actor_id,
    )
    if audience.kind is AudienceKind.ALL:
        await send(everyone=True)
    elif audience.kind is AudienceKind.BUILDINGS:
        await send(buildings=list(audience.buildings))
    else:
        store = notices_store(services)
        reach = await store.reach(notice.id, audience)
        residents = await store.residents_of([u.unit_id for u in reach.units])
        if residents:
            await send(user_ids=residents)
    await index_notice(services, notice)
    await announce_reach(services, notice)


async def on_publish_timer(services: Services, job: TimerJob) -> None:
    """``notices.publish``: a scheduled notice goes out at its ``publish_at`` (left alone if it
    was published, retracted or moved later meanwhile: its own job comes then)."""
    notice_id = job.payload.get("notice_id")
    if type(notice_id) is not int:
        log.error("notices.publish timer without a notice id: %r", job.payload)
        return
    store = notices_store(services)
    notice = await store.get_notice(notice_id)
    if notice is None or notice.state is not NoticeState.SCHEDULED:
        return
    publish_at = notice.draft.publish_at
    if publish_at is not None and publish_at > services.clock.now_ms():
        await _schedule(services, notice)
        return
    published = await store.publish_due(notice_id, now=services.clock.now_ms())
    if published is not None:
        await _schedule(services, published)
        await _audit(services, "notice_publish_scheduled", None, published)
        await _published(services, published, published.created_by)


async def on_expire_timer(services: Services, job: TimerJob) -> None:
    """``notices.expire``: a published notice leaves the current list for the archive."""
    notice_id = job.payload.get("notice_id")
    if type(notice_id) is not int:
        log.error("notices.expire timer without a notice id: %r", job.payload)
        return
    store = notices_store(services)
    notice = await store.get_notice(notice_id)
    if notice is None or notice.draft.expire_at is None:
        return
    if notice.draft.expire_at > services.clock.now_ms():
        await _schedule(services, notice)
        return
    if notice.state is NoticeState.SCHEDULED:
        return  # expires before it was published: the publish timer comes first
    expired = await store.expire_due(notice_id, now=services.clock.now_ms())
    if expired is not None:
        await _audit(services, "notice_expire", None, expired)


async def edit_notice(
    services: Services, notice_id: int, draft: NoticeDraft, *, actor: User
) -> tuple[Notice, tuple[str, ...]]:
    notice, changed = await notices_store(services).edit(
        notice_id, draft, editor=actor.id, now=services.clock.now_ms()
    )
    if not changed:
        return notice, changed
    if notice.state is NoticeState.SCHEDULED or "publish_at" in changed:
        now = services.clock.now_ms()
        if notice.state is NoticeState.SCHEDULED and (
            notice.draft.publish_at is None or notice.draft.publish_at <= now
        ):
            # Moved to now (or cleared): it goes out at once.
            published = await publish_now(services, notice_id, actor=actor)
            notice = published or notice
    await _schedule(services, notice)
    await _audit(services, "notice_edit", actor.id, notice, reason=", ".join(changed))
    await index_notice(services, notice)
    if "audience" in changed:
        await announce_reach(services, notice)
    return notice, changed


async def retract_notice(
    services: Services, notice_id: int, *, actor: User, reason: str
) -> Notice | None:
    """Retracted, with its reason; it stays listed as retracted. None if it already was."""
    notice = await notices_store(services).retract(
        notice_id, by=actor.id, reason=reason, now=services.clock.now_ms()
    )
    if notice is not None:
        await _schedule(services, notice)  # cancels both jobs
        await _audit(services, "notice_retract", actor.id, notice, reason=reason)
        await index_notice(services, notice)
    return notice


async def record_open(services: Services, notice: Notice, user: User) -> bool:
    """The reader opened the notice; True when that reached their household for the first time
    (the poster's reach view then moves)."""
    result = await notices_store(services).record_read(
        notice.id, user_id=user.id, unit_id=user.unit_id, now=services.clock.now_ms()
    )
    if result.unit_first:
        await announce_reach(services, notice)
    return result.unit_first


async def acknowledge(services: Services, notice: Notice, user: User) -> bool:
    """The household's acknowledgement (the caller checked the user has a unit and the notice
    asks for one); True when this call made it."""
    assert user.unit_id is not None
    made = await notices_store(services).acknowledge(
        notice.id, user_id=user.id, unit_id=user.unit_id, now=services.clock.now_ms()
    )
    if made:
        await announce_reach(services, notice)
    return made


async def reach_of(services: Services, notice: Notice) -> Reach:
    return await notices_store(services).reach(notice.id, notice.draft.audience)


async def announce_reach(services: Services, notice: Notice) -> None:
    """Count the reach from the rows now and push it to the posters' pages (``notice:<id>``).
    A failed push loses nothing stored: the page reads the snapshot again when it reconnects."""
    try:
        await publish_reach(services.broker, await reach_of(services, notice))
    except Exception:
        log.warning("reach of notice %d not pushed", notice.id, exc_info=True)


async def add_attachment(
    services: Services, notice: Notice, upload: CheckedUpload, *, actor: User
) -> Attachment:
    """Store a checked upload's bytes (and thumbnail) in the blob store, then its row. A crash
    between the two leaves an unreferenced blob, never a row without its bytes."""
    now = services.clock.now_ms()
    blobs = blobs_of(services)
    stored = await blobs.put(upload.data, now=now)
    thumb = await blobs.put(upload.thumbnail, now=now) if upload.thumbnail else None
    try:
        attachment = await notices_store(services).add_attachment(
            notice.id,
            blob_id=stored.id,
            thumb_id=thumb.id if thumb else None,
            filename=upload.filename,
            media_type=upload.kind.media_type,
            size=stored.size,
            sha256=stored.sha256,
            width=upload.width,
            height=upload.height,
            added_by=actor.id,
            now=now,
        )
    except BaseException:
        await blobs.delete(stored.id)
        if thumb:
            await blobs.delete(thumb.id)
        raise
    await services.audit.append(
        NewEntry(
            feature=FEATURE,
            action="notice_attach",
            actor_id=actor.id,
            reason="",
            at=now,
            subject=f"notice:{notice.id}",
            detail={"filename": attachment.filename, "sha256": attachment.sha256},
        )
    )
    return attachment


def preview(notice: Notice) -> str:
    return plain(notice.draft.body, 160)

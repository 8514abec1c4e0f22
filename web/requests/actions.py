"""Every change of a resident's request: store write + live change + notification + timer +
audit, with no HTTP in sight, so the API, the CLI and an admin console make the same change.

Callers have authorised the actor already (``web/requests/api.py``, with
``persistence/requests/access.py``); an action raises the store's errors for a request in the
wrong status. ``request_figures`` is the plan's figures for the staff page and the community
figures page alike.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from gateway.requests.events import DIGEST_TIMER, OVERDUE_TIMER, publish_change
from linli.feature import Services
from linli.live import zone_of
from linli.roles import Can, roles_that
from linli.types import Millis, UserId
from persistence.audit import NewEntry
from persistence.blobs import blob_store
from persistence.notifications import Kind
from persistence.requests import (
    DAY_MS,
    Category,
    Figures,
    Holiday,
    NewRequest,
    Photo,
    Rating,
    Request,
    RequestEvent,
    RequestStore,
    Status,
)
from persistence.requests.sql import SqlRequestStore
from persistence.timers import TimerJob
from web.notifications.actions import notify
from web.requests.search import index_request
from web.uploads import CheckedUpload

log = logging.getLogger(__name__)

FEATURE = "requests"
#: The teams' digest: every morning at 08:00 local time (``LINLI_TIME_ZONE``).
DIGEST_AT = (8, 0)

#: The words of the notifications, both languages (the catalogue is for pages; a notification
#: is stored in both languages, ``web/notifications/actions.notify``).
CATEGORY_WORDS = {
    Category.REPAIR: ("報修", "Repair"),
    Category.QUESTION: ("詢問", "Question"),
    Category.SUGGESTION: ("建議", "Suggestion"),
    Category.COMPLAINT: ("投訴", "Complaint"),
    Category.FEEDBACK: ("意見回饋", "Feedback"),
}
STATUS_WORDS = {
    Status.RECEIVED: ("已受理", "received"),
    Status.IN_PROGRESS: ("處理中", "in progress"),
    Status.WAITING: ("待住戶回覆", "waiting for your reply"),
    Status.RESOLVED: ("已解決", "resolved"),
    Status.CLOSED: ("已結案", "closed"),
    Status.REJECTED: ("不受理", "not accepted"),
    Status.MERGED: ("已合併", "merged"),
}


def requests_store(services: Services) -> RequestStore:
    settings = services.settings
    return SqlRequestStore(
        services.database, zone=zone_of(services), weekdays=settings.working_weekdays
    )


def link(request_id: int) -> str:
    return f"/requests/{request_id}"


def overdue_key(request_id: int) -> str:
    return f"{OVERDUE_TIMER}:{request_id}"


def _short(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def _audit(
    services: Services, action: str, actor_id: UserId | None, request: Request, reason: str = ""
) -> None:
    await services.audit.append(
        NewEntry(
            feature=FEATURE,
            action=action,
            actor_id=actor_id,
            reason=reason,
            at=services.clock.now_ms(),
            subject=f"request:{request.id}",
            detail={"status": str(request.status), "category": str(request.category)},
        )
    )


async def set_holiday(services: Services, day: date, name: str, *, actor_id: UserId) -> Holiday:
    """A day off the working days (audited): requests filed from now on skip it; the targets of
    those filed already stay as they were fixed."""
    now = services.clock.now_ms()
    holiday = await requests_store(services).set_holiday(day, name, now=now)
    await services.audit.append(
        NewEntry(
            feature=FEATURE,
            action="holiday_set",
            actor_id=actor_id,
            reason="",
            at=now,
            subject=f"holiday:{day.isoformat()}",
            detail={"name": name},
        )
    )
    return holiday


async def remove_holiday(services: Services, day: date, *, actor_id: UserId) -> bool:
    removed = await requests_store(services).remove_holiday(day)
    if removed:
        await services.audit.append(
            NewEntry(
                feature=FEATURE,
                action="holiday_remove",
                actor_id=actor_id,
                reason="",
                at=services.clock.now_ms(),
                subject=f"holiday:{day.isoformat()}",
            )
        )
    return removed


async def handler_ids(services: Services, category: Category) -> list[UserId] | None:
    """The team of the category, or None: every holder of the duty."""
    return await requests_store(services).handler_ids(category)


async def _tell_handlers(
    services: Services, request: Request, *, key: str, zh: str, en: str, actor_id: UserId | None
) -> None:
    members = await handler_ids(services, request.category)
    if request.assignee_id is not None:
        members = [request.assignee_id]
    await notify(
        services,
        key=key,
        kind=Kind.REQUEST,
        text_zh=zh,
        text_en=en,
        link=link(request.id),
        actor_id=actor_id,
        user_ids=members or [],
        roles=[] if members is not None else list(roles_that(Can.HANDLE_REQUESTS)),
    )


async def _tell_followers(
    services: Services, request: Request, *, key: str, zh: str, en: str, actor_id: UserId | None
) -> None:
    followers = await requests_store(services).follower_ids(request.id)
    if followers:
        await notify(
            services,
            key=key,
            kind=Kind.REQUEST,
            text_zh=zh,
            text_en=en,
            link=link(request.id),
            actor_id=actor_id,
            user_ids=followers,
        )


async def _schedule_overdue(services: Services, request: Request) -> None:
    """The request's next target, while it is open (the handler checks and moves on)."""
    if not request.is_open:
        return
    due = request.respond_by if request.first_response_at is None else request.resolve_by
    due = max(due, request.created_at) + 1  # "past the target": one millisecond after it
    await services.timers.schedule(
        overdue_key(request.id),
        OVERDUE_TIMER,
        due,
        {"request_id": request.id},
        now=services.clock.now_ms(),
    )


async def _changed(services: Services, request: Request) -> None:
    await publish_change(services.broker, request)
    await index_request(services, request)


# -- residents ------------------------------------------------------------------------------


async def file_request(
    services: Services, new: NewRequest, *, filed_by: UserId | None = None
) -> Request:
    """``filed_by``: staff who filed it for its author (a forum post turned into a request),
    audited; None or the author themselves otherwise."""
    store = requests_store(services)
    request = await store.create_request(new, now=services.clock.now_ms())
    if filed_by is not None and filed_by != new.author_id:
        await _audit(services, "file_for", filed_by, request, reason=new.source_link)
    await _schedule_overdue(services, request)
    await index_request(services, request)
    zh, en = CATEGORY_WORDS[request.category]
    await _tell_handlers(
        services,
        request,
        key=f"request:{request.id}:filed",
        zh=f"新{zh}：{_short(request.text)}",
        en=f"New {en.lower()}: {_short(request.text)}",
        actor_id=new.author_id,
    )
    return request


async def follow(services: Services, request_id: int, user_id: UserId) -> bool:
    return await requests_store(services).follow(request_id, user_id, now=services.clock.now_ms())


async def unfollow(services: Services, request_id: int, user_id: UserId) -> bool:
    return await requests_store(services).unfollow(request_id, user_id)


async def resident_reply(
    services: Services, request: Request, *, actor_id: UserId, text: str
) -> RequestEvent:
    event = await requests_store(services).add_reply(
        request.id, actor_id=actor_id, text=text, staff=False, now=services.clock.now_ms()
    )
    await _tell_handlers(
        services,
        request,
        key=f"request:{request.id}:event:{event.id}",
        zh=f"住戶回覆 #{request.id}：{_short(text)}",
        en=f"Resident replied on #{request.id}: {_short(text)}",
        actor_id=actor_id,
    )
    await _refresh(services, request.id)
    return event


async def reopen(services: Services, request_id: int, *, actor_id: UserId, text: str) -> Request:
    request = await requests_store(services).reopen(
        request_id,
        actor_id=actor_id,
        text=text,
        window_ms=services.settings.request_reopen_days * DAY_MS,
        now=services.clock.now_ms(),
    )
    await _schedule_overdue(services, request)
    await _tell_handlers(
        services,
        request,
        key=f"request:{request.id}:reopen:{request.version}",
        zh=f"住戶重新開啟 #{request.id}：{_short(text or request.text)}",
        en=f"Reopened by the resident: #{request.id}",
        actor_id=actor_id,
    )
    await _changed(services, request)
    return request


async def rate(
    services: Services, request_id: int, *, user_id: UserId, score: int, comment: str
) -> Rating:
    rating = await requests_store(services).rate(
        request_id, user_id=user_id, score=score, comment=comment, now=services.clock.now_ms()
    )
    await _refresh(services, request_id)
    return rating


async def add_photo(
    services: Services, request_id: int, upload: CheckedUpload, *, actor_id: UserId
) -> Photo:
    """Store a checked image (original and thumbnail) as blobs and add it to the request; the
    blobs go again when the request already has its five (``TooManyPhotos``)."""
    assert upload.thumbnail is not None and upload.width and upload.height, "an image upload"
    blobs = blob_store(services.settings, services.database)
    now = services.clock.now_ms()
    original = await blobs.put(upload.data, now=now)
    thumb = await blobs.put(upload.thumbnail, now=now)
    try:
        photo = await requests_store(services).add_photo(
            request_id,
            blob_id=original.id,
            thumb_id=thumb.id,
            filename=upload.filename,
            media_type=upload.kind.media_type,
            width=upload.width,
            height=upload.height,
            added_by=actor_id,
            now=now,
        )
    except BaseException:
        await blobs.delete(original.id)
        await blobs.delete(thumb.id)
        raise
    await _refresh(services, request_id)
    return photo


async def photo_bytes(services: Services, photo: Photo, *, thumbnail: bool) -> bytes | None:
    blobs = blob_store(services.settings, services.database)
    return await blobs.get(photo.thumb_id if thumbnail else photo.blob_id)


# -- staff ----------------------------------------------------------------------------------


async def change_status(
    services: Services,
    request_id: int,
    to: Status,
    *,
    actor_id: UserId,
    reply: str = "",
    reason: str = "",
) -> Request:
    request = await requests_store(services).change_status(
        request_id, to, actor_id=actor_id, now=services.clock.now_ms(), reply=reply, reason=reason
    )
    await _audit(services, f"status_{to}", actor_id, request, reason)
    await _schedule_overdue(services, request)
    zh, en = STATUS_WORDS[to]
    extra_zh = f"：{_short(reply or reason)}" if reply or reason else ""
    extra_en = f": {_short(reply or reason)}" if reply or reason else ""
    await _tell_followers(
        services,
        request,
        key=f"request:{request.id}:status:{request.version}",
        zh=f"您的{CATEGORY_WORDS[request.category][0]} #{request.id} {zh}{extra_zh}",
        en=f"Your request #{request.id} is {en}{extra_en}",
        actor_id=actor_id,
    )
    await _changed(services, request)
    return request


async def staff_reply(
    services: Services, request_id: int, *, actor_id: UserId, text: str
) -> RequestEvent:
    store = requests_store(services)
    event = await store.add_reply(
        request_id, actor_id=actor_id, text=text, staff=True, now=services.clock.now_ms()
    )
    request = await _refresh(services, request_id)
    await _audit(services, "reply", actor_id, request)
    await _schedule_overdue(services, request)
    await _tell_followers(
        services,
        request,
        key=f"request:{request_id}:event:{event.id}",
        zh=f"管理處回覆 #{request_id}：{_short(text)}",
        en=f"Reply on #{request_id}: {_short(text)}",
        actor_id=actor_id,
    )
    return event


async def add_note(
    services: Services, request_id: int, *, actor_id: UserId, text: str
) -> RequestEvent:
    """Internal: no resident hears of it, and the request's page is not pinged (its version
    does not move)."""
    return await requests_store(services).add_note(
        request_id, actor_id=actor_id, text=text, now=services.clock.now_ms()
    )


async def assign(
    services: Services, request_id: int, assignee_id: UserId | None, *, actor_id: UserId
) -> Request:
    request = await requests_store(services).assign(
        request_id, assignee_id, actor_id=actor_id, now=services.clock.now_ms()
    )
    await _audit(services, "assign", actor_id, request)
    if assignee_id is not None and assignee_id != actor_id:
        await notify(
            services,
            key=f"request:{request_id}:assign:{request.version}",
            kind=Kind.REQUEST,
            text_zh=f"指派給您：#{request_id} {_short(request.text)}",
            text_en=f"Assigned to you: #{request_id} {_short(request.text)}",
            link=link(request_id),
            actor_id=actor_id,
            user_ids=[assignee_id],
        )
    await _changed(services, request)
    return request


async def merge(
    services: Services, duplicate_id: int, into_id: int, *, actor_id: UserId
) -> tuple[Request, Request]:
    store = requests_store(services)
    duplicate, kept = await store.merge(
        duplicate_id, into_id, actor_id=actor_id, now=services.clock.now_ms()
    )
    await services.timers.cancel(overdue_key(duplicate_id))
    await _audit(services, "merge", actor_id, duplicate, f"into #{into_id}")
    await _tell_followers(
        services,
        duplicate,
        key=f"request:{duplicate_id}:merged",
        zh=f"#{duplicate_id} 與 #{into_id} 是同一件事，已合併；您會收到 #{into_id} 的進度",
        en=f"#{duplicate_id} was merged into #{into_id}; you now follow #{into_id}",
        actor_id=actor_id,
    )
    await _changed(services, duplicate)
    await _changed(services, kept)
    return duplicate, kept


async def _refresh(services: Services, request_id: int) -> Request:
    request = await requests_store(services).get_request(request_id)
    assert request is not None
    await _changed(services, request)
    return request


# -- timers ---------------------------------------------------------------------------------


async def on_overdue_timer(services: Services, job: TimerJob) -> None:
    """``requests.overdue``: mark the request overdue when it is past a target (and tell its
    team, once); otherwise wait for its next target. A done request is left alone."""
    request_id = job.payload.get("request_id")
    if type(request_id) is not int:
        log.error("requests.overdue timer without a request id: %r", job.payload)
        return
    store = requests_store(services)
    request = await store.get_request(request_id)
    if request is None or not request.is_open:
        return
    now = services.clock.now_ms()
    if not request.overdue(now):
        await _schedule_overdue(services, request)
        return
    marked = await store.mark_overdue(request_id, now=now)
    if marked is None:
        return
    await _tell_handlers(
        services,
        marked,
        key=f"request:{request_id}:overdue",
        zh=f"逾期：#{request_id} {_short(marked.text)}",
        en=f"Overdue: #{request_id} {_short(marked.text)}",
        actor_id=None,
    )
    await _changed(services, marked)


def next_local_time(now: Millis, services: Services, hour: int, minute: int) -> Millis:
    zone = zone_of(services)
    day = datetime.fromtimestamp(now / 1000, zone).date()
    while True:
        at = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
        due = int(at.timestamp() * 1000)
        if due > now:
            return due
        day += timedelta(days=1)


def next_digest(services: Services) -> Millis:
    return next_local_time(services.clock.now_ms(), services, *DIGEST_AT)


async def on_digest_timer(services: Services, job: TimerJob) -> None:
    """``requests.digest``, daily: each team hears its open and overdue requests (nothing when
    it has none open); resolved requests past the reopen window are closed. Idempotent per
    day: the notification's key carries the local date."""
    store = requests_store(services)
    now = services.clock.now_ms()
    closed = await store.close_resolved(
        resolved_before=now - services.settings.request_reopen_days * DAY_MS, now=now
    )
    for request_id in closed:
        await _refresh(services, request_id)
    day = datetime.fromtimestamp(now / 1000, zone_of(services)).date().isoformat()
    teams = await store.teams()
    routed = {c for t in teams for c in t.categories}
    groups: list[tuple[str, Sequence[Category], list[UserId] | None]] = [
        (f"team:{t.id}", t.categories, list(t.member_ids)) for t in teams if t.categories
    ]
    unrouted = [c for c in Category if c not in routed]
    if unrouted:
        groups.append(("duty", unrouted, None))
    for name, categories, members in groups:
        load = await store.team_load(categories, now=now)
        open_n = sum(x.open for x in load)
        if not open_n or members == []:
            continue
        late = sum(x.overdue for x in load)
        await notify(
            services,
            key=f"requests.digest:{day}:{name}",
            kind=Kind.REQUEST,
            text_zh=f"今日待處理請求 {open_n} 件，其中逾期 {late} 件",
            text_en=f"Open requests today: {open_n}, of which {late} overdue",
            link="/requests/queue",
            user_ids=members or [],
            roles=[] if members is not None else list(roles_that(Can.HANDLE_REQUESTS)),
        )
    await services.timers.schedule(
        job.key, DIGEST_TIMER, next_local_time(now, services, *DIGEST_AT), {}, now=now
    )


# -- figures --------------------------------------------------------------------------------


def year_before(now: Millis, services: Services) -> tuple[Millis, Millis]:
    """The twelve whole local months before the current one, plus the current one so far."""
    zone = zone_of(services)
    local = datetime.fromtimestamp(now / 1000, zone)
    start = datetime(local.year - 1, local.month, 1, tzinfo=zone)
    return int(start.timestamp() * 1000), now + 1


async def request_figures(
    services: Services, *, since: Millis | None = None, until: Millis | None = None
) -> Figures:
    """The plan's figures (definitions: ``persistence.requests.Bucket``) over requests filed in
    [since, until), by default the past twelve months and this one, in the installation's zone.
    For the staff figures page and the community figures page alike."""
    now = services.clock.now_ms()
    default_since, default_until = year_before(now, services)
    return await requests_store(services).figures(
        since=default_since if since is None else since,
        until=default_until if until is None else until,
        now=now,
        zone=zone_of(services),
    )

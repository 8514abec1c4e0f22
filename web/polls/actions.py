"""Every change of a poll's state: store write + events + control commands + audit, with no
HTTP in sight, so the API, the CLI and the admin console make the same change the same way.

Callers have authorised the actor already (``web/polls/api.py``); an action raises the store's
errors (``PollNotFound``, ``PollStateError``) for a poll in the wrong state.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import weakref

import msgpack

from channels.names import ChannelKind, parse_channel
from gateway.control import send_control
from gateway.polls.events import (
    CLOSE_DELAY_MS,
    CLOSE_TIMER,
    WRITE_MARGIN_SECONDS,
    PollChanged,
    publish_tally,
)
from linli.feature import Services
from linli.types import UserId
from persistence.audit import NewEntry
from persistence.db import UniqueViolation
from persistence.notifications import Kind
from persistence.polls import Poll, PollDraft, PollState, PollStore
from persistence.polls.sql import SqlPollStore
from persistence.timers import TimerJob
from web.notifications.actions import notify
from web.search import actions as search

log = logging.getLogger(__name__)

FEATURE = "polls"
JOIN_CODE_CHARS = 6
#: Letters a person reads aloud and types without confusion (no 0/O, 1/I).
JOIN_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


class JoinCodesExhausted(Exception):
    """Five random join codes in a row were taken (vanishingly rare: try again)."""


def polls_store(services: Services) -> PollStore:
    return SqlPollStore(services.database)


def close_timer_key(poll_id: int) -> str:
    return f"{CLOSE_TIMER}:{poll_id}"


async def _audit(services: Services, action: str, actor_id: UserId | None, poll: Poll) -> None:
    await services.audit.append(
        NewEntry(
            feature=FEATURE,
            action=action,
            actor_id=actor_id,
            reason="",
            at=services.clock.now_ms(),
            channel=poll.draft.channel,
            subject=f"poll:{poll.id}",
            detail={"question": poll.draft.question},
        )
    )


async def announce(services: Services, poll_id: int) -> None:
    """Publish the poll's tally now (a change of state): screens learn of it at once."""
    await publish_tally(services.broker, polls_store(services), poll_id)


async def _changed(services: Services, poll_id: int) -> None:
    """Every gateway drops its copy of the poll (at most once; the copies' lifetime bounds
    the rest, ``gateway/polls/cache.py``)."""
    await send_control(services.broker, PollChanged(poll_id=poll_id))


async def _schedule_close_timer(services: Services, poll: Poll) -> None:
    if poll.state is PollState.OPEN and poll.draft.closes_at is not None:
        await services.timers.schedule(
            close_timer_key(poll.id),
            CLOSE_TIMER,
            poll.draft.closes_at,
            {"poll_id": poll.id},
            now=services.clock.now_ms(),
        )


async def create_poll(services: Services, draft: PollDraft, *, actor_id: UserId) -> Poll:
    store = polls_store(services)
    for _ in range(5):  # a clash of random join codes is rare; draw again
        try:
            poll = await store.create_poll(
                draft,
                created_by=actor_id,
                join_code="".join(
                    secrets.choice(JOIN_CODE_ALPHABET) for _ in range(JOIN_CODE_CHARS)
                ),
                projector_token=secrets.token_urlsafe(24),
                now=services.clock.now_ms(),
            )
        except UniqueViolation:
            continue
        await _audit(services, "poll_create", actor_id, poll)
        return poll
    raise JoinCodesExhausted


async def update_poll(
    services: Services, poll_id: int, draft: PollDraft, *, actor_id: UserId
) -> Poll:
    poll = await polls_store(services).update_poll(poll_id, draft)
    await _audit(services, "poll_edit", actor_id, poll)
    return poll


async def delete_poll(services: Services, poll: Poll, *, actor_id: UserId) -> None:
    """A draft goes away (an opened poll raises ``PollStateError``: its votes are a record)."""
    await polls_store(services).delete_poll(poll.id)
    await _audit(services, "poll_delete", actor_id, poll)


def card_body(poll: Poll, *, author_id: UserId, author_name: str, now: int) -> dict[str, object]:
    """The ``poll`` publication on the poll's room (``docs/protocol.md``, "The poll card"): what a
    chat page needs to draw the card before it asks for the live tally."""
    d = poll.draft
    return {
        "kind": "poll",
        "poll_id": poll.id,
        "question": d.question,
        "options": list(d.options),
        "multiple": d.multiple,
        "anonymous": d.anonymous,
        "results": str(d.results),
        "closes_at": d.closes_at,
        "author": {"id": author_id, "name": author_name},
        "ts": now,
    }


async def _post_card(services: Services, poll: Poll, actor_id: UserId) -> None:
    """The poll's card in its room, once however often this runs (the idempotency key). A
    broker failure loses the card, not the opening (the notification and /polls still tell)."""
    actor = await services.store.get_user(actor_id)
    body = card_body(
        poll,
        author_id=actor_id,
        author_name=actor.display_name if actor is not None else "",
        now=services.clock.now_ms(),
    )
    try:
        await services.broker.publish(
            poll.draft.channel, msgpack.packb(body), idempotency_key=f"poll:{poll.id}:card"
        )
    except Exception:
        log.warning("card of poll %d not posted to %s", poll.id, poll.draft.channel, exc_info=True)


async def open_poll(services: Services, poll_id: int, *, actor_id: UserId) -> Poll:
    poll = await polls_store(services).open_poll(poll_id, now=services.clock.now_ms())
    await _schedule_close_timer(services, poll)
    await _audit(services, "poll_open", actor_id, poll)
    await announce(services, poll_id)
    await _post_card(services, poll, actor_id)
    await _notify_opened(services, poll, actor_id)
    await search.index_poll(services, poll)
    return poll


async def _notify_opened(services: Services, poll: Poll, actor_id: UserId) -> None:
    """Everyone who may vote hears of it (the poll's building or group)."""
    channel = parse_channel(poll.draft.channel)
    building = channel.kind is ChannelKind.BUILDING
    await notify(
        services,
        key=f"poll:{poll.id}:open",
        kind=Kind.POLL,
        text_zh=f"新投票：{poll.draft.question}",
        text_en=f"New poll: {poll.draft.question}",
        link=f"/polls/{poll.id}",
        actor_id=actor_id,
        buildings=[channel.building_id] if building else [],
        groups=[] if building else [channel.key],
    )


# One close per poll at a time in this process: a second request for the same poll waits for
# the first one's result instead of moving the closing time again.
_closing: weakref.WeakKeyDictionary[object, dict[int, asyncio.Task[tuple[Poll, bool]]]] = (
    weakref.WeakKeyDictionary()
)


async def close_poll(
    services: Services, poll_id: int, *, actor_id: UserId | None
) -> tuple[Poll, bool]:
    """An organiser's close: made a scheduled close ``CLOSE_DELAY_MS`` ahead, then carried out
    at that time (here, or by the timers worker, whichever comes first; ``closed_at`` is the
    scheduled time either way). Returns the closed poll and whether this call closed it. Runs
    to the end even if the caller goes away."""
    tasks = _closing.setdefault(services, {})
    task = tasks.get(poll_id)
    if task is None:
        task = asyncio.create_task(_close(services, poll_id, actor_id))
        tasks[poll_id] = task
        task.add_done_callback(lambda _t: tasks.pop(poll_id, None))
    return await asyncio.shield(task)


async def _close(services: Services, poll_id: int, actor_id: UserId | None) -> tuple[Poll, bool]:
    store = polls_store(services)
    clock = services.clock
    replacing: int | None = None
    for _ in range(5):
        sent = clock.monotonic()
        at = clock.now_ms() + CLOSE_DELAY_MS
        poll = await store.schedule_close(poll_id, at=at, replacing=replacing)
        if poll.state is PollState.CLOSED or poll.draft.closes_at != at:
            break  # closed already, or closing sooner anyway
        # A copy of the poll read before this write is trusted until at most
        # POLL_CACHE_SECONDS after the write; the closing time must come later than that (with
        # half a second to spare for clocks). A write that took so long that this is not
        # certain moves the time again.
        if clock.monotonic() - sent <= WRITE_MARGIN_SECONDS:
            break
        replacing = at
    await _changed(services, poll_id)
    if poll.state is PollState.CLOSED:
        return poll, False
    await _schedule_close_timer(services, poll)
    closes_at = poll.draft.closes_at
    assert closes_at is not None
    try:
        await announce(services, poll_id)  # screens learn of the change (a higher version)
    except Exception:
        log.warning("tally of poll %d not announced before its close", poll_id, exc_info=True)
    await asyncio.sleep(max(0, closes_at - clock.now_ms()) / 1000)
    closed, changed = await close_due(services, poll_id, closes_at)
    if changed:
        await _audit(services, "poll_close", actor_id, closed)
    return closed, changed


async def close_due(services: Services, poll_id: int, closes_at: int) -> tuple[Poll, bool]:
    """Carry out a scheduled close at its time (idempotent: the second call changes nothing),
    and tell the gateways and the screens when this call closed it."""
    closed, changed = await polls_store(services).close_poll(poll_id, now=closes_at)
    await _changed(services, poll_id)
    if changed:
        await announce(services, poll_id)
    return closed, changed


async def on_close_timer(services: Services, job: TimerJob) -> None:
    """The ``polls.close`` timer: close the poll at its ``closes_at`` (a poll closed already,
    or closing later after a reschedule, is left alone: its own timer comes then)."""
    poll_id = job.payload.get("poll_id")
    if type(poll_id) is not int:
        log.error("polls.close timer without a poll id: %r", job.payload)
        return
    poll = await polls_store(services).get_poll(poll_id)
    if poll is None or poll.state is not PollState.OPEN or poll.draft.closes_at is None:
        return
    if poll.draft.closes_at > services.clock.now_ms():
        await _schedule_close_timer(services, poll)
        return
    closed, changed = await close_due(services, poll_id, poll.draft.closes_at)
    if changed:
        await _audit(services, "poll_close_scheduled", None, closed)

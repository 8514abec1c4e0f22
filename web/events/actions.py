"""Every change of an event and its sign-ups: store write + live counts + notifications + audit,
with no HTTP in sight (the API, the CLI and an admin console make the same change the same way).

Callers have authorised the actor (``web/events/api.py``): the event is in the actor's audience,
or the actor runs events. The rules that need no lock (the sign-up window, the seats, the
answers, the cancellation deadline) are checked here; the ones that do (capacity, one sign-up
per holder, idempotency, a cancelled event) are the store's, in its transaction.

Who is told what: the reply tells a resident their own outcome; a promoted person is told at once
after the commit (live, through the counts' version, and through a notification), and again by
the ``events.promoted`` backstop job committed with the promotion, under the same notification
key, so a process dying between the commit and the notice loses nothing and doubles nothing.
"""

from __future__ import annotations

import logging
import secrets
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import msgpack

from gateway.events.events import in_audience, publish_counts
from linli.feature import Services
from linli.richtext import plain
from linli.types import Millis, UserId
from persistence.audit import NewEntry
from persistence.db import UniqueViolation
from persistence.events import (
    Change,
    Counts,
    Event,
    EventDraft,
    EventState,
    EventStore,
    Signup,
    SignupResult,
    SignupState,
    holder_of,
)
from persistence.events import Session as EventSession
from persistence.events.sql import SqlEventStore
from persistence.notifications import Kind
from persistence.store import User
from persistence.timers import TimerJob
from web.events.search import index_event
from web.notifications.actions import notify

log = logging.getLogger(__name__)

FEATURE = "events"
CODE_CHARS = 6
#: Letters a person reads aloud and types without confusion (no 0/O, 1/I).
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
MAX_ANSWER_CHARS = 200


class SignupRefused(Exception):
    """A sign-up (or cancel) the event's rules refuse; ``reason`` names which (the API's code)."""

    def __init__(self, reason: str, message: str, **extra: object) -> None:
        super().__init__(message)
        self.reason, self.message, self.extra = reason, message, extra


def events_store(services: Services) -> EventStore:
    return SqlEventStore(services.database)


@dataclass(frozen=True, slots=True)
class TrainingSession:
    """One upcoming session of a training event, as the onboarding pages list it: its counts
    and the reader's own live sign-up (if any)."""

    event: Event
    session: EventSession
    counts: Counts
    mine: Signup | None


async def upcoming_training(
    services: Services, user: User, *, limit: int = 3
) -> list[TrainingSession]:
    """The next ``limit`` sessions (soonest first) of open training events in ``user``'s
    audience that have not started yet. Sign-up is the events' own (``sign_up``)."""
    store = events_store(services)
    now = services.clock.now_ms()
    mine = {s.session_id: s for s in await store.signups_of_user(user.id) if s.state.live}
    found: list[TrainingSession] = []
    for event in await store.list_events(after=now):
        if not event.draft.training or event.state is not EventState.OPEN:
            continue
        visible = await in_audience(
            event.draft.audience,
            user_id=user.id,
            role=user.role,
            building_id=user.building_id,
            is_member=services.store.is_member,
        )
        if not visible:
            continue
        for session in event.sessions:
            if session.starts_at <= now:
                continue
            counts = await store.counts(session.id)
            if counts is not None:
                found.append(TrainingSession(event, session, counts, mine.get(session.id)))
    found.sort(key=lambda t: (t.session.starts_at, t.session.id))
    return found[:limit]


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_CHARS))


async def _audit(
    services: Services, action: str, actor_id: UserId | None, event: Event, **detail: object
) -> None:
    await services.audit.append(
        NewEntry(
            feature=FEATURE,
            action=action,
            actor_id=actor_id,
            reason="",
            at=services.clock.now_ms(),
            channel=event.draft.room,
            subject=f"event:{event.id}",
            detail={"title": event.draft.title, **detail},
        )
    )


# Per process, per event: whether a publication of its counts is running, and whether another
# change came since it started counting. A rush of sign-ups then costs one count-and-publish at a
# time, each counting every change before it, instead of one per sign-up; the last always
# follows the last change.
_announcing: weakref.WeakKeyDictionary[object, dict[int, bool]] = weakref.WeakKeyDictionary()


async def announce(services: Services, event_id: int) -> None:
    """Publish the event's live counts (best effort: a page also reads them over HTTP)."""
    running = _announcing.setdefault(services, {})
    if event_id in running:
        running[event_id] = True  # the running publisher counts again after its current one
        return
    running[event_id] = False
    try:
        while True:
            try:
                await publish_counts(services.broker, events_store(services), event_id)
            except Exception:
                log.warning("counts of event %d not published", event_id, exc_info=True)
            if not running.get(event_id):
                return
            running[event_id] = False
    finally:
        running.pop(event_id, None)


async def create_event(services: Services, draft: EventDraft, *, actor_id: UserId) -> Event:
    event = await events_store(services).create_event(
        draft, created_by=actor_id, now=services.clock.now_ms()
    )
    await _audit(services, "event_create", actor_id, event)
    await index_event(services, event)
    if draft.room is not None:
        await _post_card(services, event, actor_id)
    audience = draft.audience
    await notify(
        services,
        key=f"event:{event.id}:new",
        kind=Kind.EVENT,
        text_zh=f"新活動：{draft.title}",
        text_en=f"New event: {draft.title}",
        link=f"/events/{event.id}",
        actor_id=actor_id,
        buildings=list(audience.buildings),
        groups=[audience.group] if audience.group else [],
        everyone=audience.everyone,
    )
    return event


async def _post_card(services: Services, event: Event, actor_id: UserId) -> None:
    """The event's card in its chat room: a chat message by the organiser whose text says what
    it is (any client shows that) and whose ``card`` the pages draw live (``lib/cards.js``).
    Published once however often this runs (the idempotency key)."""
    actor = await services.store.get_user(actor_id)
    name = actor.display_name if actor is not None else ""
    cmid = f"event-{event.id}"
    data = {
        "kind": "chat",
        "text": f"📅 {event.draft.title}（{event.draft.place}）/events/{event.id}",
        "author": {"id": actor_id, "name": name},
        "ts": services.clock.now_ms(),
        "cmid": cmid,
        "card": {"kind": "event", "id": event.id},
    }
    assert event.draft.room is not None
    try:
        await services.broker.publish(
            event.draft.room, msgpack.packb(data), idempotency_key=f"{actor_id}:{cmid}"
        )
    except Exception:
        log.warning("card of event %d not posted to %s", event.id, event.draft.room, exc_info=True)


def _check_answers(event: Event, answers: Sequence[str]) -> list[str]:
    questions = event.draft.questions
    if len(answers) != len(questions):
        raise SignupRefused(
            "bad_request", f"Answer each of the {len(questions)} questions.", field="answers"
        )
    cleaned = []
    for question, answer in zip(questions, answers, strict=True):
        answer = " ".join(answer.split())
        if question.choices is not None and answer not in question.choices:
            raise SignupRefused(
                "bad_request", f"Choose one of: {', '.join(question.choices)}.", field="answers"
            )
        if len(answer) > MAX_ANSWER_CHARS:
            raise SignupRefused(
                "bad_request",
                f"An answer is at most {MAX_ANSWER_CHARS} characters.",
                field="answers",
            )
        cleaned.append(answer)
    return cleaned


async def sign_up(
    services: Services,
    event: Event,
    session_id: int,
    user: User,
    *,
    seats: int,
    answers: Sequence[str],
    request_key: str,
) -> SignupResult:
    """Take a place or join the waitlist. Raises SignupRefused, or the store's errors
    (SessionNotFound, EventCancelled, AlreadySignedUp)."""
    now = services.clock.now_ms()
    draft = event.draft
    holder = holder_of(draft.counting, user.id, user.unit_id)
    if holder is None:
        raise SignupRefused("needs_household", "Places are per household; you have none.")
    store = events_store(services)
    if not draft.signup_opens <= now < draft.signup_closes:
        # A retry of a request served already is answered as it was, whatever the clock says
        # now (inside the window the store's transaction finds it).
        existing = await store.signup_by_request(user.id, request_key)
        if existing is not None:
            return SignupResult(existing, replayed=True)
        if now < draft.signup_opens:
            raise SignupRefused(
                "signup_not_open", "Sign-up has not opened yet.", opens=draft.signup_opens
            )
        raise SignupRefused("signup_closed", "Sign-up has closed.")
    if not 1 <= seats <= draft.max_seats:
        raise SignupRefused(
            "too_many_seats",
            f"One sign-up takes 1 to {draft.max_seats} seats.",
            max=draft.max_seats,
        )
    cleaned = _check_answers(event, answers)
    for _ in range(5):  # a clash of random check-in codes is rare; draw again
        try:
            result = await store.sign_up(
                session_id,
                user_id=user.id,
                holder=holder,
                seats=seats,
                answers=cleaned,
                request_key=request_key,
                code=new_code(),
                now=now,
            )
        except UniqueViolation:
            continue
        if not result.replayed:
            await announce(services, event.id)
        return result
    raise SignupRefused("unavailable", "Could not draw a check-in code; try again.")


async def cancel_signup(
    services: Services, event: Event, signup: Signup, *, actor_id: UserId, removed: bool = False
) -> Change:
    """The resident's cancel (before the deadline), or an organiser's removal (any time)."""
    now = services.clock.now_ms()
    deadline = event.draft.cancel_until
    if deadline is None:
        deadline = event.starts_at
    if not removed and signup.state.holds_place and now >= deadline:
        raise SignupRefused("cancel_closed", "It is too late to cancel; ask the organiser.")
    change = await events_store(services).cancel(signup.id, now=now, removed=removed)
    if removed and change.signup is not None and change.signup.state is SignupState.REMOVED:
        await _audit(services, "signup_remove", actor_id, event, signup_id=signup.id)
    await after_change(services, event, change)
    return change


async def confirm_offer(services: Services, event: Event, signup: Signup) -> Signup:
    confirmed = await events_store(services).confirm(signup.id, now=services.clock.now_ms())
    await announce(services, event.id)
    return confirmed


async def set_capacity(
    services: Services, event: Event, session_id: int, capacity: int, *, actor_id: UserId
) -> Change:
    change = await events_store(services).set_capacity(
        session_id, capacity, now=services.clock.now_ms()
    )
    await _audit(
        services, "capacity_set", actor_id, event, session_id=session_id, capacity=capacity
    )
    await after_change(services, event, change)
    return change


async def after_change(services: Services, event: Event, change: Change) -> None:
    """Tell whom a freed place promoted, and every page the new counts."""
    for signup in change.promoted:
        await tell_promoted(services, event, signup)
    await announce(services, event.id)


async def tell_promoted(services: Services, event: Event, signup: Signup) -> None:
    title = event.draft.title
    if signup.state is SignupState.OFFERED:
        hours = event.draft.confirm_hours
        text_zh = f"候補遞補：「{title}」有名額了，請在 {hours} 小時內確認"
        text_en = f"A place for “{title}” is yours if you confirm within {hours} hours"
    else:
        text_zh = f"候補成功：你已獲得「{title}」的名額"
        text_en = f"You are off the waitlist: you have a place at “{title}”"
    await notify(
        services,
        key=f"event-signup:{signup.id}:promoted",
        kind=Kind.EVENT,
        text_zh=text_zh,
        text_en=text_en,
        link=f"/events/{event.id}",
        user_ids=[signup.user_id],
        urgent=signup.state is SignupState.OFFERED,
    )


async def cancel_event(services: Services, event: Event, *, actor_id: UserId) -> Event:
    cancelled, ended = await events_store(services).cancel_event(
        event.id, now=services.clock.now_ms()
    )
    if ended or cancelled.state != event.state:
        await _audit(services, "event_cancel", actor_id, cancelled, signups=len(ended))
        await notify(
            services,
            key=f"event:{event.id}:cancelled",
            kind=Kind.EVENT,
            text_zh=f"活動取消：{event.draft.title}",
            text_en=f"Event cancelled: {event.draft.title}",
            link=f"/events/{event.id}",
            user_ids=sorted({s.user_id for s in ended}),
            urgent=True,
        )
    await announce(services, event.id)
    await index_event(services, cancelled)
    return cancelled


async def check_in(services: Services, event: Event, code: str, *, by: UserId) -> Signup:
    """Raises the store's SignupNotFound, NotConfirmed, AlreadyCheckedIn."""
    signup = await events_store(services).check_in(
        event.id, code.upper().replace(" ", ""), by=by, now=services.clock.now_ms()
    )
    await announce(services, event.id)
    return signup


@dataclass(frozen=True, slots=True)
class Message:
    text: str
    recipients: int


async def message_signed_up(
    services: Services, event: Event, text: str, *, actor_id: UserId
) -> Message:
    """A message to everyone holding a place or waiting, in their inbox (and phone)."""
    signups = await events_store(services).list_signups(event.id)
    users = sorted({s.signup.user_id for s in signups if s.signup.state.live})
    now: Millis = services.clock.now_ms()
    short = plain(text, 150)
    if users:
        await notify(
            services,
            key=f"event:{event.id}:message:{now}",
            kind=Kind.EVENT,
            text_zh=f"「{event.draft.title}」：{short}",
            text_en=f"“{event.draft.title}”: {short}",
            link=f"/events/{event.id}",
            user_ids=users,
            actor_id=actor_id,
        )
    await _audit(services, "event_message", actor_id, event, text=text, recipients=len(users))
    return Message(text, len(users))


# -- timers ---------------------------------------------------------------------------------


def _int(job: TimerJob, name: str) -> int | None:
    value = job.payload.get(name)
    if type(value) is not int:
        log.error("%s timer without %s: %r", job.kind, name, job.payload)
        return None
    return value


async def on_confirm_timeout(services: Services, job: TimerJob) -> None:
    """``events.confirm_timeout``: an offer not confirmed in time passes the place on."""
    signup_id = _int(job, "signup_id")
    if signup_id is None:
        return
    store = events_store(services)
    change = await store.expire_offer(signup_id, now=services.clock.now_ms())
    if change.signup is None or change.signup.state is not SignupState.EXPIRED:
        return  # confirmed, cancelled, or not yet due (a moved job comes again)
    event = await store.get_event(change.signup.event_id)
    assert event is not None
    await notify(
        services,
        key=f"event-signup:{signup_id}:expired",
        kind=Kind.EVENT,
        text_zh=f"「{event.draft.title}」的名額未在時限內確認，已轉給下一位",
        text_en=f"The place at “{event.draft.title}” was not confirmed in time and passed on",
        link=f"/events/{event.id}",
        user_ids=[change.signup.user_id],
    )
    await after_change(services, event, change)


async def on_promoted(services: Services, job: TimerJob) -> None:
    """``events.promoted``: the backstop of ``tell_promoted`` (same key: never told twice)."""
    signup_id = _int(job, "signup_id")
    if signup_id is None:
        return
    store = events_store(services)
    signup = await store.get_signup(signup_id)
    if signup is None or not signup.state.holds_place:
        return
    event = await store.get_event(signup.event_id)
    assert event is not None
    await tell_promoted(services, event, signup)


async def on_reminder(services: Services, job: TimerJob) -> None:
    """``events.reminder``: everyone holding a place in the session hears of it beforehand."""
    session_id = _int(job, "session_id")
    if session_id is None:
        return
    store = events_store(services)
    found = await services.database.fetchval(
        "SELECT event_id FROM event_sessions WHERE id = $1", session_id
    )
    event = None if found is None else await store.get_event(int(found))
    if event is None or event.state != "open":
        return
    session = event.session(session_id)
    assert session is not None
    users = sorted(
        {
            s.signup.user_id
            for s in await store.list_signups(event.id)
            if s.signup.session_id == session_id and s.signup.state.holds_place
        }
    )
    if not users:
        return
    await notify(
        services,
        key=f"event-session:{session_id}:reminder",
        kind=Kind.EVENT,
        text_zh=f"提醒：「{event.draft.title}」即將開始（{event.draft.place}）",
        text_en=f"Reminder: “{event.draft.title}” is coming up ({event.draft.place})",
        link=f"/events/{event.id}",
        user_ids=users,
    )


async def on_ended(services: Services, job: TimerJob) -> None:
    """``events.ended``: whoever held a confirmed place and never checked in is a no-show."""
    event_id = _int(job, "event_id")
    if event_id is None:
        return
    marked = await events_store(services).mark_no_shows(event_id)
    if marked:
        await announce(services, event_id)

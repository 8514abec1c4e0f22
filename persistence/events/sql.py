"""``EventStore`` in SQL for SQLite and PostgreSQL alike (see ``persistence/events`` for the
guarantees).

Every place-changing method is one transaction that starts by locking the session's row: on
PostgreSQL ``SELECT … FOR UPDATE`` (the one dialect difference, ``_lock``), on SQLite the
transaction's ``BEGIN IMMEDIATE``, which already makes it the only writer. Under READ COMMITTED
every later statement of the transaction sees every sign-up committed before the lock was
granted, so the counts it reads are exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Final

import orjson

from linli.types import Millis, UserId
from persistence.db import Database, Executor, Row
from persistence.events import (
    CONFIRM_TIMEOUT_KIND,
    ENDED_KIND,
    PROMOTED_KIND,
    REMINDER_KIND,
    AlreadyCheckedIn,
    AlreadySignedUp,
    Audience,
    CapacityTooLow,
    Change,
    Counting,
    Counts,
    Event,
    EventCancelled,
    EventDraft,
    EventNotFound,
    EventState,
    NamedSignup,
    NotConfirmed,
    NotOffered,
    Question,
    Session,
    SessionDraft,
    SessionNotFound,
    Signup,
    SignupNotFound,
    SignupResult,
    SignupState,
)
from persistence.timers.sql import cancel_in, schedule_in

HOUR_MS: Final = 3_600_000
#: The promoted-person notice's backstop job runs this long after the promotion: the action
#: tells them at once after the commit; the job (same key, so never twice) covers a process that
#: died between the commit and that notice.
PROMOTED_BACKSTOP_MS: Final = 5_000

_EVENT_COLUMNS: Final = (
    "id, title, body, body_html, place, starts_at, ends_at, audience, room, counting, "
    "max_seats, questions, cost_note, signup_opens, signup_closes, cancel_until, "
    "confirm_hours, remind_hours, state, created_by, created_at, cancelled_at, training"
)
_SESSION_COLUMNS: Final = "id, event_id, label, starts_at, ends_at, capacity, version"
_SIGNUP_COLUMNS: Final = (
    "id, session_id, event_id, user_id, holder, seats, answers, state, request_key, code, "
    "created_at, offered_until, confirmed_at, ended_at, checked_in_at, checked_in_by, attendance"
)
_LIVE_STATES: Final = "('confirmed', 'offered', 'waitlisted')"
# One statement, one snapshot: the version always matches the counts beside it.
_COUNTS: Final = """
    SELECT s.version, s.capacity,
        COALESCE(SUM(CASE WHEN g.state IN ('confirmed', 'offered') THEN g.seats END), 0) AS taken,
        COALESCE(SUM(CASE WHEN g.state = 'confirmed' THEN 1 END), 0) AS confirmed,
        COALESCE(SUM(CASE WHEN g.state = 'offered' THEN 1 END), 0) AS offered,
        COALESCE(SUM(CASE WHEN g.state = 'waitlisted' THEN 1 END), 0) AS waitlisted,
        COALESCE(SUM(CASE WHEN g.state = 'waitlisted' THEN g.seats END), 0) AS waitlisted_seats,
        COALESCE(SUM(CASE WHEN g.checked_in_at IS NOT NULL THEN 1 END), 0) AS checked_in
    FROM event_sessions s LEFT JOIN event_signups g ON g.session_id = s.id
    WHERE s.id = $1
    GROUP BY s.id, s.version, s.capacity
"""


def confirm_timer_key(signup_id: int) -> str:
    return f"{CONFIRM_TIMEOUT_KIND}:{signup_id}"


def promoted_timer_key(signup_id: int) -> str:
    return f"{PROMOTED_KIND}:{signup_id}"


def reminder_timer_key(session_id: int) -> str:
    return f"{REMINDER_KIND}:{session_id}"


def ended_timer_key(event_id: int) -> str:
    return f"{ENDED_KIND}:{event_id}"


def _questions_text(questions: Sequence[Question]) -> str:
    return orjson.dumps(
        [
            {"text": q.text, "choices": None if q.choices is None else list(q.choices)}
            for q in questions
        ]
    ).decode()


def _questions(text: str) -> tuple[Question, ...]:
    return tuple(
        Question(q["text"], None if q["choices"] is None else tuple(q["choices"]))
        for q in orjson.loads(text)
    )


def _session(row: Row) -> Session:
    return Session(
        id=row["id"],
        event_id=row["event_id"],
        label=row["label"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        capacity=row["capacity"],
        version=row["version"],
    )


def _event(row: Row, sessions: Sequence[Session]) -> Event:
    draft = EventDraft(
        title=row["title"],
        body=row["body"],
        body_html=row["body_html"],
        place=row["place"],
        audience=Audience.parse(row["audience"]),
        counting=Counting(row["counting"]),
        max_seats=row["max_seats"],
        signup_opens=row["signup_opens"],
        signup_closes=row["signup_closes"],
        sessions=tuple(SessionDraft(s.label, s.starts_at, s.ends_at, s.capacity) for s in sessions),
        questions=_questions(row["questions"]),
        cost_note=row["cost_note"],
        cancel_until=row["cancel_until"],
        confirm_hours=row["confirm_hours"],
        remind_hours=row["remind_hours"],
        room=row["room"],
        training=bool(row["training"]),
    )
    return Event(
        id=row["id"],
        draft=draft,
        state=EventState(row["state"]),
        created_by=row["created_by"],
        created_at=row["created_at"],
        cancelled_at=row["cancelled_at"],
        sessions=tuple(sessions),
    )


def _signup(row: Row, position: int | None = None) -> Signup:
    return Signup(
        id=row["id"],
        session_id=row["session_id"],
        event_id=row["event_id"],
        user_id=row["user_id"],
        holder=row["holder"],
        seats=row["seats"],
        answers=tuple(orjson.loads(row["answers"])),
        state=SignupState(row["state"]),
        request_key=row["request_key"],
        code=row["code"],
        created_at=row["created_at"],
        offered_until=row["offered_until"],
        confirmed_at=row["confirmed_at"],
        ended_at=row["ended_at"],
        checked_in_at=row["checked_in_at"],
        checked_in_by=row["checked_in_by"],
        attendance=row["attendance"],
        position=position,
    )


class SqlEventStore:
    """Implements ``persistence.events.EventStore`` over the shared database."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = f"SELECT {_SESSION_COLUMNS} FROM event_sessions WHERE id = $1" + (
            " FOR UPDATE" if db.dialect == "postgres" else ""
        )

    # -- events -------------------------------------------------------------------------------

    async def create_event(self, draft: EventDraft, *, created_by: UserId, now: Millis) -> Event:
        starts = min(s.starts_at for s in draft.sessions)
        ends = max(s.ends_at for s in draft.sessions)
        async with self._db.transaction() as tx:
            row = await tx.fetchrow(
                "INSERT INTO events (title, body, body_html, place, starts_at, ends_at, audience, "
                "room, counting, max_seats, questions, cost_note, signup_opens, signup_closes, "
                "cancel_until, confirm_hours, remind_hours, state, created_by, created_at, "
                "training) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, "
                f"$15, $16, $17, $18, $19, $20, $21) RETURNING {_EVENT_COLUMNS}",
                draft.title,
                draft.body,
                draft.body_html,
                draft.place,
                starts,
                ends,
                draft.audience.text(),
                draft.room,
                str(draft.counting),
                draft.max_seats,
                _questions_text(draft.questions),
                draft.cost_note,
                draft.signup_opens,
                draft.signup_closes,
                draft.cancel_until,
                draft.confirm_hours,
                draft.remind_hours,
                str(EventState.OPEN),
                created_by,
                now,
                1 if draft.training else 0,
            )
            assert row is not None
            event_id = row["id"]
            sessions = []
            for s in draft.sessions:
                srow = await tx.fetchrow(
                    "INSERT INTO event_sessions (event_id, label, starts_at, ends_at, capacity) "
                    f"VALUES ($1, $2, $3, $4, $5) RETURNING {_SESSION_COLUMNS}",
                    event_id,
                    s.label,
                    s.starts_at,
                    s.ends_at,
                    s.capacity,
                )
                assert srow is not None
                session = _session(srow)
                sessions.append(session)
                if draft.remind_hours is not None:
                    due = session.starts_at - draft.remind_hours * HOUR_MS
                    if due > now:
                        await schedule_in(
                            tx,
                            reminder_timer_key(session.id),
                            REMINDER_KIND,
                            due,
                            {"session_id": session.id},
                            now=now,
                        )
            await schedule_in(
                tx, ended_timer_key(event_id), ENDED_KIND, ends, {"event_id": event_id}, now=now
            )
            return _event(row, sessions)

    async def _sessions(self, tx: Executor, event_ids: Sequence[int]) -> dict[int, list[Session]]:
        found: dict[int, list[Session]] = {i: [] for i in event_ids}
        for event_id in event_ids:
            rows = await tx.fetch(
                f"SELECT {_SESSION_COLUMNS} FROM event_sessions WHERE event_id = $1 "
                "ORDER BY starts_at, id",
                event_id,
            )
            found[event_id] = [_session(r) for r in rows]
        return found

    async def _get_event(self, tx: Executor, event_id: int) -> Event | None:
        row = await tx.fetchrow(f"SELECT {_EVENT_COLUMNS} FROM events WHERE id = $1", event_id)
        if row is None:
            return None
        return _event(row, (await self._sessions(tx, [event_id]))[event_id])

    async def get_event(self, event_id: int) -> Event | None:
        return await self._get_event(self._db, event_id)

    async def list_events(self, *, after: Millis | None = None) -> list[Event]:
        rows = await self._db.fetch(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE ends_at >= $1 ORDER BY starts_at, id",
            after if after is not None else -(2**62),
        )
        sessions = await self._sessions(self._db, [r["id"] for r in rows])
        return [_event(r, sessions[r["id"]]) for r in rows]

    async def cancel_event(self, event_id: int, *, now: Millis) -> tuple[Event, list[Signup]]:
        async with self._db.transaction() as tx:
            event = await self._get_event(tx, event_id)
            if event is None:
                raise EventNotFound(f"event {event_id}")
            ended: list[Signup] = []
            for session in event.sessions:
                await tx.fetchrow(self._lock, session.id)
            if event.state is EventState.OPEN:
                await tx.execute(
                    "UPDATE events SET state = $2, cancelled_at = $3 WHERE id = $1",
                    event_id,
                    str(EventState.CANCELLED),
                    now,
                )
                rows = await tx.fetch(
                    f"UPDATE event_signups SET state = 'cancelled', ended_at = $2 "
                    f"WHERE event_id = $1 AND state IN {_LIVE_STATES} RETURNING {_SIGNUP_COLUMNS}",
                    event_id,
                    now,
                )
                ended = sorted((_signup(r) for r in rows), key=lambda s: s.id)
                for signup in ended:
                    await cancel_in(tx, confirm_timer_key(signup.id))
                for session in event.sessions:
                    await cancel_in(tx, reminder_timer_key(session.id))
                    await self._bump(tx, session.id)
                await cancel_in(tx, ended_timer_key(event_id))
            updated = await self._get_event(tx, event_id)
            assert updated is not None
            return updated, ended

    # -- places -------------------------------------------------------------------------------

    async def _bump(self, tx: Executor, session_id: int) -> None:
        await tx.execute(
            "UPDATE event_sessions SET version = version + 1 WHERE id = $1", session_id
        )

    async def _position(self, tx: Executor, signup: Signup) -> Signup:
        if signup.state is not SignupState.WAITLISTED:
            return signup
        position = await tx.fetchval(
            "SELECT count(*) FROM event_signups WHERE session_id = $1 AND state = 'waitlisted' "
            "AND id <= $2",
            signup.session_id,
            signup.id,
        )
        return _signup_with(signup, int(position))

    async def _fetch_signup(self, tx: Executor, signup_id: int) -> Signup | None:
        row = await tx.fetchrow(
            f"SELECT {_SIGNUP_COLUMNS} FROM event_signups WHERE id = $1", signup_id
        )
        return None if row is None else await self._position(tx, _signup(row))

    async def _taken(self, tx: Executor, session_id: int) -> int:
        taken = await tx.fetchval(
            "SELECT COALESCE(SUM(seats), 0) FROM event_signups WHERE session_id = $1 "
            "AND state IN ('confirmed', 'offered')",
            session_id,
        )
        return int(taken)

    async def _event_row(self, tx: Executor, event_id: int) -> Row:
        row = await tx.fetchrow("SELECT state, confirm_hours FROM events WHERE id = $1", event_id)
        assert row is not None
        return row

    async def sign_up(
        self,
        session_id: int,
        *,
        user_id: UserId,
        holder: str,
        seats: int,
        answers: Sequence[str],
        request_key: str,
        code: str,
        now: Millis,
    ) -> SignupResult:
        # Six round trips, the lock first: every one is paid by every sign-up of a rush in turn.
        async with self._db.transaction() as tx:
            # The version bump is the lock: an UPDATE takes the row lock on PostgreSQL (on SQLite
            # BEGIN IMMEDIATE has made this the only writer). A replay or a refusal bumps it for
            # nothing, which costs a page one needless reload at most.
            locked = await tx.fetchrow(
                "UPDATE event_sessions SET version = version + 1 WHERE id = $1 "
                f"RETURNING {_SESSION_COLUMNS}",
                session_id,
            )
            if locked is None:
                raise SessionNotFound(f"session {session_id}")
            session = _session(locked)
            rows = await tx.fetch(
                f"SELECT {_SIGNUP_COLUMNS} FROM event_signups "
                "WHERE (user_id = $1 AND request_key = $2) "
                f"OR (session_id = $3 AND holder = $4 AND state IN {_LIVE_STATES})",
                user_id,
                request_key,
                session_id,
                holder,
            )
            found = [_signup(r) for r in rows]
            for signup in found:
                if signup.user_id == user_id and signup.request_key == request_key:
                    return SignupResult(await self._position(tx, signup), replayed=True)
            figures = await tx.fetchrow(
                "SELECT (SELECT state FROM events WHERE id = $2) AS event_state, "
                "COALESCE(SUM(CASE WHEN state IN ('confirmed', 'offered') THEN seats END), 0) "
                "AS taken, COALESCE(SUM(CASE WHEN state = 'waitlisted' THEN 1 END), 0) AS waiting "
                "FROM event_signups WHERE session_id = $1",
                session_id,
                session.event_id,
            )
            assert figures is not None
            if figures["event_state"] != EventState.OPEN:
                raise EventCancelled(f"event {session.event_id}")
            if found:
                raise AlreadySignedUp(await self._position(tx, found[0]))
            waiting = int(figures["waiting"])
            fits = int(figures["taken"]) + seats <= session.capacity
            state = SignupState.CONFIRMED if fits and waiting == 0 else SignupState.WAITLISTED
            row = await tx.fetchrow(
                "INSERT INTO event_signups (session_id, event_id, user_id, holder, seats, answers, "
                "state, request_key, code, created_at, confirmed_at) VALUES ($1, $2, $3, $4, $5, "
                f"$6, $7, $8, $9, $10, $11) RETURNING {_SIGNUP_COLUMNS}",
                session_id,
                session.event_id,
                user_id,
                holder,
                seats,
                orjson.dumps(list(answers)).decode(),
                str(state),
                request_key,
                code,
                now,
                now if state is SignupState.CONFIRMED else None,
            )
            assert row is not None
            # Under the lock, the waiting rows counted above are exactly those ahead of this one.
            position = waiting + 1 if state is SignupState.WAITLISTED else None
            return SignupResult(_signup(row, position), replayed=False)

    async def _promote(self, tx: Executor, session: Session, *, now: Millis) -> list[Signup]:
        """Let in the waiting sign-ups, earliest first, while the next one fits."""
        event = await self._event_row(tx, session.event_id)
        if event["state"] != EventState.OPEN:
            return []
        confirm_hours: int | None = event["confirm_hours"]
        free = session.capacity - await self._taken(tx, session.id)
        promoted: list[Signup] = []
        rows = await tx.fetch(
            f"SELECT {_SIGNUP_COLUMNS} FROM event_signups WHERE session_id = $1 "
            "AND state = 'waitlisted' ORDER BY id",
            session.id,
        )
        for row in rows:
            head = _signup(row)
            if head.seats > free:
                break  # strict order: nobody jumps a sign-up that does not fit yet
            free -= head.seats
            if confirm_hours is None:
                updated = await tx.fetchrow(
                    "UPDATE event_signups SET state = 'confirmed', confirmed_at = $2 "
                    f"WHERE id = $1 RETURNING {_SIGNUP_COLUMNS}",
                    head.id,
                    now,
                )
            else:
                until = now + confirm_hours * HOUR_MS
                updated = await tx.fetchrow(
                    "UPDATE event_signups SET state = 'offered', offered_until = $2 "
                    f"WHERE id = $1 RETURNING {_SIGNUP_COLUMNS}",
                    head.id,
                    until,
                )
                await schedule_in(
                    tx,
                    confirm_timer_key(head.id),
                    CONFIRM_TIMEOUT_KIND,
                    until,
                    {"signup_id": head.id},
                    now=now,
                )
            await schedule_in(
                tx,
                promoted_timer_key(head.id),
                PROMOTED_KIND,
                now + PROMOTED_BACKSTOP_MS,
                {"signup_id": head.id},
                now=now,
            )
            assert updated is not None
            promoted.append(_signup(updated))
        return promoted

    async def _locked_signup(self, tx: Executor, signup_id: int) -> tuple[Signup, Session]:
        """The sign-up, read again after its session's lock is taken."""
        session_id = await tx.fetchval(
            "SELECT session_id FROM event_signups WHERE id = $1", signup_id
        )
        if session_id is None:
            raise SignupNotFound(f"sign-up {signup_id}")
        locked = await tx.fetchrow(self._lock, session_id)
        assert locked is not None
        signup = await self._fetch_signup(tx, signup_id)
        assert signup is not None
        return signup, _session(locked)

    async def cancel(self, signup_id: int, *, now: Millis, removed: bool = False) -> Change:
        async with self._db.transaction() as tx:
            signup, session = await self._locked_signup(tx, signup_id)
            if not signup.state.live:
                return Change(signup, (), session)
            row = await tx.fetchrow(
                f"UPDATE event_signups SET state = $2, ended_at = $3 WHERE id = $1 "
                f"RETURNING {_SIGNUP_COLUMNS}",
                signup_id,
                str(SignupState.REMOVED if removed else SignupState.CANCELLED),
                now,
            )
            assert row is not None
            await cancel_in(tx, confirm_timer_key(signup_id))
            promoted = await self._promote(tx, session, now=now)
            await self._bump(tx, session.id)
            return Change(_signup(row), tuple(promoted), session)

    async def confirm(self, signup_id: int, *, now: Millis) -> Signup:
        async with self._db.transaction() as tx:
            signup, session = await self._locked_signup(tx, signup_id)
            if signup.state is not SignupState.OFFERED:
                raise NotOffered(signup.state)
            row = await tx.fetchrow(
                "UPDATE event_signups SET state = 'confirmed', confirmed_at = $2 WHERE id = $1 "
                f"RETURNING {_SIGNUP_COLUMNS}",
                signup_id,
                now,
            )
            assert row is not None
            await cancel_in(tx, confirm_timer_key(signup_id))
            await self._bump(tx, session.id)
            return _signup(row)

    async def expire_offer(self, signup_id: int, *, now: Millis) -> Change:
        async with self._db.transaction() as tx:
            try:
                signup, session = await self._locked_signup(tx, signup_id)
            except SignupNotFound:
                return Change(None)
            if (
                signup.state is not SignupState.OFFERED
                or signup.offered_until is None
                or signup.offered_until > now
            ):
                return Change(signup, (), session)
            row = await tx.fetchrow(
                "UPDATE event_signups SET state = 'expired', ended_at = $2 WHERE id = $1 "
                f"RETURNING {_SIGNUP_COLUMNS}",
                signup_id,
                now,
            )
            assert row is not None
            promoted = await self._promote(tx, session, now=now)
            await self._bump(tx, session.id)
            return Change(_signup(row), tuple(promoted), session)

    async def set_capacity(self, session_id: int, capacity: int, *, now: Millis) -> Change:
        async with self._db.transaction() as tx:
            locked = await tx.fetchrow(self._lock, session_id)
            if locked is None:
                raise SessionNotFound(f"session {session_id}")
            taken = await self._taken(tx, session_id)
            if capacity < taken:
                raise CapacityTooLow(taken)
            row = await tx.fetchrow(
                "UPDATE event_sessions SET capacity = $2, version = version + 1 WHERE id = $1 "
                f"RETURNING {_SESSION_COLUMNS}",
                session_id,
                capacity,
            )
            assert row is not None
            session = _session(row)
            promoted = await self._promote(tx, session, now=now)
            return Change(None, tuple(promoted), session)

    # -- reading ------------------------------------------------------------------------------

    async def get_signup(self, signup_id: int) -> Signup | None:
        return await self._fetch_signup(self._db, signup_id)

    async def signup_by_request(self, user_id: UserId, request_key: str) -> Signup | None:
        row = await self._db.fetchrow(
            f"SELECT {_SIGNUP_COLUMNS} FROM event_signups WHERE user_id = $1 AND request_key = $2",
            user_id,
            request_key,
        )
        return None if row is None else await self._position(self._db, _signup(row))

    async def signups_of_user(self, user_id: UserId) -> list[Signup]:
        rows = await self._db.fetch(
            f"SELECT {_SIGNUP_COLUMNS} FROM event_signups WHERE user_id = $1 ORDER BY id DESC",
            user_id,
        )
        return [await self._position(self._db, _signup(r)) for r in rows]

    async def live_signup(self, session_id: int, holder: str) -> Signup | None:
        row = await self._db.fetchrow(
            f"SELECT {_SIGNUP_COLUMNS} FROM event_signups WHERE session_id = $1 AND holder = $2 "
            f"AND state IN {_LIVE_STATES}",
            session_id,
            holder,
        )
        return None if row is None else await self._position(self._db, _signup(row))

    async def list_signups(self, event_id: int) -> list[NamedSignup]:
        rows = await self._db.fetch(
            "SELECT g.id, g.session_id, g.event_id, g.user_id, g.holder, g.seats, g.answers, "
            "g.state, g.request_key, g.code, g.created_at, g.offered_until, g.confirmed_at, "
            "g.ended_at, g.checked_in_at, g.checked_in_by, g.attendance, u.display_name, "
            "n.label AS unit_label, c.display_name AS checker "
            "FROM event_signups g JOIN users u ON u.id = g.user_id "
            "LEFT JOIN units n ON n.id = u.unit_id LEFT JOIN users c ON c.id = g.checked_in_by "
            "WHERE g.event_id = $1 ORDER BY g.id",
            event_id,
        )
        found: list[NamedSignup] = []
        waiting: dict[int, int] = {}
        for r in rows:
            signup = _signup(r)
            if signup.state is SignupState.WAITLISTED:
                waiting[signup.session_id] = waiting.get(signup.session_id, 0) + 1
                signup = _signup_with(signup, waiting[signup.session_id])
            found.append(NamedSignup(signup, r["display_name"], r["unit_label"], r["checker"]))
        return found

    async def counts(self, session_id: int) -> Counts | None:
        row = await self._db.fetchrow(_COUNTS, session_id)
        if row is None:
            return None
        return Counts(
            session_id=session_id,
            version=row["version"],
            capacity=row["capacity"],
            taken=int(row["taken"]),
            confirmed=int(row["confirmed"]),
            offered=int(row["offered"]),
            waitlisted=int(row["waitlisted"]),
            waitlisted_seats=int(row["waitlisted_seats"]),
            checked_in=int(row["checked_in"]),
        )

    # -- the door -----------------------------------------------------------------------------

    async def check_in(self, event_id: int, code: str, *, by: UserId, now: Millis) -> Signup:
        async with self._db.transaction() as tx:
            row = await tx.fetchrow(
                "UPDATE event_signups SET checked_in_at = $3, checked_in_by = $4, "
                "attendance = 'present' WHERE event_id = $1 AND code = $2 "
                f"AND state = 'confirmed' AND checked_in_at IS NULL RETURNING {_SIGNUP_COLUMNS}",
                event_id,
                code,
                now,
                by,
            )
            if row is not None:
                signup = _signup(row)
                await self._bump(tx, signup.session_id)
                return signup
            row = await tx.fetchrow(
                f"SELECT {_SIGNUP_COLUMNS} FROM event_signups WHERE event_id = $1 AND code = $2",
                event_id,
                code,
            )
            if row is None:
                raise SignupNotFound(f"code {code}")
            signup = _signup(row)
            if signup.checked_in_at is not None:
                name = await tx.fetchval(
                    "SELECT display_name FROM users WHERE id = $1", signup.checked_in_by
                )
                raise AlreadyCheckedIn(signup, name)
            raise NotConfirmed(signup.state)

    async def mark_no_shows(self, event_id: int) -> int:
        return await self._db.execute(
            "UPDATE event_signups SET attendance = 'no_show' WHERE event_id = $1 "
            "AND state = 'confirmed' AND checked_in_at IS NULL AND attendance IS NULL",
            event_id,
        )

    # -- calendar feeds -----------------------------------------------------------------------

    async def feed_token(self, user_id: UserId, *, new_token: str, now: Millis) -> str:
        await self._db.execute(
            "INSERT INTO event_feed_tokens (user_id, token, created_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (user_id) DO NOTHING",
            user_id,
            new_token,
            now,
        )
        token = await self._db.fetchval(
            "SELECT token FROM event_feed_tokens WHERE user_id = $1", user_id
        )
        return str(token)

    async def replace_feed_token(self, user_id: UserId, *, new_token: str, now: Millis) -> str:
        await self._db.execute(
            "INSERT INTO event_feed_tokens (user_id, token, created_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (user_id) DO UPDATE SET token = excluded.token, "
            "created_at = excluded.created_at",
            user_id,
            new_token,
            now,
        )
        return new_token

    async def user_of_feed_token(self, token: str) -> UserId | None:
        found = await self._db.fetchval(
            "SELECT user_id FROM event_feed_tokens WHERE token = $1", token
        )
        return None if found is None else int(found)


def _signup_with(signup: Signup, position: int) -> Signup:
    return replace(signup, position=position)

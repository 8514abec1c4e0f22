"""The events HTTP API: organisers create and cancel events, change a session's capacity, see
the sign-ups, waitlist, answers and attendance, export them, message everyone signed up and
check people in at the door; residents read the events of their audience, sign up (or join the
waitlist), confirm an offered place, cancel, and fetch their QR code; calendars read an event's
``.ics`` and a personal feed behind a secret, revocable token.

Every handler is parse → authorise → action → serialise; the errors are ``ApiError`` with the
codes of ``web.http.HttpCode`` (``docs/protocol.md`` lists them).
"""

from __future__ import annotations

import csv
import io
import re
import secrets
from datetime import datetime
from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channels.access import Action
from channels.access import may as channel_may
from channels.names import ChannelKind, InvalidChannel, parse_channel
from gateway.events.events import counts_json, in_audience
from linli.live import zone_of
from linli.richtext import MAX_SOURCE_CHARS, render
from linli.roles import Can, may, roles_that
from persistence.events import (
    AlreadyCheckedIn,
    AlreadySignedUp,
    Audience,
    CapacityTooLow,
    Counting,
    Event,
    EventCancelled,
    EventDraft,
    EventState,
    NotConfirmed,
    NotOffered,
    Question,
    SessionDraft,
    SessionNotFound,
    Signup,
    SignupNotFound,
    SignupState,
)
from persistence.store import User
from web.api import ApiError, require_user, runtime_of
from web.events import actions
from web.events.actions import SignupRefused, events_store
from web.events.calendar import event_ics, feed_ics
from web.http import Empty, decode_body, line, services_of, set_field
from web.sessions import principal_of

RUNNERS = roles_that(Can.RUN_EVENTS)
_REQUEST_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_SESSIONS = 20
MAX_QUESTIONS = 10


class AudienceBody(msgspec.Struct, frozen=True):
    everyone: bool = False
    buildings: list[Annotated[int, msgspec.Meta(gt=0)]] = []
    group: str | None = None


class SessionBody(msgspec.Struct, frozen=True):
    label: str
    starts_at: Annotated[int, msgspec.Meta(gt=0)]
    ends_at: Annotated[int, msgspec.Meta(gt=0)]
    capacity: Annotated[int, msgspec.Meta(ge=0, le=100_000)]

    def __post_init__(self) -> None:
        set_field(self, "label", line(self.label, "label", min_len=0, max_len=100))
        if self.ends_at < self.starts_at:
            raise ApiError(400, "bad_request", "A session ends after it starts.", field="ends_at")


class QuestionBody(msgspec.Struct, frozen=True):
    text: str
    choices: list[str] | None = None

    def __post_init__(self) -> None:
        set_field(self, "text", line(self.text, "question", max_len=200))
        if self.choices is not None:
            if not 2 <= len(self.choices) <= 10:
                raise ApiError(400, "bad_request", "A choice question has 2 to 10 choices.")
            set_field(self, "choices", [line(c, "choice", max_len=100) for c in self.choices])


class EventBody(msgspec.Struct, frozen=True):
    title: str
    place: str
    audience: AudienceBody
    sessions: list[SessionBody]
    signup_opens: Annotated[int, msgspec.Meta(gt=0)]
    signup_closes: Annotated[int, msgspec.Meta(gt=0)]
    body: str = ""
    counting: Counting = Counting.PERSON
    max_seats: Annotated[int, msgspec.Meta(ge=1, le=20)] = 1
    questions: list[QuestionBody] = []
    cost_note: str = ""
    cancel_until: Annotated[int, msgspec.Meta(gt=0)] | None = None
    confirm_hours: Annotated[int, msgspec.Meta(ge=1, le=168)] | None = None
    remind_hours: Annotated[int, msgspec.Meta(ge=1, le=336)] | None = 24
    room: str | None = None
    #: A training session (教學說明會): listed on the onboarding pages with its sign-up.
    training: bool = False

    def __post_init__(self) -> None:
        set_field(self, "title", line(self.title, "title", max_len=120))
        set_field(self, "place", line(self.place, "place", max_len=200))
        set_field(self, "cost_note", line(self.cost_note, "cost_note", min_len=0, max_len=200))
        if len(self.body) > MAX_SOURCE_CHARS:
            raise ApiError(400, "bad_request", "The description is too long.", field="body")
        if not 1 <= len(self.sessions) <= MAX_SESSIONS:
            raise ApiError(
                400, "bad_request", f"An event has 1 to {MAX_SESSIONS} sessions.", field="sessions"
            )
        if len(self.questions) > MAX_QUESTIONS:
            raise ApiError(
                400, "bad_request", f"At most {MAX_QUESTIONS} questions.", field="questions"
            )
        if self.signup_closes <= self.signup_opens:
            raise ApiError(
                400, "bad_request", "Sign-up closes after it opens.", field="signup_closes"
            )

    def draft(self) -> EventDraft:
        a = self.audience
        if a.group is not None:
            audience = Audience(group=a.group)
        elif a.buildings:
            audience = Audience(buildings=tuple(sorted(set(a.buildings))))
        else:
            audience = Audience(everyone=True)
        return EventDraft(
            title=self.title,
            body=self.body,
            body_html=render(self.body),
            place=self.place,
            audience=audience,
            counting=self.counting,
            max_seats=self.max_seats,
            signup_opens=self.signup_opens,
            signup_closes=self.signup_closes,
            sessions=tuple(
                SessionDraft(s.label, s.starts_at, s.ends_at, s.capacity) for s in self.sessions
            ),
            questions=tuple(
                Question(q.text, None if q.choices is None else tuple(q.choices))
                for q in self.questions
            ),
            cost_note=self.cost_note,
            cancel_until=self.cancel_until,
            confirm_hours=self.confirm_hours,
            remind_hours=self.remind_hours,
            room=self.room,
            training=self.training,
        )


class SignupBody(msgspec.Struct, frozen=True):
    request_key: str
    seats: int = 1
    answers: list[str] = []

    def __post_init__(self) -> None:
        if not _REQUEST_KEY_RE.match(self.request_key):
            raise ApiError(
                400,
                "bad_request",
                "'request_key' must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'.",
                field="request_key",
            )


class CapacityBody(msgspec.Struct, frozen=True):
    capacity: Annotated[int, msgspec.Meta(ge=0, le=100_000)]


class CodeBody(msgspec.Struct, frozen=True):
    code: str

    def __post_init__(self) -> None:
        set_field(self, "code", line(self.code, "code", max_len=40).upper().replace(" ", ""))


class MessageBody(msgspec.Struct, frozen=True):
    text: str

    def __post_init__(self) -> None:
        set_field(self, "text", line(self.text, "text", max_len=1000))


# -- serialising ----------------------------------------------------------------------------


def signup_json(signup: Signup) -> dict[str, Any]:
    return {
        "id": signup.id,
        "session_id": signup.session_id,
        "event_id": signup.event_id,
        "state": str(signup.state),
        "seats": signup.seats,
        "answers": list(signup.answers),
        "position": signup.position,
        "code": signup.code if signup.state is SignupState.CONFIRMED else None,
        "offered_until": signup.offered_until,
        "created_at": signup.created_at,
        "checked_in_at": signup.checked_in_at,
        "attendance": signup.attendance,
    }


def event_json(event: Event) -> dict[str, Any]:
    d = event.draft
    return {
        "id": event.id,
        "title": d.title,
        "body": d.body,
        "body_html": d.body_html,
        "place": d.place,
        "starts_at": event.starts_at,
        "ends_at": event.ends_at,
        "audience": d.audience.text(),
        "counting": str(d.counting),
        "max_seats": d.max_seats,
        "questions": [
            {"text": q.text, "choices": None if q.choices is None else list(q.choices)}
            for q in d.questions
        ],
        "cost_note": d.cost_note,
        "signup_opens": d.signup_opens,
        "signup_closes": d.signup_closes,
        "cancel_until": d.cancel_until,
        "confirm_hours": d.confirm_hours,
        "remind_hours": d.remind_hours,
        "room": d.room,
        "training": d.training,
        "state": str(event.state),
        "sessions": [
            {
                "id": s.id,
                "label": s.label,
                "starts_at": s.starts_at,
                "ends_at": s.ends_at,
                "capacity": s.capacity,
            }
            for s in event.sessions
        ],
    }


# -- authorising ----------------------------------------------------------------------------


async def _visible(request: Request, user: User, event: Event) -> bool:
    return await in_audience(
        event.draft.audience,
        user_id=user.id,
        role=user.role,
        building_id=user.building_id,
        is_member=runtime_of(request).store.is_member,
    )


async def _event_for(request: Request, *, run: bool = False) -> tuple[Event, User]:
    """The event of the path, for a user in its audience (and who runs events when asked)."""
    user = await require_user(request, *(RUNNERS if run else ()))
    event = await events_store(services_of(request)).get_event(request.path_params["event_id"])
    if event is None:
        raise ApiError(404, "event_not_found", "No such event.")
    if not await _visible(request, user, event):
        raise ApiError(
            403, "event_not_in_audience", "This event is for other residents (buildings or group)."
        )
    return event, user


async def _own_signup(request: Request) -> tuple[Signup, Event, User]:
    user = await require_user(request)
    store = events_store(services_of(request))
    signup = await store.get_signup(request.path_params["signup_id"])
    if signup is None or signup.user_id != user.id:
        raise ApiError(404, "signup_not_found", "No such sign-up.")
    event = await store.get_event(signup.event_id)
    assert event is not None
    return signup, event, user


def _refused(exc: SignupRefused) -> ApiError:
    """The action's refusal as the API's error (each code a literal: the codes' table test)."""
    m, x = exc.message, exc.extra
    match exc.reason:
        case "signup_not_open":
            return ApiError(409, "signup_not_open", m, **x)
        case "signup_closed":
            return ApiError(409, "signup_closed", m, **x)
        case "too_many_seats":
            return ApiError(400, "too_many_seats", m, **x)
        case "needs_household":
            return ApiError(409, "needs_household", m, **x)
        case "cancel_closed":
            return ApiError(409, "cancel_closed", m, **x)
        case "unavailable":
            return ApiError(503, "unavailable", m, **x)
    return ApiError(400, "bad_request", m, **x)


# -- handlers -------------------------------------------------------------------------------


async def create_event(request: Request) -> Response:
    user = await require_user(request, *RUNNERS)
    draft = (await decode_body(request, EventBody)).draft()
    if draft.room is not None:
        await _check_room(request, user, draft.room)
    event = await actions.create_event(services_of(request), draft, actor_id=user.id)
    return JSONResponse({"event": event_json(event)}, status_code=201)


async def _check_room(request: Request, user: User, room: str) -> None:
    """The card's room is a building's or a group's that the organiser may write in."""
    try:
        channel = parse_channel(room)
    except InvalidChannel as exc:
        raise ApiError(400, "bad_request", str(exc), field="room") from None
    if channel.kind not in (ChannelKind.BUILDING, ChannelKind.GROUP):
        raise ApiError(400, "bad_request", "The card goes to a building's or a group's room.")
    store = runtime_of(request).store
    if not await channel_may(principal_of(user), channel, Action.WRITE, store.is_member):
        raise ApiError(403, "forbidden", "You may not post in this room.", field="room")


async def list_events(request: Request) -> Response:
    user = await require_user(request)
    store = events_store(services_of(request))
    mine = {s.event_id: s for s in await store.signups_of_user(user.id) if s.state.live}
    found = []
    for event in await store.list_events():
        if not await _visible(request, user, event):
            continue
        counts = [await store.counts(s.id) for s in event.sessions]
        found.append(
            {
                **event_json(event),
                "counts": [counts_json(c) for c in counts if c is not None],
                "mine": signup_json(mine[event.id]) if event.id in mine else None,
            }
        )
    return JSONResponse({"events": found, "runs_events": may(user.role, Can.RUN_EVENTS)})


async def get_event(request: Request) -> Response:
    event, user = await _event_for(request)
    store = events_store(services_of(request))
    counts = [await store.counts(s.id) for s in event.sessions]
    mine = [s for s in await store.signups_of_user(user.id) if s.event_id == event.id]
    return JSONResponse(
        {
            "event": event_json(event),
            "counts": [counts_json(c) for c in counts if c is not None],
            "mine": [signup_json(s) for s in mine if s.state.live],
            "runs_events": may(user.role, Can.RUN_EVENTS),
        }
    )


async def sign_up(request: Request) -> Response:
    event, user = await _event_for(request)
    body = await decode_body(request, SignupBody)
    session_id = request.path_params["session_id"]
    if event.session(session_id) is None:
        raise ApiError(404, "event_not_found", "No such session.")
    try:
        result = await actions.sign_up(
            services_of(request),
            event,
            session_id,
            user,
            seats=body.seats,
            answers=body.answers,
            request_key=body.request_key,
        )
    except SignupRefused as exc:
        raise _refused(exc) from None
    except SessionNotFound:
        raise ApiError(404, "event_not_found", "No such session.") from None
    except EventCancelled:
        raise ApiError(409, "event_cancelled", "This event was cancelled.") from None
    except AlreadySignedUp as exc:
        raise ApiError(
            409,
            "already_signed_up",
            "You (or your household) have signed up for this session already.",
            signup_id=exc.existing.id,
            by=exc.existing.user_id,
        ) from None
    status = 200 if result.replayed else 201
    return JSONResponse(
        {"signup": signup_json(result.signup), "replayed": result.replayed}, status_code=status
    )


async def cancel_signup(request: Request) -> Response:
    signup, event, user = await _own_signup(request)
    await decode_body(request, Empty)
    try:
        change = await actions.cancel_signup(services_of(request), event, signup, actor_id=user.id)
    except SignupRefused as exc:
        raise _refused(exc) from None
    assert change.signup is not None
    return JSONResponse({"signup": signup_json(change.signup)})


async def confirm_signup(request: Request) -> Response:
    signup, event, _ = await _own_signup(request)
    await decode_body(request, Empty)
    try:
        confirmed = await actions.confirm_offer(services_of(request), event, signup)
    except NotOffered:
        raise ApiError(409, "not_offered", "There is no offered place to confirm.") from None
    return JSONResponse({"signup": signup_json(confirmed)})


async def signup_qr(request: Request) -> Response:
    """The check-in code as a QR code (black on white, the standard quiet zone)."""
    import segno

    signup, _, _ = await _own_signup(request)
    if signup.state is not SignupState.CONFIRMED:
        raise ApiError(409, "not_confirmed", "Only a confirmed place has a check-in code.")
    out = io.BytesIO()
    segno.make(signup.code, error="m").save(
        out, kind="svg", scale=10, border=4, dark="#000", light="#fff"
    )
    return Response(
        out.getvalue(), media_type="image/svg+xml", headers={"Cache-Control": "no-store"}
    )


async def cancel_event(request: Request) -> Response:
    event, user = await _event_for(request, run=True)
    await decode_body(request, Empty)
    cancelled = await actions.cancel_event(services_of(request), event, actor_id=user.id)
    return JSONResponse({"event": event_json(cancelled)})


async def set_capacity(request: Request) -> Response:
    event, user = await _event_for(request, run=True)
    body = await decode_body(request, CapacityBody)
    session_id = request.path_params["session_id"]
    if event.session(session_id) is None:
        raise ApiError(404, "event_not_found", "No such session.")
    if event.state is EventState.CANCELLED:
        raise ApiError(409, "event_cancelled", "This event was cancelled.")
    try:
        change = await actions.set_capacity(
            services_of(request), event, session_id, body.capacity, actor_id=user.id
        )
    except CapacityTooLow as exc:
        raise ApiError(
            409, "capacity_too_low", f"{exc.taken} seats are taken already.", taken=exc.taken
        ) from None
    return JSONResponse({"promoted": [signup_json(s) for s in change.promoted]})


async def remove_signup(request: Request) -> Response:
    event, user = await _event_for(request, run=True)
    await decode_body(request, Empty)
    signup = await events_store(services_of(request)).get_signup(request.path_params["signup_id"])
    if signup is None or signup.event_id != event.id:
        raise ApiError(404, "signup_not_found", "No such sign-up.")
    change = await actions.cancel_signup(
        services_of(request), event, signup, actor_id=user.id, removed=True
    )
    assert change.signup is not None
    return JSONResponse(
        {
            "signup": signup_json(change.signup),
            "promoted": [signup_json(s) for s in change.promoted],
        }
    )


async def list_signups(request: Request) -> Response:
    """The organiser's view: every sign-up with names, answers, state and attendance."""
    event, _ = await _event_for(request, run=True)
    store = events_store(services_of(request))
    rows = await store.list_signups(event.id)
    counts = [await store.counts(s.id) for s in event.sessions]
    return JSONResponse(
        {
            "event": event_json(event),
            "counts": [counts_json(c) for c in counts if c is not None],
            "signups": [
                {
                    **signup_json(r.signup),
                    "code": r.signup.code,
                    "name": r.display_name,
                    "unit": r.unit_label,
                    "checked_in_by": r.checked_in_by_name,
                }
                for r in rows
            ],
        }
    )


def _cell(value: object) -> object:
    """A spreadsheet must not run a resident's answer as a formula (=, +, -, @ at the start)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


async def export_csv(request: Request) -> Response:
    event, _ = await _event_for(request, run=True)
    rows = await events_store(services_of(request)).list_signups(event.id)
    sessions = {s.id: s.label for s in event.sessions}
    zone = zone_of(services_of(request))

    def when(ms: int | None) -> str:
        # Local date-time with the offset, as the audit and poll exports write it.
        return (
            ""
            if ms is None
            else datetime.fromtimestamp(ms / 1000, zone).isoformat(timespec="seconds")
        )

    out = io.StringIO()
    writer = csv.writer(out)
    questions = [q.text for q in event.draft.questions]
    writer.writerow(
        ["session", "name", "unit", "seats", "state", "position", "signed_up_at", "attendance",
         "checked_in_at", "checked_in_by", *questions]
    )  # fmt: skip
    for r in rows:
        s = r.signup
        writer.writerow(
            [_cell(v) for v in
             [sessions.get(s.session_id, ""), r.display_name, r.unit_label or "", s.seats,
              str(s.state), s.position or "", when(s.created_at), s.attendance or "",
              when(s.checked_in_at), r.checked_in_by_name or "", *s.answers]]
        )  # fmt: skip
    return Response(
        # A byte-order mark so spreadsheet programs read the Chinese text as UTF-8.
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="event-{event.id}.csv"'},
    )


async def check_in(request: Request) -> Response:
    event, user = await _event_for(request, run=True)
    body = await decode_body(request, CodeBody)
    try:
        signup = await actions.check_in(services_of(request), event, body.code, by=user.id)
    except SignupNotFound:
        raise ApiError(404, "signup_not_found", "No sign-up of this event has that code.") from None
    except NotConfirmed as exc:
        raise ApiError(
            409, "not_confirmed", f"This sign-up holds no confirmed place ({exc.state})."
        ) from None
    except AlreadyCheckedIn as exc:
        raise ApiError(
            409,
            "already_checked_in",
            f"Checked in already by {exc.by_name or '?'}.",
            by=exc.by_name,
            at=exc.signup.checked_in_at,
        ) from None
    name = await runtime_of(request).store.get_user(signup.user_id)
    return JSONResponse(
        {"signup": signup_json(signup), "name": None if name is None else name.display_name}
    )


async def message_all(request: Request) -> Response:
    event, user = await _event_for(request, run=True)
    body = await decode_body(request, MessageBody)
    sent = await actions.message_signed_up(services_of(request), event, body.text, actor_id=user.id)
    return JSONResponse({"recipients": sent.recipients})


# -- calendars ------------------------------------------------------------------------------


async def ics_file(request: Request) -> Response:
    event, _ = await _event_for(request)
    return _calendar(event_ics(event, zone_of(services_of(request))))


def _calendar(body: bytes) -> Response:
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "no-store"},
    )


def _feed_url(request: Request, token: str) -> str:
    return f"{str(request.base_url).rstrip('/')}/calendar/{token}.ics"


async def my_feed(request: Request) -> Response:
    user = await require_user(request)
    services = services_of(request)
    token = await events_store(services).feed_token(
        user.id, new_token=secrets.token_urlsafe(24), now=services.clock.now_ms()
    )
    return JSONResponse({"url": _feed_url(request, token)})


async def revoke_feed(request: Request) -> Response:
    user = await require_user(request)
    await decode_body(request, Empty)
    services = services_of(request)
    token = await events_store(services).replace_feed_token(
        user.id, new_token=secrets.token_urlsafe(24), now=services.clock.now_ms()
    )
    return JSONResponse({"url": _feed_url(request, token)})


async def feed(request: Request) -> Response:
    """A personal calendar (no login: the token is the key): the events the owner holds a place
    in or waits for."""
    services = services_of(request)
    store = events_store(services)
    token = request.path_params["token"]
    user_id = await store.user_of_feed_token(token)
    if user_id is None:
        raise ApiError(404, "not_found", "No such calendar.")
    live = {s.event_id: s for s in await store.signups_of_user(user_id) if s.state.live}
    events = [e for e in [await store.get_event(i) for i in sorted(live)] if e is not None]
    return _calendar(feed_ics(events, live, zone_of(services)))


ROUTES = [
    Route("/api/events", create_event, methods=["POST"]),
    Route("/api/events", list_events, methods=["GET"]),
    Route("/api/events/feed", my_feed, methods=["GET"]),
    Route("/api/events/feed/revoke", revoke_feed, methods=["POST"]),
    Route("/api/events/{event_id:int}", get_event, methods=["GET"]),
    Route("/api/events/{event_id:int}/cancel", cancel_event, methods=["POST"]),
    Route("/api/events/{event_id:int}/signups", list_signups, methods=["GET"]),
    Route("/api/events/{event_id:int}/export.csv", export_csv, methods=["GET"]),
    Route("/api/events/{event_id:int}/checkin", check_in, methods=["POST"]),
    Route("/api/events/{event_id:int}/message", message_all, methods=["POST"]),
    Route(
        "/api/events/{event_id:int}/sessions/{session_id:int}/signups", sign_up, methods=["POST"]
    ),
    Route(
        "/api/events/{event_id:int}/sessions/{session_id:int}/capacity",
        set_capacity,
        methods=["POST"],
    ),
    Route(
        "/api/events/{event_id:int}/signups/{signup_id:int}/remove",
        remove_signup,
        methods=["POST"],
    ),
    Route("/api/signups/{signup_id:int}/cancel", cancel_signup, methods=["POST"]),
    Route("/api/signups/{signup_id:int}/confirm", confirm_signup, methods=["POST"]),
    Route("/api/signups/{signup_id:int}/qr.svg", signup_qr, methods=["GET"]),
    Route("/events/{event_id:int}.ics", ics_file, methods=["GET"]),
    Route("/calendar/{token}.ics", feed, methods=["GET"]),
]

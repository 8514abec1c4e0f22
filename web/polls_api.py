"""The polls HTTP API: organisers write drafts, open and close polls, read named voter lists and
export results; residents read polls and their own vote (they vote over the WebSocket, ``vote``
op, ``gateway/polls.py``); a projector reads one poll by its unguessable token, without a login,
and follows its tally as server-sent events.

Errors are ``ApiError`` like the rest of the HTTP API (``docs/protocol.md`` lists the codes).
"""

from __future__ import annotations

import asyncio
import csv
import io
import secrets
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from channels.access import Action, may
from channels.names import ChannelKind, InvalidChannel, parse_channel, poll_channel
from channels.poll_events import publish_tally, tally_body
from gateway.connection import ConnState
from gateway.gateway import Gateway
from gateway.polls import may_vote_in, poll_ops, projector_principal
from gateway.wire import Format
from persistence.db import UniqueViolation
from persistence.polls import (
    MAX_OPTIONS,
    MIN_OPTIONS,
    Counting,
    Poll,
    PollDraft,
    PollNotFound,
    PollState,
    PollStateError,
    ResultsShown,
    voter_key,
)
from persistence.store import Role, User
from web.api import (
    INVITE_ALPHABET,
    ApiError,
    _now_ms,
    json_body,
    require_user,
    runtime_of,
    text_field,
)
from web.sessions import principal_of

JOIN_CODE_CHARS = 6
#: How often the projector feed proves it is alive to proxies and to the gateway's heartbeat.
PROJECTOR_KEEPALIVE_SECONDS = 10.0
_MANAGERS = (Role.ORGANISER, Role.ADMIN)


def poll_json(poll: Poll, *, manager: bool) -> dict[str, Any]:
    d = poll.draft
    body: dict[str, Any] = {
        "id": poll.id,
        "channel": d.channel,
        "question": d.question,
        "options": list(d.options),
        "multiple": d.multiple,
        "anonymous": d.anonymous,
        "allow_change": d.allow_change,
        "counting": str(d.counting),
        "results": str(d.results),
        "closes_at": d.closes_at,
        "state": str(poll.state),
        "version": poll.version,
        "join_code": poll.join_code,
        "opened_at": poll.opened_at,
        "closed_at": poll.closed_at,
    }
    if manager:
        body["projector_token"] = poll.projector_token
    return body


def _flag(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise ApiError(400, "bad_request", f"'{name}' must be true or false.", field=name)
    return value


def parse_draft(body: dict[str, Any]) -> PollDraft:
    try:
        channel = parse_channel(body.get("channel"))
    except InvalidChannel as exc:
        raise ApiError(400, "bad_request", str(exc), field="channel") from None
    if channel.kind not in (ChannelKind.BUILDING, ChannelKind.GROUP):
        raise ApiError(400, "bad_request", "A poll belongs to a building or a group.")
    question = text_field(body, "question", max_len=300)
    options = body.get("options")
    if not isinstance(options, list) or not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        raise ApiError(
            400,
            "bad_request",
            f"'options' must be a list of {MIN_OPTIONS} to {MAX_OPTIONS} texts.",
            field="options",
        )
    texts = tuple(text_field({"option": o}, "option", max_len=100) for o in options)
    try:
        counting = Counting(body.get("counting", "resident"))
        results = ResultsShown(body.get("results", "live"))
    except ValueError:
        raise ApiError(
            400,
            "bad_request",
            "'counting' is resident or unit; 'results' is live or after_close.",
        ) from None
    closes_at = body.get("closes_at")
    if closes_at is not None and (type(closes_at) is not int or closes_at <= 0):
        raise ApiError(400, "bad_request", "'closes_at' must be milliseconds since 1970.")
    return PollDraft(
        channel=channel.name,
        question=question,
        options=texts,
        multiple=_flag(body, "multiple", False),
        anonymous=_flag(body, "anonymous", True),
        allow_change=_flag(body, "allow_change", True),
        counting=counting,
        results=results,
        closes_at=closes_at,
    )


async def _may_read(request: Request, user: User, channel: str) -> bool:
    store = runtime_of(request).store
    return await may(principal_of(user), parse_channel(channel), Action.READ, store.is_member)


async def _poll_for(request: Request, *, manage: bool = False) -> tuple[Poll, User]:
    """The poll of the path, for a user who may read its channel (and manage it when asked)."""
    user = await require_user(request, *(_MANAGERS if manage else ()))
    poll = await runtime_of(request).store.get_poll(request.path_params["poll_id"])
    if poll is None or not await may_vote_in(runtime_of(request).store, principal_of(user), poll):
        raise ApiError(404, "poll_not_found", "No such poll.")
    return poll, user


async def _announce(request: Request, poll_id: int) -> None:
    """Publish the poll's tally now (a change of state): screens learn of it at once."""
    runtime = runtime_of(request)
    await publish_tally(runtime.broker, runtime.store, poll_id)


async def create_poll(request: Request) -> Response:
    user = await require_user(request, *_MANAGERS)
    draft = parse_draft(await json_body(request))
    if not await _may_read(request, user, draft.channel):
        raise ApiError(403, "forbidden", "You may not run polls in this channel.")
    store = runtime_of(request).store
    for _ in range(5):  # a clash of random join codes is rare; draw again
        try:
            poll = await store.create_poll(
                draft,
                created_by=user.id,
                join_code="".join(secrets.choice(INVITE_ALPHABET) for _ in range(JOIN_CODE_CHARS)),
                projector_token=secrets.token_urlsafe(24),
                now=_now_ms(),
            )
            return JSONResponse({"poll": poll_json(poll, manager=True)}, status_code=201)
        except UniqueViolation:
            continue
    raise ApiError(503, "unavailable", "Could not draw a join code; try again.")


async def list_polls(request: Request) -> Response:
    user = await require_user(request)
    channel = request.query_params.get("channel", "")
    try:
        parse_channel(channel)
    except InvalidChannel as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    if not await _may_read(request, user, channel):
        raise ApiError(403, "forbidden", "You may not read this channel.")
    manager = user.role in _MANAGERS
    polls = await runtime_of(request).store.list_polls(channel)
    visible = [p for p in polls if manager or p.state is not PollState.DRAFT]
    return JSONResponse({"polls": [poll_json(p, manager=manager) for p in visible]})


async def get_poll(request: Request) -> Response:
    poll, user = await _poll_for(request)
    manager = user.role in _MANAGERS
    if poll.state is PollState.DRAFT and not manager:
        raise ApiError(404, "poll_not_found", "No such poll.")
    store = runtime_of(request).store
    tally = await store.poll_tally(poll.id)
    assert tally is not None
    key = voter_key(poll.draft.counting, user.id, user.unit_id)
    vote = await store.get_vote(poll.id, key) if key is not None else None
    my_vote = (
        None if vote is None else {"choices": list(vote.choices), "by_me": vote.user_id == user.id}
    )
    return JSONResponse(
        {
            "poll": poll_json(poll, manager=manager),
            "tally": tally_body(poll, tally),
            "my_vote": my_vote,
            "may_vote": key is not None,
        }
    )


async def edit_poll(request: Request) -> Response:
    poll, _ = await _poll_for(request, manage=True)
    draft = parse_draft(await json_body(request))
    try:
        updated = await runtime_of(request).store.update_poll(poll.id, draft)
    except PollStateError:
        raise ApiError(409, "poll_not_draft", "An opened poll cannot be changed.") from None
    return JSONResponse({"poll": poll_json(updated, manager=True)})


async def open_poll(request: Request) -> Response:
    poll, _ = await _poll_for(request, manage=True)
    await json_body(request)  # the same CSRF checks as every state-changing request
    try:
        opened = await runtime_of(request).store.open_poll(poll.id, now=_now_ms())
    except (PollStateError, PollNotFound):
        raise ApiError(409, "poll_not_draft", "Only a draft can be opened.") from None
    await _announce(request, poll.id)
    return JSONResponse({"poll": poll_json(opened, manager=True)})


async def close_poll(request: Request) -> Response:
    poll, _ = await _poll_for(request, manage=True)
    await json_body(request)
    try:
        # A scheduled close a moment ahead, carried out then (gateway/poll_cache.py: so that
        # no gateway's copy of the poll can take a vote that would be cast after the close).
        closed, changed = await poll_ops(request.app.state.gateway).close(poll.id)
    except (PollStateError, PollNotFound):
        raise ApiError(409, "poll_not_open", "Only an open poll can be closed.") from None
    if changed:
        await _announce(request, poll.id)
    return JSONResponse({"poll": poll_json(closed, manager=True)})


async def _closed_for_manager(request: Request) -> Poll:
    poll, _ = await _poll_for(request, manage=True)
    if poll.state is not PollState.CLOSED:
        raise ApiError(409, "poll_not_closed", "Results are available after the poll closes.")
    return poll


async def poll_votes(request: Request) -> Response:
    """Named polls only: who voted for what (organisers, after the close)."""
    poll = await _closed_for_manager(request)
    if poll.draft.anonymous:
        raise ApiError(403, "poll_anonymous", "This poll is anonymous: votes have no names.")
    votes = await runtime_of(request).store.list_votes(poll.id)
    return JSONResponse(
        {
            "votes": [
                {
                    "user_id": v.user_id,
                    "name": v.display_name,
                    "unit": v.unit_label,
                    "choices": list(v.choices),
                    "cast_at": v.cast_at,
                }
                for v in votes
            ]
        }
    )


async def export_csv(request: Request) -> Response:
    """One row per option (index, text, votes, share of voters); a named poll adds one row per
    vote after a blank line."""
    poll = await _closed_for_manager(request)
    store = runtime_of(request).store
    tally = await store.poll_tally(poll.id)
    assert tally is not None
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["option", "text", "votes", "percent_of_voters"])
    for index, (text, count) in enumerate(zip(poll.draft.options, tally.counts, strict=True)):
        share = f"{100 * count / tally.voters:.1f}" if tally.voters else "0.0"
        writer.writerow([index, text, count, share])
    writer.writerow(["voters", "", tally.voters, ""])
    if not poll.draft.anonymous:
        writer.writerow([])
        writer.writerow(["name", "unit", "choices", "cast_at"])
        for vote in await store.list_votes(poll.id):
            choices = ";".join(poll.draft.options[c] for c in vote.choices)
            writer.writerow([vote.display_name, vote.unit_label or "", choices, vote.cast_at])
    return Response(
        # A byte-order mark so spreadsheet programs read the Chinese text as UTF-8.
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="poll-{poll.id}.csv"'},
    )


async def join_code(request: Request) -> Response:
    user = await require_user(request)
    code = request.path_params["code"].upper().replace(" ", "")
    poll = await runtime_of(request).store.get_poll_by_join_code(code)
    if poll is None or not await may_vote_in(runtime_of(request).store, principal_of(user), poll):
        raise ApiError(404, "poll_not_found", "No such poll.")
    return JSONResponse({"poll_id": poll.id})


# -- projector (no login: the token is the key) ---------------------------------------------


async def _projector_poll(request: Request) -> Poll:
    poll = await runtime_of(request).store.get_poll_by_projector_token(request.path_params["token"])
    if poll is None:
        raise ApiError(404, "poll_not_found", "No such poll.")
    return poll


def projector_json(poll: Poll, tally: dict[str, Any]) -> dict[str, Any]:
    return {
        "poll": {
            "id": poll.id,
            "question": poll.draft.question,
            "options": list(poll.draft.options),
            "join_code": poll.join_code,
            "results": str(poll.draft.results),
            "closes_at": poll.draft.closes_at,
        },
        "tally": tally,
    }


async def projector_snapshot(request: Request) -> Response:
    poll = await _projector_poll(request)
    tally = await runtime_of(request).store.poll_tally(poll.id)
    assert tally is not None
    return JSONResponse(projector_json(poll, tally_body(poll, tally)))


async def projector_qr(request: Request) -> Response:
    """The join link (``/p/<code>``, on this site's address) as a QR code, black on white with
    the standard quiet zone (inverted codes defeat some phone scanners)."""
    import segno

    poll = await _projector_poll(request)
    url = f"{str(request.base_url).rstrip('/')}/p/{poll.join_code}"
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=10, border=4, dark="#000", light="#fff")
    return Response(
        out.getvalue(), media_type="image/svg+xml", headers={"Cache-Control": "no-store"}
    )


def _sse(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


async def projector_events(request: Request) -> Response:
    """The poll's tally as server-sent events: a snapshot, then every tally the gateway fans
    out. The feed is a gateway connection like any other (one hub per channel per process, a
    bounded queue), opened for a principal that may read only this poll's channel."""
    poll = await _projector_poll(request)
    store = runtime_of(request).store
    gateway: Gateway = request.app.state.gateway
    conn = gateway.open(projector_principal(poll), Format.JSON)
    frames: asyncio.Queue[str | bytes | None] = asyncio.Queue()

    async def send_frame(frame: str | bytes) -> None:
        frames.put_nowait(frame)

    async def send_close(code: int, reason: str) -> None:
        frames.put_nowait(None)

    writer = asyncio.create_task(conn.run_writer(send_frame, send_close))
    subscribe = {"id": 1, "op": "subscribe", "channel": poll_channel(poll.id)}
    await gateway.handle_frame(conn, orjson.dumps(subscribe).decode())

    async def stream() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        try:
            # Subscribed first, then counted: nothing after the snapshot can be missed.
            tally = await store.poll_tally(poll.id)
            assert tally is not None
            yield _sse(tally_body(poll, tally))
            while conn.state is ConnState.OPEN:
                try:
                    frame = await asyncio.wait_for(frames.get(), PROJECTOR_KEEPALIVE_SECONDS)
                except TimeoutError:
                    conn.last_seen = loop.time()
                    yield b": keepalive\n\n"
                    continue
                if frame is None:
                    return
                message = orjson.loads(frame)
                conn.last_seen = loop.time()  # this reader is alive: answer the heartbeat
                if message.get("push") == "pub":
                    yield _sse(message["data"])
                elif "error" in message:
                    return
        finally:
            await gateway.close_connection(conn)
            writer.cancel()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


POLL_ROUTES = [
    Route("/api/polls", create_poll, methods=["POST"]),
    Route("/api/polls", list_polls, methods=["GET"]),
    Route("/api/polls/join/{code}", join_code, methods=["GET"]),
    Route("/api/polls/{poll_id:int}", get_poll, methods=["GET"]),
    Route("/api/polls/{poll_id:int}", edit_poll, methods=["POST"]),
    Route("/api/polls/{poll_id:int}/open", open_poll, methods=["POST"]),
    Route("/api/polls/{poll_id:int}/close", close_poll, methods=["POST"]),
    Route("/api/polls/{poll_id:int}/votes", poll_votes, methods=["GET"]),
    Route("/api/polls/{poll_id:int}/export.csv", export_csv, methods=["GET"]),
    Route("/api/projector/{token}", projector_snapshot, methods=["GET"]),
    Route("/api/projector/{token}/events", projector_events, methods=["GET"]),
    Route("/api/projector/{token}/qr.svg", projector_qr, methods=["GET"]),
]

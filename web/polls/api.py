"""The polls HTTP API: organisers write drafts, open and close polls, read named voter lists and
export results; residents read polls and their own vote (they vote over the WebSocket, ``vote``
op, ``gateway/polls/ops.py``); a projector reads one poll by its unguessable token, without a login,
and follows its tally as server-sent events.

Errors are ``ApiError`` like the rest of the HTTP API (``docs/protocol.md`` lists the codes).
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import msgspec
import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from channels.access import Action, may
from channels.names import (
    ChannelKind,
    InvalidChannel,
    building_channel,
    group_channel,
    parse_channel,
    poll_channel,
)
from gateway.connection import ConnState
from gateway.gateway import Gateway
from gateway.polls.events import results_visible, tally_body
from gateway.polls.ops import may_vote_in, projector_principal
from gateway.wire import Format
from linli.catalogue import messages_of
from linli.live import zone_of
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
    ApiError,
    require_user,
    runtime_of,
)
from web.http import Empty, decode_body, line, services_of, set_field
from web.pages import locale_of
from web.polls import actions
from web.polls.actions import polls_store
from web.sessions import principal_of

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


class DraftBody(msgspec.Struct, frozen=True):
    """The body of a create or edit: a poll's whole draft."""

    channel: str
    question: str
    options: list[str]
    multiple: bool = False
    anonymous: bool = True
    allow_change: bool = True
    counting: Counting = Counting.RESIDENT
    results: ResultsShown = ResultsShown.LIVE
    closes_at: Annotated[int, msgspec.Meta(gt=0)] | None = None

    def __post_init__(self) -> None:
        set_field(self, "question", line(self.question, "question", max_len=300))
        if not MIN_OPTIONS <= len(self.options) <= MAX_OPTIONS:
            raise ApiError(
                400,
                "bad_request",
                f"'options' must be a list of {MIN_OPTIONS} to {MAX_OPTIONS} texts.",
                field="options",
            )
        set_field(self, "options", [line(o, "options", max_len=100) for o in self.options])

    def draft(self) -> PollDraft:
        try:
            channel = parse_channel(self.channel)
        except InvalidChannel as exc:
            raise ApiError(400, "bad_request", str(exc), field="channel") from None
        if channel.kind not in (ChannelKind.BUILDING, ChannelKind.GROUP):
            raise ApiError(
                400, "bad_request", "A poll belongs to a building or a group.", field="channel"
            )
        return PollDraft(
            channel=channel.name,
            question=self.question,
            options=tuple(self.options),
            multiple=self.multiple,
            anonymous=self.anonymous,
            allow_change=self.allow_change,
            counting=self.counting,
            results=self.results,
            closes_at=self.closes_at,
        )


def _check_closes_at(request: Request, draft: PollDraft) -> None:
    if draft.closes_at is not None and draft.closes_at <= services_of(request).clock.now_ms():
        raise ApiError(400, "bad_request", "The closing time has passed.", field="closes_at")


async def _may_read(request: Request, user: User, channel: str) -> bool:
    store = runtime_of(request).store
    return await may(principal_of(user), parse_channel(channel), Action.READ, store.is_member)


async def _poll_for(request: Request, *, manage: bool = False) -> tuple[Poll, User]:
    """The poll of the path, for a user who may read its channel (and manage it when asked)."""
    user = await require_user(request, *(_MANAGERS if manage else ()))
    poll = await polls_store(services_of(request)).get_poll(request.path_params["poll_id"])
    if poll is None or not await may_vote_in(runtime_of(request).store, principal_of(user), poll):
        raise ApiError(404, "poll_not_found", "No such poll.")
    return poll, user


async def _rooms(request: Request, user: User) -> list[dict[str, str]]:
    """The rooms (building and group channels) the user may read, by name: where they vote,
    and, for organisers and admins, where they may run a poll."""
    store = runtime_of(request).store
    principal = principal_of(user)
    joined = set(await store.user_groups(user.id))

    async def member(_user_id: int, slug: str) -> bool:
        return slug in joined

    rooms: list[dict[str, str]] = []
    for building in await store.list_buildings():
        channel = building_channel(building.id)
        if await may(principal, parse_channel(channel), Action.READ, member):
            rooms.append({"channel": channel, "name": building.name, "kind": "building"})
    for group in await store.list_groups():
        channel = group_channel(group.slug)
        if await may(principal, parse_channel(channel), Action.READ, member):
            rooms.append({"channel": channel, "name": group.name, "kind": "group"})
    return rooms


async def list_rooms(request: Request) -> Response:
    user = await require_user(request)
    return JSONResponse({"rooms": await _rooms(request, user)})


#: How many closed polls "recent results" shows.
RECENT_RESULTS = 10


async def overview(request: Request) -> Response:
    """The polls page's lists: open polls the user may vote in (and whether they have), recent
    results, and, for organisers and admins, the drafts; each with its room's name."""
    user = await require_user(request)
    manager = user.role in _MANAGERS
    store = polls_store(services_of(request))
    rooms = await _rooms(request, user)
    names = {r["channel"]: r["name"] for r in rooms}
    polls: list[Poll] = []
    for room in rooms:
        polls.extend(await store.list_polls(room["channel"]))
    polls.sort(key=lambda p: p.id, reverse=True)

    async def item(poll: Poll) -> dict[str, Any]:
        body = poll_json(poll, manager=manager)
        body["room_name"] = names.get(poll.draft.channel, "")
        key = voter_key(poll.draft.counting, user.id, user.unit_id)
        body["may_vote"] = key is not None
        body["voted"] = key is not None and await store.get_vote(poll.id, key) is not None
        return body

    open_ = [await item(p) for p in polls if p.state is PollState.OPEN]
    open_.sort(key=lambda p: (p["voted"], -p["id"]))  # not yet voted in first
    closed = [p for p in polls if p.state is PollState.CLOSED]
    closed.sort(key=lambda p: p.closed_at or 0, reverse=True)
    recent = [await item(p) for p in closed[:RECENT_RESULTS]]
    drafts = [await item(p) for p in polls if p.state is PollState.DRAFT] if manager else []
    return JSONResponse({"open": open_, "recent": recent, "drafts": drafts, "rooms": rooms})


async def create_poll(request: Request) -> Response:
    user = await require_user(request, *_MANAGERS)
    draft = (await decode_body(request, DraftBody)).draft()
    _check_closes_at(request, draft)
    if not await _may_read(request, user, draft.channel):
        raise ApiError(403, "forbidden", "You may not run polls in this channel.")
    try:
        poll = await actions.create_poll(services_of(request), draft, actor_id=user.id)
    except actions.JoinCodesExhausted:
        raise ApiError(503, "unavailable", "Could not draw a join code; try again.") from None
    return JSONResponse({"poll": poll_json(poll, manager=True)}, status_code=201)


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
    polls = await polls_store(services_of(request)).list_polls(channel)
    visible = [p for p in polls if manager or p.state is not PollState.DRAFT]
    return JSONResponse({"polls": [poll_json(p, manager=manager) for p in visible]})


async def get_poll(request: Request) -> Response:
    poll, user = await _poll_for(request)
    manager = user.role in _MANAGERS
    if poll.state is PollState.DRAFT and not manager:
        raise ApiError(404, "poll_not_found", "No such poll.")
    store = polls_store(services_of(request))
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
    poll, user = await _poll_for(request, manage=True)
    draft = (await decode_body(request, DraftBody)).draft()
    _check_closes_at(request, draft)
    if not await _may_read(request, user, draft.channel):
        raise ApiError(403, "forbidden", "You may not run polls in this channel.")
    try:
        updated = await actions.update_poll(services_of(request), poll.id, draft, actor_id=user.id)
    except PollStateError:
        raise ApiError(409, "poll_not_draft", "An opened poll cannot be changed.") from None
    return JSONResponse({"poll": poll_json(updated, manager=True)})


async def delete_poll(request: Request) -> Response:
    poll, user = await _poll_for(request, manage=True)
    await decode_body(request, Empty)
    try:
        await actions.delete_poll(services_of(request), poll, actor_id=user.id)
    except (PollStateError, PollNotFound):
        raise ApiError(409, "poll_not_draft", "Only a draft can be deleted.") from None
    return JSONResponse({"ok": True})


async def open_poll(request: Request) -> Response:
    poll, user = await _poll_for(request, manage=True)
    await decode_body(request, Empty)  # the same CSRF checks as every state-changing request
    try:
        opened = await actions.open_poll(services_of(request), poll.id, actor_id=user.id)
    except (PollStateError, PollNotFound):
        raise ApiError(409, "poll_not_draft", "Only a draft can be opened.") from None
    return JSONResponse({"poll": poll_json(opened, manager=True)})


async def close_poll(request: Request) -> Response:
    poll, user = await _poll_for(request, manage=True)
    await decode_body(request, Empty)
    try:
        # A scheduled close a moment ahead, carried out then (gateway/polls/cache.py: so that
        # no gateway's copy of the poll can take a vote that would be cast after the close).
        closed, _ = await actions.close_poll(services_of(request), poll.id, actor_id=user.id)
    except (PollStateError, PollNotFound):
        raise ApiError(409, "poll_not_open", "Only an open poll can be closed.") from None
    return JSONResponse({"poll": poll_json(closed, manager=True)})


async def _closed_for_manager(request: Request) -> Poll:
    poll, _ = await _poll_for(request, manage=True)
    if poll.state is not PollState.CLOSED:
        raise ApiError(409, "poll_not_closed", "Results are available after the poll closes.")
    return poll


async def poll_votes(request: Request) -> Response:
    """Named polls only: who voted (organisers, once the poll is open), and for what — while a
    poll whose results are shown after the close is open, the choices are withheld
    (``choices`` null) like the counts."""
    poll, _ = await _poll_for(request, manage=True)
    if poll.draft.anonymous:
        raise ApiError(403, "poll_anonymous", "This poll is anonymous: votes have no names.")
    if poll.state is PollState.DRAFT:
        raise ApiError(409, "poll_not_open", "Nobody has voted in a draft.")
    shown = results_visible(poll)
    votes = await polls_store(services_of(request)).list_votes(poll.id)
    return JSONResponse(
        {
            "votes": [
                {
                    "user_id": v.user_id,
                    "name": v.display_name,
                    "unit": v.unit_label,
                    "choices": list(v.choices) if shown else None,
                    "cast_at": v.cast_at,
                }
                for v in votes
            ]
        }
    )


#: The CSV's readable time column, per language (the ISO 8601 column beside it is exact).
_READABLE_TIME = {"zh-Hant": "%Y年%m月%d日 %H:%M:%S", "en": "%d %b %Y %H:%M:%S"}


def _csv_lang(request: Request) -> str:
    wanted = request.query_params.get("lang")
    return wanted if wanted in _READABLE_TIME else locale_of(request)


async def export_csv(request: Request) -> Response:
    """One row per option (index, text, votes, share of voters); a named poll adds one row per
    vote after a blank line. Headers in the reader's language (``?lang=`` or the page's);
    times in the neighbourhood's zone, ISO 8601 with the offset and a readable column."""
    poll = await _closed_for_manager(request)
    services = services_of(request)
    store = polls_store(services)
    tally = await store.poll_tally(poll.id)
    assert tally is not None
    lang = _csv_lang(request)
    words = messages_of(lang)

    def h(key: str) -> str:
        return words[f"poll.csv.{key}"]

    zone = zone_of(services)

    def when(ms: int | None) -> list[str]:
        if ms is None:
            return ["", ""]
        at = datetime.fromtimestamp(ms / 1000, zone)
        return [at.isoformat(timespec="seconds"), at.strftime(_READABLE_TIME[lang])]

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([h("option"), h("text"), h("votes"), h("percent_of_voters")])
    for index, (text, count) in enumerate(zip(poll.draft.options, tally.counts, strict=True)):
        share = f"{100 * count / tally.voters:.1f}" if tally.voters else "0.0"
        writer.writerow([index, text, count, share])
    writer.writerow([h("voters"), "", tally.voters, ""])
    writer.writerow([h("closed_at"), *when(poll.closed_at)])
    if not poll.draft.anonymous:
        writer.writerow([])
        writer.writerow([h("name"), h("unit"), h("choices"), h("cast_at"), h("cast_at_local")])
        for vote in await store.list_votes(poll.id):
            choices = ";".join(poll.draft.options[c] for c in vote.choices)
            writer.writerow(
                [vote.display_name, vote.unit_label or "", choices, *when(vote.cast_at)]
            )
    return Response(
        # A byte-order mark so spreadsheet programs read the Chinese text as UTF-8.
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="poll-{poll.id}.csv"'},
    )


async def join_code(request: Request) -> Response:
    user = await require_user(request)
    code = request.path_params["code"].upper().replace(" ", "")
    poll = await polls_store(services_of(request)).get_poll_by_join_code(code)
    if poll is None or not await may_vote_in(runtime_of(request).store, principal_of(user), poll):
        raise ApiError(404, "poll_not_found", "No such poll.")
    return JSONResponse({"poll_id": poll.id})


# -- projector (no login: the token is the key) ---------------------------------------------


async def _projector_poll(request: Request) -> Poll:
    poll = await polls_store(services_of(request)).get_poll_by_projector_token(
        request.path_params["token"]
    )
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
    tally = await polls_store(services_of(request)).poll_tally(poll.id)
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
    store = polls_store(services_of(request))
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


ROUTES = [
    Route("/api/polls", create_poll, methods=["POST"]),
    Route("/api/polls", list_polls, methods=["GET"]),
    Route("/api/polls/join/{code}", join_code, methods=["GET"]),
    Route("/api/polls/rooms", list_rooms, methods=["GET"]),
    Route("/api/polls/overview", overview, methods=["GET"]),
    Route("/api/polls/{poll_id:int}", get_poll, methods=["GET"]),
    Route("/api/polls/{poll_id:int}", edit_poll, methods=["POST"]),
    Route("/api/polls/{poll_id:int}/open", open_poll, methods=["POST"]),
    Route("/api/polls/{poll_id:int}/delete", delete_poll, methods=["POST"]),
    Route("/api/polls/{poll_id:int}/close", close_poll, methods=["POST"]),
    Route("/api/polls/{poll_id:int}/votes", poll_votes, methods=["GET"]),
    Route("/api/polls/{poll_id:int}/export.csv", export_csv, methods=["GET"]),
    Route("/api/projector/{token}", projector_snapshot, methods=["GET"]),
    Route("/api/projector/{token}/events", projector_events, methods=["GET"]),
    Route("/api/projector/{token}/qr.svg", projector_qr, methods=["GET"]),
]

"""The moderation HTTP API: the moderators' queue and actions, sanctions, held messages, the word
list, settings, the audit log, the figures and the publishing rules (``docs/protocol.md``,
"Moderation API"). In the style of ``web/api.py``: JSON in and out, ``ApiError`` for errors.

Every action needs a ``reason`` and is audited by the store in the same transaction as the
change. Its effect goes out at once: a message's new visibility as an event on its own channel,
a sanction to every gateway over the control channel, and an ``action`` event on ``mod:flags``
for the other moderators' open feed pages.
"""

from __future__ import annotations

import time
from typing import Any

import msgpack
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channels.access import Principal
from channels.broker import BrokerUnavailable
from channels.names import ChannelKind, InvalidChannel, parse_channel
from gateway.gateway import chat_data
from gateway.moderation import OP_END_USER, OP_INVALIDATE, OP_NOTIFY
from gateway.moderation_events import publish_feed, publish_state
from gateway.wire import publication_body
from linli.runtime import Runtime
from persistence.moderation import (
    HeldState,
    MessageAction,
    MessageSnapshot,
    ModeratedMessage,
    Review,
    SanctionKind,
    WordAction,
)
from persistence.moderation_sql import SqlModerationStore, moderation_store
from persistence.store import NotFound, Role, User
from web.api import (
    LOGIN_CHECKS,
    ApiError,
    json_body,
    require_user,
    runtime_of,
    text_field,
)
from web.moderation_figures import Period, figures, periods
from web.pages import LOCALES
from web.sessions import principal_of
from workers.moderation import auto_hide_threshold

STAFF = (Role.MODERATOR, Role.ADMIN)
#: The longest mute (30 days); a longer one is a ban.
MAX_MUTE_SECONDS = 30 * 86_400
MAX_RULES_CHARS = 20_000


def _now() -> int:
    return int(time.time() * 1000)


def _mod(request: Request) -> SqlModerationStore:
    cached: SqlModerationStore | None = getattr(request.app.state, "moderation_store", None)
    if cached is None:
        cached = moderation_store(runtime_of(request).store)
        request.app.state.moderation_store = cached
    return cached


def _reason(body: dict[str, Any]) -> str:
    return text_field(body, "reason", max_len=500)


def _channel(raw: str) -> str:
    try:
        ref = parse_channel(raw)
    except InvalidChannel as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    if ref.kind not in (ChannelKind.BUILDING, ChannelKind.GROUP):
        raise ApiError(400, "bad_request", "Only chat channels have messages to moderate.")
    return ref.name


async def _control(request: Request, obj: dict[str, Any]) -> None:
    await request.app.state.gateway.send_control(obj)


async def _feed(request: Request, event: dict[str, Any]) -> None:
    try:
        await publish_feed(runtime_of(request).broker, event)
    except BrokerUnavailable:
        pass  # the feed pages reload their state over HTTP; the action itself is done


def _message_json(m: ModeratedMessage) -> dict[str, Any]:
    return {
        "channel": m.channel,
        "offset": m.offset,
        "author": {"id": m.author_id, "name": m.author_name},
        "text": m.body,
        "posted_at": m.posted_at,
        "visibility": str(m.visibility),
        "review": str(m.review),
        "flag_count": m.flag_count,
        "auto_hidden": m.auto_hidden,
        "first_flag_at": m.first_flag_at,
        "last_flag_at": m.last_flag_at,
        "first_action_at": m.first_action_at,
    }


# -- residents ---------------------------------------------------------------------------------


async def my_flags(request: Request) -> Response:
    """The offsets of a channel's messages the user flagged (the chat marks them)."""
    user = await require_user(request)
    channel = _channel(request.query_params.get("channel", ""))
    return JSONResponse(
        {"channel": channel, "offsets": await _mod(request).flagged_by(user.id, channel)}
    )


async def _refuse_banned(runtime: Runtime, user: User) -> None:
    for sanction in await moderation_store(runtime.store).active_sanctions(user.id, now=_now()):
        if sanction.kind is SanctionKind.BAN:
            raise ApiError(403, "banned", "This account is banned by the moderators.")


LOGIN_CHECKS.append(_refuse_banned)


# -- the queue -----------------------------------------------------------------------------------


async def queue(request: Request) -> Response:
    """Flagged messages with their flags, most recently flagged first (``sort=most``: most
    flagged first), filtered by ``state`` (open, handled, all) and ``building`` or ``group``;
    and the held messages waiting for review."""
    await require_user(request, *STAFF)
    params = request.query_params
    state = params.get("state", "open")
    if state not in ("open", "handled", "all"):
        raise ApiError(400, "bad_request", "'state' must be open, handled or all.")
    prefix = None
    if params.get("building"):
        prefix = f"building:{params['building']}"
    elif params.get("group"):
        prefix = f"group:{params['group']}"
    mod = _mod(request)
    messages = await mod.queue(
        review=None if state == "all" else Review(state), channel_prefix=prefix, limit=200
    )
    if params.get("sort") == "most":
        messages.sort(key=lambda m: (-m.flag_count, -(m.last_flag_at or 0)))
    items = []
    for m in messages:
        flags = await mod.flags_of(m.channel, m.offset)
        items.append(
            {
                **_message_json(m),
                "flags": [
                    {
                        "flagger": {"id": f.flagger_id, "name": f.flagger_name},
                        "reason": str(f.reason),
                        "note": f.note,
                        "at": f.created_at,
                    }
                    for f in flags
                ],
            }
        )
    held = await mod.list_held(state=HeldState.HELD)
    if prefix:
        held = [h for h in held if h.channel == prefix or h.channel.startswith(prefix + ":")]
    return JSONResponse(
        {
            "messages": items,
            "held": [
                {
                    "id": h.id,
                    "channel": h.channel,
                    "author": {"id": h.author_id, "name": h.author_name},
                    "text": h.body,
                    "matched": h.matched,
                    "at": h.created_at,
                }
                for h in held
            ],
        }
    )


async def context(request: Request) -> Response:
    """A few messages around one (``around``, default 3, each side), as a moderator sees them."""
    user = await require_user(request, *STAFF)
    channel = _channel(request.path_params["channel"])
    offset = int(request.path_params["offset"])
    raw_around = request.query_params.get("around") or "3"
    if not raw_around.isdigit():
        raise ApiError(400, "bad_request", "'around' must be an integer from 0 to 20.")
    around = min(int(raw_around), 20)
    history = request.app.state.gateway.history
    pubs, _ = await history.page(
        channel,
        after=max(offset - around - 1, 0),
        before=offset + around + 1,
        limit=2 * around + 1,
        newest=False,
    )
    pubs = await history.for_reader(principal_of(user), channel, pubs)
    return JSONResponse(
        {
            "channel": channel,
            "offset": offset,
            "publications": [publication_body(p.offset, p.epoch, p.data) for p in pubs],
        }
    )


# -- actions on messages ---------------------------------------------------------------------


async def _snapshot(request: Request, channel: str, offset: int) -> MessageSnapshot | None:
    pubs, _ = await request.app.state.gateway.history.page(
        channel, after=offset - 1, before=offset + 1, limit=1, newest=False
    )
    if not pubs or pubs[0].offset != offset:
        return None
    body = msgpack.unpackb(pubs[0].data, raw=False)
    if not isinstance(body, dict) or body.get("kind") != "chat":
        return None
    author = body.get("author") or {}
    return MessageSnapshot(
        author_id=author.get("id"),
        author_name=str(author.get("name", "")),
        body=str(body.get("text", "")),
        posted_at=int(body.get("ts", 0)),
    )


async def act_on_message(request: Request) -> Response:
    user = await require_user(request, *STAFF)
    body = await json_body(request)
    try:
        action = MessageAction(request.path_params["action"])
    except ValueError:
        raise ApiError(404, "not_found", "No such action.") from None
    channel = _channel(request.path_params["channel"])
    offset = int(request.path_params["offset"])
    reason = _reason(body)
    mod = _mod(request)
    snapshot = None
    if await mod.get_message(channel, offset) is None:
        snapshot = await _snapshot(request, channel, offset)
        if snapshot is None:
            raise ApiError(404, "not_found", "No chat message at this offset.")
    now = _now()
    result = await mod.act_on_message(
        channel, offset, action, actor_id=user.id, reason=reason, now=now, snapshot=snapshot
    )
    message = result.message
    # Published even when nothing changed: a retried request (the first answer lost) must still
    # reach the clients; they apply the event idempotently.
    try:
        published = await publish_state(
            runtime_of(request).broker, channel, offset, message.visibility, by="moderator", now=now
        )
    except BrokerUnavailable:
        raise ApiError(
            503,
            "unavailable",
            "The decision is saved but could not be sent to open clients; send it again.",
        ) from None
    await _feed(
        request,
        {
            "kind": "action",
            "action": str(action),
            "channel": channel,
            "offset": offset,
            "visibility": str(message.visibility),
            "review": str(message.review),
            "actor": {"id": user.id, "name": user.display_name},
            "ts": now,
        },
    )
    return JSONResponse(
        {"changed": result.changed, "message": _message_json(message), "event": published.offset}
    )


# -- sanctions ---------------------------------------------------------------------------------


async def _target(request: Request) -> User:
    target = await runtime_of(request).store.get_user(int(request.path_params["user_id"]))
    if target is None:
        raise ApiError(404, "not_found", "No such user.")
    if target.role in STAFF:
        raise ApiError(403, "forbidden", "Moderators and admins cannot be sanctioned here.")
    return target


def _context(body: dict[str, Any]) -> tuple[str, int] | None:
    channel, offset = body.get("channel"), body.get("offset")
    if channel is None:
        return None
    if type(offset) is not int:
        offset = 0
    return _channel(str(channel)), offset


async def sanction(request: Request) -> Response:
    user = await require_user(request, *STAFF)
    body = await json_body(request)
    target = await _target(request)
    kind = request.path_params["kind"]
    reason = _reason(body)
    mod = _mod(request)
    now = _now()
    about = _context(body)
    if kind == "warn":
        entry = await mod.add_audit(
            "warn",
            actor_id=user.id,
            reason=reason,
            now=now,
            channel=about[0] if about else None,
            offset=about[1] if about else None,
            target_user_id=target.id,
        )
        push: dict[str, Any] = {"push": "moderation", "kind": "warning", "reason": reason}
        await _control(request, {"op": OP_NOTIFY, "user_id": target.id, "push": push})
        result: dict[str, Any] = {"audit_id": entry}
    elif kind in ("mute", "ban"):
        scope = None
        expires_at = None
        if kind == "mute":
            if body.get("channel_only"):
                if about is None:
                    raise ApiError(400, "bad_request", "A channel mute needs 'channel'.")
                scope = about[0]
            seconds = body.get("seconds")
            if type(seconds) is not int or not 1 <= seconds <= MAX_MUTE_SECONDS:
                raise ApiError(
                    400,
                    "bad_request",
                    f"'seconds' must be an integer from 1 to {MAX_MUTE_SECONDS}.",
                )
            expires_at = now + seconds * 1000
        made = await mod.add_sanction(
            target.id,
            SanctionKind(kind),
            channel=scope,
            expires_at=expires_at,
            actor_id=user.id,
            reason=reason,
            now=now,
            channel_context=about,
        )
        if kind == "ban":
            await runtime_of(request).store.delete_user_sessions(target.id)
            await _control(request, {"op": OP_END_USER, "user_id": target.id})
        else:
            await _control(
                request, {"op": OP_INVALIDATE, "what": "sanctions", "user_id": target.id}
            )
            push = {
                "push": "moderation",
                "kind": "muted",
                "channel": scope,
                "until": expires_at,
                "reason": reason,
            }
            await _control(request, {"op": OP_NOTIFY, "user_id": target.id, "push": push})
        result = {
            "sanction": {"id": made.id, "kind": kind, "channel": scope, "expires_at": expires_at}
        }
    elif kind in ("unmute", "unban"):
        lifted = await mod.lift_sanctions(
            target.id, SanctionKind(kind[2:]), actor_id=user.id, reason=reason, now=now
        )
        await _control(request, {"op": OP_INVALIDATE, "what": "sanctions", "user_id": target.id})
        result = {"lifted": lifted}
    else:
        raise ApiError(404, "not_found", "No such action.")
    await _feed(
        request,
        {
            "kind": "action",
            "action": kind,
            "user": {"id": target.id, "name": target.display_name},
            "actor": {"id": user.id, "name": user.display_name},
            "ts": now,
        },
    )
    return JSONResponse(result)


# -- held messages -------------------------------------------------------------------------------


async def decide_held(request: Request) -> Response:
    user = await require_user(request, *STAFF)
    body = await json_body(request)
    reason = _reason(body)
    decision = request.path_params["decision"]
    if decision not in ("approve", "reject"):
        raise ApiError(404, "not_found", "No such action.")
    mod = _mod(request)
    held = await mod.get_held(int(request.path_params["held_id"]))
    if held is None:
        raise ApiError(404, "not_found", "No such held message.")
    if held.state is not HeldState.HELD:
        return JSONResponse(
            {"changed": False, "state": str(held.state), "offset": held.published_offset}
        )
    offset = None
    if decision == "approve":
        author = Principal(held.author_id, "", held.author_name, Role.RESIDENT, None)
        cmid = f"held-{held.id}"
        # The gateway's idempotency key for the author's message: approving twice publishes once.
        published = await runtime_of(request).broker.publish(
            held.channel,
            chat_data(author, held.body, cmid, held.created_at),
            idempotency_key=f"{held.author_id}:{cmid}",
        )
        offset = published.offset
    now = _now()
    try:
        changed = await mod.decide_held(
            held.id,
            approve=decision == "approve",
            actor_id=user.id,
            reason=reason,
            now=now,
            published_offset=offset,
        )
    except NotFound:
        raise ApiError(404, "not_found", "No such held message.") from None
    await _feed(
        request,
        {
            "kind": "action",
            "action": decision,
            "held_id": held.id,
            "channel": held.channel,
            "offset": offset,
            "actor": {"id": user.id, "name": user.display_name},
            "ts": now,
        },
    )
    return JSONResponse(
        {"changed": changed, "state": "approved" if offset else "rejected", "offset": offset}
    )


async def my_held(request: Request) -> Response:
    """The user's own held messages (their client shows them as waiting for review)."""
    user = await require_user(request)
    held = await _mod(request).list_held(state=None, author_id=user.id, limit=50)
    return JSONResponse(
        {
            "held": [
                {
                    "id": h.id,
                    "channel": h.channel,
                    "text": h.body,
                    "state": str(h.state),
                    "offset": h.published_offset,
                    "at": h.created_at,
                }
                for h in held
            ]
        }
    )


# -- word list, settings, audit --------------------------------------------------------------------


async def words(request: Request) -> Response:
    if request.method == "GET":
        await require_user(request, *STAFF)
        return JSONResponse(
            {
                "words": [
                    {"id": w.id, "pattern": w.pattern, "action": str(w.action)}
                    for w in await _mod(request).list_words()
                ]
            }
        )
    user = await require_user(request, Role.ADMIN)
    body = await json_body(request)
    pattern = text_field(body, "pattern", max_len=100)
    try:
        action = WordAction(body.get("action", "block"))
    except ValueError:
        raise ApiError(400, "bad_request", "'action' must be block or hold.") from None
    try:
        word = await _mod(request).add_word(
            pattern, action, actor_id=user.id, reason=_reason(body), now=_now()
        )
    except ValueError as exc:
        raise ApiError(400, "bad_request", str(exc), field="pattern") from None
    await _control(request, {"op": OP_INVALIDATE, "what": "words"})
    return JSONResponse(
        {"word": {"id": word.id, "pattern": word.pattern, "action": str(word.action)}}, 201
    )


async def remove_word(request: Request) -> Response:
    user = await require_user(request, Role.ADMIN)
    body = await json_body(request)
    removed = await _mod(request).remove_word(
        int(request.path_params["word_id"]), actor_id=user.id, reason=_reason(body), now=_now()
    )
    if not removed:
        raise ApiError(404, "not_found", "No such word.")
    await _control(request, {"op": OP_INVALIDATE, "what": "words"})
    return JSONResponse({"ok": True})


async def settings(request: Request) -> Response:
    if request.method == "GET":
        await require_user(request, *STAFF)
        return JSONResponse({"auto_hide_threshold": await auto_hide_threshold(_mod(request))})
    user = await require_user(request, Role.ADMIN)
    body = await json_body(request)
    threshold = body.get("auto_hide_threshold")
    if type(threshold) is not int or not 0 <= threshold <= 100:
        raise ApiError(400, "bad_request", "'auto_hide_threshold' must be 0 (off) to 100.")
    await _mod(request).set_setting(
        "auto_hide_threshold", str(threshold), actor_id=user.id, reason=_reason(body), now=_now()
    )
    return JSONResponse({"auto_hide_threshold": threshold})


async def audit(request: Request) -> Response:
    await require_user(request, Role.ADMIN)
    raw_before = request.query_params.get("before")
    raw_limit = request.query_params.get("limit") or "100"
    if (raw_before and not raw_before.isdigit()) or not raw_limit.isdigit():
        raise ApiError(400, "bad_request", "'before' and 'limit' must be integers.")
    entries = await _mod(request).audit_log(
        before_id=int(raw_before) if raw_before else None, limit=min(int(raw_limit), 500)
    )
    return JSONResponse(
        {
            "entries": [
                {
                    "id": e.id,
                    "at": e.at,
                    "actor": None
                    if e.actor_id is None
                    else {"id": e.actor_id, "name": e.actor_name},
                    "action": e.action,
                    "channel": e.channel,
                    "offset": e.offset,
                    "target_user_id": e.target_user_id,
                    "reason": e.reason,
                    "detail": e.detail,
                }
                for e in entries
            ]
        }
    )


async def figures_api(request: Request) -> Response:
    """Per period: ``period`` (day, week, month; default month) and ``count`` (default 6), or
    one period ``from``–``to`` (milliseconds)."""
    await require_user(request, *STAFF)
    params = request.query_params
    if params.get("from") or params.get("to"):
        raw_from, raw_to = params.get("from", ""), params.get("to", "")
        if not (raw_from.isdigit() and raw_to.isdigit()) or int(raw_from) >= int(raw_to):
            raise ApiError(400, "bad_request", "'from' and 'to' must be times with from < to.")
        wanted = [Period(int(raw_from), int(raw_to), "custom")]
    else:
        count = params.get("count", "6")
        if not count.isdigit() or not 1 <= int(count) <= 366:
            raise ApiError(400, "bad_request", "'count' must be 1 to 366.")
        try:
            wanted = periods(params.get("period", "month"), int(count), _now())
        except ValueError as exc:
            raise ApiError(400, "bad_request", str(exc)) from None
    mod = _mod(request)
    result = []
    for period in wanted:
        rows = await mod.handling_rows(since=period.start, until=period.end)
        received = await mod.count_flags(since=period.start, until=period.end)
        result.append(figures(rows, received, period))
    return JSONResponse({"periods": result})


# -- publishing rules ------------------------------------------------------------------------


async def edit_rules(request: Request) -> Response:
    user = await require_user(request, Role.ADMIN)
    body = await json_body(request)
    locale = request.path_params["locale"]
    if locale not in LOCALES:
        raise ApiError(404, "not_found", "No such language.")
    text = body.get("body")
    if not isinstance(text, str) or not 1 <= len(text.strip()) <= MAX_RULES_CHARS:
        raise ApiError(
            400, "bad_request", f"'body' must be 1 to {MAX_RULES_CHARS} characters.", field="body"
        )
    await _mod(request).set_rules(
        locale, text.strip(), actor_id=user.id, reason=_reason(body), now=_now()
    )
    return JSONResponse({"ok": True})


MODERATION_ROUTES = [
    Route("/api/flags/mine", my_flags),
    Route("/api/held/mine", my_held),
    Route("/api/mod/queue", queue),
    Route("/api/mod/messages/{channel}/{offset:int}/context", context),
    Route("/api/mod/messages/{channel}/{offset:int}/{action}", act_on_message, methods=["POST"]),
    Route("/api/mod/users/{user_id:int}/{kind}", sanction, methods=["POST"]),
    Route("/api/mod/held/{held_id:int}/{decision}", decide_held, methods=["POST"]),
    Route("/api/mod/words", words, methods=["GET", "POST"]),
    Route("/api/mod/words/{word_id:int}/delete", remove_word, methods=["POST"]),
    Route("/api/mod/settings", settings, methods=["GET", "POST"]),
    Route("/api/mod/audit", audit),
    Route("/api/mod/figures", figures_api),
    Route("/api/mod/rules/{locale}", edit_rules, methods=["POST"]),
]

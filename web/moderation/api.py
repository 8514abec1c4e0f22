"""The moderation HTTP API: the moderators' queue and actions, sanctions, held messages, the word
list, settings, the audit log, the figures and the publishing rules (``docs/protocol.md``,
"Moderation API"). In the style of ``web/api.py``: JSON in and out, ``ApiError`` for errors.

Every action needs a ``reason`` and is audited by the store in the same transaction as the
change. Its effect goes out at once: a message's new visibility as an event on its own channel,
a sanction to every gateway over the control channel, and an ``action`` event on ``mod:flags``
for the other moderators' open feed pages.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channels.names import ChannelKind, InvalidChannel, parse_channel
from gateway.wire import publication_body
from linli.catalogue import LOCALES
from linli.feature import LoginRefused, Services
from linli.live import zone_of
from persistence.audit import AuditEntry
from persistence.moderation import (
    Appeal,
    AppealOutcome,
    AppealState,
    HeldState,
    MessageAction,
    ModeratedMessage,
    ModerationStore,
    Review,
    SanctionKind,
    WordAction,
    find_word,
)
from persistence.store import Role, User
from web.api import (
    ApiError,
    require_user,
)
from web.http import Reasoned, decode_body, line, services_of, set_field
from web.moderation import actions
from web.moderation.actions import STAFF, moderation_store, place_names, room_name
from web.moderation.audit import audit_query
from web.moderation.figures import Period, figures, periods
from web.pages import locale_of
from web.sessions import principal_of
from workers.moderation import auto_hide_threshold

MAX_RULES_CHARS = 20_000


def _mod(request: Request) -> ModerationStore:
    return moderation_store(services_of(request))


def _channel(raw: str) -> str:
    try:
        ref = parse_channel(raw)
    except InvalidChannel as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    # A forum post is the message (topic:<id>, <post id>) (docs/design/0021-forum.md).
    if ref.kind not in (ChannelKind.BUILDING, ChannelKind.GROUP, ChannelKind.TOPIC):
        raise ApiError(400, "bad_request", "Only chat channels have messages to moderate.")
    return ref.name


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
        "deleted_at": m.deleted_at,
        "text_purged": m.text_purged,
    }


def history_json(e: AuditEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": e.at,
        "action": e.action,
        "actor": None if e.actor_id is None else {"id": e.actor_id, "name": e.actor_name},
        "reason": e.reason,
        "detail": e.detail,
    }


def _sanction_history_json(
    e: AuditEntry, names: dict[str, str], room: str, text: str
) -> dict[str, Any]:
    """A message item's history entry; a mute's or ban's also says the room it applies to
    (``applies_to``; None: every room) and ``because``: this message, its room and excerpt."""
    made = history_json(e)
    if e.action in ("mute", "ban"):
        scope = e.detail.get("scope")
        made["applies_to"] = None if scope in (None, "everywhere") else room_name(names, str(scope))
        made["because"] = {
            "channel": e.channel,
            "offset": e.offset,
            "room": room,
            "excerpt": actions.excerpt(text),
        }
    return made


async def author_status(
    mod: ModerationStore, author_id: int | None, now: int, cache: dict[int, dict[str, Any]]
) -> dict[str, Any] | None:
    """Whether the author is muted or banned now (the sanction in force that ends last)."""
    if author_id is None:
        return None
    if author_id not in cache:
        sanctions = await mod.active_sanctions(author_id, now=now)
        bans = [x for x in sanctions if x.kind is SanctionKind.BAN]
        mutes = [x for x in sanctions if x.kind is SanctionKind.MUTE]
        current = bans or mutes
        if not current:
            cache[author_id] = {"state": "free"}
        else:
            last = max(current, key=lambda x: x.expires_at or 2**62)
            cache[author_id] = {
                "state": "banned" if bans else "muted",
                "until": last.expires_at,
                "channel": last.channel,
                "reason": last.reason,
            }
    return cache[author_id]


# -- residents ---------------------------------------------------------------------------------


async def my_flags(request: Request) -> Response:
    """The offsets of a channel's messages the user flagged (the chat marks them)."""
    user = await require_user(request)
    channel = _channel(request.query_params.get("channel", ""))
    return JSONResponse(
        {"channel": channel, "offsets": await _mod(request).flagged_by(user.id, channel)}
    )


async def refuse_banned(services: Services, user: User) -> None:
    """The feature's login check: a banned account cannot log in. The refusal (after the right
    password only, so to the account's owner alone) says why, carries the token of the one
    appeal, and, once appealed, the appeal's state and the moderators' answer: a banned resident
    has no session, hence no inbox, and this is where they can read it."""
    mod = moderation_store(services)
    for sanction in await mod.active_sanctions(user.id, now=services.clock.now_ms()):
        if sanction.kind is SanctionKind.BAN:
            subject = f"sanction:{sanction.id}"
            appealed = [
                a for a in await mod.appeals(state=None, user_id=user.id) if a.subject == subject
            ]
            raise LoginRefused(
                "banned",
                "This account is banned by the moderators.",
                reason=sanction.reason,
                appeal=await actions.ban_appeal_token(services, user.id, sanction.id),
                appealed=None if not appealed else _own_appeal_json(appealed[0]),
            )


def _own_appeal_json(a: Appeal) -> dict[str, Any]:
    """An appeal as its author reads it: their note, its state and the moderators' answer (not
    who answered)."""
    return {
        "id": a.id,
        "note": a.note,
        "state": str(a.state),
        "created_at": a.created_at,
        "handled_at": a.handled_at,
        "answer": a.answer,
        "outcome": str(a.outcome) if a.outcome is not None else None,
    }


#: How long a warning is shown on the resident's page (until dismissed): ``/api/moderation/mine``.
WARNING_DAYS = 7


async def my_moderation(request: Request) -> Response:
    """What the moderators decided about the user that still matters: mutes in force, recent
    warnings and the user's appeals (the chat page shows them beside the composer)."""
    user = await require_user(request)
    services = services_of(request)
    mod = _mod(request)
    now = services.clock.now_ms()
    sanctions = await mod.active_sanctions(user.id, now=now)
    warnings = await mod.warnings_of(user.id, since=now - WARNING_DAYS * 86_400_000)
    appeals = await mod.appeals(state=None, user_id=user.id)
    return JSONResponse(
        {
            "mutes": [
                {
                    "id": s.id,
                    "channel": s.channel,
                    "until": s.expires_at,
                    "reason": s.reason,
                    "at": s.created_at,
                }
                for s in sanctions
                if s.kind is SanctionKind.MUTE
            ],
            "warnings": [
                {"id": w.id, "reason": w.reason, "channel": w.channel, "ts": w.at} for w in warnings
            ],
            "appeals": [actions.appeal_json(a) for a in appeals],
        }
    )


class AppealBody(msgspec.Struct, frozen=True):
    """An appeal: ``kind`` warning or mute with ``id``, or message with ``channel`` and
    ``offset``; ``note`` what the author wants the moderators to know."""

    kind: str
    note: str
    id: int | None = None
    channel: str | None = None
    offset: int | None = None

    def __post_init__(self) -> None:
        set_field(self, "note", line(self.note, "note", max_len=actions.MAX_APPEAL_CHARS))


async def appeal(request: Request) -> Response:
    user = await require_user(request)
    body = await decode_body(request, AppealBody)
    message = None
    if body.kind == "message":
        if body.channel is None or body.offset is None:
            raise ApiError(400, "bad_request", "A message appeal needs 'channel' and 'offset'.")
        message = (_channel(body.channel), body.offset)
    made = await actions.appeal(
        services_of(request), user, kind=body.kind, ref=body.id, message=message, note=body.note
    )
    return JSONResponse({"appeal": actions.appeal_json(made)}, status_code=201)


class BanAppealBody(msgspec.Struct, frozen=True):
    """A banned resident's appeal: the login refusal's ``appeal`` token and their note."""

    token: str
    note: str

    def __post_init__(self) -> None:
        set_field(self, "note", line(self.note, "note", max_len=actions.MAX_APPEAL_CHARS))


async def appeal_ban(request: Request) -> Response:
    """No session (a banned account has none): the token proves the password was right."""
    body = await decode_body(request, BanAppealBody)
    made = await actions.appeal_ban(services_of(request), body.token, body.note)
    return JSONResponse({"appeal": actions.appeal_json(made)}, status_code=201)


class AppealAnswer(Reasoned, frozen=True):
    """A moderator's answer: the reason the author reads, and the outcome (``upheld`` or
    ``granted``; absent: read from the decision's state, as before migration 0038)."""

    outcome: AppealOutcome | None = None


async def close_appeal(request: Request) -> Response:
    user = await require_user(request, *STAFF)
    body = await decode_body(request, AppealAnswer)
    closed = await actions.close_appeal(
        services_of(request),
        int(request.path_params["appeal_id"]),
        actor=user,
        answer=body.reason,
        outcome=body.outcome,
    )
    return JSONResponse({"appeal": actions.appeal_json(closed)})


async def appeal_seen(request: Request) -> Response:
    """The author acknowledges the answer to their appeal (the button on ``/appeals``)."""
    user = await require_user(request)
    seen = await actions.appeal_seen(
        services_of(request), user, int(request.path_params["appeal_id"])
    )
    return JSONResponse({"appeal": actions.appeal_json(seen)})


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
    if params.get("channel"):
        prefix = _channel(params["channel"])
    elif params.get("building"):
        prefix = f"building:{params['building']}"
    elif params.get("group"):
        prefix = f"group:{params['group']}"
    mod = _mod(request)
    messages = await mod.queue(
        review=None if state == "all" else Review(state), channel_prefix=prefix, limit=200
    )
    if params.get("sort") == "most":
        messages.sort(key=lambda m: (-m.flag_count, -(m.last_flag_at or 0)))
    services = services_of(request)
    held = await mod.list_held(state=HeldState.HELD)
    if prefix:
        held = [h for h in held if h.channel == prefix or h.channel.startswith(prefix + ":")]
    appeals = await mod.appeals(state=AppealState.OPEN)
    decisions = [await actions.appeal_decision(services, a) for a in appeals]
    histories = [await mod.message_history(m.channel, m.offset) for m in messages]
    names = await _place_names(
        request,
        [m.channel for m in messages]
        + [h.channel for h in held]
        + [d["channel"] for d in decisions if d is not None and d["channel"] is not None]
        + [d["because"]["channel"] for d in decisions if d is not None and "because" in d]
        + [
            str(scope)
            for history in histories
            for e in history
            if (scope := e.detail.get("scope")) not in (None, "everywhere")
        ],
    )
    now = services.clock.now_ms()
    statuses: dict[int, dict[str, Any]] = {}
    items = []
    for m, history in zip(messages, histories, strict=True):
        flags = await mod.flags_of(m.channel, m.offset)
        room = room_name(names, m.channel)
        items.append(
            {
                **_message_json(m),
                "room": room,
                "history": [_sanction_history_json(e, names, room, m.body) for e in history],
                "author_status": await author_status(mod, m.author_id, now, statuses),
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
    return JSONResponse(
        {
            "messages": items,
            "held": [
                {
                    "id": h.id,
                    "channel": h.channel,
                    "room": room_name(names, h.channel),
                    "author": {"id": h.author_id, "name": h.author_name},
                    "text": h.body,
                    "matched": h.matched,
                    "at": h.created_at,
                }
                for h in held
            ],
            # The authors' appeals (web/moderation/actions.appeal), open ones, each with the
            # decision it is against in words (actions.appeal_decision; the room by name).
            "appeals": [
                {**actions.appeal_json(a), "decision": _decision_json(d, names)}
                for a, d in zip(appeals, decisions, strict=True)
            ],
        }
    )


def _decision_json(decision: dict[str, Any] | None, names: dict[str, str]) -> Any:
    if decision is None:
        return None
    channel = decision["channel"]
    made = {**decision, "room": None if channel is None else room_name(names, channel)}
    if "because" in decision:
        made["because"] = {
            **decision["because"],
            "room": room_name(names, decision["because"]["channel"]),
        }
    return made


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
    bodies = [publication_body(p.offset, p.epoch, p.data) for p in pubs]
    mod = _mod(request)
    for body in bodies:
        # Moderators read a deleted message's text until the retention sweep blanks it.
        data = body["data"]
        if isinstance(data, dict) and data.get("moderation") == "deleted":
            kept = await mod.get_message(channel, body["offset"])
            if kept is not None and not kept.text_purged:
                data["deleted_text"] = kept.body
    return JSONResponse({"channel": channel, "offset": offset, "publications": bodies})


# -- actions on messages ---------------------------------------------------------------------


async def act_on_message(request: Request) -> Response:
    user = await require_user(request, *STAFF)
    body = await decode_body(request, Reasoned)
    try:
        action = MessageAction(request.path_params["action"])
    except ValueError:
        raise ApiError(404, "not_found", "No such action.") from None
    channel = _channel(request.path_params["channel"])
    decision = await actions.act_on_message(
        services_of(request),
        channel,
        int(request.path_params["offset"]),
        action,
        actor=user,
        reason=body.reason,
    )
    return JSONResponse(
        {
            "changed": decision.result.changed,
            "message": _message_json(decision.result.message),
            "event": decision.event,
        }
    )


# -- sanctions ---------------------------------------------------------------------------------


class SanctionBody(Reasoned, frozen=True):
    """``channel`` (and ``offset``): the message the sanction is about; ``channel_only``: a
    mute in that channel only; ``seconds``: a mute's length."""

    channel: str | None = None
    offset: int | None = None
    channel_only: bool = False
    seconds: int | None = None


async def _target(request: Request) -> User:
    target = await services_of(request).store.get_user(int(request.path_params["user_id"]))
    if target is None:
        raise ApiError(404, "not_found", "No such user.")
    if target.role in STAFF:
        raise ApiError(403, "forbidden", "Moderators and admins cannot be sanctioned here.")
    return target


async def sanction(request: Request) -> Response:
    user = await require_user(request, *STAFF)
    body = await decode_body(request, SanctionBody)
    target = await _target(request)
    kind = request.path_params["kind"]
    about = None if body.channel is None else (_channel(body.channel), body.offset or 0)
    services = services_of(request)
    result: dict[str, Any]
    if kind == "warn":
        entry = await actions.warn(services, target, actor=user, reason=body.reason, about=about)
        result = {"audit_id": entry}
    elif kind in ("mute", "ban"):
        made = await actions.mute_or_ban(
            services,
            target,
            SanctionKind(kind),
            actor=user,
            reason=body.reason,
            about=about,
            channel_only=body.channel_only,
            seconds=body.seconds,
        )
        result = {"sanction": made}
    elif kind in ("unmute", "unban"):
        lifted = await actions.lift(
            services, target, SanctionKind(kind[2:]), actor=user, reason=body.reason
        )
        result = {"lifted": lifted}
    else:
        raise ApiError(404, "not_found", "No such action.")
    return JSONResponse(result)


# -- held messages -------------------------------------------------------------------------------


async def decide_held(request: Request) -> Response:
    user = await require_user(request, *STAFF)
    body = await decode_body(request, Reasoned)
    decision = request.path_params["decision"]
    if decision not in ("approve", "reject"):
        raise ApiError(404, "not_found", "No such action.")
    result = await actions.decide_held(
        services_of(request),
        int(request.path_params["held_id"]),
        approve=decision == "approve",
        actor=user,
        reason=body.reason,
        publishers=request.app.state.held_publishers,
    )
    return JSONResponse({"changed": result.changed, "state": result.state, "offset": result.offset})


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


class WordBody(Reasoned, frozen=True):
    pattern: str = ""
    action: WordAction = WordAction.BLOCK

    def __post_init__(self) -> None:
        super().__post_init__()
        set_field(self, "pattern", line(self.pattern, "pattern", max_len=100))


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
    body = await decode_body(request, WordBody)
    word = await actions.add_word(
        services_of(request), body.pattern, body.action, actor=user, reason=body.reason
    )
    return JSONResponse(
        {"word": {"id": word.id, "pattern": word.pattern, "action": str(word.action)}}, 201
    )


class WordTestBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    text: Annotated[str, msgspec.Meta(max_length=2000)]


async def test_words(request: Request) -> Response:
    """Whether a sentence would pass the word list as it is now (the word-list page's test box):
    the entry it matches (block entries first), or null."""
    await require_user(request, *STAFF)
    body = await decode_body(request, WordTestBody)
    word = find_word(await _mod(request).list_words(), body.text)
    return JSONResponse(
        {
            "matched": None
            if word is None
            else {"id": word.id, "pattern": word.pattern, "action": str(word.action)}
        }
    )


async def remove_word(request: Request) -> Response:
    user = await require_user(request, Role.ADMIN)
    body = await decode_body(request, Reasoned)
    await actions.remove_word(
        services_of(request), int(request.path_params["word_id"]), actor=user, reason=body.reason
    )
    return JSONResponse({"ok": True})


class SettingsBody(Reasoned, frozen=True):
    #: 0 turns the automatic hide off.
    auto_hide_threshold: Annotated[int, msgspec.Meta(ge=0, le=100)]


async def settings(request: Request) -> Response:
    if request.method == "GET":
        await require_user(request, *STAFF)
        return JSONResponse({"auto_hide_threshold": await auto_hide_threshold(_mod(request))})
    user = await require_user(request, Role.ADMIN)
    body = await decode_body(request, SettingsBody)
    await actions.set_auto_hide_threshold(
        services_of(request), body.auto_hide_threshold, actor=user, reason=body.reason
    )
    return JSONResponse({"auto_hide_threshold": body.auto_hide_threshold})


async def _place_names(request: Request, channels: list[str]) -> dict[str, str]:
    """Rooms' names and other features' places' (a forum topic's), in the reader's language."""
    return await place_names(
        services_of(request), channels, request.app.state.place_namers, locale_of(request)
    )


def audit_json(e: AuditEntry, names: dict[str, str]) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": e.at,
        "feature": e.feature,
        "actor": None if e.actor_id is None else {"id": e.actor_id, "name": e.actor_name},
        "action": e.action,
        "channel": e.channel,
        "room": None if e.channel is None else room_name(names, e.channel),
        "offset": e.offset,
        "target_user_id": e.target_user_id,
        "subject": e.subject,
        "reason": e.reason,
        "detail": e.detail,
    }


async def audit(request: Request) -> Response:
    """The audit log, filtered (``audit_query``): moderators see the moderation entries, admins
    every feature's."""
    user = await require_user(request, *STAFF)
    services = services_of(request)
    query = audit_query(request.query_params, user, zone_of(services), limit=500)
    entries = await services.audit.search(query)
    names = await _place_names(request, [e.channel for e in entries if e.channel is not None])
    return JSONResponse({"entries": [audit_json(e, names) for e in entries]})


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
        services = services_of(request)
        try:
            wanted = periods(
                params.get("period", "month"),
                int(count),
                services.clock.now_ms(),
                zone=zone_of(services),
            )
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


class RulesBody(Reasoned, frozen=True):
    """The rules' Markdown; its lines are kept (only the ends are trimmed)."""

    body: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        text = self.body.strip()
        if not 1 <= len(text) <= MAX_RULES_CHARS:
            raise ApiError(
                400,
                "bad_request",
                f"'body' must be 1 to {MAX_RULES_CHARS} characters.",
                field="body",
            )
        set_field(self, "body", text)


async def edit_rules(request: Request) -> Response:
    user = await require_user(request, Role.ADMIN)
    body = await decode_body(request, RulesBody)
    locale = request.path_params["locale"]
    if locale not in LOCALES:
        raise ApiError(404, "not_found", "No such language.")
    await actions.set_rules(services_of(request), locale, body.body, actor=user, reason=body.reason)
    return JSONResponse({"ok": True})


ROUTES = [
    Route("/api/flags/mine", my_flags),
    Route("/api/held/mine", my_held),
    Route("/api/moderation/mine", my_moderation),
    Route("/api/moderation/appeals", appeal, methods=["POST"]),
    Route("/api/moderation/ban-appeal", appeal_ban, methods=["POST"]),
    Route("/api/moderation/appeals/{appeal_id:int}/seen", appeal_seen, methods=["POST"]),
    Route("/api/mod/appeals/{appeal_id:int}/close", close_appeal, methods=["POST"]),
    Route("/api/mod/queue", queue),
    Route("/api/mod/messages/{channel}/{offset:int}/context", context),
    Route("/api/mod/messages/{channel}/{offset:int}/{action}", act_on_message, methods=["POST"]),
    Route("/api/mod/users/{user_id:int}/{kind}", sanction, methods=["POST"]),
    Route("/api/mod/held/{held_id:int}/{decision}", decide_held, methods=["POST"]),
    Route("/api/mod/words", words, methods=["GET", "POST"]),
    Route("/api/mod/words/{word_id:int}/delete", remove_word, methods=["POST"]),
    Route("/api/mod/words/test", test_words, methods=["POST"]),
    Route("/api/mod/settings", settings, methods=["GET", "POST"]),
    Route("/api/mod/audit", audit),
    Route("/api/mod/figures", figures_api),
    Route("/api/mod/rules/{locale}", edit_rules, methods=["POST"]),
]

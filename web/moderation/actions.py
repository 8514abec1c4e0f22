"""The moderation feature's state changes, with no HTTP in sight (the pattern of
``web/polls/actions.py``): the API, the CLI and the admin console make each change the same way.

Each action is audited by the store in the transaction of its change (``persistence/audit/``)
and takes effect at once everywhere: a message's new visibility as an event on its own channel,
a sanction as a control command to every gateway, and an ``action`` event on ``mod:flags`` for
the moderators' open feed pages. Errors are ``web.http.ApiError`` with a code of ``HttpCode``
(plain exceptions: a CLI prints their message).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgpack

from channels.access import Principal
from channels.broker import BrokerUnavailable
from gateway.control import ControlCommand, send_control
from gateway.gateway import chat_data
from gateway.history import HistoryReader
from gateway.moderation.events import (
    EndUser,
    InvalidateSanctions,
    InvalidateWords,
    NotifyUser,
    publish_feed,
    publish_state,
)
from linli.feature import HeldPublisher, PlaceNamer, Services
from linli.types import ChannelName, Offset, Role
from persistence.errors import NotFound
from persistence.moderation import (
    ActionResult,
    AlreadyAppealed,
    Appeal,
    AppealOutcome,
    AppealState,
    HeldState,
    MessageAction,
    MessageSnapshot,
    ModerationStore,
    SanctionKind,
    Visibility,
    Word,
    WordAction,
)
from persistence.moderation.sql import SqlModerationStore
from persistence.notifications import Kind
from persistence.store import User
from persistence.timers import TimerJob
from web.http import ApiError, HttpCode
from web.notifications.actions import notify
from web.photos import actions as photo_actions
from web.rooms.actions import drop_hidden_pin

FEATURE = "moderation"
STAFF = (Role.MODERATOR, Role.ADMIN)
#: The longest mute (30 days); a longer one is a ban.
MAX_MUTE_SECONDS = 30 * 86_400


def moderation_store(services: Services) -> ModerationStore:
    return SqlModerationStore(services.database)


async def _control(services: Services, command: ControlCommand) -> None:
    await send_control(services.broker, command)


async def _feed(services: Services, event: dict[str, Any]) -> None:
    try:
        await publish_feed(services.broker, event)
    except BrokerUnavailable:
        pass  # the feed pages reload their state over HTTP; the action itself is done


def _actor(user: User) -> dict[str, Any]:
    return {"id": user.id, "name": user.display_name}


# -- rooms by name -----------------------------------------------------------------------------


async def room_names(services: Services) -> dict[str, str]:
    """Every building's and group's room channel and its name, as people know it."""
    names = {f"building:{b.id}": b.name for b in await services.store.list_buildings()}
    names.update({f"group:{g.slug}": g.name for g in await services.store.list_groups()})
    return names


async def place_names(
    services: Services,
    channels: Iterable[str],
    namers: Mapping[str, PlaceNamer],
    locale: str,
) -> dict[str, str]:
    """Every room's name (``room_names``) and the names of ``channels`` of other features'
    kinds (a forum topic, a category), each asked of the feature that owns the kind
    (``Feature.place_namers``): moderation lists every feature's items without knowing them."""
    names = await room_names(services)
    wanted: dict[str, list[str]] = {}
    for channel in dict.fromkeys(channels):
        kind = channel.partition(":")[0]
        if channel not in names and kind in namers:
            wanted.setdefault(kind, []).append(channel)
    for kind, group in wanted.items():
        names.update(await namers[kind](services, group, locale))
    return names


def room_name(names: dict[str, str], channel: str) -> str:
    """A place's name (``place_names``); the channel itself when nobody could name it."""
    return names.get(channel, channel)


# -- messages ---------------------------------------------------------------------------------


async def _snapshot(services: Services, channel: str, offset: int) -> MessageSnapshot | None:
    """The chat message at ``offset`` as published (from the hot history or the store)."""
    pubs, _ = await HistoryReader(services.broker, services.store).page(
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


@dataclass(frozen=True, slots=True)
class MessageDecision:
    result: ActionResult
    #: The offset of the visibility event on the message's channel.
    event: Offset


async def act_on_message(
    services: Services,
    channel: ChannelName,
    offset: Offset,
    action: MessageAction,
    *,
    actor: User,
    reason: str,
) -> MessageDecision:
    """Hide, restore, delete or dismiss a chat message (``channel`` a chat channel)."""
    mod = moderation_store(services)
    snapshot = None
    if await mod.get_message(channel, offset) is None:
        snapshot = await _snapshot(services, channel, offset)
        if snapshot is None:
            raise ApiError(404, HttpCode.NOT_FOUND, "No chat message at this offset.")
    now = services.clock.now_ms()
    result = await mod.act_on_message(
        channel, offset, action, actor_id=actor.id, reason=reason, now=now, snapshot=snapshot
    )
    message = result.message
    # Published even when nothing changed: a retried request (the first answer lost) must still
    # reach the clients; they apply the event idempotently.
    try:
        published = await publish_state(
            services.broker, channel, offset, message.visibility, by="moderator", now=now
        )
    except BrokerUnavailable:
        raise ApiError(
            503,
            HttpCode.UNAVAILABLE,
            "The decision is saved but could not be sent to open clients; send it again.",
        ) from None
    if (
        result.changed
        and message.author_id is not None
        and message.visibility is not Visibility.VISIBLE
    ):
        # Only the author is told why (the room sees "hidden by a moderator").
        push = {
            "push": "moderation",
            "kind": "hidden",
            "channel": channel,
            "offset": offset,
            "visibility": str(message.visibility),
            "reason": reason,
        }
        await _control(services, NotifyUser(user_id=message.author_id, push=push))
    if result.changed and message.visibility is not Visibility.VISIBLE:
        await drop_hidden_pin(services, channel, offset)
    await _feed(
        services,
        {
            "kind": "action",
            "action": str(action),
            "channel": channel,
            "offset": offset,
            "visibility": str(message.visibility),
            "review": str(message.review),
            "actor": _actor(actor),
            "ts": now,
        },
    )
    return MessageDecision(result, published.offset)


# -- sanctions ----------------------------------------------------------------------------------


async def _announce_sanction(services: Services, action: str, actor: User, target: User) -> None:
    await _feed(
        services,
        {
            "kind": "action",
            "action": action,
            "user": {"id": target.id, "name": target.display_name},
            "actor": _actor(actor),
            "ts": services.clock.now_ms(),
        },
    )


async def warn(
    services: Services,
    target: User,
    *,
    actor: User,
    reason: str,
    about: tuple[ChannelName, Offset] | None,
) -> int:
    """A warning pushed to the user's open connections; the audit entry's id."""
    entry = await moderation_store(services).add_audit(
        "warn",
        actor_id=actor.id,
        reason=reason,
        now=services.clock.now_ms(),
        channel=about[0] if about else None,
        offset=about[1] if about else None,
        target_user_id=target.id,
    )
    push: dict[str, Any] = {
        "push": "moderation",
        "kind": "warning",
        "ref": entry,
        "reason": reason,
        "channel": about[0] if about else None,
        "ts": services.clock.now_ms(),
    }
    await _control(services, NotifyUser(user_id=target.id, push=push))
    # And in the inbox, for a resident who was not on a page (or dismissed the notice).
    await notify(
        services,
        key=f"mod-warning:{entry}",
        kind=Kind.MODERATION,
        text_zh=f"管理員向你發出警告：{reason}",
        text_en=f"A moderator warned you: {reason}",
        link="/rules",
        user_ids=[target.id],
        actor_id=actor.id,
    )
    await _announce_sanction(services, "warn", actor, target)
    return entry


async def mute_or_ban(
    services: Services,
    target: User,
    kind: SanctionKind,
    *,
    actor: User,
    reason: str,
    about: tuple[ChannelName, Offset] | None,
    channel_only: bool = False,
    seconds: int | None = None,
) -> dict[str, Any]:
    """A mute (everywhere, or in ``about``'s channel when ``channel_only``; for ``seconds``) or
    a ban (ends the user's sessions and connections at once)."""
    now = services.clock.now_ms()
    scope = None
    expires_at = None
    if kind is SanctionKind.MUTE:
        if channel_only:
            if about is None:
                raise ApiError(400, HttpCode.BAD_REQUEST, "A channel mute needs 'channel'.")
            scope = about[0]
        if seconds is None or not 1 <= seconds <= MAX_MUTE_SECONDS:
            raise ApiError(
                400,
                HttpCode.BAD_REQUEST,
                f"'seconds' must be an integer from 1 to {MAX_MUTE_SECONDS}.",
                field="seconds",
            )
        expires_at = now + seconds * 1000
    made = await moderation_store(services).add_sanction(
        target.id,
        kind,
        channel=scope,
        expires_at=expires_at,
        actor_id=actor.id,
        reason=reason,
        now=now,
        channel_context=about,
    )
    if kind is SanctionKind.BAN:
        await services.store.delete_user_sessions(target.id)
        await _control(services, EndUser(user_id=target.id, reason=reason))
    else:
        await _control(services, InvalidateSanctions(user_id=target.id))
        push = {
            "push": "moderation",
            "kind": "muted",
            "ref": made.id,
            "channel": scope,
            "until": expires_at,
            "reason": reason,
        }
        await _control(services, NotifyUser(user_id=target.id, push=push))
    await _announce_sanction(services, str(kind), actor, target)
    return {"id": made.id, "kind": str(kind), "channel": scope, "expires_at": expires_at}


async def lift(
    services: Services, target: User, kind: SanctionKind, *, actor: User, reason: str
) -> int:
    """End the user's mutes or bans; how many were in force."""
    lifted = await moderation_store(services).lift_sanctions(
        target.id, kind, actor_id=actor.id, reason=reason, now=services.clock.now_ms()
    )
    await _control(services, InvalidateSanctions(user_id=target.id))
    if kind is SanctionKind.MUTE:
        push = {"push": "moderation", "kind": "unmuted", "reason": reason}
        await _control(services, NotifyUser(user_id=target.id, push=push))
    await _announce_sanction(services, f"un{kind}", actor, target)
    return lifted


# -- held messages ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HeldDecision:
    changed: bool
    state: str
    offset: Offset | None


async def decide_held(
    services: Services,
    held_id: int,
    *,
    approve: bool,
    actor: User,
    reason: str,
    publishers: Mapping[str, HeldPublisher] | None = None,
) -> HeldDecision:
    """Approve (publish it, once however often approved) or reject a held message. A message
    held in a feature's place (a forum topic) is written by that feature's publisher
    (``Feature.held_publishers``); a chat room's is published here."""
    mod = moderation_store(services)
    held = await mod.get_held(held_id)
    if held is None:
        raise ApiError(404, HttpCode.NOT_FOUND, "No such held message.")
    if held.state is not HeldState.HELD:
        return HeldDecision(False, str(held.state), held.published_offset)
    offset = None
    publisher = (publishers or {}).get(held.channel.partition(":")[0])
    if approve and publisher is not None:
        offset = await publisher(services, held)
    elif approve:
        author = Principal(held.author_id, "", held.author_name, Role.RESIDENT, None)
        cmid = f"held-{held.id}"
        # The gateway's idempotency key for the author's message: approving twice publishes once.
        published = await services.broker.publish(
            held.channel,
            chat_data(author, held.body, cmid, held.created_at),
            idempotency_key=f"{held.author_id}:{cmid}",
        )
        offset = published.offset
    now = services.clock.now_ms()
    try:
        changed = await mod.decide_held(
            held.id,
            approve=approve,
            actor_id=actor.id,
            reason=reason,
            now=now,
            published_offset=offset,
        )
    except NotFound:
        raise ApiError(404, HttpCode.NOT_FOUND, "No such held message.") from None
    await _feed(
        services,
        {
            "kind": "action",
            "action": "approve" if approve else "reject",
            "held_id": held.id,
            "channel": held.channel,
            "offset": offset,
            "actor": _actor(actor),
            "ts": now,
        },
    )
    return HeldDecision(changed, "approved" if offset else "rejected", offset)


# -- word list, settings, rules -------------------------------------------------------------------


async def add_word(
    services: Services, pattern: str, action: WordAction, *, actor: User, reason: str
) -> Word:
    try:
        word = await moderation_store(services).add_word(
            pattern, action, actor_id=actor.id, reason=reason, now=services.clock.now_ms()
        )
    except ValueError as exc:
        raise ApiError(400, HttpCode.BAD_REQUEST, str(exc), field="pattern") from None
    await _control(services, InvalidateWords())
    return word


async def remove_word(services: Services, word_id: int, *, actor: User, reason: str) -> None:
    removed = await moderation_store(services).remove_word(
        word_id, actor_id=actor.id, reason=reason, now=services.clock.now_ms()
    )
    if not removed:
        raise ApiError(404, HttpCode.NOT_FOUND, "No such word.")
    await _control(services, InvalidateWords())


async def set_auto_hide_threshold(
    services: Services, threshold: int, *, actor: User, reason: str
) -> None:
    await moderation_store(services).set_setting(
        "auto_hide_threshold",
        str(threshold),
        actor_id=actor.id,
        reason=reason,
        now=services.clock.now_ms(),
    )


async def set_rules(
    services: Services, locale: str, body: str, *, actor: User, reason: str
) -> None:
    await moderation_store(services).set_rules(
        locale, body, actor_id=actor.id, reason=reason, now=services.clock.now_ms()
    )


# -- appeals ------------------------------------------------------------------------------------

#: The longest appeal note.
MAX_APPEAL_CHARS = 500


async def appeal(
    services: Services,
    user: User,
    *,
    kind: str,
    ref: int | None,
    message: tuple[ChannelName, Offset] | None,
    note: str,
) -> Appeal:
    """The author's one appeal against a warning (``ref`` its audit id), a mute (``ref`` the
    sanction id) or a hidden message (``message``): an item in the moderators' queue."""
    mod = moderation_store(services)
    if kind == "warning" and ref is not None:
        entry = await mod.get_warning(ref)
        if entry is None or entry.target_user_id != user.id:
            raise ApiError(404, HttpCode.NOT_FOUND, "No such warning of yours.")
        subject, summary = f"warning:{ref}", entry.reason
    elif kind == "mute" and ref is not None:
        sanction = await mod.get_sanction(ref)
        if sanction is None or sanction.user_id != user.id or sanction.kind is SanctionKind.BAN:
            raise ApiError(404, HttpCode.NOT_FOUND, "No such mute of yours.")
        subject, summary = f"sanction:{ref}", sanction.reason
    elif kind == "ban" and ref is not None:
        sanction = await mod.get_sanction(ref)
        if sanction is None or sanction.user_id != user.id or sanction.kind is not SanctionKind.BAN:
            raise ApiError(404, HttpCode.NOT_FOUND, "No such ban of yours.")
        subject, summary = f"sanction:{ref}", sanction.reason
    elif kind == "message" and message is not None:
        moderated = await mod.get_message(*message)
        if (
            moderated is None
            or moderated.author_id != user.id
            or moderated.visibility is Visibility.VISIBLE
        ):
            raise ApiError(404, HttpCode.NOT_FOUND, "No hidden message of yours there.")
        reasons = await mod.decision_reasons(message[0], [message[1]])
        subject = f"message:{message[0]}:{message[1]}"
        summary = reasons.get(message[1], "")
    else:
        raise ApiError(
            400,
            HttpCode.BAD_REQUEST,
            "'kind' must be warning or mute (with 'id') or message (with 'channel', 'offset').",
            field="kind",
        )
    try:
        made = await mod.add_appeal(
            user.id, subject, summary=summary, note=note, now=services.clock.now_ms()
        )
    except AlreadyAppealed:
        raise ApiError(
            409, HttpCode.ALREADY_APPEALED, "You have appealed this decision already."
        ) from None
    await _feed(services, {"kind": "appeal", "appeal": appeal_json(made)})
    return made


#: How long the login refusal's ban-appeal token lasts: the time to write a note after the
#: refusal (then log in again for a new one).
BAN_APPEAL_TOKEN_MS = 30 * 60 * 1000
_BAN_APPEAL_SECRET = "ban-appeal"


async def _sign(services: Services, payload: str) -> str:
    secret = await services.store.instance_secret(
        _BAN_APPEAL_SECRET, secrets.token_urlsafe(32), now=services.clock.now_ms()
    )
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()[:32]


async def ban_appeal_token(services: Services, user_id: int, sanction_id: int) -> str:
    """What the login refusal of a banned account carries (only after the right password), so
    a banned resident, who has no session, can appeal the ban once (``appeal_ban``)."""
    payload = f"{user_id}.{sanction_id}.{services.clock.now_ms() + BAN_APPEAL_TOKEN_MS}"
    return f"{payload}.{await _sign(services, payload)}"


async def appeal_ban(services: Services, token: str, note: str) -> Appeal:
    """A banned resident's one appeal against the ban, with the login refusal's token."""
    parts = token.split(".")
    bad = ApiError(
        400, HttpCode.BAD_REQUEST, "This appeal form is not valid; log in again.", field="token"
    )
    if len(parts) != 4 or not all(p.isascii() and p.isdigit() for p in parts[:3]):
        raise bad
    payload = ".".join(parts[:3])
    if not hmac.compare_digest(parts[3].encode(), (await _sign(services, payload)).encode()):
        raise bad
    user_id, sanction_id, expires = (int(p) for p in parts[:3])
    if expires < services.clock.now_ms():
        raise ApiError(
            400, HttpCode.BAD_REQUEST, "This appeal form has expired; log in again.", field="token"
        )
    user = await services.store.get_user(user_id)
    if user is None:
        raise bad
    return await appeal(services, user, kind="ban", ref=sanction_id, message=None, note=note)


async def close_appeal(
    services: Services,
    appeal_id: int,
    *,
    actor: User,
    answer: str,
    outcome: AppealOutcome | None = None,
) -> Appeal:
    """A moderator's answer to an appeal, with its outcome: ``upheld`` (the decision stands) or
    ``granted`` (it is undone here: a mute or ban lifted, a hidden message shown again, a
    warning withdrawn). Without one (the API before 0038) the outcome is read from the
    decision's state, as the moderator left it. The author finds the answer in the inbox and
    on ``/appeals``; answering a closed appeal changes nothing."""
    mod = moderation_store(services)
    now = services.clock.now_ms()
    if outcome is None:
        outcome = (
            AppealOutcome.UPHELD if await _stands(services, appeal_id) else AppealOutcome.GRANTED
        )
    try:
        closed = await mod.close_appeal(
            appeal_id, actor_id=actor.id, answer=answer, outcome=outcome, now=now
        )
    except NotFound:
        raise ApiError(404, HttpCode.NOT_FOUND, "No such appeal.") from None
    if closed.handled_by != actor.id or closed.handled_at != now:
        return closed  # answered already (by another moderator, or a second click)
    if closed.outcome is AppealOutcome.GRANTED:
        await _undo(services, closed, actor=actor, reason=answer)
    text_zh, text_en, link = await _appeal_answered(services, closed)
    await notify(
        services,
        key=f"mod-appeal:{appeal_id}",
        kind=Kind.MODERATION,
        text_zh=text_zh,
        text_en=text_en,
        link=link,
        user_ids=[closed.user_id],
        actor_id=actor.id,
    )
    await _feed(services, {"kind": "appeal", "appeal": appeal_json(closed)})
    return closed


async def _stands(services: Services, appeal_id: int) -> bool:
    """Whether the decision an open appeal is against is still in force."""
    mod = moderation_store(services)
    found = [a for a in await mod.appeals(state=AppealState.OPEN, limit=1000) if a.id == appeal_id]
    if not found:
        return True  # closed or unknown: the store's answer decides
    a = found[0]
    kind, _, ref = a.subject.partition(":")
    if kind == "sanction" and ref.isdigit():
        active = await mod.active_sanctions(a.user_id, now=services.clock.now_ms())
        return any(s.id == int(ref) for s in active)
    if kind == "message" and ref.rpartition(":")[2].isdigit():
        channel, _, offset = ref.rpartition(":")
        message = await mod.get_message(channel, int(offset))
        return message is not None and message.visibility is not Visibility.VISIBLE
    return True


async def _undo(services: Services, a: Appeal, *, actor: User, reason: str) -> None:
    """A granted appeal's decision undone, with the moderator's answer as the reason (audited
    by the actions used). A mute or ban is lifted through ``lift``, which ends the user's
    sanctions of that kind (there is rarely more than one)."""
    mod = moderation_store(services)
    kind, _, ref = a.subject.partition(":")
    if kind == "sanction" and ref.isdigit():
        sanction = await mod.get_sanction(int(ref))
        active = await mod.active_sanctions(a.user_id, now=services.clock.now_ms())
        target = await services.store.get_user(a.user_id)
        if sanction is not None and target is not None and any(s.id == sanction.id for s in active):
            await lift(services, target, sanction.kind, actor=actor, reason=reason)
    elif kind == "message" and ref.rpartition(":")[2].isdigit():
        channel, _, offset = ref.rpartition(":")
        message = await mod.get_message(channel, int(offset))
        if message is not None and message.visibility is Visibility.HIDDEN:
            await act_on_message(
                services,
                ChannelName(channel),
                Offset(int(offset)),
                MessageAction.RESTORE,
                actor=actor,
                reason=reason,
            )
    # A warning has nothing to undo: the answer withdraws it.


async def appeal_seen(services: Services, user: User, appeal_id: int) -> Appeal:
    """The author read the answer to their appeal (``/appeals``); the chat page stops telling
    them of it."""
    try:
        return await moderation_store(services).appeal_seen(
            appeal_id, user.id, now=services.clock.now_ms()
        )
    except NotFound:
        raise ApiError(404, HttpCode.NOT_FOUND, "No answered appeal of yours.") from None


#: An appeal's decision in words: (zh-Hant, en) for "your appeal against the ...".
_APPEALED_KIND = {
    "warning": ("警告", "warning"),
    "mute": ("禁言", "mute"),
    "ban": ("停用帳號", "ban"),
    "message": ("訊息被隱藏", "hidden message"),
}


async def appealed_kind(services: Services, a: Appeal) -> str:
    """What the appeal is against: warning, mute, ban, message (or decision)."""
    kind, _, ref = a.subject.partition(":")
    if kind == "sanction" and ref.isdigit():
        sanction = await moderation_store(services).get_sanction(int(ref))
        return "mute" if sanction is None else str(sanction.kind)
    return kind if kind in ("warning", "message") else "decision"


async def _appeal_answered(services: Services, a: Appeal) -> tuple[str, str, str]:
    """The answered appeal's inbox line in both languages, saying the outcome (the decision
    stands, or was lifted / the message is shown again / the warning withdrawn), and where the
    author reads the answer: the login page for a ban (a banned resident has no session; the
    refusal after the password shows it), else their appeals page."""
    kind = await appealed_kind(services, a)
    zh_kind, en_kind = _APPEALED_KIND.get(kind, ("決定", "decision"))
    if a.outcome is not AppealOutcome.GRANTED:
        zh_outcome, en_outcome = "決定維持", "the decision stands"
    elif kind == "message":
        zh_outcome, en_outcome = "訊息已恢復顯示", "your message is shown again"
    elif kind == "warning":
        zh_outcome, en_outcome = "警告已撤回", "the warning is withdrawn"
    else:
        zh_outcome, en_outcome = f"{zh_kind}已解除", f"the {en_kind} was lifted"
    text_zh = f"管理員已回覆你對{zh_kind}的申訴：{zh_outcome}。回覆：{a.answer}"
    text_en = f"A moderator answered your appeal against the {en_kind}: {en_outcome}. {a.answer}"
    link = "/login" if kind == "ban" else f"/appeals#appeal-{a.id}"
    return text_zh, text_en, link


def appeal_json(a: Appeal) -> dict[str, Any]:
    return {
        "id": a.id,
        "user": {"id": a.user_id, "name": a.user_name},
        "subject": a.subject,
        "summary": a.summary,
        "note": a.note,
        "state": str(a.state),
        "created_at": a.created_at,
        "handled_by": a.handled_by,
        "handled_at": a.handled_at,
        "answer": a.answer,
        "outcome": str(a.outcome) if a.outcome is not None else None,
        "seen_at": a.seen_at,
    }


#: How much of the prompting message a moderator reads beside a sanction.
EXCERPT_CHARS = 80


def excerpt(text: str) -> str:
    """The start of a message's text, on one line, at most ``EXCERPT_CHARS`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1] + "…"


async def because_of(services: Services, channel: ChannelName, offset: Offset) -> dict[str, Any]:
    """The message that prompted a sanction, for moderators only: its room (``channel``),
    ``offset`` and an ``excerpt`` of its text (as moderators read it: a deleted message's text
    until the retention sweep blanks it; "" when not on record)."""
    message = await moderation_store(services).get_message(channel, offset)
    return {
        "channel": channel,
        "offset": offset,
        "excerpt": "" if message is None else excerpt(message.body),
    }


async def appeal_decision(services: Services, a: Appeal) -> dict[str, Any] | None:
    """What an appeal is against, for a volunteer moderator reading the queue: the kind of
    decision (warning, mute, ban, hidden or deleted message), its room (``channel``; None:
    every room), who it concerns (with their building), its reason and when it ends (None: until
    lifted). None when the decision is no longer on record (the page shows the raw subject)."""
    mod = moderation_store(services)
    kind, _, ref = a.subject.partition(":")
    decision: dict[str, Any]
    if kind == "sanction" and ref.isdigit():
        sanction = await mod.get_sanction(int(ref))
        if sanction is None:
            return None
        decision = {
            "kind": str(sanction.kind),
            "channel": sanction.channel,
            "user_id": sanction.user_id,
            "reason": sanction.reason,
            "at": sanction.created_at,
            "until": sanction.expires_at,
        }
        if sanction.source_channel is not None and sanction.source_offset is not None:
            decision["because"] = await because_of(
                services, sanction.source_channel, sanction.source_offset
            )
    elif kind == "warning" and ref.isdigit():
        entry = await mod.get_warning(int(ref))
        if entry is None:
            return None
        decision = {
            "kind": "warning",
            "channel": entry.channel,
            "user_id": entry.target_user_id,
            "reason": entry.reason,
            "at": entry.at,
        }
    elif kind == "message" and ":" in ref and ref.rpartition(":")[2].isdigit():
        channel, _, offset = ref.rpartition(":")
        message = await mod.get_message(channel, int(offset))
        if message is None:
            return None
        decision = {
            "kind": str(message.visibility),
            "channel": channel,
            "user_id": message.author_id,
            "reason": a.summary,
            "at": message.first_action_at,
            "text": message.body,
        }
    else:
        return None
    user_id = decision.pop("user_id")
    user = None if user_id is None else await services.store.get_user(user_id)
    building = None
    if user is not None and user.building_id is not None:
        found = await services.store.get_building(user.building_id)
        building = None if found is None else found.name
    decision["user"] = (
        None if user is None else {"id": user.id, "name": user.display_name, "building": building}
    )
    return decision


# -- retention of deleted text -------------------------------------------------------------------

#: The timers' job (``Feature.recurring``): once a day, deleted messages' text older than
#: ``LINLI_MOD_DELETED_TEXT_DAYS`` is blanked.
PURGE_TIMER = "moderation.purge_deleted"
DAY_MS = 86_400_000


def next_purge(services: Services) -> int:
    """The first run: a minute after the worker starts (then daily)."""
    return services.clock.now_ms() + 60_000


async def on_purge_timer(services: Services, job: TimerJob) -> None:
    """Blank the deleted messages' text past the retention period (idempotent: a blanked one is
    not counted again), then schedule tomorrow's run."""
    now = services.clock.now_ms()
    await purge_deleted_text(services, now=now)
    await services.timers.schedule(job.key, PURGE_TIMER, now + DAY_MS, {}, now=now)


async def purge_deleted_text(services: Services, *, now: int) -> int:
    before = now - services.settings.mod_deleted_text_days * DAY_MS
    # Their photos go with their text (design 0032), first, so a crash between finds them again.
    await photo_actions.delete_of_mod_deleted_before(services, before)
    return await moderation_store(services).purge_deleted_text(before=before, now=now)

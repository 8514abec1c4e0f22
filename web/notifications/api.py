"""The notifications HTTP API: the inbox (list, unread count, mark read), preferences per kind
and channel, quiet hours, the e-mail address and digest, rooms followed or muted, and the reach
of a notification for staff (``docs/protocol.md``, "Notifications API")."""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channels.names import InvalidChannel, parse_channel
from linli.types import Role
from persistence.notifications import Channel, Digest, Kind, Notification, RoomMode
from web.api import require_user
from web.http import ApiError, HttpCode, decode_body, services_of, set_field
from web.notifications import actions
from web.notifications.actions import notifications_store

#: Minutes after local midnight.
Minute = Annotated[int, msgspec.Meta(ge=0, lt=24 * 60)]
_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,63}$")
STAFF = (Role.MODERATOR, Role.ADMIN, Role.ORGANISER)


def notification_json(n: Notification) -> dict[str, Any]:
    return {
        "id": n.id,
        "kind": str(n.kind),
        "urgent": n.urgent,
        "text": {"zh-Hant": n.text_zh, "en": n.text_en},
        "link": n.link,
        "at": n.created_at,
        "read": n.read_at is not None,
    }


async def inbox(request: Request) -> Response:
    """Newest first, ``limit`` (1-100, default 30) older than ``before``; and the unread count."""
    user = await require_user(request)
    raw_before = request.query_params.get("before") or ""
    raw_limit = request.query_params.get("limit") or "30"
    if (raw_before and not raw_before.isdigit()) or not raw_limit.isdigit():
        raise ApiError(400, HttpCode.BAD_REQUEST, "'before' and 'limit' must be integers.")
    store = notifications_store(services_of(request))
    items = await store.inbox(
        user.id,
        before_id=int(raw_before) if raw_before else None,
        limit=max(1, min(int(raw_limit), 100)),
    )
    unread = (await store.unread_counts([user.id]))[user.id]
    return JSONResponse({"notifications": [notification_json(n) for n in items], "unread": unread})


async def unread(request: Request) -> Response:
    user = await require_user(request)
    counts = await notifications_store(services_of(request)).unread_counts([user.id])
    return JSONResponse({"unread": counts[user.id]})


class ReadBody(msgspec.Struct, frozen=True):
    """``ids``: the notifications to mark read; absent or null: all of them."""

    ids: list[int] | None = None


async def mark_read(request: Request) -> Response:
    user = await require_user(request)
    body = await decode_body(request, ReadBody)
    changed = await actions.mark_read(services_of(request), user.id, body.ids)
    unread = (await notifications_store(services_of(request)).unread_counts([user.id]))[user.id]
    return JSONResponse({"changed": changed, "unread": unread})


async def _prefs_json(request: Request, user_id: int) -> dict[str, Any]:
    store = notifications_store(services_of(request))
    prefs = (await store.prefs([user_id]))[user_id]
    settings = (await store.settings([user_id]))[user_id]
    return {
        "kinds": {str(kind): {str(ch): prefs[(kind, ch)] for ch in Channel} for kind in Kind},
        "quiet": {"start": settings.quiet_start, "end": settings.quiet_end},
        "email": settings.email,
        "digest": str(settings.digest),
        "rooms": {c: str(m) for c, m in sorted((await store.rooms(user_id)).items())},
    }


class PrefsBody(msgspec.Struct, frozen=True):
    """Any of: ``kinds`` ({kind: {channel: bool}}, only the ones to change), ``quiet``
    ({"start", "end"} minutes after local midnight; equal: no quiet hours), ``email`` (an
    address, or null to forget it), ``digest`` (off, daily, weekly)."""

    kinds: dict[Kind, dict[Channel, bool]] = {}
    quiet: dict[str, Minute] | None = None
    email: str | None = ""
    digest: Digest | None = None

    def __post_init__(self) -> None:
        if self.quiet is not None and set(self.quiet) != {"start", "end"}:
            raise ApiError(
                400, HttpCode.BAD_REQUEST, "'quiet' needs 'start' and 'end'.", field="quiet"
            )
        if self.email:
            email = self.email.strip()
            if not _EMAIL_RE.match(email):
                raise ApiError(
                    400,
                    HttpCode.BAD_REQUEST,
                    "That does not look like an e-mail address.",
                    field="email",
                )
            set_field(self, "email", email)


async def prefs(request: Request) -> Response:
    user = await require_user(request)
    if request.method == "POST":
        body = await decode_body(request, PrefsBody)
        services = services_of(request)
        for kind, channels in body.kinds.items():
            for channel, enabled in channels.items():
                await actions.set_pref(services, user.id, kind, channel, enabled)
        if body.quiet is not None or body.email != "" or body.digest is not None:
            current = (await notifications_store(services).settings([user.id]))[user.id]
            quiet = body.quiet or {"start": current.quiet_start, "end": current.quiet_end}
            await actions.save_settings(
                services,
                user.id,
                quiet_start=quiet["start"],
                quiet_end=quiet["end"],
                email=current.email if body.email == "" else body.email,
                digest=body.digest or current.digest,
            )
    return JSONResponse(await _prefs_json(request, user.id))


class RoomBody(msgspec.Struct, frozen=True):
    """``mode``: follow (every message notifies), mute (nothing does), or null (the default:
    mentions only)."""

    channel: str
    mode: RoomMode | None = None


async def room(request: Request) -> Response:
    user = await require_user(request)
    body = await decode_body(request, RoomBody)
    try:
        channel = parse_channel(body.channel)
    except InvalidChannel as exc:
        raise ApiError(400, HttpCode.BAD_REQUEST, str(exc), field="channel") from None
    await actions.set_room(services_of(request), user.id, channel.name, body.mode)
    return JSONResponse(await _prefs_json(request, user.id))


async def reach(request: Request) -> Response:
    """How a notification (its ``source`` key) reached households: by push, e-mail, neither."""
    await require_user(request, *STAFF)
    source = request.query_params.get("source", "")
    if not source:
        raise ApiError(400, HttpCode.BAD_REQUEST, "'source' is required.")
    found = await notifications_store(services_of(request)).reach(source)
    return JSONResponse(
        {
            "source": source,
            "recipients": found.recipients,
            "units": found.units,
            "by_push": found.by_push,
            "by_email": found.by_email,
            "neither": found.neither,
            "deliveries": found.deliveries,
        }
    )


ROUTES = [
    Route("/api/notifications", inbox, methods=["GET"]),
    Route("/api/notifications/unread", unread, methods=["GET"]),
    Route("/api/notifications/read", mark_read, methods=["POST"]),
    Route("/api/notifications/prefs", prefs, methods=["GET", "POST"]),
    Route("/api/notifications/rooms", room, methods=["POST"]),
    Route("/api/notifications/reach", reach, methods=["GET"]),
]

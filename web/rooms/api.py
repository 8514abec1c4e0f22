"""The rooms API (``docs/protocol.md``, "Rooms and pins"): the rooms a user sees with their pins,
and pinning (management and admins)."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channels.names import ChannelKind, ChannelRef, InvalidChannel, parse_channel
from web.api import ApiError, require_user
from web.http import decode_body, services_of
from web.rooms import actions
from web.sessions import principal_of


def _room(raw: str) -> ChannelRef:
    try:
        ref = parse_channel(raw)
    except InvalidChannel as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    if ref.kind not in (ChannelKind.BUILDING, ChannelKind.GROUP):
        raise ApiError(400, "bad_request", "Not a chat room.")
    return ref


async def rooms(request: Request) -> Response:
    user = await require_user(request)
    services = services_of(request)
    views = await actions.rooms_for(services, user, principal_of(user))
    pins = await actions.room_store(services).pins([v.channel for v in views])
    return JSONResponse(
        {
            "staff": user.role in actions.STAFF_ROLES,
            "rooms": [
                {
                    "channel": v.channel,
                    "name": v.name,
                    "kind": v.kind,
                    "own": v.own,
                    "may_post": v.may_post,
                    "why": v.why,
                    "pin": actions.pin_json(pins[v.channel]) if v.channel in pins else None,
                }
                for v in views
            ],
        }
    )


class PinBody(msgspec.Struct, frozen=True):
    offset: int

    def __post_init__(self) -> None:
        if not 0 < self.offset <= 2**53:
            raise ApiError(400, "bad_request", "'offset' must be positive.", field="offset")


async def pin(request: Request) -> Response:
    user = await require_user(request)
    body = await decode_body(request, PinBody)
    made = await actions.pin(
        services_of(request), user, _room(request.path_params["channel"]), body.offset
    )
    return JSONResponse({"pin": actions.pin_json(made)})


async def unpin(request: Request) -> Response:
    user = await require_user(request)
    removed = await actions.unpin(services_of(request), user, _room(request.path_params["channel"]))
    return JSONResponse({"removed": removed})


ROUTES = [
    Route("/api/rooms", rooms),
    Route("/api/rooms/{channel}/pin", pin, methods=["POST"]),
    Route("/api/rooms/{channel}/unpin", unpin, methods=["POST"]),
]

"""Photos in chat rooms over HTTP (docs/protocol.md, "Photos"): upload one to a room, then
fetch it or its thumbnail as a reader of the room while its message is visible."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channels.access import Action
from channels.names import ChannelKind, ChannelRef, InvalidChannel, parse_channel
from gateway.gateway import Gateway
from gateway.photos.ops import photo_urls
from gateway.ratelimit import RateLimiter
from persistence.blobs import is_blob_id
from persistence.photos import ChatPhoto
from persistence.photos.sql import SqlPhotoStore
from web.api import require_user
from web.http import ApiError, HttpCode, services_of
from web.photos import actions
from web.sessions import principal_of
from web.uploads import IMAGE_KINDS, UploadRefused, accept_upload, file_response, read_upload

#: Photos a user may upload: one every 3 seconds on average, five at once (per process, like
#: chat's publish limit).
PHOTO_RATE = 1 / 3
PHOTO_BURST = 5
_LIMITERS: dict[int, RateLimiter] = {}


def _limiter(gateway: Gateway) -> RateLimiter:
    found = _LIMITERS.get(id(gateway))
    if found is None:
        found = _LIMITERS[id(gateway)] = RateLimiter(PHOTO_RATE, PHOTO_BURST)
    return found


def _room(raw: str) -> ChannelRef:
    try:
        ref = parse_channel(raw)
    except InvalidChannel as exc:
        raise ApiError(400, HttpCode.BAD_REQUEST, str(exc)) from None
    if ref.kind not in (ChannelKind.BUILDING, ChannelKind.GROUP):
        raise ApiError(400, HttpCode.BAD_REQUEST, "Not a chat room.")
    return ref


def photo_json(photo: ChatPhoto) -> dict[str, Any]:
    return {
        "id": photo.id,
        "channel": photo.channel,
        "width": photo.width,
        "height": photo.height,
        "size": photo.size,
        "filename": photo.filename,
        **photo_urls(photo.id),
    }


async def upload(request: Request) -> Response:
    """A photo for a message in the room (the raw image as the body, its name in ``?name=``):
    checked by content (``web/uploads.py``), stored, not yet shown to anyone; the ``publish``
    that names its id shows it."""
    user = await require_user(request)
    channel = _room(request.path_params["channel"])
    services = services_of(request)
    gateway: Gateway = request.app.state.gateway
    if not await gateway.allowed(principal_of(user), channel, Action.WRITE):
        raise ApiError(403, HttpCode.FORBIDDEN, "You may not write in this room.")
    limiter = _limiter(gateway)
    if not limiter.allow(user.id, asyncio.get_running_loop().time()):
        raise ApiError(429, HttpCode.RATE_LIMITED, "Too many photos at once; wait a moment.")
    limit = services.settings.upload_max_bytes
    data = await read_upload(request, limit)
    try:
        checked = await accept_upload(
            data, request.query_params.get("name", ""), max_bytes=limit, allowed=IMAGE_KINDS
        )
    except UploadRefused as exc:
        limiter.refund(user.id)
        raise exc.api_error() from None
    photo = await actions.store_photo(services, channel, checked, uploader_id=user.id)
    return JSONResponse({"photo": photo_json(photo)}, status_code=201)


async def fetch(request: Request) -> Response:
    """The photo or its thumbnail, ``Cache-Control: private``: 403 for who may not read its
    room, 404 for no such photo or one whose message is hidden or deleted."""
    user = await require_user(request)
    photo_id = request.path_params["photo_id"]
    size = request.path_params.get("size")
    if not is_blob_id(photo_id) or size not in (None, "thumb"):
        raise ApiError(404, HttpCode.NOT_FOUND, "No such photo.")
    services = services_of(request)
    photo = await SqlPhotoStore(services.database).get(photo_id)
    gateway: Gateway = request.app.state.gateway
    found = await actions.readable(services, gateway.allowed, principal_of(user), photo)
    if found is actions.Readable.NO_ROOM:
        raise ApiError(403, HttpCode.FORBIDDEN, "You may not read this room.")
    if found is not actions.Readable.YES or photo is None:
        raise ApiError(404, HttpCode.NOT_FOUND, "No such photo.")
    thumbnail = size == "thumb"
    data = await actions.photo_bytes(services, photo, thumbnail=thumbnail)
    if data is None:
        raise ApiError(404, HttpCode.NOT_FOUND, "No such photo.")
    if thumbnail:
        stem = photo.filename.rsplit(".", 1)[0]
        return file_response(data, media_type="image/jpeg", filename=f"{stem}-thumb.jpg")
    return file_response(data, media_type=photo.media_type, filename=photo.filename)


ROUTES = [
    Route("/api/rooms/{channel}/photos", upload, methods=["POST"]),
    Route("/api/photos/{photo_id}", fetch, methods=["GET"]),
    Route("/api/photos/{photo_id}/{size}", fetch, methods=["GET"]),
]

"""The privacy HTTP API (``docs/protocol.md``, "Privacy"): a resident downloads their data and
deletes their account; administrators read and set how long each kind of record is kept."""

from __future__ import annotations

from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from linli.roles import Can, roles_that
from persistence.privacy import MAX_RETENTION_DAYS, MIN_RETENTION_DAYS, RetentionKind
from web import throttle
from web.api import require_user
from web.http import ApiError, decode_body, services_of
from web.privacy import actions
from web.sessions import COOKIE_NAMES, SECURE_COOKIE_NAME

_ADMINS = roles_that(Can.ADMINISTER)


async def export(request: Request) -> Response:
    user = await require_user(request)
    data = await actions.export_zip(services_of(request), user)
    day = services_of(request).clock.now_ms() // 86_400_000
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="linli-my-data-{day}.zip"',
            "Cache-Control": "no-store",
        },
    )


class DeleteBody(msgspec.Struct, frozen=True):
    password: Annotated[str, msgspec.Meta(max_length=200)]


async def delete_account(request: Request) -> Response:
    user = await require_user(request)
    body = await decode_body(request, DeleteBody)
    try:
        await actions.delete_account(services_of(request), user, body.password)
    except actions.WrongPassword:
        raise ApiError(
            403,
            "wrong_password",
            "The password is not right; the account was not deleted.",
            field="password",
        ) from None
    response = JSONResponse({"ok": True})
    for name in COOKIE_NAMES:
        response.delete_cookie(name, path="/", secure=name == SECURE_COOKIE_NAME)
    response.delete_cookie(throttle.DEVICE_COOKIE, path="/api/login")
    return response


def _retention_json(found: dict[RetentionKind, int | None]) -> dict[str, int | None]:
    return {str(kind): days for kind, days in found.items()}


class RetentionBody(msgspec.Struct, frozen=True):
    kind: RetentionKind
    #: None: kept for ever.
    days: Annotated[int, msgspec.Meta(ge=MIN_RETENTION_DAYS, le=MAX_RETENTION_DAYS)] | None


async def retention(request: Request) -> Response:
    user = await require_user(request, *_ADMINS)
    services = services_of(request)
    if request.method == "POST":
        body = await decode_body(request, RetentionBody)
        await actions.set_retention(services, body.kind, body.days, actor=user)
    found = await actions.privacy_store(services).retention()
    return JSONResponse({"retention": _retention_json(found)})


ROUTES = [
    Route("/api/privacy/export", export, methods=["GET"]),
    Route("/api/privacy/delete", delete_account, methods=["POST"]),
    Route("/api/privacy/retention", retention, methods=["GET", "POST"]),
]

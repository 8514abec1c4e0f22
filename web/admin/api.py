"""The admin console's HTTP API (``docs/protocol.md``, "Admin console"): every route but the
password reset is for admins only (``Can.ADMINISTER``; 403 ``forbidden`` for anyone else).
Handlers parse, authorise, call ``web/admin/actions.py`` and serialise."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from linli.feature import LoginRefused
from linli.roles import Can, roles_that
from linli.types import BuildingId, Role, UserId
from persistence.admin import UnitLabelTaken
from persistence.errors import NotFound
from persistence.store import User
from web import passwords, throttle
from web.admin import actions
from web.admin.actions import AdminError
from web.api import _client_address, _start_session, _too_many, require_user
from web.http import (
    ApiError,
    Empty,
    check_origin,
    decode,
    decode_body,
    line,
    services_of,
    set_field,
)
from web.uploads import IMAGE_KINDS, UploadRefused, accept_upload, read_upload

#: A CSV import is larger than other bodies: some thousand lines of a few dozen bytes.
MAX_IMPORT_BYTES = 512 * 1024
ADMINS = roles_that(Can.ADMINISTER)


async def _admin(request: Request) -> User:
    return await require_user(request, *ADMINS)


def _id(request: Request, name: str) -> int:
    return int(request.path_params[name])


# -- buildings and units -------------------------------------------------------------------------


def unit_json(u: Any) -> dict[str, Any]:
    return {
        "id": u.unit_id,
        "building_id": u.building_id,
        "building": u.building_name,
        "label": u.label,
        "floor": u.floor,
        "share": actions.format_share(u.share_ppm),
        "household_size": u.household_size,
        "residents": u.residents,
    }


async def units(request: Request) -> Response:
    await _admin(request)
    services = services_of(request)
    return JSONResponse(
        {
            "buildings": [
                {"id": b.id, "name": b.name} for b in await services.store.list_buildings()
            ],
            "units": [unit_json(u) for u in await actions.admin_store(services).units()],
        }
    )


class NameBody(msgspec.Struct, frozen=True):
    name: str

    def __post_init__(self) -> None:
        set_field(self, "name", line(self.name, "name", max_len=60))


async def rename_building(request: Request) -> Response:
    user = await _admin(request)
    body = await decode_body(request, NameBody)
    try:
        await actions.rename_building(
            services_of(request), BuildingId(_id(request, "building_id")), body.name, actor=user
        )
    except NotFound:
        raise ApiError(404, "not_found", "No such building.") from None
    return JSONResponse({"ok": True})


class UnitBody(msgspec.Struct, frozen=True):
    label: str
    floor: str = ""
    share: str = ""
    household_size: Annotated[int, msgspec.Meta(ge=0, le=actions.MAX_HOUSEHOLD)] = 0

    def __post_init__(self) -> None:
        set_field(self, "label", line(self.label, "label", max_len=20))
        set_field(self, "floor", line(self.floor, "floor", min_len=0, max_len=10))
        if self.share.strip() and actions.parse_share(self.share) is None:
            raise ApiError(
                400,
                "bad_request",
                "The share is a number of ‰ above 0 and at most 1000.",
                field="share",
            )


async def save_unit(request: Request) -> Response:
    user = await _admin(request)
    body = await decode_body(request, UnitBody)
    unit_id = request.path_params.get("unit_id")
    try:
        saved = await actions.save_unit(
            services_of(request),
            BuildingId(_id(request, "building_id")),
            None if unit_id is None else int(unit_id),
            label=body.label,
            floor=body.floor,
            share_ppm=actions.parse_share(body.share) or 0,
            household_size=body.household_size,
            actor=user,
        )
    except NotFound:
        raise ApiError(404, "not_found", "No such building or unit.") from None
    except UnitLabelTaken:
        raise ApiError(
            409, "unit_exists", "The building has a unit of that label.", field="label"
        ) from None
    return JSONResponse({"unit": {"id": saved}}, status_code=200 if unit_id else 201)


class ImportBody(msgspec.Struct, frozen=True):
    csv: Annotated[str, msgspec.Meta(max_length=MAX_IMPORT_BYTES)]
    #: False: a preview (nothing written); True: write it, if every line is right.
    commit: bool = False


def _lines_json(checked: actions.ImportCheck) -> list[dict[str, Any]]:
    return [
        {
            "line": x.line,
            "building": x.building,
            "floor": x.floor,
            "unit": x.unit,
            "share": x.share,
            "household_size": x.household,
            "action": x.action,
            "errors": list(x.errors),
        }
        for x in checked.lines
    ]


async def import_units(request: Request) -> Response:
    user = await _admin(request)
    services = services_of(request)
    check_origin(request, services)
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send the request body as JSON.")
    raw = await request.body()
    if len(raw) > MAX_IMPORT_BYTES + 1024:
        raise ApiError(413, "too_large", "The file is too large.")
    body = decode(raw or b"{}", ImportBody)
    if body.commit:
        checked = await actions.import_units(services, body.csv, actor=user)
    else:
        checked = await actions.check_import(services, body.csv)
    result = {
        "ok": checked.ok,
        "file_error": checked.file_error,
        "created": checked.created,
        "updated": checked.updated,
        "written": body.commit and checked.ok,
        "lines": _lines_json(checked),
    }
    if body.commit and not checked.ok:
        raise ApiError(
            400, "import_invalid", "Some lines are wrong; nothing was written.", **result
        )
    return JSONResponse(result)


async def export_units(request: Request) -> Response:
    await _admin(request)
    rows = await actions.admin_store(services_of(request)).units()
    # A byte-order mark: Excel opens the UTF-8 (棟, 樓) as such.
    return Response(
        "\ufeff" + actions.export_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="units.csv"'},
    )


# -- residents -----------------------------------------------------------------------------------


async def residents(request: Request) -> Response:
    await _admin(request)
    services = services_of(request)
    q = request.query_params
    building = q.get("building", "")
    role = q.get("role", "")
    status = q.get("status", "")
    if (building and not building.isdigit()) or (role and role not in set(Role)):
        raise ApiError(400, "bad_request", "Unknown building or role.")
    if status not in ("", "active", "disabled"):
        raise ApiError(400, "bad_request", "'status' is active or disabled.")
    rows = await actions.admin_store(services).residents(
        query=q.get("q", "").strip()[:40],
        building_id=BuildingId(int(building)) if building else None,
        role=Role(role) if role else None,
        disabled=None if not status else status == "disabled",
        now=services.clock.now_ms(),
    )
    return JSONResponse(
        {
            "residents": [
                {
                    "id": r.id,
                    "username": r.username,
                    "display_name": r.display_name,
                    "role": str(r.role),
                    "building_id": r.building_id,
                    "building": r.building_name,
                    "unit": r.unit_label,
                    "disabled": r.disabled,
                    "sessions": r.sessions,
                    "created_at": r.created_at,
                }
                for r in rows
            ]
        }
    )


class RoleBody(msgspec.Struct, frozen=True):
    role: Role


async def set_role(request: Request) -> Response:
    user = await _admin(request)
    body = await decode_body(request, RoleBody)
    try:
        await actions.set_role(
            services_of(request), UserId(_id(request, "user_id")), body.role, actor=user
        )
    except NotFound:
        raise ApiError(404, "not_found", "No such user.") from None
    return JSONResponse({"ok": True})


class MoveBody(msgspec.Struct, frozen=True):
    building_id: Annotated[int, msgspec.Meta(ge=1, le=2**31)]
    unit: str

    def __post_init__(self) -> None:
        set_field(self, "unit", line(self.unit, "unit", max_len=20))


async def move_user(request: Request) -> Response:
    user = await _admin(request)
    body = await decode_body(request, MoveBody)
    try:
        await actions.move_user(
            services_of(request),
            UserId(_id(request, "user_id")),
            BuildingId(body.building_id),
            body.unit,
            actor=user,
        )
    except NotFound:
        raise ApiError(404, "not_found", "No such user or building.") from None
    return JSONResponse({"ok": True})


class StatusBody(msgspec.Struct, frozen=True):
    disabled: bool
    reason: str = ""

    def __post_init__(self) -> None:
        set_field(self, "reason", line(self.reason, "reason", min_len=0, max_len=500))


async def set_status(request: Request) -> Response:
    user = await _admin(request)
    body = await decode_body(request, StatusBody)
    target = UserId(_id(request, "user_id"))
    if target == user.id and body.disabled:
        raise ApiError(400, "bad_request", "You cannot disable your own account.")
    try:
        changed = await actions.set_disabled(
            services_of(request), target, body.disabled, reason=body.reason, actor=user
        )
    except NotFound:
        raise ApiError(404, "not_found", "No such user.") from None
    return JSONResponse({"ok": True, "changed": changed})


async def sessions(request: Request) -> Response:
    await _admin(request)
    services = services_of(request)
    rows = await actions.admin_store(services).sessions(
        UserId(_id(request, "user_id")), now=services.clock.now_ms()
    )
    return JSONResponse(
        {
            "sessions": [
                {"ref": s.ref, "created_at": s.created_at, "expires_at": s.expires_at} for s in rows
            ]
        }
    )


class EndBody(msgspec.Struct, frozen=True):
    #: A session's ``ref``; None: every session of the user.
    ref: Annotated[str, msgspec.Meta(min_length=4, max_length=64)] | None = None


async def end_sessions(request: Request) -> Response:
    user = await _admin(request)
    body = await decode_body(request, EndBody)
    ended = await actions.end_sessions(
        services_of(request), UserId(_id(request, "user_id")), body.ref, actor=user
    )
    return JSONResponse({"ended": ended})


async def reset_code(request: Request) -> Response:
    user = await _admin(request)
    await decode_body(request, Empty)
    try:
        issued = await actions.issue_reset_code(
            services_of(request), UserId(_id(request, "user_id")), actor=user
        )
    except NotFound:
        raise ApiError(404, "not_found", "No such user.") from None
    return JSONResponse({"code": issued.code, "expires_at": issued.expires_at}, status_code=201)


# -- the resident's side: redeem a reset code ------------------------------------------------------


class RedeemBody(msgspec.Struct, frozen=True):
    username: str
    code: Annotated[str, msgspec.Meta(max_length=32)]
    password: str

    def __post_init__(self) -> None:
        set_field(self, "username", line(self.username, "username", max_len=64).lower())
        set_field(self, "code", line(self.code, "code", min_len=4, max_len=32))
        if not passwords.MIN_PASSWORD_CHARS <= len(self.password) <= passwords.MAX_PASSWORD_CHARS:
            raise ApiError(
                400,
                "weak_password",
                f"The password must be {passwords.MIN_PASSWORD_CHARS} to "
                f"{passwords.MAX_PASSWORD_CHARS} characters long.",
                field="password",
            )


async def redeem(request: Request) -> Response:
    """The forgot-password page: username + reset code + new password, then logged in. Every
    attempt is reserved like a login's (per account and per address, ``web/throttle.py``)."""
    body = await decode_body(request, RedeemBody)
    services = services_of(request)
    store = services.store
    now = services.clock.now_ms()
    keys = [f"{throttle.RESET}:{body.username}", f"{throttle.ADDRESS}:{_client_address(request)}"]
    wait = await throttle.reserve(store, services.settings, keys, now)
    if wait:
        raise _too_many(wait, "wrong reset codes")
    target = await store.get_user_by_username(body.username)
    if target is None:
        raise ApiError(400, "invalid_reset_code", "The username or reset code is not right.")
    try:
        await actions.redeem_reset_code(services, target, body.code, body.password)
    except NotFound:
        throttle.checked("reset_wrong")
        raise ApiError(
            400, "invalid_reset_code", "The username or reset code is not right.", field="code"
        ) from None
    except LoginRefused as exc:
        raise ApiError(403, exc.code, exc.message) from None
    await store.release_login_attempt(keys, at=now)
    await store.clear_login_failures(keys[0])
    for check in request.app.state.login_checks:
        try:
            await check(services, target)
        except LoginRefused as exc:
            raise ApiError(403, exc.code, exc.message) from None
    throttle.checked("reset_ok")
    return await _start_session(request, target)


# -- invites -------------------------------------------------------------------------------------


async def invites(request: Request) -> Response:
    await _admin(request)
    services = services_of(request)
    now = services.clock.now_ms()
    rows = await actions.admin_store(services).invites()
    return JSONResponse(
        {
            "invites": [
                {
                    "code": i.code,
                    "building_id": i.building_id,
                    "building": i.building_name,
                    "unit_id": i.unit_id,
                    "unit": i.unit_label,
                    "uses": i.uses,
                    "uses_left": i.uses_left,
                    "expires_at": i.expires_at,
                    "created_at": i.created_at,
                    "state": actions.invite_state(i, now),
                    "used_by": [
                        {"id": u[0], "username": u[1], "display_name": u[2], "at": u[3]}
                        for u in i.used_by
                    ],
                }
                for i in rows
            ]
        }
    )


class InviteBody(msgspec.Struct, frozen=True):
    building_id: Annotated[int, msgspec.Meta(ge=1, le=2**31)]
    unit: str = ""
    uses: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 1
    days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 30

    def __post_init__(self) -> None:
        set_field(self, "unit", line(self.unit, "unit", min_len=0, max_len=20))


async def create_invite(request: Request) -> Response:
    user = await _admin(request)
    body = await decode_body(request, InviteBody)
    try:
        invite, unit_id = await actions.create_invite(
            services_of(request),
            BuildingId(body.building_id),
            unit_label=body.unit or None,
            uses=body.uses,
            days=body.days,
            actor=user,
        )
    except NotFound:
        raise ApiError(404, "not_found", "No such building.") from None
    return JSONResponse(
        {
            "invite": {
                "code": invite.code,
                "building_id": invite.building_id,
                "unit_id": unit_id,
                "uses_left": invite.uses_left,
                "expires_at": invite.expires_at,
            }
        },
        status_code=201,
    )


async def revoke_invite(request: Request) -> Response:
    user = await _admin(request)
    await decode_body(request, Empty)
    try:
        revoked = await actions.revoke_invite(
            services_of(request), request.path_params["code"].upper(), actor=user
        )
    except NotFound:
        raise ApiError(404, "not_found", "No such invite.") from None
    return JSONResponse({"ok": True, "revoked": revoked})


# -- settings ------------------------------------------------------------------------------------


async def settings(request: Request) -> Response:
    user = await _admin(request)
    services = services_of(request)
    if request.method == "POST":
        values = await decode_body(request, dict[str, str])
        try:
            current = await actions.change_settings(services, values, actor=user)
        except AdminError as exc:
            raise ApiError(400, exc.code, exc.message, field=exc.field) from None
    else:
        current = await actions.current_settings(services)
    env = services.settings
    return JSONResponse(
        {
            "settings": current,
            "logo": actions.logo_url(services.live.values),
            "read_only": {key: getattr(env, key) for key in actions.READ_ONLY},
        }
    )


async def upload_logo(request: Request) -> Response:
    """The community's logo (the raw bytes as the body, its file name in ``name``): JPEG, PNG
    or WebP, checked by content (``web/uploads.py``); replaces the one before."""
    user = await _admin(request)
    services = services_of(request)
    limit = services.settings.upload_max_bytes
    data = await read_upload(request, limit)
    try:
        checked = await accept_upload(
            data, request.query_params.get("name", "logo"), max_bytes=limit, allowed=IMAGE_KINDS
        )
    except UploadRefused as refused:
        raise refused.api_error() from None
    url = await actions.set_logo(services, checked, actor=user)
    return JSONResponse({"logo": url}, status_code=201)


async def remove_logo(request: Request) -> Response:
    user = await _admin(request)
    await decode_body(request, Empty)
    await actions.set_logo(services_of(request), None, actor=user)
    return JSONResponse({"logo": None})


async def community_logo(request: Request) -> Response:
    """The logo, for everyone (the login page's top bar shows it too). Its address names its
    blob, so a browser keeps it for a year; a replaced logo is a new address."""
    found = await actions.logo(services_of(request), request.path_params["blob"])
    if found is None:
        raise ApiError(404, "not_found", "No such logo.")
    data, media_type = found
    return Response(
        data,
        media_type=media_type,
        headers={
            "Cache-Control": "public, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
        },
    )


ROUTES = [
    Route("/api/admin/units", units, methods=["GET"]),
    Route("/api/admin/units/export", export_units, methods=["GET"]),
    Route("/api/admin/units/import", import_units, methods=["POST"]),
    Route("/api/admin/buildings/{building_id:int}", rename_building, methods=["POST"]),
    Route("/api/admin/buildings/{building_id:int}/units", save_unit, methods=["POST"]),
    Route(
        "/api/admin/buildings/{building_id:int}/units/{unit_id:int}", save_unit, methods=["POST"]
    ),
    Route("/api/admin/residents", residents, methods=["GET"]),
    Route("/api/admin/residents/{user_id:int}/role", set_role, methods=["POST"]),
    Route("/api/admin/residents/{user_id:int}/unit", move_user, methods=["POST"]),
    Route("/api/admin/residents/{user_id:int}/status", set_status, methods=["POST"]),
    Route("/api/admin/residents/{user_id:int}/sessions", sessions, methods=["GET"]),
    Route("/api/admin/residents/{user_id:int}/sessions/end", end_sessions, methods=["POST"]),
    Route("/api/admin/residents/{user_id:int}/reset-code", reset_code, methods=["POST"]),
    Route("/api/admin/invites", invites, methods=["GET"]),
    Route("/api/admin/invite-codes", create_invite, methods=["POST"]),
    Route("/api/admin/invites/{code}/revoke", revoke_invite, methods=["POST"]),
    Route("/api/admin/settings", settings, methods=["GET", "POST"]),
    Route("/api/admin/logo", upload_logo, methods=["POST"]),
    Route("/api/admin/logo/remove", remove_logo, methods=["POST"]),
    Route("/community-logo/{blob}", community_logo, methods=["GET"]),
    Route("/api/password-reset", redeem, methods=["POST"]),
]

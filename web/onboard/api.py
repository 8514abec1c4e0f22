"""Onboarding's HTTP API (``docs/protocol.md``, "Onboarding"): the desk's routes are for staff
holding ``Can.ONBOARD`` (management office and admins; 403 ``forbidden`` for anyone else); the
first login is the resident's. Handlers parse, authorise, call ``web/onboard/actions.py`` and
serialise."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from linli.feature import LoginRefused
from linli.roles import Can, roles_that
from linli.types import BuildingId, UserId
from persistence.errors import NotFound
from persistence.requests import NewRequest
from persistence.store import User
from web import passwords, throttle
from web.api import USERNAME_RE, _client_address, _start_session, _too_many, require_user
from web.http import ApiError, Empty, decode_body, line, services_of, set_field
from web.onboard import actions
from web.onboard.actions import OnboardError
from web.requests import actions as requests_actions
from web.requests.api import FileBody, request_json

STAFF = roles_that(Can.ONBOARD)


async def _staff(request: Request) -> User:
    return await require_user(request, *STAFF)


def _password_ok(password: str) -> None:
    if not passwords.MIN_PASSWORD_CHARS <= len(password) <= passwords.MAX_PASSWORD_CHARS:
        raise ApiError(
            400,
            "weak_password",
            f"The password must be {passwords.MIN_PASSWORD_CHARS} to "
            f"{passwords.MAX_PASSWORD_CHARS} characters long.",
            field="password",
        )


def _refused(exc: OnboardError) -> ApiError:
    status = {"username_taken": 409}.get(exc.code, 400)
    extra = {} if exc.field is None else {"field": exc.field}
    return ApiError(status, exc.code, exc.message, **extra)


# -- posters -------------------------------------------------------------------------------------


async def make_poster_code(request: Request) -> Response:
    user = await _staff(request)
    services = services_of(request)
    building_id = BuildingId(int(request.path_params["building_id"]))
    try:
        code = await actions.make_poster_code(services, building_id, actor=user)
    except NotFound:
        raise ApiError(404, "not_found", "No such building.") from None
    url = actions.register_url(services.settings.public_url, code)
    return JSONResponse({"code": code, "url": url}, status_code=201)


async def sources(request: Request) -> Response:
    await _staff(request)
    rows = await actions.sources(services_of(request))
    return JSONResponse(
        {
            "buildings": [
                {
                    "building_id": r.building_id,
                    "poster": r.poster,
                    "invite": r.invite,
                    "desk": r.desk,
                }
                for r in rows
            ]
        }
    )


# -- assisted registration -----------------------------------------------------------------------


class DeskBody(msgspec.Struct, frozen=True):
    building_id: Annotated[int, msgspec.Meta(ge=1, le=2**31)]
    unit: str
    username: str
    display_name: str
    mode: Literal["password", "code"]
    #: How the resident agreed to the privacy notice.
    consent_how: Literal["paper_form", "verbal_desk"]
    #: Staff confirm the resident agreed (read or was read the notice).
    consent: bool = False
    #: The first password (mode ``password``); ignored for ``code``.
    password: str = ""

    def __post_init__(self) -> None:
        if self.consent is not True:
            raise ApiError(
                400,
                "consent_required",
                "Record the resident's consent to the privacy notice first.",
                field="consent",
            )
        username = line(self.username, "username", min_len=3, max_len=32).lower()
        if not USERNAME_RE.match(username):
            raise ApiError(
                400,
                "bad_request",
                "A username is 3-32 letters a-z, digits, '.', '_' or '-', starting with a letter "
                "or digit.",
                field="username",
            )
        if self.mode == "password":
            _password_ok(self.password)
        set_field(self, "username", username)
        set_field(self, "display_name", line(self.display_name, "display_name", max_len=40))
        set_field(self, "unit", line(self.unit, "unit", max_len=20))


async def register_at_desk(request: Request) -> Response:
    user = await _staff(request)
    body = await decode_body(request, DeskBody)
    try:
        done = await actions.register_at_desk(
            services_of(request),
            building_id=BuildingId(body.building_id),
            unit=body.unit,
            username=body.username,
            display_name=body.display_name,
            mode=body.mode,
            password=body.password,
            consent_how=body.consent_how,
            actor=user,
        )
    except NotFound:
        raise ApiError(404, "not_found", "No such building.", field="building_id") from None
    except OnboardError as exc:
        raise _refused(exc) from None
    return JSONResponse(
        {
            "user": {
                "id": done.user.id,
                "username": done.user.username,
                "display_name": done.user.display_name,
            },
            "code": done.code,
            "expires_at": done.expires_at,
        },
        status_code=201,
    )


# -- the resident's first login ------------------------------------------------------------------


class FirstLoginBody(msgspec.Struct, frozen=True):
    username: str
    #: The first password staff set, or the printed one-time code.
    secret: Annotated[str, msgspec.Meta(max_length=passwords.MAX_PASSWORD_CHARS)]
    password: str

    def __post_init__(self) -> None:
        set_field(self, "username", line(self.username, "username", max_len=64).lower())
        set_field(self, "secret", line(self.secret, "secret", max_len=128))
        _password_ok(self.password)


async def first_login(request: Request) -> Response:
    """The first-login page: the first password or code, the resident's own password, then
    logged in. Every attempt is reserved like a login's (per account and address)."""
    body = await decode_body(request, FirstLoginBody)
    services = services_of(request)
    store = services.store
    now = services.clock.now_ms()
    keys = [f"{throttle.RESET}:{body.username}", f"{throttle.ADDRESS}:{_client_address(request)}"]
    wait = await throttle.reserve(store, services.settings, keys, now)
    if wait:
        raise _too_many(wait, "wrong first passwords or codes")
    wrong = ApiError(
        400,
        "invalid_first_login",
        "The username, first password or code is not right.",
        field="secret",
    )
    target = await store.get_user_by_username(body.username)
    if target is None:
        raise wrong
    try:
        await actions.complete_first_login(services, target, body.secret, body.password)
    except NotFound:
        throttle.checked("first_login_wrong")
        raise wrong from None
    except OnboardError as exc:
        await store.release_login_attempt(keys, at=now)
        raise _refused(exc) from None
    await store.release_login_attempt(keys, at=now)
    await store.clear_login_failures(keys[0])
    for check in request.app.state.login_checks:
        try:
            await check(services, target)
        except LoginRefused as exc:
            raise ApiError(403, exc.code, exc.message) from None
    throttle.checked("first_login_ok")
    return await _start_session(request, target)


# -- helpers -------------------------------------------------------------------------------------


def _helper_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "resident_id": row.resident_id,
        "resident": row.resident_name,
        "helper_id": row.helper_id,
        "helper": row.helper_name,
        "by_desk": row.created_by is not None and row.created_by != row.resident_id,
        "created_at": row.created_at,
    }


async def helpers(request: Request) -> Response:
    """The user's helpers, whom they help, and what helpers did for them."""
    user = await require_user(request)
    store = actions.onboard_store(services_of(request))
    return JSONResponse(
        {
            "helpers": [_helper_json(r) for r in await store.helpers_of(user.id)],
            "helping": [_helper_json(r) for r in await store.helping(user.id)],
            "acts": [
                {
                    "kind": a.kind,
                    "object_id": a.object_id,
                    "helper_id": a.helper_id,
                    "helper": a.helper_name,
                    "at": a.at,
                }
                for a in await store.acts_for(user.id)
            ],
        }
    )


class HelperBody(msgspec.Struct, frozen=True):
    username: str

    def __post_init__(self) -> None:
        set_field(self, "username", line(self.username, "username", max_len=64).lower())


async def name_helper(request: Request) -> Response:
    user = await require_user(request)
    body = await decode_body(request, HelperBody)
    try:
        row_id = await actions.name_helper(services_of(request), user, body.username)
    except NotFound:
        raise ApiError(404, "not_found", "No such user.", field="username") from None
    except OnboardError as exc:
        raise _refused(exc) from None
    return JSONResponse({"helper": {"id": row_id}}, status_code=201)


async def desk_helps(request: Request) -> Response:
    """The resident asked the desk to act for them: the staff member becomes their helper."""
    user = await _staff(request)
    body = await decode_body(request, HelperBody)
    try:
        row_id = await actions.desk_helps(services_of(request), user, body.username)
    except NotFound:
        raise ApiError(404, "not_found", "No such user.", field="username") from None
    return JSONResponse({"helper": {"id": row_id}}, status_code=201)


async def end_helper(request: Request) -> Response:
    user = await require_user(request)
    await decode_body(request, Empty)
    try:
        await actions.end_helper(services_of(request), user, int(request.path_params["row_id"]))
    except NotFound:
        raise ApiError(404, "not_found", "No such helper.") from None
    return JSONResponse({"ok": True})


async def file_request_for(request: Request) -> Response:
    """A helper files a request for the resident: the resident's request (author, building,
    unit), recorded as filed by the helper."""
    helper = await require_user(request)
    body = await decode_body(request, FileBody)
    services = services_of(request)
    try:
        resident = await actions.helped_resident(
            services, helper, UserId(int(request.path_params["resident_id"]))
        )
    except NotFound:
        raise ApiError(403, "forbidden", "You do not help this resident.") from None
    if resident.building_id is None:
        raise ApiError(403, "forbidden", "Requests are filed by residents of a building.")
    places = await requests_actions.requests_store(services).places(
        building_id=resident.building_id
    )
    if body.place_id is not None and not any(p.id == body.place_id and p.active for p in places):
        raise ApiError(400, "bad_request", "No such common area.", field="place_id")
    filed = await requests_actions.file_request(
        services,
        NewRequest(
            category=body.category,
            text=body.text,
            author_id=resident.id,
            building_id=resident.building_id,
            private=body.private,
            floor=body.floor,
            unit_id=resident.unit_id if body.own_unit else None,
            place_id=body.place_id,
        ),
    )
    await actions.record_act(services, "request", filed.id, resident=resident, helper=helper)
    now = services.clock.now_ms()
    return JSONResponse(
        {"request": request_json(filed, now=now), "filed_by": {"id": helper.id}}, status_code=201
    )


# -- the first-login tour ------------------------------------------------------------------------


async def tour(request: Request) -> Response:
    user = await require_user(request)
    seen = await actions.onboard_store(services_of(request)).tour_seen(user.id)
    return JSONResponse({"seen": seen})


async def see_tour(request: Request) -> Response:
    user = await require_user(request)
    await decode_body(request, Empty)
    services = services_of(request)
    await actions.onboard_store(services).see_tour(user.id, now=services.clock.now_ms())
    return JSONResponse({"seen": True})


ROUTES = [
    Route("/api/onboard/posters/{building_id:int}", make_poster_code, methods=["POST"]),
    Route("/api/onboard/sources", sources, methods=["GET"]),
    Route("/api/onboard/residents", register_at_desk, methods=["POST"]),
    Route("/api/first-login", first_login, methods=["POST"]),
    Route("/api/helpers", helpers, methods=["GET"]),
    Route("/api/helpers", name_helper, methods=["POST"]),
    Route("/api/helpers/{row_id:int}/end", end_helper, methods=["POST"]),
    Route("/api/helpers/for/{resident_id:int}/requests", file_request_for, methods=["POST"]),
    Route("/api/onboard/helpers", desk_helps, methods=["POST"]),
    Route("/api/tour", tour, methods=["GET"]),
    Route("/api/tour/seen", see_tour, methods=["POST"]),
]

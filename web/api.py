"""The HTTP API: accounts, groups, admin, history. JSON in, JSON out; errors as
``{"error": {"code", "message"}}`` with a fitting status (codes listed in ``docs/protocol.md``).

State-changing requests must be JSON (a cross-site HTML form cannot send that without a CORS
preflight, which Linli never grants) and, when the browser sends an Origin, come from an allowed
origin: with SameSite=Lax cookies that closes CSRF.
"""

from __future__ import annotations

import re
import secrets
import time
import unicodedata
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channels.access import Action
from channels.names import InvalidChannel, building_channel, group_channel, parse_channel
from gateway.origin import origin_allowed
from gateway.wire import MAX_HISTORY_LIMIT, publication_body
from linli.config import Settings
from linli.runtime import Runtime
from persistence.store import (
    GroupSlugTaken,
    InviteInvalid,
    NotFound,
    Role,
    User,
    UsernameTaken,
)
from web import passwords
from web.sessions import COOKIE_NAME, new_token, principal_of, session_user, token_hash

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,31}$")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
INVITE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed by hand


#: Run after the password was found right, before the session starts; raise ApiError to refuse
#: the login (moderation refuses banned users). Features append to it.
LOGIN_CHECKS: list[Callable[[Runtime, User], Awaitable[None]]] = []


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def _now_ms() -> int:
    return int(time.time() * 1000)


def error_response(exc: ApiError) -> JSONResponse:
    headers = {}
    if "retry_after" in exc.extra:
        headers["Retry-After"] = str(exc.extra["retry_after"])
    body = {"error": {"code": exc.code, "message": exc.message, **exc.extra}}
    return JSONResponse(body, status_code=exc.status, headers=headers)


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def json_body(request: Request) -> dict[str, Any]:
    settings: Settings = runtime_of(request).settings
    origin = request.headers.get("origin")
    if not origin_allowed(
        origin, request.url.scheme, request.headers.get("host"), settings.allowed_origins
    ):
        raise ApiError(403, "origin_not_allowed", "Requests from this site are not allowed.")
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send the request body as JSON.")
    raw = await request.body()
    if len(raw) > 16384:
        raise ApiError(413, "too_large", "The request body is too large.")
    try:
        body = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError:
        raise ApiError(400, "bad_request", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "The request body must be a JSON object.")
    return body


def text_field(body: dict[str, Any], name: str, *, min_len: int = 1, max_len: int = 100) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise ApiError(400, "bad_request", f"'{name}' is required.", field=name)
    value = unicodedata.normalize("NFC", _CONTROL_RE.sub("", value)).strip()
    if not min_len <= len(value) <= max_len:
        raise ApiError(
            400,
            "bad_request",
            f"'{name}' must be {min_len} to {max_len} characters long.",
            field=name,
        )
    return value


async def current_user(request: Request) -> User | None:
    cached: User | None = request.scope.get("linli.user")
    if cached is not None:
        return cached
    user = await session_user(
        runtime_of(request).store, request.cookies.get(COOKIE_NAME), _now_ms()
    )
    request.scope["linli.user"] = user
    return user


async def require_user(request: Request, *roles: Role) -> User:
    user = await current_user(request)
    if user is None:
        raise ApiError(401, "unauthenticated", "Please log in.")
    if roles and user.role not in roles:
        raise ApiError(403, "forbidden", "You may not do this.")
    return user


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "role": str(user.role),
        "building_id": user.building_id,
        "unit_id": user.unit_id,
    }


def _set_session_cookie(request: Request, response: Response, token: str) -> None:
    settings = runtime_of(request).settings
    secure = (
        request.url.scheme == "https"
        if settings.cookie_secure == "auto"
        else settings.cookie_secure == "true"
    )
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=settings.session_days * 86400,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )


async def _start_session(request: Request, user: User, status: int = 200) -> Response:
    runtime = runtime_of(request)
    token = new_token()
    now = _now_ms()
    await runtime.store.create_session(
        token_hash(token),
        user.id,
        expires_at=now + runtime.settings.session_days * 86_400_000,
        now=now,
    )
    response = JSONResponse({"user": user_json(user)}, status_code=status)
    _set_session_cookie(request, response, token)
    return response


# -- accounts ----------------------------------------------------------------------------------


async def register(request: Request) -> Response:
    body = await json_body(request)
    runtime = runtime_of(request)
    username = text_field(body, "username", min_len=3, max_len=32).lower()
    if not USERNAME_RE.match(username):
        raise ApiError(
            400,
            "bad_request",
            "A username is 3-32 letters a-z, digits, '.', '_' or '-', starting with a letter or "
            "digit.",
            field="username",
        )
    password = body.get("password")
    if not isinstance(password, str) or not (
        passwords.MIN_PASSWORD_CHARS <= len(password) <= passwords.MAX_PASSWORD_CHARS
    ):
        raise ApiError(
            400,
            "weak_password",
            f"The password must be {passwords.MIN_PASSWORD_CHARS} to "
            f"{passwords.MAX_PASSWORD_CHARS} characters long.",
            field="password",
        )
    invite_code = text_field(body, "invite_code", min_len=4, max_len=32).upper().replace(" ", "")
    display_name = text_field(body, "display_name", max_len=40)
    unit = text_field(body, "unit", max_len=20)
    # Invite codes are short enough to read aloud, so guessing them must be slow: wrong codes
    # count against the address like failed logins do.
    settings = runtime.settings
    window_ms = settings.login_window_seconds * 1000
    invite_key = f"invite-ip:{request.client.host if request.client else 'unknown'}"
    if (
        await runtime.store.login_failures(invite_key, now=_now_ms(), window_ms=window_ms)
        >= settings.login_max_failures
    ):
        raise ApiError(
            429,
            "too_many_attempts",
            "Too many wrong invite codes. Please wait a few minutes and try again.",
            retry_after=settings.login_window_seconds,
        )
    password_hash = await passwords.hash_password(
        password, in_thread=runtime.settings.hash_in_thread
    )
    try:
        user = await runtime.store.register_resident(
            invite_code=invite_code,
            username=username,
            display_name=display_name,
            password_hash=password_hash,
            unit_label=unit,
            now=_now_ms(),
        )
    except InviteInvalid:
        await runtime.store.record_login_failure(invite_key, now=_now_ms(), window_ms=window_ms)
        raise ApiError(
            400,
            "invalid_invite",
            "This invite code is not valid or has been used up.",
            field="invite_code",
        ) from None
    except UsernameTaken:
        raise ApiError(
            409,
            "username_taken",
            "This username is taken; please choose another.",
            field="username",
        ) from None
    return await _start_session(request, user, status=201)


async def login(request: Request) -> Response:
    body = await json_body(request)
    runtime = runtime_of(request)
    settings = runtime.settings
    username = text_field(body, "username", max_len=64).lower()
    password = body.get("password")
    if not isinstance(password, str) or len(password) > passwords.MAX_PASSWORD_CHARS:
        raise ApiError(400, "bad_request", "'password' is required.", field="password")
    store = runtime.store
    now = _now_ms()
    window_ms = settings.login_window_seconds * 1000
    client_ip = request.client.host if request.client else "unknown"
    user_key, ip_key = f"user:{username}", f"ip:{client_ip}"
    # Refuse before checking the password: otherwise a locked account still answers guesses.
    if (
        await store.login_failures(user_key, now=now, window_ms=window_ms)
        >= settings.login_max_failures
        or await store.login_failures(ip_key, now=now, window_ms=window_ms)
        >= 4 * settings.login_max_failures
    ):
        raise ApiError(
            429,
            "too_many_attempts",
            "Too many failed logins. Please wait a few minutes and try again.",
            retry_after=settings.login_window_seconds,
        )
    user = await store.get_user_by_username(username)
    stored_hash = await store.get_password_hash(user.id) if user else None
    if user is None or not await passwords.verify_password(
        stored_hash, password, in_thread=settings.hash_in_thread
    ):
        await store.record_login_failure(user_key, now=now, window_ms=window_ms)
        await store.record_login_failure(ip_key, now=now, window_ms=window_ms)
        raise ApiError(401, "wrong_credentials", "The username or password is not right.")
    for check in LOGIN_CHECKS:
        await check(runtime, user)
    await store.clear_login_failures(user_key)
    if stored_hash and passwords.needs_rehash(stored_hash):
        await store.set_password_hash(
            user.id, await passwords.hash_password(password, in_thread=settings.hash_in_thread)
        )
    return await _start_session(request, user)


async def logout(request: Request) -> Response:
    await json_body(request)
    token = request.cookies.get(COOKIE_NAME)
    if token:
        await runtime_of(request).store.delete_session(token_hash(token))
        await request.app.state.gateway.end_session(token_hash(token))
    response = JSONResponse({"ok": True})
    response.delete_cookie(COOKIE_NAME, path="/")
    return response


async def me(request: Request) -> Response:
    user = await require_user(request)
    store = runtime_of(request).store
    groups = await store.user_groups(user.id)
    channels = [building_channel(user.building_id)] if user.building_id is not None else []
    channels += [group_channel(slug) for slug in groups]
    building = await store.get_building(user.building_id) if user.building_id else None
    return JSONResponse(
        {
            "user": user_json(user),
            "building": {"id": building.id, "name": building.name} if building else None,
            "groups": groups,
            "channels": channels,
        }
    )


# -- groups ------------------------------------------------------------------------------------


async def list_groups(request: Request) -> Response:
    user = await require_user(request)
    store = runtime_of(request).store
    joined = set(await store.user_groups(user.id))
    return JSONResponse(
        {
            "groups": [
                {
                    "slug": g.slug,
                    "name": g.name,
                    "description": g.description,
                    "member_count": g.member_count,
                    "joined": g.slug in joined,
                    "channel": group_channel(g.slug),
                }
                for g in await store.list_groups()
            ]
        }
    )


async def create_group(request: Request) -> Response:
    user = await require_user(request)
    body = await json_body(request)
    slug = text_field(body, "slug", min_len=2, max_len=40).lower()
    if not SLUG_RE.match(slug):
        raise ApiError(
            400, "bad_request", "A group's short name is 2-40 of a-z, 0-9 and '-'.", field="slug"
        )
    name = text_field(body, "name", max_len=60)
    description = (
        text_field(body, "description", min_len=0, max_len=500) if body.get("description") else ""
    )
    try:
        group = await runtime_of(request).store.create_group(
            slug, name, description, created_by=user.id, now=_now_ms()
        )
    except GroupSlugTaken:
        raise ApiError(
            409, "slug_taken", "A group with this short name exists.", field="slug"
        ) from None
    return JSONResponse(
        {"group": {"slug": group.slug, "name": group.name, "channel": group_channel(group.slug)}},
        status_code=201,
    )


async def join_group(request: Request) -> Response:
    user = await require_user(request)
    await json_body(request)
    slug = request.path_params["slug"]
    try:
        await runtime_of(request).store.join_group(user.id, slug, now=_now_ms())
    except NotFound:
        raise ApiError(404, "not_found", "No such group.") from None
    return JSONResponse({"ok": True, "channel": group_channel(slug)})


async def leave_group(request: Request) -> Response:
    user = await require_user(request)
    await json_body(request)
    slug = request.path_params["slug"]
    await runtime_of(request).store.leave_group(user.id, slug)
    gateway = request.app.state.gateway
    await gateway.revoke(user.id, group_channel(slug))
    return JSONResponse({"ok": True})


# -- history -----------------------------------------------------------------------------------


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise ApiError(400, "bad_request", f"'{name}' must be a non-negative integer.")
    return int(raw)


async def history(request: Request) -> Response:
    user = await require_user(request)
    try:
        channel = parse_channel(request.path_params["channel"])
    except InvalidChannel as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    if not await request.app.state.gateway.allowed(principal_of(user), channel, Action.READ):
        raise ApiError(403, "forbidden", "You may not read this channel.")
    after, before = _int_param(request, "after"), _int_param(request, "before")
    limit = _int_param(request, "limit")
    limit = 50 if limit is None else limit
    if not 1 <= limit <= MAX_HISTORY_LIMIT:
        raise ApiError(400, "bad_request", f"'limit' must be 1 to {MAX_HISTORY_LIMIT}.")
    gateway = request.app.state.gateway
    pubs, position = await gateway.history.page(
        channel.name, after=after or 0, before=before, limit=limit, newest=after is None
    )
    pubs = await gateway.history.for_reader(principal_of(user), channel.name, pubs)
    return JSONResponse(
        {
            "channel": channel.name,
            "epoch": position.epoch,
            "offset": position.offset,
            "publications": [publication_body(p.offset, p.epoch, p.data) for p in pubs],
        }
    )


# -- admin -------------------------------------------------------------------------------------


async def admin_buildings(request: Request) -> Response:
    await require_user(request, Role.ADMIN)
    store = runtime_of(request).store
    if request.method == "POST":
        body = await json_body(request)
        building = await store.create_building(text_field(body, "name", max_len=60), now=_now_ms())
        return JSONResponse({"building": {"id": building.id, "name": building.name}}, 201)
    return JSONResponse(
        {"buildings": [{"id": b.id, "name": b.name} for b in await store.list_buildings()]}
    )


def new_invite_code() -> str:
    return "".join(secrets.choice(INVITE_ALPHABET) for _ in range(8))


async def admin_invites(request: Request) -> Response:
    await require_user(request, Role.ADMIN)
    body = await json_body(request)
    building_id, uses, days = body.get("building_id"), body.get("uses", 1), body.get("days", 30)
    for name, value, top in (
        ("building_id", building_id, 2**31),
        ("uses", uses, 1000),
        ("days", days, 365),
    ):
        if type(value) is not int or not 1 <= value <= top:
            raise ApiError(400, "bad_request", f"'{name}' must be an integer from 1 to {top}.")
    assert isinstance(building_id, int) and isinstance(uses, int) and isinstance(days, int)
    now = _now_ms()
    try:
        invite = await runtime_of(request).store.create_invite(
            building_id, new_invite_code(), uses=uses, expires_at=now + days * 86_400_000, now=now
        )
    except NotFound:
        raise ApiError(404, "not_found", "No such building.") from None
    return JSONResponse(
        {
            "invite": {
                "code": invite.code,
                "building_id": invite.building_id,
                "uses_left": invite.uses_left,
                "expires_at": invite.expires_at,
            }
        },
        status_code=201,
    )


async def admin_set_role(request: Request) -> Response:
    await require_user(request, Role.ADMIN)
    body = await json_body(request)
    try:
        role = Role(str(body.get("role")))
    except ValueError:
        raise ApiError(
            400, "bad_request", "'role' must be one of: " + ", ".join(r.value for r in Role)
        ) from None
    user_id = int(request.path_params["user_id"])
    try:
        await runtime_of(request).store.set_role(user_id, role)
    except NotFound:
        raise ApiError(404, "not_found", "No such user.") from None
    await request.app.state.gateway.permissions_changed(user_id)
    return JSONResponse({"ok": True})


async def healthz(request: Request) -> Response:
    """For load balancers and monitoring: 200 when the database (and Redis) answer, else 503."""
    runtime = runtime_of(request)
    checks: dict[str, bool] = {}
    try:
        await runtime.store.max_offset("")
        checks["database"] = True
    except Exception:
        checks["database"] = False
    if runtime.redis is not None:
        try:
            checks["redis"] = bool(await runtime.redis.ping())
        except Exception:
            checks["redis"] = False
    ok = all(checks.values())
    mode = "embedded" if runtime.settings.embedded else "scaled"
    return JSONResponse({"ok": ok, "mode": mode, **checks}, status_code=200 if ok else 503)


ROUTES = [
    Route("/healthz", healthz),
    Route("/api/register", register, methods=["POST"]),
    Route("/api/login", login, methods=["POST"]),
    Route("/api/logout", logout, methods=["POST"]),
    Route("/api/me", me),
    Route("/api/groups", list_groups, methods=["GET"]),
    Route("/api/groups", create_group, methods=["POST"]),
    Route("/api/groups/{slug}/join", join_group, methods=["POST"]),
    Route("/api/groups/{slug}/leave", leave_group, methods=["POST"]),
    Route("/api/channels/{channel}/history", history),
    Route("/api/admin/buildings", admin_buildings, methods=["GET", "POST"]),
    Route("/api/admin/invites", admin_invites, methods=["POST"]),
    Route("/api/admin/users/{user_id:int}/role", admin_set_role, methods=["POST"]),
]

"""The HTTP API: accounts, groups, admin, history. JSON in, JSON out; errors as
``{"error": {"code", "message"}}`` with a fitting status (codes listed in ``docs/protocol.md``).

State-changing requests must be JSON (a cross-site HTML form cannot send that without a CORS
preflight, which Linli never grants) and, when the browser sends an Origin, come from an allowed
origin: with SameSite=Lax cookies that closes CSRF.
"""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channels.access import Action
from channels.names import InvalidChannel, building_channel, group_channel, parse_channel
from gateway.codes import ErrorCode
from gateway.gateway import RequestError
from gateway.wire import MAX_HISTORY_LIMIT, publication_body
from linli.config import is_secure
from linli.feature import LoginRefused, Services
from persistence.activity import ActivityKind
from persistence.migrate import pending_migrations
from persistence.store import (
    Group,
    GroupSlugTaken,
    InviteInvalid,
    NotFound,
    Role,
    User,
    UsernameTaken,
)
from web import actions, passwords, throttle
from web.actions import INVITE_ALPHABET, new_invite_code
from web.activity import ActivityRecorder
from web.admin import actions as admin_actions
from web.http import (
    ApiError,
    Empty,
    decode_body,
    error_response,
    line,
    services_of,
    set_field,
)
from web.privacy import actions as privacy_actions

__all__ = ["INVITE_ALPHABET", "ApiError", "error_response", "new_invite_code"]
from web.sessions import (
    COOKIE_NAMES,
    SECURE_COOKIE_NAME,
    cookie_name,
    new_token,
    principal_of,
    session_user,
    token_hash,
    token_of,
)

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,31}$")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")


def _now_ms(request: Request) -> int:
    return services_of(request).clock.now_ms()


def runtime_of(request: Request) -> Services:
    """The running app's ``Services`` (``web.http.services_of`` under its older name)."""
    return services_of(request)


async def current_user(request: Request) -> User | None:
    cached: User | None = request.scope.get("linli.user")
    if cached is not None:
        return cached
    user = await session_user(runtime_of(request).store, _token(request), _now_ms(request))
    request.scope["linli.user"] = user
    if user is not None:
        _activity(request, user.id, ActivityKind.VISIT)
    return user


def _activity(request: Request, user_id: int, kind: ActivityKind) -> None:
    """Note the activity for the community's figures (``web/activity.py``); an app made without
    the lifespan (some tests) has no recorder."""
    recorder: ActivityRecorder | None = getattr(request.app.state, "activity", None)
    if recorder is not None:
        recorder.seen(user_id, kind)


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


def _token(request: Request) -> str | None:
    secure = is_secure(runtime_of(request).settings, request.url.scheme)
    return token_of(request.cookies, secure=secure)


def _set_session_cookie(request: Request, response: Response, token: str) -> None:
    settings = runtime_of(request).settings
    secure = is_secure(settings, request.url.scheme)
    response.set_cookie(
        cookie_name(secure),
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
    now = _now_ms(request)
    await runtime.store.create_session(
        token_hash(token),
        user.id,
        expires_at=now + runtime.settings.session_days * 86_400_000,
        now=now,
    )
    _activity(request, user.id, ActivityKind.LOGIN)
    response = JSONResponse({"user": user_json(user)}, status_code=status)
    _set_session_cookie(request, response, token)
    return response


# -- accounts ----------------------------------------------------------------------------------


class RegisterBody(msgspec.Struct, frozen=True):
    username: str
    password: str
    invite_code: str
    display_name: str
    unit: str
    #: The privacy notice (/privacy) agreed to: required (web/privacy, issue 21).
    consent: bool = False

    def __post_init__(self) -> None:
        if self.consent is not True:
            raise ApiError(
                400,
                "consent_required",
                "Please read the privacy notice and tick the box to agree to it.",
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
        if not passwords.MIN_PASSWORD_CHARS <= len(self.password) <= passwords.MAX_PASSWORD_CHARS:
            raise ApiError(
                400,
                "weak_password",
                f"The password must be {passwords.MIN_PASSWORD_CHARS} to "
                f"{passwords.MAX_PASSWORD_CHARS} characters long.",
                field="password",
            )
        code = line(self.invite_code, "invite_code", min_len=4, max_len=32)
        set_field(self, "username", username)
        set_field(self, "invite_code", code.upper().replace(" ", ""))
        set_field(self, "display_name", line(self.display_name, "display_name", max_len=40))
        set_field(self, "unit", line(self.unit, "unit", max_len=20))


async def register(request: Request) -> Response:
    body = await decode_body(request, RegisterBody)
    runtime = runtime_of(request)
    username, password, invite_code = body.username, body.password, body.invite_code
    display_name, unit = body.display_name, body.unit
    # Invite codes are short enough to read aloud, so guessing them must be slow: each attempt
    # is reserved against the address before the code is checked (web/throttle.py).
    settings = runtime.settings
    store = runtime.store
    now = _now_ms(request)
    invite_keys = [f"{throttle.INVITE}:{_client_address(request)}"]
    wait = await throttle.reserve(store, settings, invite_keys, now)
    if wait:
        raise _too_many(wait, "invite codes")
    password_hash = await passwords.hash_password(
        password, in_thread=runtime.settings.hash_in_thread
    )
    # An invite for one unit (the admin console's) registers into that unit, whatever was typed.
    unit = await admin_actions.invite_unit(runtime, invite_code) or unit
    try:
        user = await store.register_resident(
            invite_code=invite_code,
            username=username,
            display_name=display_name,
            password_hash=password_hash,
            unit_label=unit,
            now=now,
        )
    except InviteInvalid:
        throttle.checked("invite_wrong")
        raise ApiError(
            400,
            "invalid_invite",
            "This invite code is not valid or has been used up.",
            field="invite_code",
        ) from None
    except UsernameTaken:
        await store.release_login_attempt(invite_keys, at=now)  # the code was not wrong
        raise ApiError(
            409,
            "username_taken",
            "This username is taken; please choose another.",
            field="username",
        ) from None
    await store.release_login_attempt(invite_keys, at=now)
    await admin_actions.invite_used(runtime, invite_code, user.id)
    throttle.checked("invite_ok")
    await privacy_actions.record_consent(runtime, user.id)
    response = await _start_session(request, user, status=201)
    await _remember_device(request, response, user.username, now)
    return response


class LoginBody(msgspec.Struct, frozen=True):
    username: str
    password: Annotated[str, msgspec.Meta(max_length=passwords.MAX_PASSWORD_CHARS)]

    def __post_init__(self) -> None:
        set_field(self, "username", line(self.username, "username", max_len=64).lower())


async def login(request: Request) -> Response:
    body = await decode_body(request, LoginBody)
    runtime = runtime_of(request)
    settings = runtime.settings
    username, password = body.username, body.password
    store = runtime.store
    now = _now_ms(request)
    # A browser that logged in to this account before is counted on its own (OWASP's device
    # cookies): guesses at the account or from its address do not delay its owner.
    device = await throttle.known_device(
        store, request.cookies.get(throttle.DEVICE_COOKIE), username, now
    )
    if device is not None:
        keys = [f"{throttle.DEVICE}:{device}"]
    else:
        keys = [f"{throttle.ACCOUNT}:{username}", f"{throttle.ADDRESS}:{_client_address(request)}"]
    # Reserved before the password check: parallel guesses cannot all pass one count.
    wait = await throttle.reserve(store, settings, keys, now)
    if wait:
        raise _too_many(wait, "failed logins")
    user = await store.get_user_by_username(username)
    stored_hash = await store.get_password_hash(user.id) if user else None
    if user is None or not await passwords.verify_password(
        stored_hash, password, in_thread=settings.hash_in_thread
    ):
        throttle.checked("wrong")
        raise ApiError(401, "wrong_credentials", "The username or password is not right.")
    # The password was right: the reservation was no failure, and the earlier failures of the
    # account (or of this device) are forgiven.
    await store.release_login_attempt(keys, at=now)
    await store.clear_login_failures(keys[0])
    for check in request.app.state.login_checks:
        try:
            await check(runtime, user)
        except LoginRefused as exc:
            raise ApiError(403, exc.code, exc.message, **exc.extra) from None
    throttle.checked("ok")
    if device is not None:
        throttle.known_device_login()
    if stored_hash and passwords.needs_rehash(stored_hash):
        await store.set_password_hash(
            user.id, await passwords.hash_password(password, in_thread=settings.hash_in_thread)
        )
    response = await _start_session(request, user)
    if device is None:
        await _remember_device(request, response, username, now)
    return response


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _too_many(wait_ms: int, what: str) -> ApiError:
    seconds = max(1, -(-wait_ms // 1000))
    return ApiError(
        429,
        "too_many_attempts",
        f"Too many {what}. Please wait {seconds} seconds and try again.",
        retry_after=seconds,
    )


async def _remember_device(request: Request, response: Response, username: str, now: int) -> None:
    """Give this browser a device cookie for ``username`` (web/throttle.py)."""
    secure = is_secure(runtime_of(request).settings, request.url.scheme)
    response.set_cookie(
        throttle.DEVICE_COOKIE,
        await throttle.new_device_cookie(runtime_of(request).store, username, now),
        max_age=throttle.DEVICE_DAYS * 86400,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/api/login",
    )


async def logout(request: Request) -> Response:
    await decode_body(request, Empty)
    token = _token(request)
    if token:
        await actions.end_session(services_of(request), token_hash(token))
    response = JSONResponse({"ok": True})
    secure = is_secure(runtime_of(request).settings, request.url.scheme)
    for name in COOKIE_NAMES:
        # A __Host- cookie is only unset by a Secure Set-Cookie with Path=/ and no Domain.
        response.delete_cookie(name, path="/", secure=secure or name == SECURE_COOKIE_NAME)
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
        {"groups": [group_json(g, joined=g.slug in joined) for g in await store.list_groups()]}
    )


class GroupBody(msgspec.Struct, frozen=True):
    name: str
    #: For the web address; when left out, one is made from the name (``group_slug``).
    slug: str = ""
    description: str | None = None

    def __post_init__(self) -> None:
        set_field(self, "name", line(self.name, "name", max_len=60))
        if self.slug.strip():
            slug = line(self.slug, "slug", min_len=2, max_len=40).lower()
            if not SLUG_RE.match(slug):
                raise ApiError(
                    400,
                    "bad_request",
                    "A group's short name is 2-40 of a-z, 0-9 and '-'.",
                    field="slug",
                )
            set_field(self, "slug", slug)
        else:
            set_field(self, "slug", "")
        description = self.description
        set_field(
            self,
            "description",
            line(description, "description", min_len=0, max_len=500) if description else "",
        )


#: Letters of a made-up group address: no look-alikes (0/o, 1/l/i).
_SLUG_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def group_slug(name: str, *, fresh: bool = False) -> str:
    """The web address of a group named ``name`` when its starter gave none: the name's Latin
    letters and digits ("Hiking Club" → ``hiking-club``), or, for a name with too few of them
    (「行山」), ``g-`` and six random letters (stable: stored once, never recomputed). ``fresh``:
    always the random form (the readable one was taken)."""
    readable = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-")
    if not fresh and len(readable) >= 3 and SLUG_RE.match(readable):
        return readable
    return "g-" + "".join(secrets.choice(_SLUG_ALPHABET) for _ in range(6))


def group_json(group: Group, *, joined: bool) -> dict[str, Any]:
    return {
        "slug": group.slug,
        "name": group.name,
        "description": group.description,
        "member_count": group.member_count,
        "joined": joined,
        "channel": group_channel(group.slug),
    }


async def create_group(request: Request) -> Response:
    user = await require_user(request)
    body = await decode_body(request, GroupBody)
    store = runtime_of(request).store
    attempts = 1 if body.slug else 5
    for attempt in range(attempts):
        slug = body.slug or group_slug(body.name, fresh=attempt > 0)
        try:
            group = await store.create_group(
                slug, body.name, body.description or "", created_by=user.id, now=_now_ms(request)
            )
            break
        except GroupSlugTaken:
            if body.slug:
                raise ApiError(
                    409, "slug_taken", "A group with this short name exists.", field="slug"
                ) from None
    else:
        raise ApiError(503, "unavailable", "Could not make a web address; try again.")
    return JSONResponse(
        {"group": {"slug": group.slug, "name": group.name, "channel": group_channel(group.slug)}},
        status_code=201,
    )


async def get_group(request: Request) -> Response:
    user = await require_user(request)
    store = runtime_of(request).store
    group = await store.get_group(request.path_params["slug"])
    if group is None:
        raise ApiError(404, "not_found", "No such group.")
    joined = await store.is_member(user.id, group.slug)
    return JSONResponse({"group": group_json(group, joined=joined)})


async def join_group(request: Request) -> Response:
    user = await require_user(request)
    await decode_body(request, Empty)
    slug = request.path_params["slug"]
    try:
        await runtime_of(request).store.join_group(user.id, slug, now=_now_ms(request))
    except NotFound:
        raise ApiError(404, "not_found", "No such group.") from None
    return JSONResponse({"ok": True, "channel": group_channel(slug)})


async def leave_group(request: Request) -> Response:
    user = await require_user(request)
    await decode_body(request, Empty)
    await actions.leave_group(services_of(request), user.id, request.path_params["slug"])
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
    try:
        allowed = await request.app.state.gateway.allowed(principal_of(user), channel, Action.READ)
    except RequestError as exc:
        # A feature's access rule refused with its own code (a poll that does not exist, or
        # is a draft): the same answer as over the WebSocket, not a 500 (issue 24).
        if exc.code is ErrorCode.POLL_NOT_FOUND:
            raise ApiError(404, "poll_not_found", "No such poll.") from None
        raise ApiError(403, "forbidden", "You may not read this channel.") from None
    if not allowed:
        raise ApiError(403, "forbidden", "You may not read this channel.")
    after, before = _int_param(request, "after"), _int_param(request, "before")
    limit = _int_param(request, "limit")
    limit = 50 if limit is None else limit
    if not 1 <= limit <= MAX_HISTORY_LIMIT:
        raise ApiError(400, "bad_request", f"'limit' must be 1 to {MAX_HISTORY_LIMIT}.")
    around = _int_param(request, "around")
    if around is not None and (after is not None or before is not None):
        raise ApiError(400, "bad_request", "'around' cannot be combined with 'after' or 'before'.")
    gateway = request.app.state.gateway
    if around is not None:
        pubs, position = await gateway.history.around(channel.name, around, limit=limit)
    else:
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


class BuildingBody(msgspec.Struct, frozen=True):
    name: str

    def __post_init__(self) -> None:
        set_field(self, "name", line(self.name, "name", max_len=60))


async def admin_buildings(request: Request) -> Response:
    user = await require_user(request, Role.ADMIN)
    store = runtime_of(request).store
    if request.method == "POST":
        body = await decode_body(request, BuildingBody)
        building = await actions.create_building(services_of(request), body.name, actor=user)
        return JSONResponse({"building": {"id": building.id, "name": building.name}}, 201)
    return JSONResponse(
        {"buildings": [{"id": b.id, "name": b.name} for b in await store.list_buildings()]}
    )


class InviteBody(msgspec.Struct, frozen=True):
    building_id: Annotated[int, msgspec.Meta(ge=1, le=2**31)]
    uses: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 1
    days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 30


async def admin_invites(request: Request) -> Response:
    user = await require_user(request, Role.ADMIN)
    body = await decode_body(request, InviteBody)
    try:
        invite = await actions.create_invite(
            services_of(request), body.building_id, uses=body.uses, days=body.days, actor=user
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


class RoleBody(msgspec.Struct, frozen=True):
    role: Role


async def admin_set_role(request: Request) -> Response:
    user = await require_user(request, Role.ADMIN)
    body = await decode_body(request, RoleBody)
    try:
        await actions.set_role(
            services_of(request), int(request.path_params["user_id"]), body.role, actor=user
        )
    except NotFound:
        raise ApiError(404, "not_found", "No such user.") from None
    return JSONResponse({"ok": True})


async def healthz(request: Request) -> Response:
    """Liveness: the process answers (restart it if not). Says nothing of Redis or the database:
    ``/readyz`` does."""
    runtime = runtime_of(request)
    mode = "embedded" if runtime.settings.embedded else "scaled"
    return JSONResponse({"ok": True, "mode": mode})


async def readyz(request: Request) -> Response:
    """Readiness, for load balancers: 200 when the database and Redis answer and every
    migration is applied, else 503 with the failing checks ``false``."""
    runtime = runtime_of(request)
    checks: dict[str, bool] = {}
    try:
        checks["migrations"] = not await pending_migrations(runtime.database)
        checks["database"] = True
    except Exception:
        checks["database"] = checks["migrations"] = False
    # Redis is the runtime's own connection, not a service features use.
    redis = getattr(request.app.state.runtime, "redis", None)
    if redis is not None:
        try:
            checks["redis"] = bool(await redis.ping())
        except Exception:
            checks["redis"] = False
    ok = all(checks.values())
    mode = "embedded" if runtime.settings.embedded else "scaled"
    return JSONResponse({"ok": ok, "mode": mode, **checks}, status_code=200 if ok else 503)


ROUTES = [
    Route("/healthz", healthz),
    Route("/readyz", readyz),
    Route("/api/register", register, methods=["POST"]),
    Route("/api/login", login, methods=["POST"]),
    Route("/api/logout", logout, methods=["POST"]),
    Route("/api/me", me),
    Route("/api/groups", list_groups, methods=["GET"]),
    Route("/api/groups", create_group, methods=["POST"]),
    Route("/api/groups/{slug}", get_group, methods=["GET"]),
    Route("/api/groups/{slug}/join", join_group, methods=["POST"]),
    Route("/api/groups/{slug}/leave", leave_group, methods=["POST"]),
    Route("/api/channels/{channel}/history", history),
    Route("/api/admin/buildings", admin_buildings, methods=["GET", "POST"]),
    Route("/api/admin/invites", admin_invites, methods=["POST"]),
    Route("/api/admin/users/{user_id:int}/role", admin_set_role, methods=["POST"]),
]

"""Server-side sessions: the cookie holds a random token, the store holds only its SHA-256, so a
leaked database does not leak live sessions, and logging out or blocking a user ends them at once.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping

from channels.access import Principal
from persistence.store import Store, User

#: The session cookie over plain HTTP (a development machine, the tests).
COOKIE_NAME = "linli_session"
#: The session cookie when it is Secure. The ``__Host-`` prefix makes browsers refuse it unless
#: it is Secure, has no Domain and has Path=/: a page on another subdomain (or a man in the
#: middle on plain HTTP) cannot plant a session cookie for Linli's host.
SECURE_COOKIE_NAME = "__Host-linli_session"
#: Names a session cookie may have, for logging out of both.
COOKIE_NAMES = (SECURE_COOKIE_NAME, COOKIE_NAME)


def cookie_name(secure: bool) -> str:
    return SECURE_COOKIE_NAME if secure else COOKIE_NAME


def token_of(cookies: Mapping[str, str], *, secure: bool) -> str | None:
    """The session token among a request's cookies. On a secure request only the ``__Host-``
    cookie counts, so a plain one planted by a neighbour subdomain is ignored."""
    token = cookies.get(SECURE_COOKIE_NAME)
    if token or secure:
        return token or None
    return cookies.get(COOKIE_NAME) or None


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def cookie_token(cookie_header: str | None, *, secure: bool = False) -> str | None:
    """The session token from a raw ``Cookie`` header (the WebSocket handshake has no Request)."""
    if not cookie_header:
        return None
    cookies: dict[str, str] = {}
    for part in cookie_header.split(";"):
        name, _, value = part.strip().partition("=")
        if name in COOKIE_NAMES and value:
            cookies.setdefault(name, value)
    return token_of(cookies, secure=secure)


async def session_user(store: Store, token: str | None, now_ms: int) -> User | None:
    if not token or len(token) > 128:
        return None
    return await store.get_session_user(token_hash(token), now=now_ms)


async def identify(
    store: Store, cookie_header: str | None, now_ms: int, *, secure: bool = False
) -> tuple[Principal, str] | None:
    """The user and session id (the token's hash) behind a WebSocket handshake's Cookie header."""
    token = cookie_token(cookie_header, secure=secure)
    user = await session_user(store, token, now_ms)
    if user is None or token is None:
        return None
    return principal_of(user), token_hash(token)


def principal_of(user: User) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        building_id=user.building_id,
    )

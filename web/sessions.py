"""Server-side sessions: the cookie holds a random token, the store holds only its SHA-256, so a
leaked database does not leak live sessions, and logging out or blocking a user ends them at once.
"""

from __future__ import annotations

import hashlib
import secrets

from channels.access import Principal
from persistence.store import Store, User

COOKIE_NAME = "linli_session"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def cookie_token(cookie_header: str | None) -> str | None:
    """The session token from a raw ``Cookie`` header (the WebSocket handshake has no Request)."""
    if not cookie_header:
        return None
    for part in cookie_header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE_NAME and value:
            return value
    return None


async def session_user(store: Store, token: str | None, now_ms: int) -> User | None:
    if not token or len(token) > 128:
        return None
    return await store.get_session_user(token_hash(token), now=now_ms)


async def identify(
    store: Store, cookie_header: str | None, now_ms: int
) -> tuple[Principal, str] | None:
    """The user and session id (the token's hash) behind a WebSocket handshake's Cookie header."""
    token = cookie_token(cookie_header)
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

"""Origin checks: a browser page may open Linli's WebSocket or post to its API only from Linli's
own origin or one the operator allowed. Stops cross-site WebSocket hijacking and CSRF, which
SameSite=Lax cookies alone do not stop for WebSocket handshakes."""

from __future__ import annotations

from collections.abc import Iterable


def own_origin(scheme: str, host_header: str | None) -> str | None:
    """The origin of the page that was served by this request's host."""
    if not host_header:
        return None
    web_scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    return f"{web_scheme}://{host_header.lower()}"


def origin_allowed(
    origin: str | None, scheme: str, host_header: str | None, allowed: Iterable[str]
) -> bool:
    """True for no Origin at all (not a browser: a browser always sends one on a WebSocket
    handshake and on a cross-origin POST), the request's own origin, or an allowed one."""
    if origin is None:
        return True
    origin = origin.lower().rstrip("/")
    if origin == "null":
        return False
    if origin == own_origin(scheme, host_header):
        return True
    return origin in {o.lower().rstrip("/") for o in allowed}

"""Configuration from the environment, in one place. ``docs/operations.md`` and the README list
the same table; ``SETTINGS_DOC`` below is its source.

The mode follows from two URLs: no ``LINLI_REDIS_URL`` means the embedded mode (in-process broker,
work queue and presence, workers as tasks); a ``LINLI_DATABASE_URL`` starting ``postgresql://``
picks PostgreSQL, otherwise a SQLite file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

from linli.eventloop import loop_factory


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = "sqlite:///linli-data/linli.sqlite3"
    redis_url: str | None = None
    key_prefix: str = "linli:"
    host: str = "127.0.0.1"
    port: int = 8000
    #: The port of the WebSocket server the pages use: the ``websockets`` library's, beside
    #: hypercorn (gateway/ws_server.py, design 0008). None ("auto") = ``port`` + 1; 0 = off, the
    #: pages then use ``/ws`` on the HTTP port (hypercorn, which serves it in any case).
    ws_port: int | None = None
    #: Origins allowed on the WebSocket handshake and on state-changing HTTP requests, besides
    #: the page's own origin (scheme://host[:port] of the request).
    allowed_origins: tuple[str, ...] = ()
    #: How many reverse proxies in front of Linli to trust for X-Forwarded-For/-Proto/-Host
    #: (client address for login throttling, https for cookies and the Origin check). 0 = none.
    trusted_proxy_hops: int = 0
    #: Run the workers as tasks inside the web process. Defaults to on in the embedded mode.
    run_workers: bool | None = None
    #: Apply migrations at start-up. Defaults to on in the embedded mode.
    auto_migrate: bool | None = None
    #: "auto" (Secure when the request came over https), "true" or "false".
    cookie_secure: str = "auto"
    session_days: int = 30
    max_frame_bytes: int = 4096
    #: Frames larger than this are refused by the WebSocket layer itself (close 1009).
    hard_frame_bytes: int = 65536
    send_queue_bytes: int = 1 << 20
    max_subscriptions: int = 100
    publish_rate: float = 5.0
    publish_burst: int = 20
    heartbeat_seconds: float = 25.0
    presence_ttl: float = 30.0
    history_size: int = 1000
    recovery_max: int = 1000
    #: Most tally updates per second the votes worker publishes for one poll (the last one after
    #: a burst is always sent). 10 rather than 4: a burst's second update then comes 100 ms after
    #: the first instead of 250 ms, which issue 7's vote → screen p99 ≤ 300 ms needs (design 0006).
    poll_tally_rate: float = 10.0
    login_max_failures: int = 5
    login_window_seconds: int = 900
    #: Where the argon2 work happens: True runs it in a thread so the event loop stays free.
    hash_in_thread: bool = True
    #: "auto" (uvloop where installed), "uvloop" or "asyncio". See linli/eventloop.py.
    event_loop: str = "auto"
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def websocket_port(self) -> int:
        """Where the websockets transport listens; 0 = not at all."""
        return self.port + 1 if self.ws_port is None else self.ws_port

    @property
    def embedded(self) -> bool:
        return self.redis_url is None

    @property
    def postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))

    @property
    def workers_in_process(self) -> bool:
        return self.embedded if self.run_workers is None else self.run_workers

    @property
    def migrate_at_start(self) -> bool:
        return self.embedded if self.auto_migrate is None else self.auto_migrate


SETTINGS_DOC: dict[str, str] = {
    "database_url": "`sqlite:///path` (embedded default `sqlite:///linli-data/linli.sqlite3`) or "
    "`postgresql://user@host:5432/db`",
    "redis_url": "unset = embedded mode; `redis://host:6379/0` = scaled mode",
    "key_prefix": "prefix of every Redis key (several Linli installations can share one Redis)",
    "host": "address `linli serve` listens on",
    "port": "port `linli serve` listens on",
    "ws_port": "port of the WebSocket server the pages connect to (the websockets library's, "
    "beside hypercorn); `auto` = `LINLI_PORT` + 1; `0` = off (pages use `/ws` on the HTTP port); "
    "behind a proxy, route `/ws` to it",
    "allowed_origins": "comma-separated extra origins allowed to open the WebSocket and post "
    "forms (the page's own origin always is)",
    "trusted_proxy_hops": "reverse proxies to trust for X-Forwarded-For/-Proto/-Host (0 = none; "
    "1 behind one TLS-terminating proxy)",
    "run_workers": "run the workers inside the web process (default: yes when embedded)",
    "auto_migrate": "apply migrations at start-up (default: yes when embedded)",
    "cookie_secure": "`auto` (Secure cookie when served over https), `true` or `false`",
    "session_days": "how long a login lasts",
    "max_frame_bytes": "largest request frame answered normally; larger gets `too_large`",
    "hard_frame_bytes": "largest frame the WebSocket layer accepts at all (close 1009 above)",
    "send_queue_bytes": "per-connection send buffer; a client that falls further behind is "
    "closed with 4001 (slow) and recovers on reconnect",
    "max_subscriptions": "channels one connection may subscribe to",
    "publish_rate": "messages per second each user may publish (token bucket refill)",
    "publish_burst": "messages a user may publish at once before the rate applies",
    "heartbeat_seconds": "interval of the server's ping; a client silent for two intervals "
    "is closed with 4002",
    "presence_ttl": "seconds a connection stays in presence without a heartbeat",
    "history_size": "publications kept per channel in the hot history",
    "recovery_max": "most missed publications a resubscription recovers; beyond it the client "
    "is told to reload",
    "poll_tally_rate": "most live tally updates per second per poll (coalesced; the last one "
    "after a burst is always sent)",
    "login_max_failures": "failed logins per username (4x per address) before a pause",
    "login_window_seconds": "the window those failures are counted in",
    "hash_in_thread": "hash passwords in a worker thread (keeps the event loop responsive)",
    "event_loop": "`auto` (uvloop where it is installed: Linux, macOS), `uvloop` or `asyncio`",
}


def _parse(raw: str, current: object) -> object:
    if isinstance(current, bool) or current is None:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        if current is None and lowered in {"", "auto"}:
            return None
        raise ValueError(f"expected true or false, got {raw!r}")
    if isinstance(current, int):
        return int(raw)
    if isinstance(current, float):
        return float(raw)
    if isinstance(current, tuple):
        return tuple(part.strip().rstrip("/") for part in raw.split(",") if part.strip())
    return raw


def load_settings(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Settings from ``LINLI_*`` variables (``LINLI_DATABASE_URL`` …), then ``overrides``."""
    env = os.environ if env is None else env
    base = Settings()
    values: dict[str, object] = {}
    for f in fields(Settings):
        if f.name == "extra":
            continue
        raw = env.get(f"LINLI_{f.name.upper()}")
        if raw is None:
            continue
        current = getattr(base, f.name)
        try:
            if f.name == "redis_url":
                values[f.name] = raw
            elif f.name == "ws_port":
                values[f.name] = None if raw.strip().lower() in {"", "auto"} else int(raw)
            else:
                values[f.name] = _parse(raw, current)
        except ValueError as exc:
            raise ValueError(f"LINLI_{f.name.upper()}: {exc}") from None
    if values.get("redis_url") == "":
        values["redis_url"] = None
    values.update(overrides)
    settings = replace(base, **values)  # type: ignore[arg-type]
    loop_factory(settings.event_loop)  # an unknown or missing loop is a start-up error
    return settings

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
from email.headerregistry import Address
from email.utils import parseaddr
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from linli.eventloop import loop_factory


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = "sqlite:///linli-data/linli.sqlite3"
    redis_url: str | None = None
    #: ``redis_url`` names one node of a Redis Cluster (design 0034): keys and shard channels are
    #: placed by slot, pub/sub is sharded (SSUBSCRIBE), the persist queue has ``persist_shards``.
    redis_cluster: bool = False
    persist_shards: int = 16
    #: Under Redis Cluster a publish is acknowledged once this many replicas have it (WAIT), so a
    #: master's failover cannot take back an acknowledged message. 0 = do not wait.
    redis_wait_replicas: int = 1
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
    #: Scaled mode: bytes of chat messages a gateway keeps after acking them until it sees them
    #: in the database, to re-submit what Redis loses first (design 0033; 0 turns it off). 16
    #: MiB holds ~30,000 typical messages (~150 bytes of body each, plus ~400 of overhead): at
    #: 20 messages a second on one gateway, 25 minutes of a stopped persist worker.
    acked_buffer_bytes: int = 16 << 20
    #: Seconds between two checks of those messages against the database and Redis.
    acked_check_seconds: float = 1.0
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
    #: The neighbourhood's time zone (an IANA name): where its days, weeks and months begin and
    #: end, e.g. in the moderation figures. Taipei: the neighbourhood Linli was first made for.
    time_zone: str = "Asia/Taipei"
    #: E-mail for notifications (docs/design/0014-email.md): the SMTP server the delivery
    #: worker sends through. Empty = no e-mail at all; the inbox and push work without it.
    smtp_host: str = ""
    #: 587: the submission port (RFC 6409), STARTTLS; 465 with "tls".
    smtp_port: int = 587
    smtp_user: str = ""
    #: Not in the settings' repr, so a logged Settings shows no password.
    smtp_password: str = field(default="", repr=False)
    #: "starttls" (upgrade after connecting; required, not opportunistic), "tls" (TLS from the
    #: first byte, port 465) or "none" (a relay on the same host or network).
    smtp_tls: str = "starttls"
    mail_from: str = "鄰里 Linli <noreply@localhost>"
    #: The site's address as residents reach it: e-mail is read outside any request, so its
    #: links (the notification's page, unsubscribe) cannot take the host from one.
    public_url: str = "http://127.0.0.1:8000"
    #: Days a notification is kept (inbox and deliveries); a daily timer job removes older ones.
    notification_days: int = 180
    #: Days after its resolution within which a resident may reopen a request (design 0019).
    request_reopen_days: int = 14
    #: The weekdays on which requests' targets run (design 0019, "Working days"); the admins'
    #: holidays are taken off them. Monday to Friday: a management office's week.
    request_working_days: str = "mon,tue,wed,thu,fri"
    #: Days a deleted message's text stays readable to moderators on /mod; a daily timer job
    #: blanks older ones.
    mod_deleted_text_days: int = 30
    #: Seconds after writing it within which an author may edit a chat message (issue 22).
    edit_window_seconds: int = 900
    #: Web Push (design 0013): the VAPID private key that signs every push (PEM, or the
    #: base64url raw 32 bytes py_vapid takes). Empty: Linli makes one the first time it needs it
    #: and keeps it in the database (``instance_secrets``), the same for every process. Not in
    #: ``repr``: settings get logged.
    vapid_private_key: str = field(default="", repr=False)
    #: The bearer token ``GET /metrics`` asks for (Prometheus' ``authorization`` setting).
    #: Empty: /metrics is off (404). Not in the settings' repr.
    metrics_token: str = field(default="", repr=False)
    #: The contact in every VAPID token (RFC 8292 §2.1): a push service writes to it when this
    #: server misbehaves. Some services refuse a made-up one: set a real address in production.
    vapid_subject: str = "mailto:admin@localhost"
    #: Accept push endpoints on plain http://127.0.0.1 or http://localhost (tests running their
    #: own push service); real push services are https only.
    push_allow_insecure: bool = False
    #: Largest uploaded file (a notice's attachment, a request's photo), in bytes. 10 MB: a
    #: phone photo (3-6 MB) or a scanned few-page finance report fits; a video does not.
    upload_max_bytes: int = 10 * 1024 * 1024
    #: Where uploaded files' bytes are kept (persistence/blobs/): empty = in the database (every
    #: process already shares it); a directory path = files there (one host or a shared volume).
    blob_dir: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def websocket_port(self) -> int:
        """Where the WebSocket server listens (the one transport of ``/ws``)."""
        return self.port + 1 if self.ws_port is None else self.ws_port

    @property
    def zone(self) -> ZoneInfo:
        """``time_zone`` as a tzinfo (``ZoneInfo`` keeps one instance per name, so this is
        cheap)."""
        return ZoneInfo(self.time_zone)

    @property
    def working_weekdays(self) -> frozenset[int]:
        """``request_working_days`` as ``date.weekday()`` numbers (Monday 0)."""
        return parse_weekdays(self.request_working_days)

    @property
    def email_enabled(self) -> bool:
        return bool(self.smtp_host)

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
    "redis_cluster": "`true`: `LINLI_REDIS_URL` names a node of a Redis Cluster (≥ 7.0); keys "
    "and shard channels are placed by slot (design 0034)",
    "persist_shards": "under Redis Cluster, streams of the persist queue (the same in every "
    "process; drain the queue before changing it)",
    "redis_wait_replicas": "under Redis Cluster, replicas that must have a publish before it is "
    "acknowledged (WAIT; 0 = none)",
    "key_prefix": "prefix of every Redis key (several Linli installations can share one Redis)",
    "host": "address `linli serve` listens on",
    "port": "port `linli serve` listens on",
    "ws_port": "port of the WebSocket server the pages connect to (the websockets library's, "
    "beside hypercorn, the only one serving `/ws`); `auto` = `LINLI_PORT` + 1; behind a proxy, "
    "route `/ws` to it",
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
    "acked_buffer_bytes": "scaled mode: bytes of acked chat messages a gateway keeps until it "
    "sees them in the database, to re-submit any that Redis loses first; beyond it the oldest "
    "are dropped (`linli_acked_dropped`) and rely on Redis alone; 0 = off",
    "acked_check_seconds": "seconds between two checks of those messages against the database",
    "poll_tally_rate": "most live tally updates per second per poll (coalesced; the last one "
    "after a burst is always sent)",
    "login_max_failures": "failed logins per username (4x per address) before each further "
    "attempt waits (1 s, doubling, at most 60 s)",
    "login_window_seconds": "the window those failures are counted in",
    "hash_in_thread": "hash passwords in a worker thread (keeps the event loop responsive)",
    "event_loop": "`auto` (uvloop where it is installed: Linux, macOS), `uvloop` or `asyncio`",
    "time_zone": "the neighbourhood's IANA time zone (`Asia/Taipei`, `Europe/London`): the "
    "moderation figures' days, weeks and months end at its local midnight",
    "smtp_host": "SMTP server for e-mail notifications and digests; empty = no e-mail",
    "smtp_port": "its port (587 for STARTTLS submission, 465 for `tls`)",
    "smtp_user": "SMTP login (empty = no login)",
    "smtp_password": "SMTP password",
    "smtp_tls": "`starttls` (required upgrade), `tls` (TLS from the start) or `none` (a local "
    "relay)",
    "mail_from": "the From of every e-mail, e.g. `鄰里 Linli <noreply@linli.example>`",
    "public_url": "the site's address for links in e-mail (`https://linli.example`)",
    "notification_days": "days notifications are kept before the daily sweep deletes them",
    "request_reopen_days": "days after its resolution within which a resident may reopen a "
    "request; later it is closed by the daily sweep",
    "request_working_days": "the weekdays on which requests' response and resolution targets "
    "run (`mon,tue,wed,thu,fri`; the admins' holidays are taken off them)",
    "mod_deleted_text_days": "days a deleted message's text stays readable to moderators; the "
    "daily sweep then blanks it",
    "edit_window_seconds": "seconds after writing it within which an author may edit a chat "
    "message (deleting has no limit); default 900 (15 minutes)",
    "metrics_token": "the bearer token `GET /metrics` requires; empty = no /metrics (404)",
    "vapid_private_key": "the Web Push (VAPID) private key, PEM or base64url raw; empty = made "
    "on first use and kept in the database",
    "vapid_subject": "the VAPID contact (`mailto:` or `https:` URL) push services may write to",
    "push_allow_insecure": "accept push endpoints on http://127.0.0.1 or localhost (tests only)",
    "upload_max_bytes": "largest uploaded file (attachment, photo) in bytes; default 10485760 "
    "(10 MB)",
    "blob_dir": "where uploaded files are kept: empty = in the database; a directory = files "
    "there (every process must see the same one)",
}

SMTP_TLS_MODES = ("starttls", "tls", "none")


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
    if settings.ws_port is not None and not 0 < settings.ws_port < 65536:
        # 0 once meant "/ws on the HTTP port"; that transport is gone (design 0024, 4).
        raise ValueError(
            f"LINLI_WS_PORT: {settings.ws_port} is not a port. WebSockets are served only by "
            "the WebSocket server; give it a free port, or `auto` (LINLI_PORT + 1)."
        )
    loop_factory(settings.event_loop)  # an unknown or missing loop is a start-up error
    _check_time_zone(settings.time_zone)
    _check_mail(settings)
    _check_vapid_subject(settings.vapid_subject)
    parse_weekdays(settings.request_working_days)
    if settings.persist_shards < 1:
        raise ValueError(f"LINLI_PERSIST_SHARDS: expected 1 or more, got {settings.persist_shards}")
    if settings.upload_max_bytes < 1:
        raise ValueError(
            f"LINLI_UPLOAD_MAX_BYTES: expected 1 or more, got {settings.upload_max_bytes}"
        )
    return settings


def _check_mail(settings: Settings) -> None:
    """Mail settings that cannot work stop the process at start, not at the first urgent
    notice."""
    if settings.smtp_tls not in SMTP_TLS_MODES:
        raise ValueError(
            f"LINLI_SMTP_TLS: expected one of {', '.join(SMTP_TLS_MODES)}, "
            f"got {settings.smtp_tls!r}"
        )
    if not 0 < settings.smtp_port < 65536:
        raise ValueError(f"LINLI_SMTP_PORT: expected a port (1-65535), got {settings.smtp_port}")
    if not settings.public_url.startswith(("http://", "https://")):
        raise ValueError(
            f"LINLI_PUBLIC_URL: expected http(s)://host[:port], got {settings.public_url!r}"
        )
    _, address = parseaddr(settings.mail_from)
    local, at, domain = address.rpartition("@")
    try:
        Address(addr_spec=address)
        valid = bool(local and at and domain)
    except (ValueError, IndexError):
        valid = False
    if not valid:
        raise ValueError(
            f"LINLI_MAIL_FROM: expected an address such as 'Linli <noreply@linli.example>', "
            f"got {settings.mail_from!r}"
        )
    if settings.notification_days < 1:
        raise ValueError(
            f"LINLI_NOTIFICATION_DAYS: expected 1 or more, got {settings.notification_days}"
        )


def _check_vapid_subject(subject: str) -> None:
    """RFC 8292 §2.1: a ``mailto:`` or an ``https:`` URL; push services refuse pushes without."""
    if not subject.startswith(("mailto:", "https://")) or len(subject) < 9:
        raise ValueError(
            f"LINLI_VAPID_SUBJECT: expected mailto:someone@example.org or an https:// URL, "
            f"got {subject!r}"
        )


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_weekdays(raw: str) -> frozenset[int]:
    """``mon,tue,…`` as weekday numbers; an unknown name or none at all is a start-up error."""
    names = [part.strip().lower() for part in raw.split(",") if part.strip()]
    unknown = [name for name in names if name not in _WEEKDAYS]
    if unknown or not names:
        raise ValueError(
            f"LINLI_REQUEST_WORKING_DAYS: expected weekdays such as mon,tue,wed,thu,fri, "
            f"got {raw!r}"
        )
    return frozenset(_WEEKDAYS.index(name) for name in names)


def _check_time_zone(name: str) -> None:
    """An unknown zone is a start-up error, not a failure at the first figures request."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # Without any zone data (no system tz database, tzdata not installed) every name fails.
        hint = "" if available_timezones() else " (no time zone data found: install tzdata)"
        raise ValueError(
            f"LINLI_TIME_ZONE: unknown time zone {name!r}; expected an IANA name such as "
            f"Asia/Taipei or Europe/London{hint}"
        ) from None


def is_secure(settings: Settings, scheme: str) -> bool:
    """Whether cookies for a request that came by ``scheme`` are Secure (``LINLI_COOKIE_SECURE``;
    ``auto``: when it came over https/wss, as the trusted proxy says)."""
    if settings.cookie_secure == "auto":
        return scheme in ("https", "wss")
    return settings.cookie_secure == "true"

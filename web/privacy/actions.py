"""Privacy's state changes (issue 21; 個人資料保護法): consent at registration, a resident's data
export, deleting one's account, and the retention sweep. No HTTP here: the API, the CLI and the
admin console call these alike; each is audited as feature ``privacy``.
"""

from __future__ import annotations

import csv
import io
import logging
import zipfile
from datetime import datetime, timedelta
from typing import Any, Final

import orjson

from gateway.control import PermissionsChanged, send_control
from linli.feature import Services
from linli.live import zone_of
from linli.types import Millis, UserId
from persistence.audit import NewEntry
from persistence.privacy import RetentionKind
from persistence.privacy.sql import SqlPrivacyStore
from persistence.store import User
from persistence.timers import TimerJob
from web import passwords

log = logging.getLogger(__name__)

FEATURE: Final = "privacy"
#: The version of the privacy notice (/privacy) consent is recorded against: bump it (a date)
#: whenever what the notice says changes.
NOTICE_VERSION: Final = "2026-12-02"
#: The daily retention sweep, a recurring timer job.
RETENTION_TIMER: Final = "privacy.retention"
#: When it runs, local time: when nobody is about (the notifications' sweep is at 03:30).
RETENTION_AT: Final = (3, 45)
DAY_MS: Final = 86_400_000


class WrongPassword(Exception):
    """The password given to confirm an account's deletion is not the account's."""


def privacy_store(services: Services) -> SqlPrivacyStore:
    return SqlPrivacyStore(services.database)


async def record_consent(services: Services, user_id: UserId) -> None:
    """The resident ticked the box of the registration form (the notice's current version)."""
    await privacy_store(services).record_consent(
        user_id, NOTICE_VERSION, at=services.clock.now_ms(), how="register"
    )


# -- export -----------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return orjson.dumps(value).decode()
    return str(value)


def _csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    columns = list(dict.fromkeys(key for row in rows for key in row))
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    # With a byte-order mark, so Excel (what a management office opens CSV with) reads UTF-8.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


async def export_zip(services: Services, user: User) -> bytes:
    """The resident's data as a ZIP: ``data.json`` (every section) and one CSV per section."""
    data = await privacy_store(services).export(user.id)
    now = services.clock.now_ms()
    document = {"exported_at": now, "user_id": user.id, "notice_version": NOTICE_VERSION, **data}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", orjson.dumps(document, option=orjson.OPT_INDENT_2))
        for section, rows in data.items():
            archive.writestr(f"{section}.csv", _csv(rows))
    await services.audit.append(
        NewEntry(
            feature=FEATURE,
            action="export",
            actor_id=user.id,
            reason="",
            at=now,
            target_user_id=user.id,
        )
    )
    return buffer.getvalue()


# -- deletion ---------------------------------------------------------------------------------


async def delete_account(services: Services, user: User, password: str) -> None:
    """Raises WrongPassword. Erases the account (``PrivacyStore.erase_account``) and closes its
    connections on every gateway."""
    stored = await services.store.get_password_hash(user.id)
    if not await passwords.verify_password(
        stored, password, in_thread=services.settings.hash_in_thread
    ):
        raise WrongPassword
    now = services.clock.now_ms()
    await privacy_store(services).erase_account(user.id, at=now)
    await services.audit.append(
        NewEntry(
            feature=FEATURE,
            action="account_delete",
            actor_id=user.id,
            reason="",
            at=now,
            target_user_id=user.id,
        )
    )
    try:
        await send_control(services.broker, PermissionsChanged(user_id=user.id))
    except Exception:  # the sessions are gone already: a reconnect is refused anyway
        log.warning("could not close the connections of deleted user %d", user.id, exc_info=True)


# -- retention --------------------------------------------------------------------------------


async def set_retention(
    services: Services, kind: RetentionKind, days: int | None, *, actor: User | None
) -> None:
    now = services.clock.now_ms()
    await privacy_store(services).set_retention(kind, days, at=now)
    await services.audit.append(
        NewEntry(
            feature=FEATURE,
            action="retention_set",
            actor_id=None if actor is None else actor.id,
            reason="",
            at=now,
            subject=f"retention:{kind}",
            detail={"days": days},
        )
    )


def next_local_time(now: Millis, services: Services, hour: int, minute: int) -> Millis:
    zone = zone_of(services)
    day = datetime.fromtimestamp(now / 1000, zone).date()
    while True:
        at = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
        due = int(at.timestamp() * 1000)
        if due > now:
            return due
        day += timedelta(days=1)


def next_retention(services: Services) -> Millis:
    return next_local_time(services.clock.now_ms(), services, *RETENTION_AT)


async def sweep(services: Services, now: Millis) -> dict[str, int]:
    """Deletes every kind's records older than its retention; how many of each."""
    store = privacy_store(services)
    removed: dict[str, int] = {}
    for kind, days in (await store.retention()).items():
        if days is None:
            continue
        removed[str(kind)] = await store.purge(kind, before=now - days * DAY_MS)
    return removed


async def on_retention_timer(services: Services, job: TimerJob) -> None:
    """``privacy.retention``, daily at 03:45 local time; schedules the next run."""
    now = services.clock.now_ms()
    removed = await sweep(services, now)
    if any(removed.values()):
        log.info("retention sweep removed %s", removed)
    await services.timers.schedule(
        job.key, RETENTION_TIMER, next_local_time(now, services, *RETENTION_AT), {}, now=now
    )

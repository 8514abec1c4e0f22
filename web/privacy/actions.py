"""Privacy's state changes (issue 21; 個人資料保護法): consent at registration, a resident's data
export, deleting one's account, and the retention sweep. No HTTP here: the API, the CLI and the
admin console call these alike; each is audited as feature ``privacy``.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

from gateway.control import PermissionsChanged, send_control
from linli.feature import Services
from linli.live import zone_of
from linli.types import Millis, UserId
from persistence.audit import NewEntry
from persistence.blobs import blob_store
from persistence.photos import ChatPhoto
from persistence.photos.sql import SqlPhotoStore
from persistence.privacy import RetentionKind
from persistence.privacy.sql import SqlPrivacyStore
from persistence.store import User
from persistence.timers import TimerJob
from web import passwords
from web.photos import actions as photos

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


#: What may stay of an uploaded file's name in the archive (letters of any script, digits).
_UNSAFE_NAME: Final = re.compile(r"[^\w.\-]+")


def photo_path(photo: ChatPhoto) -> str:
    """Where a photo's original is in the archive: ``photos/<date>-<id>-<its name>`` (the id
    keeps two photos of one name apart; the name keeps only safe characters)."""
    day = datetime.fromtimestamp(photo.created_at / 1000, UTC).strftime("%Y%m%d")
    name = _UNSAFE_NAME.sub("_", photo.filename).strip("._") or "photo"
    return f"photos/{day}-{photo.id[:8]}-{name[-80:]}"


def _photo_row(photo: ChatPhoto, path: str | None) -> dict[str, Any]:
    return {
        "file": path,
        "id": photo.id,
        "channel": photo.channel,
        "offset": photo.offset,
        "filename": photo.filename,
        "media_type": photo.media_type,
        "width": photo.width,
        "height": photo.height,
        "size": photo.size,
        "created_at": photo.created_at,
    }


async def export_zip(services: Services, user: User) -> bytes:
    """The resident's data as a ZIP: ``data.json`` (every section) and one CSV per section, and
    the originals of the chat photos they uploaded under ``photos/`` (the ``photos`` section
    names each one's file; a blob that cannot be found has none)."""
    data = await privacy_store(services).export(user.id)
    blobs = blob_store(services.settings, services.database)
    files: list[tuple[str, bytes]] = []
    photo_rows = []
    for photo in await SqlPhotoStore(services.database).of_uploader(user.id):
        original = await blobs.get(photo.blob_id)
        path = None if original is None else photo_path(photo)
        if path is not None and original is not None:
            files.append((path, original))
        photo_rows.append(_photo_row(photo, path))
    data["photos"] = photo_rows
    now = services.clock.now_ms()
    document = {"exported_at": now, "user_id": user.id, "notice_version": NOTICE_VERSION, **data}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", orjson.dumps(document, option=orjson.OPT_INDENT_2))
        for section, rows in data.items():
            archive.writestr(f"{section}.csv", _csv(rows))
        for path, content in files:  # already compressed images: stored as they are
            archive.writestr(path, content, compress_type=zipfile.ZIP_STORED)
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
    # Their photos first (blobs, then rows): a crash before the erasure leaves an account to
    # delete again, a crash after it would leave photos nobody can ask to delete any more.
    await photos.delete_of_user(services, user.id)
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
        before = now - days * DAY_MS
        if kind is RetentionKind.CHAT:  # the messages' photos before the messages themselves
            await photos.delete_of_messages_before(services, before)
        removed[str(kind)] = await store.purge(kind, before=before)
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

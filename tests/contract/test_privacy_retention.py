"""Retention (issue 21) in both modes on the real backends at a fixed clock: the daily
``privacy.retention`` job, run by the real timers worker with the privacy feature's timer and
recurring job, deletes each kind's records older than its setting at 03:45 local time and not
before; records younger than the limit, and kinds kept for ever, stay; the next run is the next
day's 03:45. The audit log stays append-only for everything the sweep may not delete. Chat's
limit takes the purged messages' photos with them (design 0032)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import msgpack
import pytest

from linli.clock import ManualClock
from linli.config import Settings, load_settings
from linli.features import PRIVACY, recurring_of, timers_of
from linli.runtime import Runtime, open_runtime
from persistence.audit import NewEntry
from persistence.blobs import blob_store, new_blob_id
from persistence.photos import ChatPhoto
from persistence.photos.sql import SqlPhotoStore
from persistence.privacy import RETENTION_DEFAULTS, RetentionKind
from persistence.store import Role, StoredMessage
from web.privacy import actions
from workers.timers import TimerWorker

TAIPEI = ZoneInfo("Asia/Taipei")
DAY = 86_400_000
#: 10:00 in Taipei, a Wednesday.
START = int(datetime(2026, 3, 4, 10, 0, tzinfo=TAIPEI).timestamp() * 1000)
#: The sweep's first run: 03:45 the next morning.
SWEEP = int(datetime(2026, 3, 5, 3, 45, tzinfo=TAIPEI).timestamp() * 1000)


@pytest.fixture(params=["embedded", "scaled"])
def settings(request: pytest.FixtureRequest) -> Settings:
    if request.param == "embedded":
        return load_settings(
            {"LINLI_TIME_ZONE": "Asia/Taipei"}, database_url=request.getfixturevalue("sqlite_url")
        )
    return load_settings(
        {"LINLI_TIME_ZONE": "Asia/Taipei"},
        database_url=request.getfixturevalue("postgres_schema_url"),
        redis_url=request.getfixturevalue("redis_url"),
        key_prefix=request.getfixturevalue("redis_prefix"),
    )


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    async with open_runtime(settings, migrate_first=True) as rt:
        rt.clock = ManualClock(START)
        yield rt


async def _count(rt: Runtime, table: str) -> int:
    return int(await rt.database.fetchval(f"SELECT count(*) FROM {table}"))


async def _seed(rt: Runtime, ages_days: list[int]) -> int:
    """One record of every kind per age (days before START, counting from the sweep's time)."""
    user = await rt.store.create_user(
        username="ann", display_name="Ann", password_hash="-", role=Role.RESIDENT,
        building_id=None, unit_label=None, now=1,
    )  # fmt: skip
    db = rt.database
    for i, age in enumerate(ages_days):
        at = START - age * DAY
        data = msgpack.packb({"kind": "chat", "text": f"m{i}", "author": {"id": user.id}})
        await rt.store.insert_messages([StoredMessage("building:1", i + 1, 1, data, user.id, at)])
        await rt.audit.append(NewEntry(feature="test", action="x", actor_id=None, reason="", at=at))
        await db.execute(
            "INSERT INTO activity_events (id, user_id, kind, at) VALUES ($1, $2, 'visit', $3)",
            f"e{i}",
            user.id,
            at,
        )
        await db.execute(
            "INSERT INTO notifications (user_id, source_key, kind, urgent, text_zh, text_en, "
            "link, created_at) VALUES ($1, $2, 'chat', 0, 'z', 'e', '/', $3)",
            user.id,
            f"n{i}",
            at,
        )
    return user.id


async def test_the_sweep_purges_each_kind_on_time(runtime: Runtime) -> None:
    rt = runtime
    clock = rt.clock
    assert isinstance(clock, ManualClock)
    # Ages at START: 5, 29, 31, 100, 400 days. At the sweep (17 h 45 min later) the limits are
    # measured from then: 29 days stays under 30, 31 is over.
    await _seed(rt, [5, 29, 31, 100, 400])
    store = actions.privacy_store(rt)
    assert await store.retention() == RETENTION_DEFAULTS
    await actions.set_retention(rt, RetentionKind.CHAT, 30, actor=None)
    await actions.set_retention(rt, RetentionKind.ACTIVITY, 90, actor=None)
    await actions.set_retention(rt, RetentionKind.NOTIFICATIONS, 60, actor=None)
    await actions.set_retention(rt, RetentionKind.AUDIT, None, actor=None)  # kept for ever
    assert (await store.retention())[RetentionKind.CHAT] == 30
    audit_before = await _count(rt, "audit_log")  # 5 seeded + 4 settings changes

    worker = TimerWorker(
        rt.timers,
        timers_of([PRIVACY], rt),
        clock=clock,
        recurring=recurring_of([PRIVACY], rt),
    )
    # Not due yet: the job is made for 03:45 tomorrow and nothing is deleted.
    assert await worker.run_until_idle() == 0
    entry = await rt.timers.get(actions.RETENTION_TIMER)
    assert entry is not None and entry.due_at == SWEEP
    clock.set_now_ms(SWEEP - 60_000)
    assert await worker.run_until_idle() == 0
    for table in ("messages", "activity_events", "notifications"):
        assert await _count(rt, table) == 5, table

    clock.set_now_ms(SWEEP)
    assert await worker.run_until_idle() == 1
    texts = [
        msgpack.unpackb(bytes(r["data"]))["text"]
        for r in await rt.database.fetch('SELECT data FROM messages ORDER BY "offset"')
    ]
    assert texts == ["m0", "m1"]  # 5 and 29 days old; 31, 100 and 400 are gone
    assert await _count(rt, "activity_events") == 3  # 5, 29, 31
    assert await _count(rt, "notifications") == 3  # 5, 29, 31
    assert await _count(rt, "audit_log") == audit_before  # audit: kept for ever
    after = await rt.timers.get(actions.RETENTION_TIMER)
    assert after is not None and after.due_at == SWEEP + DAY

    # The audit log's limit applies at the next run, exactly.
    await actions.set_retention(rt, RetentionKind.AUDIT, 365, actor=None)
    clock.set_now_ms(SWEEP + DAY)
    assert await worker.run_until_idle() == 1
    kept = sorted(
        (START - int(r["at"])) // DAY
        for r in await rt.database.fetch("SELECT at FROM audit_log WHERE feature = 'test'")
    )
    assert kept == [5, 29, 31, 100]  # ages at START: the 400-day entry is gone


async def test_the_audit_log_stays_append_only(runtime: Runtime) -> None:
    rt = runtime
    await _seed(rt, [10, 500])
    removed = await actions.privacy_store(rt).purge(RetentionKind.AUDIT, before=START - 100 * DAY)
    assert removed == 1
    # By hand, nothing younger than the sweep's cut-off can be changed or removed.
    for statement in ("DELETE FROM audit_log", "UPDATE audit_log SET reason = 'x'"):
        with pytest.raises(Exception, match="append-only"):
            await rt.database.execute(statement)
    assert await _count(rt, "audit_log") == 1


async def test_history_serves_no_chat_past_its_retention(runtime: Runtime) -> None:
    """The broker's hot history may still hold old messages of a quiet room after the sweep:
    history pages do not serve them once the chat retention says they are gone, and show a
    deleted account's name as ``DELETED_NAME``."""
    from channels.access import Principal
    from channels.broker import Publication
    from gateway.privacy.ops import PrivacyView
    from persistence.privacy import DELETED_NAME

    rt = runtime
    user_id = await _seed(rt, [])
    room = "building:1"

    def pub(offset: int, age_days: int, text: str) -> Publication:
        data = msgpack.packb(
            {"kind": "chat", "text": text, "author": {"id": user_id, "name": "Ann"},
             "ts": START - age_days * DAY}
        )  # fmt: skip
        return Publication(room, offset, 1, data)

    junk = Publication(room, 3, 1, b"\x01")
    pubs = [pub(1, 40, "old"), pub(2, 10, "recent"), junk]
    reader = Principal(user_id, "amy", "Amy", Role.RESIDENT, None)
    view = PrivacyView(rt)
    assert [p.offset for p in await view.view(reader, room, pubs)] == [1, 2, 3]  # kept for ever
    await actions.set_retention(rt, RetentionKind.CHAT, 30, actor=None)
    fresh = PrivacyView(rt)  # a process that reads the setting now (others within a minute)
    shown = await fresh.view(reader, room, pubs)
    assert [p.offset for p in shown] == [2, 3]
    assert msgpack.unpackb(shown[0].data)["author"]["name"] == "Ann"
    await actions.privacy_store(rt).erase_account(user_id, at=START)
    renamed = await fresh.view(reader, room, pubs)
    assert [msgpack.unpackb(p.data)["author"]["name"] for p in renamed[:1]] == [DELETED_NAME]
    assert renamed[1].data == b"\x01"  # not a chat body: passed through as it was


async def test_chat_retention_deletes_the_purged_messages_photos(runtime: Runtime) -> None:
    """A chat message older than the chat retention goes with its photo (row and blobs); a
    younger one's photo, and an upload not sent yet, stay (design 0032)."""
    rt = runtime
    clock = rt.clock
    assert isinstance(clock, ManualClock)
    user_id = await _seed(rt, [5, 31])  # offsets 1 (5 days old) and 2 (31 days old)
    blobs = blob_store(rt.settings, rt.database)
    photos = SqlPhotoStore(rt.database)
    made: dict[str, ChatPhoto] = {}
    for name, offset in (("young", 1), ("old", 2), ("unsent", None)):
        original = await blobs.put(f"{name} bytes".encode(), now=START)
        thumb = await blobs.put(f"{name} thumb".encode(), now=START)
        photo = ChatPhoto(
            id=new_blob_id(), channel="building:1", uploader_id=user_id, blob_id=original.id,
            thumb_id=thumb.id, media_type="image/png", filename=f"{name}.png", width=1,
            height=1, size=11, cmid=None, offset=None, created_at=START - 40 * DAY,
        )  # fmt: skip
        await photos.add(photo)
        if offset is not None:
            await photos.claim(photo.id, uploader_id=user_id, channel="building:1", cmid=name)
            await photos.attach(photo.id, offset)
        made[name] = photo
    await actions.set_retention(rt, RetentionKind.CHAT, 30, actor=None)
    worker = TimerWorker(
        rt.timers, timers_of([PRIVACY], rt), clock=clock, recurring=recurring_of([PRIVACY], rt)
    )
    await worker.run_until_idle()
    clock.set_now_ms(SWEEP)
    assert await worker.run_until_idle() == 1
    assert await photos.get(made["old"].id) is None
    assert await blobs.get(made["old"].blob_id) is None
    assert await blobs.get(made["old"].thumb_id) is None
    for name in ("young", "unsent"):  # the unsent one is the photos feature's own sweep's
        assert await photos.get(made[name].id) is not None, name
        assert await blobs.get(made[name].blob_id) == f"{name} bytes".encode(), name
    assert await _count(rt, "messages") == 1

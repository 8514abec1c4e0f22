"""The moderation feature's retention sweep (``moderation.purge_deleted``, a recurring timer job
of ``web/moderation/actions.py``) on the real backends in both modes at a fixed clock: a deleted
message's text stays readable to moderators for ``LINLI_MOD_DELETED_TEXT_DAYS``, then the sweep
blanks it (once), leaves hidden and recently deleted messages alone, and schedules its next run a
day later; the feature registers the job with the timers worker. A deleted message's photo goes
with its text."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from linli.clock import ManualClock
from linli.config import Settings, load_settings
from linli.features import FEATURES
from linli.runtime import Runtime, open_runtime
from persistence.blobs import blob_store, new_blob_id
from persistence.moderation import MessageAction, MessageSnapshot
from persistence.moderation.sql import SqlModerationStore
from persistence.photos import ChatPhoto
from persistence.photos.sql import SqlPhotoStore
from persistence.store import Role
from persistence.timers import TimerJob
from web.moderation import actions

DAY = 86_400_000
START = 1_800_000_000_000
ROOM = "building:1"


@pytest.fixture(params=["embedded", "scaled"])
def settings(request: pytest.FixtureRequest) -> Settings:
    if request.param == "embedded":
        base = load_settings({}, database_url=request.getfixturevalue("sqlite_url"))
    else:
        base = load_settings(
            {},
            database_url=request.getfixturevalue("postgres_schema_url"),
            redis_url=request.getfixturevalue("redis_url"),
            key_prefix=request.getfixturevalue("redis_prefix"),
        )
    return dataclasses.replace(base, mod_deleted_text_days=7)


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    async with open_runtime(settings, migrate_first=True) as rt:
        rt.clock = ManualClock(START)
        yield rt


def test_the_feature_registers_the_sweep() -> None:
    [moderation] = [f for f in FEATURES if f.name == "moderation"]
    assert actions.PURGE_TIMER in moderation.timers
    assert actions.PURGE_TIMER in moderation.recurring


async def test_deleted_text_is_kept_for_the_period_then_blanked(runtime: Runtime) -> None:
    rt = runtime
    mod = SqlModerationStore(rt.database)
    moderator = await rt.store.create_user(
        username="mo",
        display_name="Mo",
        password_hash="h",
        role=Role.MODERATOR,
        building_id=None,
        unit_label=None,
        now=START,
    )
    for offset, action, at in (
        (1, MessageAction.DELETE, START),
        (2, MessageAction.DELETE, START + 5 * DAY),
        (3, MessageAction.HIDE, START),
    ):
        snapshot = MessageSnapshot(None, "Ann", f"text {offset}", START)
        await mod.act_on_message(
            ROOM, offset, action, actor_id=moderator.id, reason="r", now=at, snapshot=snapshot
        )
    assert isinstance(rt.clock, ManualClock)
    rt.clock.set_now_ms(START + 8 * DAY)  # past the 7 days of the first deletion only
    job = TimerJob(
        key=actions.PURGE_TIMER,
        kind=actions.PURGE_TIMER,
        due_at=rt.clock.now_ms(),
        payload={},
        attempts=1,
    )
    await actions.on_purge_timer(rt, job)
    bodies = {o: await mod.get_message(ROOM, o) for o in (1, 2, 3)}
    assert bodies[1] is not None and bodies[1].body == "" and bodies[1].text_purged
    assert bodies[2] is not None and bodies[2].body == "text 2"
    assert bodies[3] is not None and bodies[3].body == "text 3"
    entry = await rt.timers.get(actions.PURGE_TIMER)
    assert entry is not None and entry.due_at == START + 9 * DAY
    # Run again (a retried job): nothing more is blanked; the second goes once its time is up.
    await actions.on_purge_timer(rt, job)
    assert (await mod.get_message(ROOM, 2)).body == "text 2"  # type: ignore[union-attr]
    rt.clock.set_now_ms(START + 13 * DAY)
    assert await actions.purge_deleted_text(rt, now=rt.clock.now_ms()) == 1


async def test_a_deleted_messages_photo_goes_with_its_text(runtime: Runtime) -> None:
    """Design 0032: the sweep that blanks a moderator-deleted message's text deletes its photo
    (row and blobs) too; a hidden message's photo stays (it may be restored)."""
    rt = runtime
    mod = SqlModerationStore(rt.database)
    blobs = blob_store(rt.settings, rt.database)
    photos = SqlPhotoStore(rt.database)
    made = {}
    for offset, action in ((1, MessageAction.DELETE), (2, MessageAction.HIDE)):
        original = await blobs.put(b"original %d" % offset, now=START)
        thumb = await blobs.put(b"thumb %d" % offset, now=START)
        photo = ChatPhoto(
            id=new_blob_id(), channel=ROOM, uploader_id=1, blob_id=original.id,
            thumb_id=thumb.id, media_type="image/png", filename="p.png", width=1, height=1,
            size=10, cmid=f"c{offset}", offset=None, created_at=START,
        )  # fmt: skip
        await photos.add(photo)
        await photos.attach(photo.id, offset)
        made[offset] = photo
        snapshot = MessageSnapshot(None, "Ann", f"text {offset}", START)
        await mod.act_on_message(
            ROOM, offset, action, actor_id=1, reason="r", now=START, snapshot=snapshot
        )
    assert isinstance(rt.clock, ManualClock)
    rt.clock.set_now_ms(START + 6 * DAY)  # within the 7 days: kept for review
    assert await actions.purge_deleted_text(rt, now=rt.clock.now_ms()) == 0
    assert await photos.get(made[1].id) is not None
    rt.clock.set_now_ms(START + 8 * DAY)
    assert await actions.purge_deleted_text(rt, now=rt.clock.now_ms()) == 1
    assert await photos.get(made[1].id) is None
    assert await blobs.get(made[1].blob_id) is None and await blobs.get(made[1].thumb_id) is None
    assert await photos.get(made[2].id) is not None
    assert await blobs.get(made[2].blob_id) == b"original 2"
    # Again (a retried job): nothing left to do, nothing raised.
    assert await actions.purge_deleted_text(rt, now=rt.clock.now_ms()) == 0

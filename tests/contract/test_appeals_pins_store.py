"""The appeals (ModerationStore) and pins (RoomStore) contracts, against SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from persistence.factory import open_store
from persistence.migrate import migrate
from persistence.moderation import (
    AlreadyAppealed,
    AppealOutcome,
    AppealState,
    MessageAction,
    MessageSnapshot,
    SanctionKind,
)
from persistence.moderation.sql import SqlModerationStore
from persistence.rooms import Pin
from persistence.rooms.sql import SqlRoomStore
from persistence.store import NotFound, Store
from tests.contract.test_moderation_store import NOW, ROOM, _users


@pytest.fixture
async def stores(db_url: str) -> AsyncIterator[tuple[Store, SqlModerationStore, SqlRoomStore]]:
    await migrate(db_url)
    store = await open_store(db_url)
    try:
        yield store, SqlModerationStore(store.database), SqlRoomStore(store.database)
    finally:
        await store.close()


async def test_one_appeal_per_decision_audited(
    stores: tuple[Store, SqlModerationStore, SqlRoomStore],
) -> None:
    store, mod, _ = stores
    ann, amy, mo = await _users(store, "ann", "amy", "mod")
    warning = await mod.add_audit("warn", actor_id=mo, reason="禮貌", now=NOW, target_user_id=ann)
    entry = await mod.get_warning(warning)
    assert entry is not None and (entry.reason, entry.target_user_id) == ("禮貌", ann)
    assert await mod.get_warning(warning + 1) is None
    assert [w.id for w in await mod.warnings_of(ann, since=NOW)] == [warning]
    assert await mod.warnings_of(ann, since=NOW + 1) == []
    mute = await mod.add_sanction(
        ann, SanctionKind.MUTE, channel=None, expires_at=NOW + 1000, actor_id=mo,
        reason="洗版", now=NOW,
    )  # fmt: skip
    assert await mod.get_sanction(mute.id) == mute

    first = await mod.add_appeal(ann, f"warning:{warning}", summary="禮貌", note="誤會", now=NOW)
    assert (first.state, first.user_name, first.note) == (AppealState.OPEN, "Ann", "誤會")
    with pytest.raises(AlreadyAppealed):
        await mod.add_appeal(ann, f"warning:{warning}", summary="禮貌", note="再來", now=NOW + 1)
    # Another user, or another decision, is another appeal.
    await mod.add_appeal(amy, f"warning:{warning}", summary="", note="x", now=NOW + 2)
    await mod.add_appeal(ann, f"sanction:{mute.id}", summary="洗版", note="y", now=NOW + 3)
    assert len(await mod.appeals(state=AppealState.OPEN)) == 3
    assert [a.note for a in await mod.appeals(state=None, user_id=ann)] == ["y", "誤會"]

    upheld = AppealOutcome.UPHELD
    with pytest.raises(NotFound):  # not answered yet: nothing to acknowledge
        await mod.appeal_seen(first.id, ann, now=NOW + 4)
    closed = await mod.close_appeal(
        first.id, actor_id=mo, answer="維持", outcome=upheld, now=NOW + 5
    )
    assert (closed.state, closed.handled_by, closed.answer) == (AppealState.CLOSED, mo, "維持")
    assert (closed.outcome, closed.seen_at) == (upheld, None)
    again = await mod.close_appeal(
        first.id, actor_id=mo, answer="改變", outcome=AppealOutcome.GRANTED, now=NOW + 6
    )
    assert (again.answer, again.outcome) == ("維持", upheld)  # closed once
    with pytest.raises(NotFound):
        await mod.close_appeal(999, actor_id=mo, answer="x", outcome=upheld, now=NOW)
    # The author acknowledges the answer once; nobody else can.
    with pytest.raises(NotFound):
        await mod.appeal_seen(first.id, amy, now=NOW + 7)
    assert (await mod.appeal_seen(first.id, ann, now=NOW + 8)).seen_at == NOW + 8
    assert (await mod.appeal_seen(first.id, ann, now=NOW + 9)).seen_at == NOW + 8
    actions = [e.action for e in await mod.audit_log()]
    assert actions.count("appeal") == 3 and actions.count("appeal_closed") == 1


async def test_decision_reasons_are_the_latest_hide(
    stores: tuple[Store, SqlModerationStore, SqlRoomStore],
) -> None:
    store, mod, _ = stores
    ann, mo = await _users(store, "ann", "mod")
    snap = MessageSnapshot(author_id=ann, author_name="Ann", body="x", posted_at=NOW)
    for offset in (3, 5):
        await mod.act_on_message(
            ROOM, offset, MessageAction.HIDE, actor_id=mo, reason=f"r{offset}", now=NOW,
            snapshot=snap,
        )  # fmt: skip
    await mod.act_on_message(ROOM, 5, MessageAction.RESTORE, actor_id=mo, reason="ok", now=NOW)
    await mod.act_on_message(ROOM, 5, MessageAction.DELETE, actor_id=mo, reason="私隱", now=NOW)
    assert await mod.decision_reasons(ROOM, [3, 4, 5]) == {3: "r3", 5: "私隱"}
    assert await mod.decision_reasons(ROOM, [4]) == {}
    assert await mod.decision_reasons("building:2", [3]) == {}


async def test_one_pin_per_room(stores: tuple[Store, SqlModerationStore, SqlRoomStore]) -> None:
    store, _, rooms = stores
    [manny] = await _users(store, "manny")
    pin = Pin(ROOM, 4, manny, "Manny", "停水", True, NOW, manny, NOW + 1)
    await rooms.pin(pin)
    assert await rooms.pin_of(ROOM) == pin
    other = Pin(ROOM, 9, None, "Ann", "早晨", False, NOW, manny, NOW + 2)
    await rooms.pin(other)
    assert await rooms.pins([ROOM, "building:2"]) == {ROOM: other}
    assert await rooms.unpin(ROOM) == other
    assert await rooms.unpin(ROOM) is None
    assert await rooms.pin_of(ROOM) is None


async def test_a_pin_follows_its_message(
    stores: tuple[Store, SqlModerationStore, SqlRoomStore],
) -> None:
    """The rooms' pins as readers see them: the author's edit, and no pin once the message is
    deleted by its author or hidden (a moderator, the auto-hide); a restore brings it back."""
    from persistence.messages.sql import SqlMessagesStore

    store, mod, rooms = stores
    manny, mo = await _users(store, "manny", "mod")
    messages = SqlMessagesStore(store.database)
    other = "building:2"
    await rooms.pin(Pin(ROOM, 4, manny, "Manny", "停水", True, NOW, manny, NOW + 1))
    await rooms.pin(Pin(other, 7, manny, "Manny", "電梯", True, NOW, manny, NOW + 1))
    assert await messages.record_edit(
        ROOM, 4, author_id=manny, old_text="停水", new_text="明日停水九至十二時", now=NOW + 2
    )
    shown = await rooms.pins([ROOM, other])
    assert (shown[ROOM].body, shown[other].body) == ("明日停水九至十二時", "電梯")
    assert (await rooms.pin_of(ROOM)) is not None  # the stored copy is the pinner's
    snap = MessageSnapshot(author_id=manny, author_name="Manny", body="電梯", posted_at=NOW)
    await mod.act_on_message(
        other, 7, MessageAction.HIDE, actor_id=mo, reason="r", now=NOW, snapshot=snap
    )
    assert set(await rooms.pins([ROOM, other])) == {ROOM}
    await mod.act_on_message(other, 7, MessageAction.RESTORE, actor_id=mo, reason="ok", now=NOW)
    assert set(await rooms.pins([ROOM, other])) == {ROOM, other}
    assert await messages.record_delete(
        ROOM, 4, author_id=manny, text="明日停水九至十二時", now=NOW
    )
    assert set(await rooms.pins([ROOM, other])) == {other}

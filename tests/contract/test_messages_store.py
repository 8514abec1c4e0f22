"""The MessagesStore contract (read positions, authors' edits and deletes), against SQLite and
PostgreSQL (a fresh file or schema each)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from persistence.db import Database
from persistence.factory import open_database, open_store
from persistence.messages import EditAction, MessageState
from persistence.messages.sql import SqlMessagesStore
from persistence.migrate import migrate
from persistence.store import Role

NOW = 1_700_000_000_000
ROOM = "building:1"


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    await migrate(db_url)
    database = await open_database(db_url)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def store(db: Database) -> SqlMessagesStore:
    return SqlMessagesStore(db)


@pytest.fixture
async def users(db_url: str) -> list[int]:
    core = await open_store(db_url)
    try:
        now = int(time.time() * 1000)
        ids = []
        for name in ("ann", "amy"):
            user = await core.create_user(
                username=name,
                display_name=name.title(),
                password_hash="x",
                role=Role.RESIDENT,
                building_id=None,
                unit_label=None,
                now=now,
            )
            ids.append(user.id)
        return ids
    finally:
        await core.close()


async def test_read_positions_only_move_forward_per_user_and_room(
    store: SqlMessagesStore, users: list[int]
) -> None:
    ann, amy = users
    assert await store.reads(ann) == {}
    assert await store.set_read(ann, ROOM, 5, now=NOW) == 5
    assert await store.set_read(ann, ROOM, 3, now=NOW + 1) == 5  # a stale device
    assert await store.set_read(ann, ROOM, 9, now=NOW + 2) == 9
    assert await store.set_read(ann, "group:gardening", 0, now=NOW) == 0
    assert await store.set_read(amy, ROOM, 2, now=NOW) == 2
    assert await store.reads(ann) == {ROOM: 9, "group:gardening": 0}
    assert await store.reads(amy) == {ROOM: 2}


async def test_read_positions_go_with_the_account(
    db: Database, store: SqlMessagesStore, users: list[int]
) -> None:
    ann, amy = users
    await store.set_read(ann, ROOM, 4, now=NOW)
    await store.set_read(amy, ROOM, 4, now=NOW)
    await db.execute("DELETE FROM users WHERE id = $1", ann)
    assert await store.reads(ann) == {}
    assert await store.reads(amy) == {ROOM: 4}


async def test_edits_keep_the_current_text_and_the_history(store: SqlMessagesStore) -> None:
    assert await store.states(ROOM, 1, 100) == {}
    assert await store.record_edit(
        ROOM, 7, author_id=1, old_text="十點", new_text="十一點", now=NOW
    )
    assert await store.record_edit(
        ROOM,
        7,
        author_id=1,
        old_text="ignored: the stored text wins",
        new_text="十二點",
        now=NOW + 5,
    )
    assert await store.record_edit(ROOM, 9, author_id=2, old_text="a", new_text="b", now=NOW)
    assert await store.record_edit("group:x", 7, author_id=2, old_text="c", new_text="d", now=NOW)
    assert await store.states(ROOM, 1, 8) == {
        7: MessageState(ROOM, 7, 1, "十二點", edited_at=NOW + 5, deleted_at=None)
    }
    assert sorted(await store.states(ROOM, 7, 9)) == [7, 9]
    assert await store.states(ROOM, 10, 20) == {}
    edits = await store.edits(ROOM, 7)
    assert [(e.action, e.editor_id, e.old_text, e.new_text, e.at) for e in edits] == [
        (EditAction.EDIT, 1, "十點", "十一點", NOW),
        (EditAction.EDIT, 1, "十一點", "十二點", NOW + 5),
    ]
    assert edits[0].id < edits[1].id


async def test_a_delete_is_final_and_keeps_the_text_for_moderators(
    store: SqlMessagesStore,
) -> None:
    assert await store.record_delete(ROOM, 3, author_id=1, text="電話 0912", now=NOW)
    assert not await store.record_delete(ROOM, 3, author_id=1, text="電話 0912", now=NOW + 1)
    assert not await store.record_edit(ROOM, 3, author_id=1, old_text="x", new_text="y", now=NOW)
    [state] = (await store.states(ROOM, 3, 3)).values()
    assert (state.text, state.deleted_at, state.edited_at) == ("電話 0912", NOW, None)
    assert [(e.action, e.old_text, e.new_text) for e in await store.edits(ROOM, 3)] == [
        (EditAction.DELETE, "電話 0912", None)
    ]
    # Edited, then deleted: the delete keeps the edited text.
    await store.record_edit(ROOM, 4, author_id=1, old_text="v1", new_text="v2", now=NOW)
    assert await store.record_delete(ROOM, 4, author_id=1, text="v1", now=NOW + 9)
    [state] = (await store.states(ROOM, 4, 4)).values()
    assert (state.text, state.edited_at, state.deleted_at) == ("v2", NOW, NOW + 9)
    assert [(e.action, e.old_text) for e in await store.edits(ROOM, 4)] == [
        (EditAction.EDIT, "v1"),
        (EditAction.DELETE, "v2"),
    ]

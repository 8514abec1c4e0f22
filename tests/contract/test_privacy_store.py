"""``PrivacyStore``'s contract on both databases: consent is kept once per notice version;
erasing an account is idempotent, touches only that account, and leaves the words; the deleted
accounts are found among any ids."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgpack
import pytest

from persistence.factory import open_store
from persistence.migrate import migrate
from persistence.privacy import DELETED_NAME
from persistence.privacy.sql import SqlPrivacyStore
from persistence.store import Role, Store, StoredMessage


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    await migrate(db_url)
    store = await open_store(db_url)
    try:
        yield store
    finally:
        await store.close()


async def test_consent_erasure_and_lookup(store: Store) -> None:
    building = await store.create_building("A", now=1)
    people = {}
    for name in ("ann", "amy"):
        people[name] = await store.create_user(
            username=name, display_name=name.title(), password_hash="$x", role=Role.RESIDENT,
            building_id=building.id, unit_label=f"{name}-1", now=1,
        )  # fmt: skip
    ann, amy = people["ann"].id, people["amy"].id
    privacy = SqlPrivacyStore(store.database)
    await privacy.record_consent(ann, "v1", at=10)
    await privacy.record_consent(ann, "v1", at=20)  # the first record stays
    await privacy.record_consent(ann, "v2", at=30, how="desk", by_user_id=amy)
    assert [(c.notice_version, c.at, c.how, c.by_user_id) for c in await privacy.consents(ann)] == [
        ("v1", 10, "register", None), ("v2", 30, "desk", amy),
    ]  # fmt: skip
    messages = [
        StoredMessage(
            f"building:{building.id}",
            i + 1,
            1,
            msgpack.packb({"kind": "chat", "text": f"t{i}", "author": {"id": who, "name": "x"}}),
            who,
            100 + i,
        )
        for i, who in enumerate((ann, amy, ann))
    ]
    await store.insert_messages(messages)
    await store.create_session("hash-ann", ann, expires_at=10**13, now=1)
    await store.create_session("hash-amy", amy, expires_at=10**13, now=1)

    assert await privacy.erase_account(ann, at=500) is True
    assert await privacy.erase_account(ann, at=600) is True  # again: nothing more changes
    assert await privacy.erase_account(99999, at=600) is False
    assert await privacy.deleted_among([ann, amy, 99999]) == {ann}
    gone = await store.get_user(ann)
    assert gone is not None and gone.display_name == DELETED_NAME and gone.unit_id is None
    assert gone.username == f"deleted-{ann}"
    assert await store.get_user_by_username("ann") is None
    kept = await store.get_user(amy)
    assert kept is not None and kept.display_name == "Amy" and kept.unit_id is not None
    assert await store.get_session_user("hash-ann", now=2) is None
    assert await store.get_session_user("hash-amy", now=2) is not None
    rows = await store.history(
        f"building:{building.id}", after=0, before=None, limit=10, newest=False
    )
    bodies = [msgpack.unpackb(r.data) for r in rows]
    assert [(b["text"], b["author"]["name"]) for b in bodies] == [
        ("t0", DELETED_NAME), ("t1", "x"), ("t2", DELETED_NAME),
    ]  # fmt: skip
    at = await store.database.fetchval("SELECT at FROM privacy_deletions WHERE user_id = $1", ann)
    assert at == 500

"""The ``NoticeStore`` contract (``persistence/notices/__init__.py``) on SQLite and PostgreSQL:
states, revisions, attachments, and reach per household counted from the rows, exact under
concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from persistence.factory import open_store
from persistence.migrate import migrate
from persistence.notices import (
    Audience,
    AudienceKind,
    NoticeDraft,
    NoticeState,
    NoticeStateError,
    floor_of,
)
from persistence.notices.sql import SqlNoticeStore
from persistence.store import Role, Store, User

NOW = 1_700_000_000_000


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    await migrate(db_url)
    store = await open_store(db_url)
    yield store
    await store.close()


async def people(store: Store, building_units: dict[str, list[str]]) -> dict[str, User]:
    """Residents named ``<building>-<unit>-<n>``; buildings made as named."""
    made: dict[str, User] = {}
    for building_name, labels in building_units.items():
        building = await store.create_building(building_name, now=NOW)
        for i, label in enumerate(labels):
            name = f"{building_name}-{label}-{i}".lower()
            made[name] = await store.create_user(
                username=name,
                display_name=name,
                password_hash="x",
                role=Role.RESIDENT,
                building_id=building.id,
                unit_label=label,
                now=NOW,
            )
    made["staff"] = await store.create_user(
        username="staff",
        display_name="管理處",
        password_hash="x",
        role=Role.MANAGEMENT,
        building_id=None,
        unit_label=None,
        now=NOW,
    )
    return made


def draft(category_id: int = 1, **kwargs: object) -> NoticeDraft:
    base = NoticeDraft(category_id=category_id, title="停水", body="**明天**", body_html="<p>x</p>")
    return replace(base, **kwargs)  # type: ignore[arg-type]


def test_floor_of() -> None:
    assert [floor_of(x) for x in ("12A", "3C", "8B", "7F-2", "3樓C", "Shop 2", "", " 22 ")] == [
        12, 3, 8, 7, 3, None, None, 22,
    ]  # fmt: skip


async def test_categories_are_seeded_and_editable(store: Store) -> None:
    notices = SqlNoticeStore(store.database)
    categories = await notices.list_categories()
    assert [c.name_zh for c in categories] == [
        "停水停電", "維修工程", "財務", "會議紀錄", "活動", "安全", "其他",
    ]  # fmt: skip
    renamed = await notices.save_category(
        category_id=categories[0].id,
        slug="utilities",
        name_zh="停水停電通知",
        name_en="Utility cuts",
        position=5,
        archived=False,
    )
    assert renamed.name_en == "Utility cuts"
    added = await notices.save_category(
        category_id=None, slug="lifts", name_zh="升降機", name_en="Lifts", position=80,
        archived=False,
    )  # fmt: skip
    assert (await notices.get_category(added.id)) == added


async def test_states_move_forward_and_timers_are_idempotent(store: Store) -> None:
    staff = (await people(store, {}))["staff"]
    notices = SqlNoticeStore(store.database)
    n = await notices.create_notice(
        draft(publish_at=NOW + 1000), state=NoticeState.SCHEDULED, created_by=staff.id, now=NOW
    )
    assert n.state is NoticeState.SCHEDULED and n.published_at is None and not n.readable
    published = await notices.publish_due(n.id, now=NOW + 1000)
    assert published is not None and published.state is NoticeState.PUBLISHED
    assert published.published_at == NOW + 1000 and published.readable
    assert await notices.publish_due(n.id, now=NOW + 2000) is None  # a second timer: no-op
    expired = await notices.expire_due(n.id, now=NOW + 5000)
    assert expired is not None and expired.state is NoticeState.EXPIRED and expired.readable
    assert await notices.expire_due(n.id, now=NOW + 6000) is None
    retracted = await notices.retract(n.id, by=staff.id, reason="寫錯日期", now=NOW + 7000)
    assert retracted is not None and retracted.state is NoticeState.RETRACTED
    assert retracted.retract_reason == "寫錯日期" and retracted.readable  # still listed
    assert await notices.retract(n.id, by=staff.id, reason="again", now=NOW + 8000) is None
    # A draft retracted before it was ever published is not for residents.
    never = await notices.create_notice(
        draft(), state=NoticeState.DRAFT, created_by=staff.id, now=NOW
    )
    gone = await notices.retract(never.id, by=staff.id, reason="x", now=NOW)
    assert gone is not None and not gone.readable
    assert [x.id for x in await notices.list_notices()] == [n.id, never.id]


async def test_edits_keep_a_history(store: Store) -> None:
    staff = (await people(store, {}))["staff"]
    notices = SqlNoticeStore(store.database)
    n = await notices.create_notice(
        draft(), state=NoticeState.PUBLISHED, created_by=staff.id, now=NOW
    )
    same, changed = await notices.edit(n.id, draft(), editor=staff.id, now=NOW + 1)
    assert changed == () and same.version == 1
    edited, changed = await notices.edit(
        n.id, draft(title="停水（更正）", pinned=True), editor=staff.id, now=NOW + 2
    )
    assert changed == ("title", "pinned") and edited.version == 2 and edited.draft.pinned
    history = await notices.revisions(n.id)
    assert [(r.revision, r.title, r.changed, r.editor_name) for r in history] == [
        (1, "停水", (), "管理處"),
        (2, "停水（更正）", ("title", "pinned"), "管理處"),
    ]
    await notices.retract(n.id, by=staff.id, reason="x", now=NOW + 3)
    with pytest.raises(NoticeStateError):
        await notices.edit(n.id, draft(title="again"), editor=staff.id, now=NOW + 4)


async def test_attachments(store: Store) -> None:
    staff = (await people(store, {}))["staff"]
    notices = SqlNoticeStore(store.database)
    n = await notices.create_notice(draft(), state=NoticeState.DRAFT, created_by=staff.id, now=NOW)
    a = await notices.add_attachment(
        n.id, blob_id="a" * 32, thumb_id=None, filename="財務報告.pdf",
        media_type="application/pdf", size=1234, sha256="f" * 64, width=None, height=None,
        added_by=staff.id, now=NOW,
    )  # fmt: skip
    assert await notices.attachments(n.id) == [a]
    assert await notices.get_attachment(n.id, a.id) == a
    assert await notices.get_attachment(n.id + 1, a.id) is None  # not through another notice


async def test_three_residents_of_one_unit_count_once(store: Store) -> None:
    who = await people(store, {"A": ["12A", "12A", "12A", "3C"]})
    notices = SqlNoticeStore(store.database)
    n = await notices.create_notice(
        draft(requires_ack=True), state=NoticeState.PUBLISHED, created_by=who["staff"].id, now=NOW
    )
    family = [u for name, u in who.items() if "-12a-" in name]
    assert len(family) == 3 and len({u.unit_id for u in family}) == 1
    results = await asyncio.gather(
        *(notices.record_read(n.id, user_id=u.id, unit_id=u.unit_id, now=NOW) for u in family)
    )
    assert sorted(r.unit_first for r in results) == [False, False, True]
    assert all(r.user_first for r in results)
    acks = await asyncio.gather(
        *(notices.acknowledge(n.id, user_id=u.id, unit_id=u.unit_id or 0, now=NOW) for u in family)
    )
    assert sorted(acks) == [False, False, True]
    # Staff without a unit read it too: their own marker, no household.
    staff_read = await notices.record_read(n.id, user_id=who["staff"].id, unit_id=None, now=NOW)
    assert staff_read.user_first and not staff_read.unit_first
    reach = await notices.reach(n.id, Audience())
    assert (reach.total, reach.reached, reach.acknowledged) == (2, 1, 1)
    assert [(u.label, u.read_at is not None) for u in reach.units] == [("12A", True), ("3C", False)]
    assert await notices.read_by_user(who["staff"].id) == {n.id}


async def test_two_hundred_concurrent_openers(store: Store) -> None:
    # 100 units of 2 residents each: 200 openers, 100 households.
    labels = [f"{floor}{letter}" for floor in range(1, 26) for letter in "ABCD"]
    who = await people(store, {"A": [label for label in labels for _ in range(2)]})
    notices = SqlNoticeStore(store.database)
    n = await notices.create_notice(
        draft(), state=NoticeState.PUBLISHED, created_by=who["staff"].id, now=NOW
    )
    residents = [u for name, u in who.items() if name != "staff"]
    assert len(residents) == 200
    results = await asyncio.gather(
        *(notices.record_read(n.id, user_id=u.id, unit_id=u.unit_id, now=NOW) for u in residents)
    )
    assert sum(r.unit_first for r in results) == 100
    assert sum(r.user_first for r in results) == 200
    reach = await notices.reach(n.id, Audience())
    assert (reach.total, reach.reached) == (100, 100)
    # Counted independently from the rows.
    rows = await store.database.fetchval(
        "SELECT count(DISTINCT unit_id) FROM notice_unit_reads WHERE notice_id = $1", n.id
    )
    assert rows == 100


async def test_audiences(store: Store) -> None:
    who = await people(store, {"A": ["12A", "12B", "3C"], "B": ["12A", "8B"]})
    notices = SqlNoticeStore(store.database)
    a, b = who["a-12a-0"], who["b-8b-1"]
    assert a.building_id is not None and b.building_id is not None
    floors = Audience(kind=AudienceKind.FLOORS, floors=((a.building_id, 12),))
    n = await notices.create_notice(
        draft(audience=floors), state=NoticeState.PUBLISHED, created_by=who["staff"].id, now=NOW
    )
    reach = await notices.reach(n.id, n.draft.audience)
    assert sorted(u.label for u in reach.units) == ["12A", "12B"]
    assert floors.includes(a.building_id, a.unit_id, "12A")
    assert not floors.includes(b.building_id, who["b-12a-0"].unit_id, "12A")  # other building
    assert not floors.includes(None, None, None)
    buildings = Audience(kind=AudienceKind.BUILDINGS, buildings=(b.building_id,))
    assert (await notices.reach(n.id, buildings)).total == 2
    units = Audience(kind=AudienceKind.UNITS, units=(b.unit_id or 0,))
    assert [u.label for u in (await notices.reach(n.id, units)).units] == ["8B"]
    assert await notices.residents_of([b.unit_id or 0]) == [b.id]
    with pytest.raises(ValueError):
        Audience(kind=AudienceKind.UNITS)

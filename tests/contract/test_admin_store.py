"""The admin console's store on SQLite and PostgreSQL: an import is one transaction (a row
failing mid-way leaves every table as it was, counted row by row), each change is written with
its audit entry, a reset code works once and only before it expires, and revoking an invite
stops registration with it."""

from __future__ import annotations

import pytest

from persistence.admin import UnitImport, UnitLabelTaken
from persistence.admin.sql import SqlAdminStore
from persistence.audit import NewEntry
from persistence.audit.sql import SqlAuditLog
from persistence.db import Database
from persistence.errors import NotFound
from persistence.store import InviteInvalid, Role, Store
from tests.contract.test_store import NOW, store  # noqa: F401  (fixture)

TABLES = ("units", "admin_units", "audit_log", "buildings")


def entry(action: str, **fields: object) -> NewEntry:
    return NewEntry(feature="admin", action=action, actor_id=None, reason="", at=NOW, **fields)  # type: ignore[arg-type]


async def counts(db: Database) -> dict[str, int]:
    return {t: int(await db.fetchval(f"SELECT COUNT(*) FROM {t}")) for t in TABLES}


async def test_an_import_failing_mid_way_writes_nothing(store: Store) -> None:  # noqa: F811
    admin = SqlAdminStore(store.database)
    a = await store.create_building("A", now=NOW)
    await admin.import_units(
        [UnitImport(a.id, "1", "1A", 12_500, 3)], now=NOW, audit=entry("units_import")
    )
    before = await counts(store.database)
    assert before["units"] == 1 and before["admin_units"] == 1 and before["audit_log"] == 1
    rows = [
        UnitImport(a.id, "2", "2A", 10_000, 2),
        UnitImport(a.id, "1", "1A", 20_000, 4),  # an update, also undone
        # An unknown building (the checks would have refused it): the insert fails here, after
        # two rows were written on the transaction.
        UnitImport(a.id + 999, "3", "3A", 10_000, 1),
        UnitImport(a.id, "4", "4A", 10_000, 1),
    ]
    with pytest.raises(Exception):  # noqa: B017  (the driver's foreign-key error)
        await admin.import_units(rows, now=NOW, audit=entry("units_import"))
    assert await counts(store.database) == before
    (unit,) = await admin.units()
    assert (unit.label, unit.share_ppm, unit.household_size) == ("1A", 12_500, 3)


async def test_import_creates_and_updates_with_one_audit_entry(store: Store) -> None:  # noqa: F811
    admin = SqlAdminStore(store.database)
    a = await store.create_building("A", now=NOW)
    created, updated = await admin.import_units(
        [UnitImport(a.id, "1", "1A", 1000, 1), UnitImport(a.id, "2", "2A", 2000, 2)],
        now=NOW,
        audit=entry("units_import"),
    )
    assert (created, updated) == (2, 0)
    created, updated = await admin.import_units(
        [UnitImport(a.id, "1", " 1a ", 1500, 1), UnitImport(a.id, "3", "3A", 3000, 3)],
        now=NOW,
        audit=entry("units_import"),
    )
    assert (created, updated) == (1, 1)
    units = {u.label: (u.floor, u.share_ppm, u.household_size) for u in await admin.units()}
    assert units == {"1A": ("1", 1500, 1), "2A": ("2", 2000, 2), "3A": ("3", 3000, 3)}
    log = await SqlAuditLog(store.database).entries(feature="admin")
    assert [(e.action, e.detail["created"], e.detail["updated"]) for e in log] == [
        ("units_import", 1, 1),
        ("units_import", 2, 0),
    ]


async def test_save_unit_refuses_a_taken_label(store: Store) -> None:  # noqa: F811
    admin = SqlAdminStore(store.database)
    a = await store.create_building("A", now=NOW)
    one = await admin.save_unit(
        a.id, None, label="5B", floor="5", share_ppm=0, household_size=2, now=NOW,
        audit=entry("unit_create"),
    )  # fmt: skip
    two = await admin.save_unit(
        a.id, None, label="6B", floor="6", share_ppm=0, household_size=2, now=NOW,
        audit=entry("unit_create"),
    )  # fmt: skip
    with pytest.raises(UnitLabelTaken):
        await admin.save_unit(
            a.id, two, label="5b", floor="6", share_ppm=0, household_size=2, now=NOW,
            audit=entry("unit_update"),
        )  # fmt: skip
    with pytest.raises(NotFound):
        await admin.rename_building(a.id + 50, "X", entry("building_rename"))
    assert one != two
    log = await SqlAuditLog(store.database).entries(feature="admin")
    assert [e.action for e in log] == ["unit_create", "unit_create"]


async def test_a_reset_code_works_once_and_not_after_it_expires(store: Store) -> None:  # noqa: F811
    admin = SqlAdminStore(store.database)
    user = await store.create_user(
        username="lee", display_name="Lee", password_hash="old", role=Role.RESIDENT,
        building_id=None, unit_label=None, now=NOW,
    )  # fmt: skip
    await store.create_session("s1", user.id, expires_at=NOW + 10_000, now=NOW)
    await admin.issue_reset_code(
        user.id, "h1", expires_at=NOW + 1000, now=NOW, audit=entry("reset_code_issue")
    )
    with pytest.raises(NotFound):  # wrong code
        await admin.redeem_reset_code(user.id, "h2", "new", now=NOW, audit=entry("use"))
    with pytest.raises(NotFound):  # expired
        await admin.redeem_reset_code(user.id, "h1", "new", now=NOW + 1000, audit=entry("use"))
    assert await store.get_password_hash(user.id) == "old"
    ended = await admin.redeem_reset_code(user.id, "h1", "new", now=NOW + 1, audit=entry("use"))
    assert ended == ["s1"]
    assert await store.get_password_hash(user.id) == "new"
    assert await store.get_session_user("s1", now=NOW + 2) is None
    with pytest.raises(NotFound):  # used
        await admin.redeem_reset_code(user.id, "h1", "newer", now=NOW + 2, audit=entry("use"))
    assert await store.get_password_hash(user.id) == "new"
    # A new code replaces the unused one.
    await admin.issue_reset_code(user.id, "h3", expires_at=NOW + 9000, now=NOW, audit=entry("i"))
    await admin.issue_reset_code(user.id, "h4", expires_at=NOW + 9000, now=NOW, audit=entry("i"))
    with pytest.raises(NotFound):
        await admin.redeem_reset_code(user.id, "h3", "x", now=NOW + 3, audit=entry("use"))
    log = await SqlAuditLog(store.database).entries(feature="admin")
    assert [e.action for e in log] == ["i", "i", "use", "reset_code_issue"]


async def test_a_revoked_invite_admits_nobody_and_uses_are_listed(store: Store) -> None:  # noqa: F811
    admin = SqlAdminStore(store.database)
    a = await store.create_building("A", now=NOW)
    await store.create_invite(a.id, "LIVE1234", uses=3, expires_at=NOW + 10**9, now=NOW)
    await store.create_invite(a.id, "GONE1234", uses=3, expires_at=NOW + 10**9, now=NOW)
    await admin.record_invite("LIVE1234", unit_id=None, uses=3, audit=entry("invite_create"))
    user = await store.register_resident(
        invite_code="LIVE1234", username="ann", display_name="Ann", password_hash="-",
        unit_label="1A", now=NOW,
    )  # fmt: skip
    await admin.record_invite_use("LIVE1234", user.id, now=NOW)
    assert await admin.revoke_invite("GONE1234", now=NOW, audit=entry("invite_revoke"))
    assert not await admin.revoke_invite("GONE1234", now=NOW, audit=entry("invite_revoke"))
    with pytest.raises(InviteInvalid):
        await store.register_resident(
            invite_code="GONE1234", username="amy", display_name="Amy", password_hash="-",
            unit_label="1A", now=NOW,
        )  # fmt: skip
    rows = {i.code: i for i in await admin.invites()}
    assert rows["LIVE1234"].used_by == ((user.id, "ann", "Ann", NOW),)
    assert rows["LIVE1234"].uses == 3 and rows["LIVE1234"].uses_left == 2
    assert rows["GONE1234"].revoked_at == NOW and rows["GONE1234"].uses_left == 0
    assert await store.get_user_by_username("amy") is None


async def test_disabling_ends_sessions_and_filters(store: Store) -> None:  # noqa: F811
    admin = SqlAdminStore(store.database)
    a = await store.create_building("A", now=NOW)
    users = []
    for name, role in (("ann", Role.RESIDENT), ("bob", Role.MODERATOR), ("cat", Role.RESIDENT)):
        users.append(
            await store.create_user(
                username=name, display_name=name.title(), password_hash="-", role=role,
                building_id=a.id, unit_label="1A", now=NOW,
            )
        )  # fmt: skip
    await store.create_session("t-ann", users[0].id, expires_at=NOW + 10_000, now=NOW)
    assert await admin.set_disabled(
        users[0].id, True, reason="moved out", now=NOW, audit=entry("user_disable")
    )
    assert not await admin.set_disabled(
        users[0].id, True, reason="again", now=NOW, audit=entry("user_disable")
    )
    assert await admin.is_disabled(users[0].id)
    assert await store.get_session_user("t-ann", now=NOW) is None
    found = await admin.residents(disabled=True, now=NOW)
    assert [r.username for r in found] == ["ann"]
    found = await admin.residents(role=Role.RESIDENT, disabled=False, now=NOW)
    assert [r.username for r in found] == ["cat"]
    found = await admin.residents(query="BO", building_id=a.id, now=NOW)
    assert [r.username for r in found] == ["bob"]
    log = await SqlAuditLog(store.database).entries(feature="admin")
    assert [(e.action, e.reason) for e in log] == [("user_disable", "")]


async def test_import_keeps_the_owners_register_share_in_step(store: Store) -> None:  # noqa: F811
    from persistence.meetings import OwnerEntry, RegisterEntry
    from persistence.meetings.sql import SqlMeetingStore

    admin = SqlAdminStore(store.database)
    meetings = SqlMeetingStore(store.database)
    a = await store.create_building("A", now=NOW)
    in_register = await meetings.ensure_unit(a.id, "1A")
    await meetings.replace_register(
        [RegisterEntry(in_register, 40, (OwnerEntry("Chan"),))], now=NOW
    )
    await admin.import_units(
        [UnitImport(a.id, "1", "1A", 12_500, 3), UnitImport(a.id, "2", "2A", 7_000, 1)],
        now=NOW,
        audit=entry("units_import"),
    )
    (registered,) = await meetings.register()
    assert (registered.unit_id, registered.share) == (in_register, 12_500)

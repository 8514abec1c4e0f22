"""Onboarding's store on SQLite and PostgreSQL: a desk registration writes its row, the
first-login row, the consent and the audit entry together or not at all; a first password or
code completes the first login once (a code only before it expires, with every session ended);
a pair has one live helper row; one "by helper for resident" per object."""

from __future__ import annotations

import pytest

from persistence.audit import NewEntry
from persistence.db import Database
from persistence.errors import NotFound
from persistence.onboard.sql import SqlOnboardStore
from persistence.store import Role, Store
from tests.contract.test_store import NOW, store  # noqa: F401  (fixture)

TABLES = ("onboard_desk", "onboard_first_login", "privacy_consents", "audit_log")


def entry(action: str, actor: int | None = None) -> NewEntry:
    return NewEntry(feature="onboard", action=action, actor_id=actor, reason="", at=NOW)


async def counts(db: Database) -> dict[str, int]:
    return {t: int(await db.fetchval(f"SELECT COUNT(*) FROM {t}")) for t in TABLES}


async def _resident(store: Store, name: str, building: int) -> int:  # noqa: F811
    user = await store.create_user(
        username=name,
        display_name=name.title(),
        password_hash="!first-login",
        role=Role.RESIDENT,
        building_id=building,
        unit_label="1A",
        now=NOW,
    )
    return user.id


async def test_desk_registration_is_one_transaction(store: Store) -> None:  # noqa: F811
    onboard = SqlOnboardStore(store.database)
    a = await store.create_building("A", now=NOW)
    wang = await _resident(store, "wang", a.id)
    kwargs = {"mode": "code", "consent_how": "paper_form", "notice_version": "v1"}
    await onboard.record_desk(
        wang, code_hash="h", expires_at=NOW + 10, now=NOW, audit=entry("desk_register"), **kwargs
    )
    after = await counts(store.database)
    assert after == {k: 1 for k in TABLES}
    # The same resident again: the desk row exists, so the insert fails and nothing more is
    # written (not the consent of another notice version, not the audit entry).
    with pytest.raises(Exception):  # noqa: B017  (the driver's unique-key error)
        await onboard.record_desk(
            wang,
            code_hash=None,
            expires_at=None,
            now=NOW,
            audit=entry("desk_register"),
            **{**kwargs, "notice_version": "v2"},
        )
    assert await counts(store.database) == after
    # A failure after the desk's row was written on the transaction: that row is undone too.
    lee = await _resident(store, "lee", a.id)
    await store.database.execute(
        "INSERT INTO onboard_first_login (user_id, created_at) VALUES ($1, $2)", lee, NOW
    )
    with pytest.raises(Exception):  # noqa: B017
        await onboard.record_desk(
            lee, code_hash=None, expires_at=None, now=NOW, audit=entry("desk_register"), **kwargs
        )
    assert await onboard.desk_registration(lee) is None
    assert await counts(store.database) == {**after, "onboard_first_login": 2}
    desk = await onboard.desk_registration(wang)
    assert desk is not None and (desk.mode, desk.consent_how) == ("code", "paper_form")


async def test_a_first_login_completes_once(store: Store) -> None:  # noqa: F811
    onboard = SqlOnboardStore(store.database)
    a = await store.create_building("A", now=NOW)
    wang, lee = await _resident(store, "wang", a.id), await _resident(store, "lee", a.id)
    for user, code in ((wang, "h"), (lee, None)):
        await onboard.record_desk(
            user,
            mode="code" if code else "password",
            consent_how="verbal_desk",
            notice_version="v1",
            code_hash=code,
            expires_at=NOW + 10 if code else None,
            now=NOW,
            audit=entry("desk_register"),
        )
    await store.create_session("tok", wang, expires_at=NOW + 1000, now=NOW)
    # A wrong code or an expired one: nothing written.
    for code_hash, now in (("wrong", NOW), ("h", NOW + 10)):
        with pytest.raises(NotFound):
            await onboard.complete_first_login(
                wang, "new", code_hash=code_hash, now=now, audit=entry("first_password")
            )
    assert await store.get_password_hash(wang) == "!first-login"
    ended = await onboard.complete_first_login(
        wang, "new-hash", code_hash="h", now=NOW + 9, audit=entry("first_password", wang)
    )
    assert ended == ["tok"]
    assert await store.get_password_hash(wang) == "new-hash"
    assert await onboard.first_login(wang) is None
    with pytest.raises(NotFound):
        await onboard.complete_first_login(
            wang, "again", code_hash="h", now=NOW, audit=entry("first_password")
        )
    pending = await onboard.first_login(lee)
    assert pending is not None and pending.code_hash is None
    await onboard.complete_first_login(
        lee, "lee-hash", code_hash=None, now=NOW, audit=entry("first_password", lee)
    )
    assert await onboard.first_login(lee) is None


async def test_helpers_and_acts(store: Store) -> None:  # noqa: F811
    onboard = SqlOnboardStore(store.database)
    a = await store.create_building("A", now=NOW)
    ann, amy = await _resident(store, "ann", a.id), await _resident(store, "amy", a.id)
    audit_before = int(await store.database.fetchval("SELECT COUNT(*) FROM audit_log"))
    row = await onboard.add_helper(ann, amy, entry("helper_add", ann))
    assert await onboard.add_helper(ann, amy, entry("helper_add", ann)) == row
    # The second naming wrote no second row and no second entry.
    assert int(await store.database.fetchval("SELECT COUNT(*) FROM audit_log")) == audit_before + 1
    assert await onboard.is_helper(ann, amy) and not await onboard.is_helper(amy, ann)
    (mine,) = await onboard.helpers_of(ann)
    assert (mine.helper_id, mine.helper_name, mine.created_by) == (amy, "Amy", ann)
    assert [h.resident_id for h in await onboard.helping(amy)] == [ann]

    await onboard.record_act("request", 7, ann, amy, entry("act_for", amy))
    with pytest.raises(Exception):  # noqa: B017  (one act per object)
        await onboard.record_act("request", 7, ann, ann, entry("act_for", ann))
    act = await onboard.acted_by("request", 7)
    assert act is not None and (act.helper_id, act.helper_name) == (amy, "Amy")
    assert await onboard.acted_by("request", 8) is None
    assert [x.object_id for x in await onboard.acts_for(ann)] == [7]

    assert await onboard.end_helper(row, now=NOW, audit=entry("helper_end", ann))
    assert not await onboard.end_helper(row, now=NOW, audit=entry("helper_end", ann))
    assert not await onboard.is_helper(ann, amy) and await onboard.helper_row(row) is None
    # Named again: a new live row.
    assert await onboard.add_helper(ann, amy, entry("helper_add", ann)) != row


async def test_the_tour_is_seen_once(store: Store) -> None:  # noqa: F811
    onboard = SqlOnboardStore(store.database)
    a = await store.create_building("A", now=NOW)
    ann = await _resident(store, "ann", a.id)
    assert not await onboard.tour_seen(ann)
    await onboard.see_tour(ann, now=NOW)
    await onboard.see_tour(ann, now=NOW + 5)
    assert await onboard.tour_seen(ann)
    at = await store.database.fetchval(
        "SELECT seen_at FROM onboard_tour_seen WHERE user_id = $1", ann
    )
    assert int(at) == NOW


async def test_deleting_an_account_ends_its_helpers(store: Store) -> None:  # noqa: F811
    from persistence.privacy.sql import SqlPrivacyStore

    onboard = SqlOnboardStore(store.database)
    a = await store.create_building("A", now=NOW)
    ann, amy, bob = [await _resident(store, n, a.id) for n in ("ann", "amy", "bob")]
    await onboard.add_helper(ann, amy, entry("helper_add", ann))
    await onboard.add_helper(bob, ann, entry("helper_add", bob))
    await onboard.add_helper(bob, amy, entry("helper_add", bob))
    await onboard.see_tour(ann, now=NOW)
    assert await SqlPrivacyStore(store.database).erase_account(ann, at=NOW + 1)
    # Nobody acts for ann, she acts for nobody; bob keeps amy.
    assert await onboard.helpers_of(ann) == [] and await onboard.helping(ann) == []
    assert [h.helper_id for h in await onboard.helpers_of(bob)] == [amy]
    assert not await onboard.tour_seen(ann)


async def test_registrations_by_source_in_a_period_and_place(store: Store) -> None:  # noqa: F811
    """Each resident of the period counts once (the desk before any code), staff never; the
    period is [start, end); one building's count has only its residents."""
    from persistence.admin.sql import SqlAdminStore
    from persistence.onboard import SourceRegistrations as S

    onboard, admin = SqlOnboardStore(store.database), SqlAdminStore(store.database)
    a = (await store.create_building("A", now=NOW)).id
    b = (await store.create_building("B", now=NOW)).id
    for code, building in (("POSTA", a), ("POSTB", b), ("FLAT", a), ("PLAIN", b), ("NEVER", a)):
        await store.create_invite(building, code, uses=9, expires_at=NOW * 2, now=NOW)
    await onboard.record_poster("POSTA", a, entry("poster_code"))
    await onboard.record_poster("NEVER", a, entry("poster_code"))
    await onboard.record_poster("POSTB", b, entry("poster_code"))
    unit = await store.database.fetchval(
        "INSERT INTO units (building_id, label, label_key) VALUES ($1, '7F', '7F') RETURNING id", a
    )
    await admin.record_invite("FLAT", unit_id=int(unit), uses=9, audit=entry("invite_create"))
    made = 0

    async def person(code: str | None, building: int, at: int, role: Role = Role.RESIDENT) -> int:
        nonlocal made
        made += 1
        user = await store.create_user(
            username=f"u{made}", display_name="U", password_hash="h", role=role,
            building_id=building, unit_label="1A", now=at,
        )  # fmt: skip
        if code == "desk":
            await onboard.record_desk(
                user.id, mode="password", consent_how="paper_form", notice_version="v1",
                code_hash=None, expires_at=None, now=at, audit=entry("desk_register"),
            )  # fmt: skip
        elif code is not None:
            await admin.record_invite_use(code, user.id, now=at)
        return user.id

    start, end = NOW, NOW + 10
    sources: tuple[tuple[str | None, int], ...] = (
        ("POSTA", a), ("POSTA", a), ("POSTB", b), ("FLAT", a), ("PLAIN", b), ("desk", a),
        ("desk", b), (None, a),
    )  # fmt: skip
    for source, building in sources:
        await person(source, building, start + made % 10)
    await person("POSTA", a, end)  # the next period
    await person("POSTA", a, start - 1)  # the one before
    await person("POSTA", a, start, Role.MANAGEMENT)  # staff
    # A desk registration that also has a code counts as the desk's, once.
    both = await person("desk", b, start + 5)
    await admin.record_invite_use("PLAIN", both, now=start + 5)

    got = await onboard.registrations(start=start, end=end, building=None)
    assert got == [
        S("poster", "POSTA", a, None, 2), S("poster", "POSTB", b, None, 1),
        S("invite", "FLAT", a, "7F", 1), S("invite", "PLAIN", b, None, 1),
        S("desk", None, None, None, 3), S("other", None, None, None, 1),
    ]  # fmt: skip
    in_b = await onboard.registrations(start=start, end=end, building=b)
    assert in_b == [
        S("poster", "POSTB", b, None, 1), S("invite", "PLAIN", b, None, 1),
        S("desk", None, None, None, 2),
    ]  # fmt: skip
    # The same residents as the figures' "new residents" of the period.
    total = await store.database.fetchval(
        "SELECT count(*) FROM users WHERE role = 'resident' AND created_at >= $1 "
        "AND created_at < $2",
        start,
        end,
    )
    assert sum(s.count for s in got) == total == 9
    assert await onboard.poster_codes(None) == [("NEVER", a), ("POSTA", a), ("POSTB", b)]
    assert await onboard.poster_codes(b) == [("POSTB", b)]

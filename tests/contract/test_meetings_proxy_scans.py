"""The scans of paper proxy forms in the meetings store, on SQLite and PostgreSQL: a form's
proxies and its scan are written in one transaction, all or nothing; a scan is only for a
paper proxy, can follow later (also after the meeting closed) and be replaced (the replaced
one is returned, for the audit); a new proxy or its removal drops the unit's scan row;
the e2e test shows the figures count a scanned proxy as one without a scan."""

from __future__ import annotations

import dataclasses

import pytest

from persistence.meetings import CheckedInAlready, NotOnRoll, NotPaperProxy, Proxy, Route, ScanFile
from persistence.store import Store
from tests.contract.test_meetings_store import _open
from tests.contract.test_store import NOW, store  # noqa: F401  (fixture)

SCAN = ScanFile("a" * 32, "委託書 7.pdf", "application/pdf", 123, "b" * 64)


async def test_a_form_and_its_scan_all_or_nothing(store: Store) -> None:  # noqa: F811
    meetings, mid, units, users, staff = await _open(store)
    proxy = Proxy(
        unit_id=units[1], proxy_key="name:Mr Wong", proxy_user_id=None, proxy_name="Mr Wong",
        route=Route.PAPER, reference="#7", recorded_by=staff, created_at=NOW,
    )  # fmt: skip
    # One unit of the form is not on the roll: neither proxy nor scan is written.
    with pytest.raises(NotOnRoll):
        await meetings.set_proxies(mid, [proxy, dataclasses.replace(proxy, unit_id=10_000)], SCAN)
    snap = await meetings.snapshot(mid)
    assert snap is not None and snap.proxies == ()
    assert await meetings.proxy_scans(mid) == []

    two = [proxy, dataclasses.replace(proxy, unit_id=units[2])]
    await meetings.set_proxies(mid, two, SCAN)
    scans = await meetings.proxy_scans(mid)
    assert [(s.unit_id, s.file) for s in scans] == [(units[1], SCAN), (units[2], SCAN)]
    snap = await meetings.snapshot(mid)
    assert snap is not None and [p.scan_to_follow for p in snap.proxies] == [False, False]

    # A phone appointment has no scan; nor has a unit without a proxy.
    phone = dataclasses.replace(
        proxy, unit_id=units[3], route=Route.PHONE, proxy_key=f"user:{users[0]}",
        proxy_user_id=users[0],
    )  # fmt: skip
    await meetings.set_proxy(mid, phone)
    for unit in (units[3], units[4]):
        with pytest.raises(NotPaperProxy):
            await meetings.set_proxy_scan(mid, unit, SCAN, by=staff, now=NOW)

    # A form typed with its scan to follow; the scan comes, then is replaced.
    await meetings.set_proxy(mid, dataclasses.replace(proxy, unit_id=units[5], scan_to_follow=True))
    snap = await meetings.snapshot(mid)
    assert snap is not None
    assert {p.unit_id: p.scan_to_follow for p in snap.proxies}[units[5]] is True
    # Checked in through the proxy: the scan can still come (it changes no proxy).
    await meetings.check_in(
        mid, [(units[5], "name:Mr Wong")], route=Route.STAFF, recorded_by=staff, now=NOW + 3
    )
    with pytest.raises(CheckedInAlready):
        await meetings.set_proxy(mid, dataclasses.replace(proxy, unit_id=units[5]))
    assert await meetings.set_proxy_scan(mid, units[5], SCAN, by=staff, now=NOW + 4) is None
    better = dataclasses.replace(SCAN, blob_id="c" * 32, filename="better.jpg", sha256="d" * 64)
    old = await meetings.set_proxy_scan(mid, units[5], better, by=staff, now=NOW + 5)
    assert old is not None and old.file == SCAN and old.added_at == NOW + 4
    snap = await meetings.snapshot(mid)
    assert snap is not None
    assert {p.unit_id: p.scan_to_follow for p in snap.proxies}[units[5]] is False
    by_unit = {s.unit_id: s for s in await meetings.proxy_scans(mid)}
    assert by_unit[units[5]].file == better

    # A new form for a unit replaces its proxy and drops the old scan; removal drops it too.
    await meetings.set_proxy(mid, dataclasses.replace(proxy, proxy_name="Mrs Chan"))
    assert units[1] not in {s.unit_id for s in await meetings.proxy_scans(mid)}
    assert await meetings.remove_proxy(mid, units[2])
    assert units[2] not in {s.unit_id for s in await meetings.proxy_scans(mid)}

    # After the meeting closed, a scan that was to follow can still be added (Art. 34).
    await meetings.set_proxy(mid, dataclasses.replace(proxy, scan_to_follow=True))
    await meetings.close_meeting(mid, now=NOW + 9)
    await meetings.set_proxy_scan(mid, units[1], SCAN, by=staff, now=NOW + 10)
    assert units[1] in {s.unit_id for s in await meetings.proxy_scans(mid)}

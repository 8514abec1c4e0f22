"""The scan of a paper proxy form (委託書), end to end in both modes (a real server over HTTP):
staff record a paper proxy with its scan (a real small PDF, a real JPEG made with Pillow), the
quorum counts it exactly as a proxy without a scan, the scan downloads byte for byte for staff
only (``Cache-Control: private``), a bad file is refused with its code and nothing is recorded,
a paper proxy without a scan needs "scan to follow", and the scan can be added or replaced
later; every upload, replacement and view is in the audit log (design 0022, "Proxy scans")."""

from __future__ import annotations

import io
import time
from typing import Any

import httpx
import orjson
import pytest
from PIL import Image

from tests.e2e.harness import Deployment, running
from tests.e2e.test_meetings import DAY, Api, make_community, register_csv

pytestmark = pytest.mark.timeout(240)
LIMIT = 256 * 1024

#: A small, complete PDF (it ends in %%EOF, as web/uploads.py checks).
PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 40)).save(out, "JPEG", quality=85)
    return out.getvalue()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (30, 20), (0, 90, 200)).save(out, "PNG")
    return out.getvalue()


async def send(api: Api, path: str, data: bytes, expect: int, **params: Any) -> dict[str, Any]:
    query = [(k, v) for k, vs in params.items() for v in (vs if isinstance(vs, list) else [vs])]
    response = await api.client.post(
        path, params=query, content=data, headers={"Content-Type": "application/octet-stream"}
    )
    assert response.status_code == expect, response.text
    return response.json()  # type: ignore[no-any-return]


async def rows(deployment: Deployment, query: str, *args: object) -> list[Any]:
    store = await deployment.store()
    try:
        return list(await store.database.fetch(query, *args))
    finally:
        await store.close()


def figures(body: dict[str, Any]) -> dict[str, Any]:
    """A meeting's figures without what differs between two meetings (id, version, time)."""
    return {"attendance": body["attendance"], "quorum": body["quorum"]}


async def test_paper_proxy_scans(deployment: Deployment) -> None:
    c = await make_community(deployment, 5)
    photo = jpeg()
    # A small upload limit, so "too large" is cheap to send.
    async with running(deployment, LINLI_UPLOAD_MAX_BYTES=str(LIMIT)) as server:
        staff, tenant = Api(server, c.cookies["lam"][1]), Api(server, c.cookies["tenant"][1])
        admin, giver = Api(server, c.cookies["root"][1]), Api(server, c.cookies["o0001"][1])
        owner = Api(server, c.cookies["o0000"][1])
        outsider = httpx.AsyncClient(base_url=server.http, timeout=30)
        try:
            await admin.post("/api/meetings/register", csv=register_csv(c))
            mids = []
            for title in ("With scans", "Scans to follow"):
                draft = {
                    "kind": "regular", "title": title, "place": "Lobby",
                    "starts_at": int(time.time() * 1000) + 11 * DAY,
                    "items": [{"title": "Repaint", "threshold": "art31"}],
                }  # fmt: skip
                mid = (await staff.post("/api/meetings", 201, **draft))["meeting"]["id"]
                await staff.post(f"/api/meetings/{mid}/convene")
                mids.append(mid)
            mid, before = mids
            roll = (await staff.get(f"/api/meetings/{mid}/roll"))["roll"]
            unit = {r["label"].rsplit(" ", 1)[-1][-2:]: r["unit_id"] for r in roll}
            u0, u1, u2, u3, u4 = (unit[f"U{i}"] for i in range(5))
            paper = f"/api/meetings/{mid}/proxies/paper"

            async def nothing_recorded() -> None:
                got = (await staff.get(f"/api/meetings/{mid}/roll"))["roll"]
                assert all(r["proxy"] is None for r in got)
                assert not await rows(
                    deployment,
                    "SELECT unit_id FROM meeting_proxy_scans WHERE meeting_id = $1",
                    mid,
                )

            # Bad input: each refused with its code, and no proxy recorded.
            fake = await send(staff, paper, b"just text, not a PDF", 415,
                              unit=u1, name="Mr Wong", filename="form.pdf")  # fmt: skip
            assert fake["error"]["code"] == "upload_type_not_allowed"
            liar = await send(staff, paper, photo, 415, unit=u1, name="W", filename="form.pdf")
            assert liar["error"]["code"] == "upload_name_mismatch"
            cut = await send(staff, paper, PDF[:-7], 400, unit=u1, name="W", filename="f.pdf")
            assert cut["error"]["code"] == "upload_damaged"
            big = PDF[:-6] + b"\0" * LIMIT + b"%%EOF\n"
            large = await send(staff, paper, big, 413, unit=u1, name="W", filename="f.pdf")
            assert large["error"]["code"] == "upload_too_large"
            empty = await send(staff, paper, b"", 400, unit=u1, name="W", filename="f.pdf")
            assert empty["error"]["code"] == "upload_empty"
            # A form of a unit not on the roll: the scan is checked, then nothing is written.
            off = await send(staff, paper, PDF, 400, unit=[u1, 999_999], name="W")
            assert off["error"]["code"] == "meeting_not_on_roll"
            forbidden = await send(giver, paper, PDF, 403, unit=u1, name="W", filename="f.pdf")
            assert forbidden["error"]["code"] == "forbidden"
            required = await staff.error(
                f"/api/meetings/{mid}/proxies", 400, unit_ids=[u1], name="Mr Wong"
            )
            assert required == "meeting_proxy_scan_required"
            await nothing_recorded()

            # One form for two units (a PDF), and one with a phone photo (a JPEG).
            made = await send(staff, paper, PDF, 201, unit=[u1, u2], name="Mr Wong",
                              reference="委託書 #7", filename="委託書 7.pdf")  # fmt: skip
            assert made["units"] == [u1, u2] and made["scan"]["filename"] == "委託書 7.pdf"
            await send(staff, paper, photo, 201, unit=u3, username="o0004",
                       reference="#8", filename="IMG_0008.JPG")  # fmt: skip
            # An owner's own appointment (the phone) has no scan to take.
            await owner.post(f"/api/meetings/{mid}/proxies", username="o0004")
            for u in (u0, u4):
                code = await send(staff, f"/api/meetings/{mid}/proxies/{u}/scan", PDF, 409)
                assert code["error"]["code"] == "meeting_not_paper_proxy"

            roll = {r["unit_id"]: r for r in (await staff.get(f"/api/meetings/{mid}/roll"))["roll"]}
            assert roll[u0]["proxy"]["scan"] is None and roll[u0]["proxy"]["route"] == "phone"
            scan1, scan3 = roll[u1]["proxy"]["scan"], roll[u3]["proxy"]["scan"]
            assert roll[u2]["proxy"]["scan"]["sha256"] == scan1["sha256"]
            assert (scan1["media_type"], scan1["size"]) == ("application/pdf", len(PDF))
            assert (scan3["media_type"], scan3["size"]) == ("image/jpeg", len(photo))

            # Staff download them byte for byte; nobody else does.
            for scan, data, media in (
                (scan1, PDF, "application/pdf"),
                (scan3, photo, "image/jpeg"),
            ):
                got = await staff.client.get(scan["url"])
                assert got.status_code == 200 and got.content == data
                assert got.headers["content-type"] == media
                assert got.headers["cache-control"].startswith("private")
                assert got.headers["x-content-type-options"] == "nosniff"
            assert (await giver.client.get(scan1["url"])).status_code == 403  # the owner of U1
            assert (await tenant.client.get(scan1["url"])).status_code == 403
            assert (await outsider.get(scan1["url"])).status_code == 401
            none = await staff.client.get(f"/api/meetings/{mid}/proxies/{u4}/scan")
            assert none.status_code == 404

            # The same proxies in the second meeting, typed with "scan to follow".
            typed: list[tuple[list[int], dict[str, Any]]] = [
                ([u1, u2], {"name": "Mr Wong"}), ([u3], {"username": "o0004"}),
            ]  # fmt: skip
            for units, kind in typed:
                await staff.post(
                    f"/api/meetings/{before}/proxies", unit_ids=units, scan_to_follow=True, **kind
                )
            await owner.post(f"/api/meetings/{before}/proxies", username="o0004")
            later = (await staff.get(f"/api/meetings/{before}/roll"))["roll"]
            assert [r["proxy"]["scan_to_follow"] for r in later if r["unit_id"] == u3] == [True]
            printed = await staff.client.get(f"/meetings/{before}/print")
            assert printed.status_code == 200 and "掃描待補" in printed.text

            # The night: the same units in, the same way; the figures are the same.
            for m in mids:
                await staff.post(f"/api/meetings/{m}/open")
                await staff.post(f"/api/meetings/{m}/checkin/staff", unit_ids=[u0, u1, u2, u3],
                                 by_proxy=True)  # fmt: skip
            with_scans = figures((await staff.get(f"/api/meetings/{mid}"))["figures"])
            without = figures((await staff.get(f"/api/meetings/{before}"))["figures"])
            assert with_scans == without
            assert with_scans["attendance"]["proxy_units"] == 4
            assert with_scans["attendance"]["present_units"] == 4

            # The scan follows (after check-in: it does not change the proxy), then is replaced.
            late = f"/api/meetings/{before}/proxies/{u3}/scan"
            assert (await send(staff, late, PDF, 201, filename="scan.pdf"))["scan"]["size"] == len(
                PDF
            )
            new = png()
            assert (await send(staff, late, new, 201, filename="better.png"))["scan"][
                "media_type"
            ] == "image/png"
            got = await staff.client.get(late)
            assert got.status_code == 200 and got.content == new
            later = (await staff.get(f"/api/meetings/{before}/roll"))["roll"]
            assert [r["proxy"]["scan_to_follow"] for r in later if r["unit_id"] == u3] == [False]
            bad = await send(staff, late, b"GIF89a....", 415, filename="x.gif")
            assert bad["error"]["code"] == "upload_type_not_allowed"
            got = await staff.client.get(late)
            assert got.content == new  # the refused file replaced nothing

            # The A4 print (the minutes with the signature book) lists the forms and scans;
            # only staff's copy links them.
            sheet = (await staff.client.get(f"/meetings/{mid}/print")).text
            assert "委託書 7.pdf" in sheet and "IMG_0008.jpg" in sheet.replace(".JPG", ".jpg")
            assert scan1["url"] in sheet and scan1["sha256"][:16] in sheet

            # Residents read the published print: whether a form's scan is on file, not the
            # file's name nor a link.
            await staff.post(f"/api/meetings/{mid}/close")
            for state in ("approved", "published"):
                await staff.post(f"/api/meetings/{mid}/minutes", text="紀錄 Minutes", state=state)
            public = await tenant.client.get(f"/meetings/{mid}/print")
            assert public.status_code == 200 and "已存掃描" in public.text
            assert scan1["sha256"][:16] in public.text
            assert "委託書 7.pdf" not in public.text and scan1["url"] not in public.text

            # Every upload, replacement and view is audited.
            audit = await rows(
                deployment,
                "SELECT action, detail FROM audit_log WHERE feature = 'meetings' "
                "AND action LIKE 'proxy%' ORDER BY id",
            )
            actions = [r["action"] for r in audit]
            assert actions.count("proxy_scan") == 1 and actions.count("proxy_scan_replace") == 1
            assert actions.count("proxy_scan_view") == 4
            sets = [orjson.loads(r["detail"]) if isinstance(r["detail"], str | bytes) else
                    r["detail"] for r in audit if r["action"] == "proxy_set"]  # fmt: skip
            paper_sets = [d for d in sets if d["route"] == "paper"]
            assert paper_sets[0]["scan"]["sha256"] == scan1["sha256"]
            assert [d["scan_to_follow"] for d in paper_sets] == [False, False, True, True]
        finally:
            for api in (staff, tenant, admin, giver, owner):
                await api.aclose()
            await outsider.aclose()

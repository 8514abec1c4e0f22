"""The settings an admin changes at run time, end to end through the real server, in both modes
(scaled: two gateway processes on one Redis, the change made on one and seen on the other):
the community's name and logo reach every resident's top bar and ``<title>`` without a restart;
a logo is checked by content (a PDF is refused with its code), served with caching headers and
removable; non-admins are refused; a publish rate limit lowered on the page holds back a live
WebSocket publisher at once. Every change is in the one audit log, old → new."""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image

from persistence.audit.sql import SqlAuditLog
from tests.e2e.harness import Client, Deployment, Server, login, running, seed
from tests.e2e.test_admin import Http, _admin_user, _close_clients  # noqa: F401 (closes Http)

pytestmark = pytest.mark.timeout(240)

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (120, 80), (11, 83, 148)).save(out, "PNG")
    return out.getvalue()


@contextlib.asynccontextmanager
async def _servers(deployment: Deployment) -> AsyncIterator[tuple[Server, Server]]:
    """Where the admin changes things and where a resident looks: two processes when scaled."""
    async with running(deployment) as one:
        if deployment.mode == "embedded":
            yield one, one
        else:
            async with running(deployment) as two:
                yield one, two


async def _page(client: httpx.AsyncClient, lang: str = "zh-Hant") -> str:
    response = await client.get("/", headers={"Accept": "text/html", "Accept-Language": lang})
    assert response.status_code == 200
    return response.text


async def _eventually_page(
    client: httpx.AsyncClient, wanted: str, *, lang: str = "zh-Hant", present: bool = True
) -> str:
    """The page once ``wanted`` is (or is no longer) on it: control reaches the other process
    over Redis a moment after the change's answer."""
    deadline = time.monotonic() + 10
    while True:
        text = await _page(client, lang)
        if (wanted in text) is present:
            return text
        assert time.monotonic() < deadline, text[:2000]
        await asyncio.sleep(0.1)


async def _audit(deployment: Deployment) -> list[tuple[str, dict[str, Any]]]:
    store = await deployment.store()
    try:
        entries = await SqlAuditLog(store.database).entries(feature="admin", limit=100)
        return [(e.action, e.detail) for e in reversed(entries)]
    finally:
        await store.close()


async def test_name_and_logo_reach_every_page(deployment: Deployment) -> None:
    await seed(deployment)
    await _admin_user(deployment)
    async with _servers(deployment) as (one, two):
        admin = Http(one, await login(one, "boss"))
        ann = Http(two, await login(two, "ann"))
        page = await _page(ann.client)
        assert "<title>" in page and "· 鄰里社區</title>" in page  # the default

        # Refused to a resident, whatever they try.
        refused = await ann.client.post("/api/admin/settings", json={"community_name_zh": "x"})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
        refused = await ann.client.post("/api/admin/logo?name=a.png", content=_png())
        assert refused.status_code == 403
        assert (await ann.client.post("/api/admin/logo/remove", json={})).status_code == 403

        # A name too long is refused on its field.
        bad = await admin.post("/api/admin/settings", 400, community_name_zh="長" * 41)
        assert bad["error"]["code"] == "bad_setting"
        assert bad["error"]["field"] == "community_name_zh"

        # The name: both languages; English empty falls back to the Chinese one.
        await admin.post(
            "/api/admin/settings", community_name_zh="晴光社區", community_name_en="Sunny Court"
        )
        page = await _eventually_page(ann.client, "晴光社區")
        assert "· 晴光社區</title>" in page
        assert '<span class="brand-name">晴光社區</span>' in page
        english = await _page(ann.client, "en")
        assert "· Sunny Court</title>" in english
        await admin.post("/api/admin/settings", community_name_en="")
        english = await _eventually_page(ann.client, "Sunny Court", lang="en", present=False)
        assert "· 晴光社區</title>" in english

        # A PDF is not a logo.
        pdf = await admin.client.post("/api/admin/logo?name=logo.pdf", content=PDF)
        assert pdf.status_code == 415
        assert pdf.json()["error"]["code"] == "upload_type_not_allowed"
        damaged = await admin.client.post("/api/admin/logo?name=logo.png", content=_png()[:60])
        assert damaged.json()["error"]["code"] == "upload_damaged"

        # A picture is: in the top bar with the name as its text, cached for a year.
        png = _png()
        uploaded = await admin.client.post("/api/admin/logo?name=logo.png", content=png)
        assert uploaded.status_code == 201, uploaded.text
        url = uploaded.json()["logo"]
        assert url.startswith("/community-logo/")
        page = await _eventually_page(ann.client, url)
        assert f'<img class="brand-logo" src="{url}" alt="晴光社區"' in page
        served = await ann.client.get(url)
        assert served.status_code == 200 and served.content == png
        assert served.headers["content-type"] == "image/png"
        assert "max-age=31536000" in served.headers["cache-control"]
        assert served.headers["x-content-type-options"] == "nosniff"
        visitor = httpx.AsyncClient(base_url=two.http)  # the login page shows it too
        try:
            login_page = await visitor.get("/login", headers={"Accept": "text/html"})
            assert url in login_page.text
            assert (await visitor.get(url)).status_code == 200
            # The address serves the logo only, never another blob.
            assert (await visitor.get("/community-logo/" + "0" * 32)).status_code == 404
        finally:
            await visitor.aclose()
        assert (await admin.get("/api/admin/settings"))["logo"] == url

        # A new logo is a new address; the old one is gone.
        second = await admin.client.post("/api/admin/logo?name=new.png", content=_png())
        new_url = second.json()["logo"]
        assert new_url != url
        await _eventually_page(ann.client, new_url)
        assert (await ann.client.get(url)).status_code == 404

        # Removed: the name alone.
        assert (await admin.post("/api/admin/logo/remove"))["logo"] is None
        page = await _eventually_page(ann.client, "brand-logo", present=False)
        assert (await ann.client.get(new_url)).status_code == 404

    audit = await _audit(deployment)
    assert [action for action, _ in audit] == [
        "settings_change",
        "settings_change",
        "logo_set",
        "logo_set",
        "logo_remove",
    ]
    assert audit[0][1] == {
        "changed": {
            "community_name_zh": ["鄰里社區", "晴光社區"],
            "community_name_en": ["Linli neighbourhood", "Sunny Court"],
        }
    }
    assert audit[1][1] == {"changed": {"community_name_en": ["Sunny Court", ""]}}
    first_blob = url.rsplit("/", 1)[1]
    assert audit[2][1] == {"changed": {"logo_blob": [None, first_blob]}}
    assert audit[4][1] == {"changed": {"logo_blob": [new_url.rsplit("/", 1)[1], None]}}


async def test_rate_limit_change_holds_back_a_live_publisher(deployment: Deployment) -> None:
    hood = await seed(deployment)
    await _admin_user(deployment)
    room = f"building:{hood.building_a}"
    async with _servers(deployment) as (one, two):
        admin = Http(one, await login(one, "boss"))
        before = (await admin.get("/api/admin/settings"))["settings"]
        assert (before["publish_rate"], before["publish_burst"]) == ("5", "20")
        cookie = await login(two, "ann")
        ann = await Client.connect(two, cookie)
        resident = Http(two, cookie)
        await ann.ok("subscribe", channel=room)
        for i in range(5):  # the environment's burst of 20 allows these
            await ann.ok("publish", channel=room, text=f"before {i}", client_msg_id=f"b{i}")

        for key, value in (("publish_rate", "0"), ("publish_rate", "51"), ("publish_burst", "x")):
            bad = await admin.post("/api/admin/settings", 400, **{key: value})
            assert bad["error"]["code"] == "bad_setting" and bad["error"]["field"] == key

        # One message a second, two at once. The name changes in the same command, so its
        # arrival on the resident's process shows when the limit has.
        await admin.post(
            "/api/admin/settings", publish_rate="1", publish_burst="2", community_name_zh="限速"
        )
        await _eventually_page(resident.client, "· 限速</title>")
        replies = [
            await ann.request("publish", channel=room, text=f"after {i}", client_msg_id=f"a{i}")
            for i in range(4)
        ]
        codes = [r["error"]["code"] if "error" in r else "ok" for r in replies]
        assert codes[:2] == ["ok", "ok"], codes
        assert "rate_limited" in codes[2:], codes

        # Raised again: the publisher is free at once.
        await admin.post(
            "/api/admin/settings", publish_rate="50", publish_burst="200", community_name_zh="快"
        )
        await _eventually_page(resident.client, "· 快</title>")
        await asyncio.sleep(1.1)  # a token back at the old rate, so the bucket is not empty
        for i in range(10):
            await ann.ok("publish", channel=room, text=f"fast {i}", client_msg_id=f"f{i}")
        await ann.close()

    audit = await _audit(deployment)
    assert audit[0] == (
        "settings_change",
        {
            "changed": {
                "publish_rate": ["5", "1"],
                "publish_burst": ["20", "2"],
                "community_name_zh": ["鄰里社區", "限速"],
            }
        },
    )


async def test_languages_offered(deployment: Deployment) -> None:
    await seed(deployment)
    await _admin_user(deployment)
    async with _servers(deployment) as (one, two):
        admin = Http(one, await login(one, "boss"))
        ann = Http(two, await login(two, "ann"))
        assert (await admin.get("/api/admin/settings"))["settings"]["languages"] == "zh-Hant,en"
        assert 'id="lang-switch"' in await _page(ann.client, "zh-Hant")
        for value in ("", "fr", "zh-Hant,fr"):
            bad = await admin.post("/api/admin/settings", 400, languages=value)
            assert bad["error"]["code"] == "bad_setting" and bad["error"]["field"] == "languages"

        # English only: a reader who asks for Chinese (header or cookie) is shown English.
        changed = await admin.post("/api/admin/settings", languages=" en ")
        assert changed["settings"]["languages"] == "en"
        page = await _eventually_page(ann.client, '<html lang="en">')
        assert 'id="lang-switch"' not in page
        ann.client.cookies.set("linli_lang", "zh-Hant")
        assert '<html lang="en">' in await _page(ann.client, "zh-Hant")

        # Both again, in LOCALES order whatever order they were sent in.
        changed = await admin.post("/api/admin/settings", languages="en,zh-Hant")
        assert changed["settings"]["languages"] == "zh-Hant,en"
        page = await _eventually_page(ann.client, '<html lang="zh-Hant-TW">')
        assert 'id="lang-switch"' in page

    audit = await _audit(deployment)
    assert audit == [
        ("settings_change", {"changed": {"languages": ["zh-Hant,en", "en"]}}),
        ("settings_change", {"changed": {"languages": ["en", "zh-Hant,en"]}}),
    ]

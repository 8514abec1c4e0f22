"""The community figures page in real Chromium, on a phone (360 px), in both languages: the new
residents' sources table (a poster named by its code and building, the desk, other) and the
posts figure are there with their row and column headers; the page itself never scrolls
sideways (a wide table scrolls in its own labelled region), and axe-core finds nothing serious
or critical."""

from __future__ import annotations

import time

import httpx
import pytest
from playwright.async_api import expect

from linli.catalogue import messages_of
from persistence.store import Role
from tests.browser.axe import require_axe, serious_violations
from tests.browser.conftest import NewPage, Site, log_in
from tests.e2e.harness import PASSWORD, login

pytestmark = pytest.mark.timeout(150)

EMBEDDED_ONLY = pytest.mark.parametrize("deployment", ["embedded"], indirect=True)


async def _people(site: Site) -> str:
    """A committee member and the management office; five residents registered with Block A's
    poster through /api/register. The poster's code."""
    from web.passwords import hash_password

    store = await site.deployment.store()
    try:
        for name, role in (("lam", Role.COMMITTEE), ("desk", Role.MANAGEMENT)):
            await store.create_user(
                username=name, display_name=name.title(),
                password_hash=await hash_password(PASSWORD), role=role, building_id=None,
                unit_label=None, now=int(time.time() * 1000),
            )  # fmt: skip
    finally:
        await store.close()
    a = site.hood.building_a
    cookie = await login(site.server, "desk")
    async with httpx.AsyncClient(
        base_url=site.url, cookies={"linli_session": cookie}, timeout=30
    ) as desk:
        made = await desk.post(f"/api/onboard/posters/{a}", json={})
        assert made.status_code == 201, made.text
        code = str(made.json()["code"])
    for i in range(5):
        async with httpx.AsyncClient(base_url=site.url, timeout=30) as phone:
            done = await phone.post(
                "/api/register",
                json={
                    "invite_code": code, "username": f"poster{i}", "display_name": f"新住戶{i}",
                    "password": "a long password", "unit": f"{i + 2}B", "consent": True,
                },
            )  # fmt: skip
            assert done.status_code == 201, done.text
    return code


@EMBEDDED_ONLY
@pytest.mark.parametrize("locale", ["zh-TW", "en-GB"])
async def test_sources_table_on_a_phone_and_axe(site: Site, new_page: NewPage, locale: str) -> None:
    require_axe()
    code = await _people(site)
    words = messages_of("zh-Hant" if locale.startswith("zh") else "en")
    page = await new_page(locale=locale, width=360, height=740)
    await log_in(page, "lam")
    for query in ("?period=day", f"?period=month&building={site.hood.building_a}"):
        await page.goto(f"/figures{query}")
        section = page.get_by_role("region", name=words["figures.section.sources"]).first
        await expect(section).to_be_visible()
        poster = words["onboard.figures.poster"].format(code=code, building="Block A")
        row = section.get_by_role("row", name=poster)
        await expect(row.get_by_role("rowheader")).to_have_text(poster)
        cells = await row.locator("td").all_inner_texts()
        assert cells[-2] == "5", cells  # this period's column, then the target's (none)
        desk = section.get_by_role("rowheader", name=words["onboard.figures.desk"])
        await expect(desk).to_be_visible()
        header = section.get_by_role("columnheader", name=words["figures.figure"])
        await expect(header).to_be_visible()
        posts = page.locator("#figure-posts th[scope=row]")
        await expect(posts).to_have_text(words["figures.posts"])
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"/figures{query} is {width} px wide at 360 px ({locale})"
        assert await serious_violations(page) == []

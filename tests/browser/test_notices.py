"""Notices in a real browser: a management officer posts an urgent notice on the desktop form;
a resident on a 360 px phone sees the urgent banner on the chat page, opens the notice and
presses "我已閱讀"; the officer's reach view, open in another browser, moves live at each step
(the time from the press to the officer's screen is printed); a resident of the other building
finds nothing; the banner is gone once the household confirmed. Both modes (the reach crosses
Redis in the scaled one).

Then, embedded only (the pages alone): no sideways scrolling at 360 px and axe-core finding
nothing serious or critical on the list, a notice, the archive, the form and the door list, in
both languages.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.async_api import FilePayload, Page, expect

from linli.catalogue import messages_of
from persistence.store import Role
from tests.browser.axe import require_axe, serious_violations
from tests.browser.conftest import NewPage, Site, log_in
from tests.e2e.harness import PASSWORD

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[2]
ZH = messages_of("zh-Hant")
EN = messages_of("en")
EMBEDDED_ONLY = pytest.mark.parametrize("deployment", ["embedded"], indirect=True)
TITLE = "明天停水 Water off tomorrow"


async def _officer(site: Site) -> None:
    """Ho, of the management office (管理處): no unit."""
    from web.passwords import hash_password

    store = await site.deployment.store()
    try:
        await store.create_user(
            username="ho",
            display_name="Ho",
            password_hash=await hash_password(PASSWORD),
            role=Role.MANAGEMENT,
            building_id=None,
            unit_label=None,
            now=int(time.time() * 1000),
        )
    finally:
        await store.close()


async def _log_in_staff(page: Page) -> None:
    await page.goto("/login")
    await page.fill("#username", "ho")
    await page.fill("#password", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_url("**/")


async def _post(page: Page, site: Site) -> int:
    """Fill the form as a person would: title, text, Block A, urgent, confirmation; publish."""
    await page.goto("/notices/new")
    await page.fill("#title", TITLE)
    await page.fill("#body", "**明天上午九時至下午一時**停水，請預先儲水。")
    await page.check("input[name=audience][value=buildings]")
    await page.check(f"#audience-choices input[value='{site.hood.building_a}']")
    await page.check("#urgent")
    await page.check("#requires-ack")
    await page.click("#save-publish")
    await page.wait_for_url(re.compile(r"/notices/\d+$"))
    return int(page.url.rsplit("/", 1)[1])


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (30, 90, 160)).save(out, "PNG")
    return out.getvalue()


def _units(reached: int, total: int) -> str:
    percent = round(reached * 100 / total) if total else 0
    return ZH["notices.reach_units"].format(reached=reached, total=total, percent=percent)


async def test_post_banner_acknowledge_and_the_live_reach(site: Site, new_page: NewPage) -> None:
    await _officer(site)
    office = await new_page(width=1280)
    await _log_in_staff(office)
    notice_id = await _post(office, site)
    # Block A has one household (ann and amy, 1A): none reached yet.
    await expect(office.locator("#reach-units")).to_have_text(_units(0, 1))

    phone = await new_page(width=360, height=740)
    await log_in(phone, "ann")
    banner = phone.locator("#urgent-banner")
    await expect(banner).to_contain_text(TITLE)
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the chat page with the banner is {width} px wide"
    await banner.get_by_role("link").click()
    await phone.wait_for_url(f"**/notices/{notice_id}")
    await expect(phone.locator("#notice-title")).to_have_text(TITLE)
    await expect(phone.locator(".notice-body strong")).to_have_text("明天上午九時至下午一時")
    # Opening it reached the household: the officer's view moves without a reload.
    await expect(office.locator("#reach-units")).to_have_text(_units(1, 1))
    await expect(office.locator("#reach-acked")).to_have_text(
        ZH["notices.reach_acked"].format(count=0)
    )
    started = time.perf_counter()
    await phone.click("#ack-button")
    await expect(office.locator("#reach-acked")).to_have_text(
        ZH["notices.reach_acked"].format(count=1)
    )
    print(
        f"\n[{site.deployment.mode}] 我已閱讀 pressed → officer's reach view: "
        f"{(time.perf_counter() - started) * 1000:.0f} ms"
    )
    await expect(phone.locator("#ack-done")).to_be_visible()
    await expect(phone.locator("#ack-button")).to_be_hidden()
    # amy lives in 1A too: the household has confirmed, her banner is gone, the count stays 1.
    sister = await new_page(width=360, height=740)
    await log_in(sister, "amy")
    await sister.goto(f"/notices/{notice_id}")
    await expect(sister.locator("#ack-done")).to_be_visible()
    await sister.goto("/")
    await expect(sister.locator("#urgent-banner")).to_have_count(0)
    async with httpx.AsyncClient(base_url=site.url, cookies=await _cookies(office)) as http:
        reach = (await http.get(f"/api/notices/{notice_id}/reach")).json()["reach"]
    assert (reach["total"], reach["reached"], reach["acknowledged"]) == (1, 1, 1)
    # Block B: no banner, and the notice is not found.
    other = await new_page(width=360, height=740)
    await log_in(other, "bob")
    await expect(other.locator("#urgent-banner")).to_have_count(0)
    await other.goto(f"/notices/{notice_id}")
    await expect(other.locator("h1")).to_have_text(ZH["notices.not_found"])
    await other.goto("/notices")
    await expect(other.get_by_text(TITLE)).to_have_count(0)


async def _cookies(page: Page) -> dict[str, str]:
    return {c["name"]: c["value"] for c in await page.context.cookies()}


@EMBEDDED_ONLY
@pytest.mark.parametrize("locale", ["zh-TW", "en-GB"])
async def test_pages_fit_a_phone_and_pass_axe(site: Site, new_page: NewPage, locale: str) -> None:
    require_axe()
    await _officer(site)
    office = await new_page(locale=locale, width=360, height=740)
    await _log_in_staff(office)
    notice_id = await _post(office, site)
    words = ZH if locale == "zh-TW" else EN
    # Files on the edit form: a photo is added; an HTML page named .pdf is refused by content.
    await office.goto(f"/notices/{notice_id}/edit")
    await office.set_input_files(
        "#files",
        files=[
            FilePayload(name="site.png", mimeType="image/png", buffer=_png()),
            FilePayload(name="fake.pdf", mimeType="application/pdf", buffer=b"<html>hi</html>"),
        ],
    )
    await office.click("#save-publish")
    await expect(office.locator("#file-list li.error")).to_contain_text(
        words["errors.upload_type_not_allowed"]
    )
    await office.click("#saved-link")
    await expect(office.locator(".notice-files li")).to_have_count(1)
    await expect(office.locator(".notice-files img")).to_have_count(1)  # the thumbnail
    await expect(office.locator("#reach-title")).to_have_text(words["notices.reach"])
    for path, ready in (
        ("/notices", ".notice-item"),
        (f"/notices/{notice_id}", "#reach-units"),
        ("/notices/archive", ".notice-item"),
        ("/notices/new", "#title"),
        (f"/notices/{notice_id}/doors", ".doors-table"),
    ):
        await office.goto(path)
        await office.locator(ready).first.wait_for()
        width = await office.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{path} is {width} px wide at 360 px ({locale})"
        assert await serious_violations(office) == [], path
    resident = await new_page(locale=locale, width=360, height=740)
    await log_in(resident, "ann")
    await resident.goto(f"/notices/{notice_id}")
    await expect(resident.locator("#ack-button")).to_be_visible()
    assert await serious_violations(resident) == []

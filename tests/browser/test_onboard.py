"""Onboarding in real Chromium, in both modes: the management office makes a building's poster,
its QR code — a screenshot of what Chromium drew — is decoded by zxing-cpp, and the link, opened
on a phone-sized screen, registers a new resident; the desk registers a resident with a printed
code, who chooses a password at the first login; a resident given a first password is sent from
the login page to the first-login page. axe-core finds nothing serious on the pages, and none
scrolls sideways at 360 px."""

from __future__ import annotations

import io
import re
import time
from urllib.parse import urlsplit

import pytest
from PIL import Image
from playwright.async_api import Page, expect

from persistence.store import Role
from tests.browser.axe import serious_violations
from tests.browser.conftest import NewPage, Site, log_in
from tests.e2e.harness import PASSWORD
from tests.e2e.qr_helpers import decode

pytestmark = pytest.mark.timeout(300)


async def _staff(site: Site) -> None:
    from web.passwords import hash_password

    store = await site.deployment.store()
    try:
        await store.create_user(
            username="desk",
            display_name="管理處",
            password_hash=await hash_password(PASSWORD),
            role=Role.MANAGEMENT,
            building_id=None,
            unit_label=None,
            now=int(time.time() * 1000),
        )
    finally:
        await store.close()


async def _no_sideways_scroll(page: Page) -> None:
    extra = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert extra <= 0, f"{page.url} scrolls sideways by {extra} px"


async def test_poster_qr_code_scanned_registers_a_resident(new_page: NewPage, site: Site) -> None:
    await _staff(site)
    staff = await new_page()
    await log_in(staff, "desk")
    await staff.goto(f"/admin/posters/{site.hood.building_a}")
    await staff.click("#make-code")
    qr = staff.locator("svg.poster-qr")
    await expect(qr).to_be_visible()
    assert await serious_violations(staff) == []
    # What a phone camera sees: the code as Chromium drew it.
    link = decode(Image.open(io.BytesIO(await qr.screenshot())))
    code = (await staff.text_content("#poster-invite") or "").strip()
    parts = urlsplit(link)
    assert (parts.path, parts.query) == ("/register", f"invite={code}")
    # Printed, the sheet is all there is.
    await staff.emulate_media(media="print")
    await expect(staff.locator(".poster-toolbar")).to_be_hidden()
    await expect(qr).to_be_visible()

    phone = await new_page(width=360, height=740)
    await phone.goto(f"{parts.path}?{parts.query}")
    await expect(phone.locator("#invite_code")).to_have_value(code)
    await expect(phone.locator("#username")).to_be_focused()
    await phone.fill("#username", "newbie")
    await phone.fill("#display_name", "新住戶")
    await phone.fill("#password", "a long password")
    await phone.fill("#unit", "3C")
    await phone.check("#consent")
    await phone.click("#register-form button[type=submit]")
    await phone.wait_for_url(re.compile(r"/(welcome)?$"))
    me = await phone.evaluate("fetch('/api/me').then(r => r.json())")
    assert me["user"]["username"] == "newbie"
    assert me["user"]["building_id"] == site.hood.building_a

    await staff.emulate_media(media="screen")
    await staff.goto("/admin/posters")
    await expect(staff.locator(f'[data-sources="{site.hood.building_a}"]')).to_contain_text(
        "海報 1 人"
    )


async def test_desk_registers_and_the_resident_chooses_a_password(
    new_page: NewPage, site: Site
) -> None:
    await _staff(site)
    staff = await new_page(width=360, height=740)
    await log_in(staff, "desk")
    await staff.goto("/admin/desk")
    await _no_sideways_scroll(staff)
    assert await serious_violations(staff) == []
    # Bad input: a unit the building does not have, said beside the field.
    await staff.fill("#unit", "99Z")
    await staff.fill("#display_name", "王阿姨")
    await staff.fill("#username", "wang1a")
    await staff.check("#consent")
    await staff.click("#desk-form button[type=submit]")
    await expect(staff.locator("#unit-error")).to_have_text(
        "這棟沒有這個戶號，請先在「棟、樓與戶」加入。"
    )
    await staff.fill("#unit", "1A")
    await staff.click("#desk-form button[type=submit]")
    slip = staff.locator("#desk-slip")
    await expect(slip).to_be_visible()
    await expect(staff.locator("#slip-username")).to_have_text("wang1a")
    code = (await staff.text_content("#slip-code") or "").strip()
    assert re.fullmatch(r"[A-HJ-NP-Z2-9]{5}-[A-HJ-NP-Z2-9]{5}", code)
    assert await serious_violations(staff) == []

    # The resident, at home, with the slip.
    resident = await new_page(locale="en-GB")
    await resident.goto("/first-login")
    assert await serious_violations(resident) == []
    await resident.fill("#username", "wang1a")
    await resident.fill("#secret", code)
    await resident.fill("#password", "my own password")
    await resident.click("#first-form button[type=submit]")
    await resident.wait_for_url(re.compile(r"/(welcome)?$"))

    # A first password: the login page sends the resident to choose their own.
    await staff.click("#slip-next")
    await staff.fill("#unit", "1A")
    await staff.fill("#display_name", "李伯")
    await staff.fill("#username", "lee1a")
    await staff.check('input[name="mode"][value="password"]')
    await staff.fill("#password", "Welcome 2026!")
    await staff.check('input[name="consent_how"][value="verbal_desk"]')
    await staff.check("#consent")
    await staff.click("#desk-form button[type=submit]")
    await expect(staff.locator("#slip-code")).to_have_text("Welcome 2026!")

    lee = await new_page()
    await lee.goto("/login")
    await lee.fill("#username", "lee1a")
    await lee.fill("#password", "Welcome 2026!")
    await lee.click("#login-form button[type=submit]")
    await lee.wait_for_url("**/first-login?username=lee1a")
    await expect(lee.locator("#username")).to_have_value("lee1a")
    await expect(lee.locator("#secret")).to_be_focused()
    await lee.fill("#secret", "Welcome 2026!")
    await lee.fill("#password", "Welcome 2026!")
    await lee.click("#first-form button[type=submit]")
    await expect(lee.locator("#password-error")).to_have_text(
        "請設定一個新的密碼，不要用管理處給的那個。"
    )
    await lee.fill("#password", "lee's own password")
    await lee.click("#first-form button[type=submit]")
    await lee.wait_for_url(re.compile(r"/(welcome)?$"))


async def test_a_helper_files_a_request_the_resident_sees_who(
    new_page: NewPage, site: Site
) -> None:
    ann = await new_page()
    await log_in(ann, "ann")
    await ann.goto("/helpers")
    await ann.fill("#helper-username", "amy")
    await ann.click("#helper-form button[type=submit]")
    await expect(ann.locator("#my-helpers")).to_contain_text("Amy")
    assert await serious_violations(ann) == []

    amy = await new_page(width=360, height=740)
    await log_in(amy, "amy")
    await amy.goto("/helpers")
    await _no_sideways_scroll(amy)
    await expect(amy.locator("#helping .for-name")).to_have_text("替 Ann 代辦")
    await amy.select_option("#helping .for-category", "repair")
    await amy.fill("#helping .for-text", "信箱的鎖壞了")
    await amy.click("#helping .for-form button[type=submit]")
    done = amy.locator("#helping .for-done a")
    await expect(done).to_contain_text("已替 Ann 提交請求")
    assert await serious_violations(amy) == []
    href = await done.get_attribute("href")
    assert href and re.fullmatch(r"/requests/\d+", href)

    await ann.goto(href)
    await expect(ann.locator("#req-meta")).to_contain_text("由 Amy 代為提交")
    await expect(ann.locator("#req-text")).to_have_text("信箱的鎖壞了")
    await ann.goto("/helpers")
    await expect(ann.locator("#acts")).to_contain_text("Amy 代為提交請求")


async def test_welcome_then_the_tour_skippable_and_remembered(
    new_page: NewPage, site: Site
) -> None:
    from tests.browser.conftest import INVITE_CODE

    page = await new_page(width=360, height=740)
    await page.goto("/register")
    await page.fill("#invite_code", INVITE_CODE)
    await page.fill("#username", "iris")
    await page.fill("#display_name", "Iris")
    await page.fill("#password", "my bauhinia tree")
    await page.fill("#unit", "7B")
    await page.check("#consent")
    await page.click("#register-form button[type=submit]")
    await page.wait_for_url("**/welcome")
    await expect(page.locator("h1")).to_have_text("歡迎，Iris！")
    await expect(page.locator(".welcome-step")).to_have_count(3)
    await _no_sideways_scroll(page)
    assert await serious_violations(page) == []

    await page.click("#start-tour")
    tour = page.locator("#tour")
    await expect(tour).to_be_visible()
    await expect(page.locator(".tour-count")).to_have_text("第 1 步，共 5 步")
    await expect(page.locator("#tour-next")).to_be_focused()
    await page.click("#tour-next")
    await page.click("#tour-next")
    await expect(page.locator("#tour-title")).to_have_text("上方的選單")
    await expect(page.locator(".top-nav")).to_have_class(re.compile(r"\btour-target\b"))
    await _no_sideways_scroll(page)
    assert await serious_violations(page) == []
    await page.click("#tour-back")
    await expect(page.locator("#tour-title")).to_have_text("聊天室")
    async with page.expect_response("**/api/tour/seen"):
        await page.click("#tour-skip")
    await expect(tour).to_have_count(0)
    assert "tour=" not in page.url
    seen = await page.evaluate("fetch('/api/tour').then(r => r.json())")
    assert seen == {"seen": True}

    # Seen is remembered by the server: a device still holding "pending" is not shown it again.
    await page.evaluate("localStorage.setItem('linli.tour', 'pending')")
    async with page.expect_response("**/api/tour"):
        await page.goto("/")
    await page.wait_for_function("window.linliClient && window.linliClient.state === 'open'")
    await expect(tour).to_have_count(0)
    assert await page.evaluate("localStorage.getItem('linli.tour')") is None

    # Asked for again (?tour=1), in English, and left with Escape.
    english = await new_page(locale="en-GB")
    await log_in(english, "amy")
    await english.goto("/?tour=1")
    await expect(english.locator("#tour-title")).to_have_text("Welcome to the neighbourhood site")
    for _ in range(4):
        await english.click("#tour-next")
    await expect(english.locator("#tour-next")).to_have_text("Done")
    await english.keyboard.press("Escape")
    await expect(english.locator("#tour")).to_have_count(0)


@pytest.mark.parametrize("locale", ["zh-TW", "en-GB"])
async def test_the_one_page_user_guide_prints_on_one_a4_page(
    new_page: NewPage, site: Site, locale: str
) -> None:
    page = await new_page(locale=locale)
    await page.goto("/help")
    await page.click('a[href="/help/handbook"]')
    heading = (
        "社區網站使用手冊（一頁版）" if locale == "zh-TW" else "The neighbourhood site on one page"
    )
    await expect(page.locator("#handbook h1")).to_have_text(heading)
    await expect(page.locator("#handbook h2")).to_have_count(5)
    assert await serious_violations(page) == []
    pdf = await page.pdf(format="A4", print_background=False)
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages == 1, f"the handbook prints on {pages} pages"

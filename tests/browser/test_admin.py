"""The admin console in real Chromium, in both modes: a CSV with bad lines shows each line's
error and writes nothing (counted in the tables), the corrected CSV imports; a role changed;
a reset code issued and used by the resident on the forgot-password page, who is then logged
in; an invite made and revoked; no console page scrolls sideways at 360 px, and axe-core finds
nothing serious or critical on any of them at 360 px and on a desktop, in both languages."""

from __future__ import annotations

import re
import time

import pytest
from playwright.async_api import Page, expect

from persistence.store import Role
from tests.browser.axe import require_axe, serious_violations
from tests.browser.conftest import NewPage, Site, log_in
from tests.e2e.harness import PASSWORD

pytestmark = pytest.mark.timeout(240)

CODE_RE = re.compile(r"^[A-HJ-NP-Z2-9]{5}-[A-HJ-NP-Z2-9]{5}$")
PAGES = ("/admin", "/admin/residents", "/admin/invites", "/admin/settings", "/forgot-password")


async def _make_admin(site: Site) -> None:
    from web.passwords import hash_password

    store = await site.deployment.store()
    try:
        await store.create_user(
            username="boss",
            display_name="Boss",
            password_hash=await hash_password(PASSWORD),
            role=Role.ADMIN,
            building_id=None,
            unit_label=None,
            now=int(time.time() * 1000),
        )
    finally:
        await store.close()


async def _count(site: Site, table: str) -> int:
    store = await site.deployment.store()
    try:
        return int(await store.database.fetchval(f"SELECT COUNT(*) FROM {table}"))
    finally:
        await store.close()


async def _admin_page(new_page: NewPage, site: Site, **size: int) -> Page:
    await _make_admin(site)
    page = await new_page(**size)
    await log_in(page, "boss")
    return page


async def test_csv_import_preview_then_import(new_page: NewPage, site: Site) -> None:
    page = await _admin_page(new_page, site)
    await page.goto("/admin")
    units_before = await _count(site, "units")
    bad = "棟,樓,戶號,持分‰,人數\nBlock A,2,2A,10,2\nBlock Q,3,3A,10,2\nBlock A,2,2a,x,2\n"
    await page.fill("#csv", bad)
    await page.click("#import-check")
    lines = page.locator("#preview-lines > li")
    await expect(lines).to_have_count(3)
    await expect(page.locator("#preview-summary")).to_contain_text("3")
    await expect(lines.nth(0)).to_have_class("admin-item")
    await expect(lines.nth(1)).to_contain_text("沒有這一棟")
    await expect(lines.nth(2)).to_contain_text("重複")
    await expect(lines.nth(2)).to_contain_text("持分要是大於 0")
    await expect(page.locator("#import-commit")).to_be_hidden()
    assert await _count(site, "units") == units_before
    assert await _count(site, "admin_units") == 0

    good = "棟,樓,戶號,持分‰,人數\nBlock A,2,2A,10,2\nBlock B,3,3A,12.5,4\n"
    await page.fill("#csv", good)
    await page.click("#import-check")
    await expect(page.locator("#preview-summary")).to_contain_text("新增 2 戶")
    await page.click("#import-commit")
    await expect(page.locator("#import-done")).to_contain_text("新增 2 戶")
    await expect(page.locator("[data-unit='3A']")).to_contain_text("12.5")
    assert await _count(site, "units") == units_before + 2
    assert await _count(site, "admin_units") == 2


async def test_change_a_role_and_reset_a_password(new_page: NewPage, site: Site) -> None:
    page = await _admin_page(new_page, site)
    await page.goto("/admin/residents")
    await page.fill("#q", "amy")
    await page.click("#filter-form button[type=submit]")
    row = page.locator("[data-username='amy']")
    await expect(page.locator("#residents > li")).to_have_count(1)
    await row.locator("summary").click()
    await row.locator("select").first.select_option("organiser")
    await row.locator(".role-save").click()
    await expect(row.locator(".admin-done")).to_have_text("角色已更改。")
    store = await site.deployment.store()
    try:
        amy = await store.get_user_by_username("amy")
        assert amy is not None and amy.role is Role.ORGANISER
    finally:
        await store.close()

    await row.locator(".reset-code").click()
    code_el = row.locator(".admin-print .admin-code")
    await expect(code_el).to_have_text(CODE_RE)
    code = await code_el.inner_text()

    # amy, logged out, follows the login page's forgot-password link.
    resident = await new_page(width=360, height=740)
    await resident.goto("/login")
    await resident.click("text=忘記密碼？")
    await resident.wait_for_url("**/forgot-password")
    await resident.fill("#username", "amy")
    await resident.fill("#code", "WRONG-CODE1")
    await resident.fill("#password", "my new password")
    await resident.click("#reset-form button[type=submit]")
    await expect(resident.locator("#code-error")).to_be_visible()
    await resident.fill("#code", code)
    await resident.click("#reset-form button[type=submit]")
    await resident.wait_for_url(f"{site.url}/")
    await resident.wait_for_function("window.linliClient && window.linliClient.state === 'open'")
    # The new password is the one now.
    again = await new_page()
    await log_in(again, "amy", "my new password")


async def test_make_and_revoke_an_invite(new_page: NewPage, site: Site) -> None:
    page = await _admin_page(new_page, site, width=360, height=740)
    await page.goto("/admin/invites")
    await page.fill("#unit", "8C")
    await page.fill("#uses", "2")
    await page.click("#invite-form button[type=submit]")
    await expect(page.locator("#new-code")).to_contain_text("新的邀請碼")
    text = await page.locator("#new-code").inner_text()
    code = text.rsplit("：", 1)[-1].strip()
    item = page.locator(f"[data-code='{code}']")
    await expect(item).to_contain_text("8C")
    await expect(item).to_contain_text("可用")
    await item.get_by_role("button").click()
    await expect(item).to_contain_text("已作廢")
    store = await site.deployment.store()
    try:
        invite = await store.get_invite(code)
        assert invite is not None and invite.uses_left == 0
    finally:
        await store.close()


@pytest.mark.parametrize("deployment", ["embedded"], indirect=True)
async def test_console_pages_axe_and_phone_width(new_page: NewPage, site: Site) -> None:
    require_axe()
    await _make_admin(site)
    found: dict[str, list[str]] = {}
    for width, height in ((360, 740), (1280, 800)):
        for locale in ("zh-TW", "en-GB"):
            page = await new_page(locale=locale, width=width, height=height)
            for path in PAGES:
                if path == "/forgot-password":
                    await page.context.clear_cookies()
                else:
                    await ensure_logged_in(page)
                await page.goto(path)
                await page.wait_for_load_state("networkidle")
                if path == "/admin/residents":
                    await page.locator("#residents summary").first.click()
                overflow = await page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 0, (path, width, overflow)
                violations = await serious_violations(page)
                if violations:
                    found[f"{path} {width} {locale}"] = violations
    assert found == {}


async def ensure_logged_in(page: Page) -> None:
    cookies = await page.context.cookies()
    if not any(c["name"] == "linli_session" for c in cookies):
        await log_in(page, "boss")

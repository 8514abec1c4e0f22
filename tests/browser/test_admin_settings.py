"""The settings page and the top bar in real Chromium at 360 px, in both modes: an admin names
the community, is told on the field when a rate limit is out of range, is refused a PDF as the
logo (in words of the page's language), sets a picture and removes it; a resident's top bar and
window title show the name and the logo (its alt text the name); no page scrolls sideways and
axe-core finds nothing serious or critical."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from playwright.async_api import Page, expect

from tests.browser.axe import serious_violations
from tests.browser.conftest import NewPage, Site, log_in
from tests.browser.test_admin import _admin_page

pytestmark = pytest.mark.timeout(240)

PHONE = {"width": 360, "height": 740}


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (160, 80), (11, 83, 148)).save(out, "PNG")
    return out.getvalue()


async def _no_sideways_scroll(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"{page.url} is {width} px wide at 360 px"


async def test_settings_page_and_top_bar_on_a_phone(new_page: NewPage, site: Site) -> None:
    admin = await _admin_page(new_page, site, **PHONE)
    await admin.goto("/admin/settings")
    await expect(admin.locator("#publish_rate")).to_have_value("100")  # the server's env
    await _no_sideways_scroll(admin)
    assert await serious_violations(admin) == []

    # Out of range: the message on its field, in Chinese.
    await admin.fill("#publish_rate", "0")
    await admin.get_by_role("button", name="儲存設定").click()
    await expect(admin.locator("#publish_rate-error")).to_have_text("請輸入 1 到 50 的整數。")
    await expect(admin.locator("#publish_rate")).to_have_attribute("aria-invalid", "true")
    # No language at all is refused on the field too.
    await admin.fill("#publish_rate", "30")
    english_box = admin.get_by_role("checkbox", name="English")
    chinese_box = admin.get_by_role("checkbox", name="繁體中文")
    await expect(english_box).to_be_checked()
    await english_box.uncheck()
    await chinese_box.uncheck()
    await admin.get_by_role("button", name="儲存設定").click()
    await expect(admin.locator("#languages-error")).to_have_text("請至少選擇一種語言。")
    await english_box.check()
    await chinese_box.check()
    await admin.fill("#community_name_zh", "晴光社區")
    # The time zone is a select (its label the field's name), Taipei by default.
    zone = admin.get_by_label("時區", exact=True)
    await expect(zone).to_have_value("Asia/Taipei")
    await zone.select_option("Asia/Hong_Kong")
    await admin.get_by_role("button", name="儲存設定").click()
    await expect(admin.locator("#settings-saved")).to_be_visible()
    await admin.reload()
    await expect(admin.locator("#time_zone")).to_have_value("Asia/Hong_Kong")
    await expect(admin.locator("#publish_rate-error")).to_be_hidden()

    # A PDF is refused as the logo; a picture is taken and shown.
    await admin.set_input_files(
        "#logo",
        {"name": "logo.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n%%EOF\n"},
    )
    await admin.get_by_role("button", name="使用這個標誌").click()
    await expect(admin.locator("#logo-error")).to_contain_text("標誌必須是圖片")
    await admin.set_input_files(
        "#logo", {"name": "logo.png", "mimeType": "image/png", "buffer": _png()}
    )
    await admin.get_by_role("button", name="使用這個標誌").click()
    await expect(admin.locator("#logo-saved")).to_have_text("標誌已儲存。")
    await expect(admin.locator("#logo-preview")).to_be_visible()
    await expect(admin.locator("#logo-error")).to_be_hidden()
    assert await serious_violations(admin) == []

    # A resident's top bar, in both languages.
    resident = await new_page(**PHONE)
    await log_in(resident, "ann")
    await resident.goto("/")
    logo = resident.locator(".top-bar .brand img")
    await expect(logo).to_have_attribute("alt", "晴光社區")
    await expect(logo).to_be_visible()
    assert await logo.evaluate("img => img.naturalWidth") == 160  # it loaded
    await expect(resident).to_have_title("聊天 · 晴光社區")
    await expect(resident.get_by_role("link", name="晴光社區")).to_be_visible()
    await _no_sideways_scroll(resident)
    assert await serious_violations(resident) == []
    english = await new_page(locale="en-GB", **PHONE)
    await log_in(english, "amy")
    await english.goto("/")
    await expect(english.locator(".top-bar .brand img")).to_have_attribute(
        "alt", "Linli neighbourhood"
    )
    await _no_sideways_scroll(english)
    assert await serious_violations(english) == []

    # Removed: the name alone.
    await admin.get_by_role("button", name="移除標誌").click()
    await expect(admin.locator("#logo-saved")).to_have_text("標誌已移除。")
    await expect(admin.locator("#logo-preview")).to_be_hidden()
    await resident.reload()
    await expect(resident.locator(".top-bar .brand img")).to_have_count(0)
    await expect(resident.locator(".top-bar .brand")).to_have_text("晴光社區")


async def test_retention_is_set_on_the_settings_page(new_page: NewPage, site: Site) -> None:
    """How long each kind of record is kept, on the settings page with the others (issue 21):
    the stored values shown (the defaults: chat and notifications for ever), a bad number told
    on its box before anything is sent, a change saved through the API the nightly sweep reads,
    and the settings kept on the moderators' pages linked from here."""
    admin = await _admin_page(new_page, site, **PHONE)
    await admin.goto("/admin/settings")
    await expect(admin.locator("#retention-audit")).to_have_value("1825")
    await expect(admin.locator("#retention-activity")).to_have_value("400")
    await expect(admin.locator("#retention-chat")).to_have_value("")
    await _no_sideways_scroll(admin)
    assert await serious_violations(admin) == []

    save = admin.get_by_role("button", name="儲存保留期限")
    await admin.get_by_label("聊天訊息", exact=True).fill("0")
    await save.click()
    await expect(admin.locator("#retention-chat-error")).to_have_text(
        "請輸入 1 到 36,500 的整數天數，或留空表示永久保留。"
    )
    await expect(admin.locator("#retention-chat")).to_have_attribute("aria-invalid", "true")
    stored = (await admin.request.get("/api/privacy/retention")).json
    assert (await stored())["retention"]["chat"] is None  # nothing was sent

    await admin.get_by_label("聊天訊息", exact=True).fill("365")
    await admin.locator("#retention-audit").fill("")
    await save.click()
    await expect(admin.locator("#retention-saved")).to_have_text("已儲存，下一次每晚清理時生效。")
    await expect(admin.locator("#retention-chat-error")).to_be_hidden()
    retention = (await (await admin.request.get("/api/privacy/retention")).json())["retention"]
    assert retention == {"chat": 365, "audit": None, "activity": 400, "notifications": None}
    await admin.reload()
    await expect(admin.locator("#retention-chat")).to_have_value("365")
    await expect(admin.locator("#retention-audit")).to_have_value("")

    for href in ("/mod/threshold", "/mod/words", "/rules"):
        await expect(admin.locator(f"#elsewhere-title ~ dl a[href='{href}']")).to_be_visible()

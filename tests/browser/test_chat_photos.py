"""Photos in chat rooms in a real browser, both modes, on a phone (360 px, touch): ann attaches
a real PNG (made with Pillow here), sends it with a caption; amy sees the thumbnail with the
caption as its alt text and taps it open in a dialog that Escape closes; a file that is not an
image is refused with its words under the composer and nothing is sent. axe finds nothing
serious. A moderator's hide takes the photo off amy's open page and the restore brings it back,
live, without a reload."""

from __future__ import annotations

import io

import httpx
import pytest
from playwright.async_api import FilePayload, Page, expect

from linli.catalogue import messages_of
from tests.browser.axe import serious_violations
from tests.browser.conftest import NewPage, Site, log_in
from tests.e2e.harness import login

pytestmark = pytest.mark.timeout(150)

ZH = messages_of("zh-Hant")


def png_bytes() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (120, 90), (40, 160, 90)).save(out, "PNG")
    return out.getvalue()


async def open_room(page: Page, name: str = "Block A") -> None:
    link = page.locator(".room-link", has_text=name)
    await expect(link).to_have_count(1)  # the rooms are drawn and one screen chosen
    if await link.is_visible():  # the room list (after a reload the address names the room)
        await link.click()
    await expect(page.locator("#room-title")).to_have_text(name)
    await expect(page.locator("#composer-text")).to_be_enabled()


async def violations(page: Page) -> list[str]:
    # The requests feature's link predates this (as in test_chat_phone.py).
    return [v for v in await serious_violations(page) if "'.request-link'" not in v]


async def test_photo_attached_sent_shown_and_opened_on_a_phone(
    site: Site, new_page: NewPage
) -> None:
    ann = await new_page(width=360, height=740, touch=True)
    amy = await new_page(width=360, height=740, touch=True)
    await log_in(ann, "ann")
    await log_in(amy, "amy")
    await open_room(ann)
    await open_room(amy)

    # Not an image: refused with the upload code's words; nothing sent, the text kept.
    await ann.set_input_files(
        "#photo-input",
        files=FilePayload(name="notes.txt", mimeType="text/plain", buffer=b"not a photo"),
    )
    await expect(ann.locator("#photo-chosen")).to_be_visible()
    await ann.fill("#composer-text", "窗外的花")
    await ann.click("#send")
    error = ann.locator("#composer-error")
    await expect(error).to_have_text(
        ZH["photo.failed"].format(reason=ZH["errors.upload_type_not_allowed"])
    )
    await expect(ann.locator("#composer-text")).to_have_value("窗外的花")
    await expect(ann.locator("#messages .message")).to_have_count(0)

    # A real PNG: the preview, then the message with its thumbnail for both.
    await ann.set_input_files(
        "#photo-input", files=FilePayload(name="花.png", mimeType="image/png", buffer=png_bytes())
    )
    await expect(ann.locator("#photo-name")).to_have_text(ZH["photo.chosen"].format(name="花.png"))
    assert await violations(ann) == []
    await ann.click("#send")
    await expect(error).to_be_hidden()
    await expect(ann.locator("#photo-chosen")).to_be_hidden()
    thumb = amy.locator("#messages .message .msg-photo-img")
    await expect(thumb).to_have_count(1)
    await expect(thumb).to_have_attribute("alt", "窗外的花")
    await expect(amy.locator("#messages .message .text")).to_have_text(["窗外的花"])
    await expect(ann.locator("#messages .message .msg-photo-img")).to_have_count(1)
    # The thumbnail really loaded (the browser decoded it).
    await amy.wait_for_function(
        "() => [...document.querySelectorAll('.msg-photo-img')].some(i => i.naturalWidth > 0)"
    )
    assert await thumb.evaluate("img => img.complete && img.naturalWidth > 0") is True

    # Tap opens the full photo in a dialog; Escape closes it and the focus comes back.
    button = amy.locator("#messages .message .msg-photo")
    await button.tap()
    dialog = amy.locator("#photo-dialog")
    await expect(dialog).to_be_visible()
    full = amy.locator("#photo-full")
    await expect(full).to_have_attribute("alt", "窗外的花")
    await amy.wait_for_function("() => document.getElementById('photo-full').naturalWidth === 120")
    assert await violations(amy) == []
    await amy.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(button).to_be_focused()
    # After a reload (history), the photo is still there.
    await amy.reload()
    await open_room(amy)
    await expect(amy.locator("#messages .message .msg-photo-img")).to_have_count(1)
    assert await violations(amy) == []


async def test_hidden_photo_comes_back_live_when_restored(site: Site, new_page: NewPage) -> None:
    ann = await new_page()
    amy = await new_page()
    await log_in(ann, "ann")
    await log_in(amy, "amy")
    await open_room(ann)
    await open_room(amy)
    await ann.set_input_files(
        "#photo-input", files=FilePayload(name="花.png", mimeType="image/png", buffer=png_bytes())
    )
    await ann.fill("#composer-text", "窗外的花")
    await ann.click("#send")
    thumb = amy.locator("#messages .message .msg-photo-img")
    await expect(thumb).to_have_count(1)
    offset = await amy.locator("#messages .message").first.get_attribute("data-offset")
    room = f"building:{site.hood.building_a}"
    async with httpx.AsyncClient(
        base_url=site.url, cookies={"linli_session": await login(site.server, "mo")}, timeout=10
    ) as mo:
        hidden = await mo.post(f"/api/mod/messages/{room}/{offset}/hide", json={"reason": "私隱"})
        assert hidden.status_code == 200, hidden.text
        await expect(amy.locator("#messages .message .text")).to_have_text([ZH["chat.hidden"]])
        await expect(thumb).to_have_count(0)
        restored = await mo.post(
            f"/api/mod/messages/{room}/{offset}/restore", json={"reason": "誤會"}
        )
        assert restored.status_code == 200, restored.text
    # Back for both open pages, caption and photo, and the photo really loads again.
    for page in (amy, ann):
        await expect(page.locator("#messages .message .text")).to_have_text(["窗外的花"])
        await expect(page.locator("#messages .message .msg-photo-img")).to_have_count(1)
        await expect(page.locator("#messages .message .msg-photo-img")).to_have_attribute(
            "alt", "窗外的花"
        )
    await amy.wait_for_function(
        "() => [...document.querySelectorAll('.msg-photo-img')].some(i => i.naturalWidth > 0)"
    )
    await expect(amy.locator("#messages .message.moderated")).to_have_count(0)

"""The guide at ``/help`` (issue 22): a table of contents whose links reach their sections, the
screenshots of each main task loaded (phone and desktop, in the reader's language), axe clean,
and printable without the menus."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from linli.catalogue import messages_of
from tests.browser.axe import require_axe, serious_violations
from tests.browser.conftest import NewPage, Site, log_in

TW = messages_of("zh-Hant")
EN = messages_of("en")


@pytest.mark.parametrize(("locale", "lang"), [("zh-TW", "zh"), ("en-GB", "en")])
@pytest.mark.parametrize("width", [360, 1280])
async def test_contents_pictures_and_print(
    site: Site, new_page: NewPage, locale: str, lang: str, width: int
) -> None:
    require_axe()
    words = TW if lang == "zh" else EN
    page = await new_page(locale=locale, width=width, height=740)
    await log_in(page, "ann")
    await page.goto("/help")
    toc = page.locator(".guide-toc")
    await expect(toc.get_by_role("heading")).to_have_text(words["help.contents"])
    links = toc.locator("a")
    assert await links.count() >= 20
    await toc.locator("a[href='#elder-mode']").click()
    await expect(page.locator("h2#elder-mode")).to_be_in_viewport()

    shots = page.locator(".guide-shots img")
    await expect(shots).to_have_count(18)
    for src in await shots.evaluate_all("(imgs) => imgs.map((i) => i.getAttribute('src'))"):
        assert src.endswith(f"-{lang}.png"), src
    # Every picture really loads (lazy ones too, once scrolled to).
    for index in range(await shots.count()):
        shot = shots.nth(index)
        await shot.scroll_into_view_if_needed()
        await expect(shot).to_have_js_property("complete", True)
        assert await shot.evaluate("(img) => img.naturalWidth") > 0
    assert await serious_violations(page) == []

    await page.emulate_media(media="print")
    await expect(page.locator(".top-bar")).to_be_hidden()
    await expect(page.locator(".guide h2#chat")).to_be_visible()


async def test_a_missing_or_climbing_picture_is_404(site: Site, new_page: NewPage) -> None:
    page = await new_page()
    ok = await page.request.get("/help/screenshots/chat-phone-zh.png")
    assert ok.status == 200 and ok.headers["content-type"] == "image/png"
    for path in ("/help/screenshots/nope.png", "/help/screenshots/..%2F..%2FREADME.md"):
        assert (await page.request.get(path)).status == 404

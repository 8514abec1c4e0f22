"""The regional wording of 繁體中文 in a real browser (issue 22): the browser's Accept-Language
(Playwright's ``locale``) picks Taiwan's wording (聊天室, 棟, 大樓) or Hong Kong's (傾談室, 座,
大廈, also for Macau), the page's ``lang`` says which (so a screen reader picks the voice), and
the switch in the top bar changes it and is remembered."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from linli.catalogue import messages_of
from tests.browser.conftest import NewPage, Site, log_in

TW = messages_of("zh-Hant")
HK = messages_of("zh-Hant-HK")
EN = messages_of("en")


@pytest.mark.parametrize(
    ("locale", "lang", "words"),
    [("zh-TW", "zh-Hant-TW", TW), ("zh-HK", "zh-Hant-HK", HK), ("zh-MO", "zh-Hant-HK", HK)],
)
async def test_the_browser_language_picks_the_wording(
    site: Site, new_page: NewPage, locale: str, lang: str, words: dict[str, str]
) -> None:
    page = await new_page(locale=locale)
    await page.goto("/login")
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    await expect(page.locator("label[for=username]")).to_have_text(words["login.username"])
    await log_in(page, "ann")
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    await expect(page.locator(".top-nav a[href='/']")).to_have_text(words["nav.chat"])
    assert page.url.endswith("/")
    # No reload loop: the page's script agrees with the server's choice.
    assert await page.evaluate("document.cookie.includes('linli_lang=')") is False


async def test_the_two_wordings_really_differ_on_the_page() -> None:
    assert (TW["nav.chat"], HK["nav.chat"]) == ("聊天", "傾談")
    assert (TW["login.username"], HK["login.username"]) == ("使用者名稱", "用戶名稱")


async def test_the_switch_changes_the_wording_and_is_remembered(
    site: Site, new_page: NewPage
) -> None:
    page = await new_page(locale="zh-HK")
    await page.goto("/login")
    switch = page.locator("#wording-switch")
    await expect(switch).to_have_text(HK["lang.wording_switch_to"])
    await switch.click()
    await expect(page.locator("html")).to_have_attribute("lang", "zh-Hant-TW")
    await expect(page.locator("label[for=username]")).to_have_text(TW["login.username"])
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    assert cookies["linli_lang"] == "zh-Hant"
    await log_in(page, "ann")  # remembered through the log-in, against Accept-Language
    await expect(page.locator(".top-nav a[href='/']")).to_have_text(TW["nav.chat"])
    await page.locator("#wording-switch").click()
    await expect(page.locator("html")).to_have_attribute("lang", "zh-Hant-HK")
    await expect(page.locator(".top-nav a[href='/']")).to_have_text(HK["nav.chat"])
    assert await page.evaluate("localStorage.getItem('linli.lang')") == "zh-Hant-HK"

    # English has no regional wording to offer; switching back to Chinese keeps the language.
    # The switch works once the page's scripts are in (a click before that did nothing, once, in
    # CI under load).
    await page.wait_for_load_state("networkidle")
    await page.locator("#lang-switch").click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("#wording-switch")).to_have_count(0)
    await expect(page.locator(".top-nav a[href='/']")).to_have_text(EN["nav.chat"])

"""Errors a browser meets are pages, not JSON: an unknown address, a page for other roles, in
the reader's language, with the menu and a way back, and nothing serious for axe; a page that
needs a login comes back to itself after logging in (``next=``), never to another site."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from linli.catalogue import messages_of
from tests.browser.axe import serious_violations
from tests.browser.conftest import NewPage, Site
from tests.e2e.harness import PASSWORD


async def _submit_login(page: Page, username: str) -> None:
    """Log in on the login page already open (keeping its ``next=``)."""
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-form button[type=submit]")


# Pages, not the realtime path: one mode is enough (both render the same templates).
pytestmark = pytest.mark.parametrize("deployment", ["embedded"], indirect=True)

ZH = messages_of("zh-Hant")
EN = messages_of("en")


@pytest.mark.parametrize(("locale", "words"), [("zh-TW", ZH), ("en-GB", EN)])
async def test_an_unknown_address_is_a_page_with_a_way_back(
    site: Site, new_page: NewPage, locale: str, words: dict[str, str]
) -> None:
    page = await new_page(locale=locale, width=360, height=740)
    response = await page.goto("/no/such/page")
    assert response is not None and response.status == 404
    await expect(page.locator("h1")).to_have_text(words["error_page.not_found.title"])
    assert await page.get_attribute("html", "lang") in ("zh-Hant-TW", "en")
    assert await serious_violations(page) == []
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360
    await page.get_by_role("link", name=words["error_page.home"]).click()
    await expect(page).to_have_url(f"{site.url}/login?next=/")


async def test_after_login_the_page_asked_for_opens(site: Site, new_page: NewPage) -> None:
    page = await new_page(locale="en-GB")
    await page.goto("/inbox")
    await expect(page).to_have_url(f"{site.url}/login?next=/inbox")
    await _submit_login(page, "ann")
    await expect(page).to_have_url(f"{site.url}/inbox")


async def test_next_never_leaves_the_site(site: Site, new_page: NewPage) -> None:
    page = await new_page(locale="en-GB")
    await page.goto("/login?next=//example.com/steal")
    await _submit_login(page, "ann")
    await expect(page).to_have_url(f"{site.url}/")

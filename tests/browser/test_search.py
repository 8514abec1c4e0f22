"""The search page in real Chromium, both modes: from the top bar's link a resident searches in
Chinese, sees her building's hit with the match marked (never another building's), follows it
into the chat room; the page has no sideways scrolling at 360 px and axe-core finds nothing
serious or critical, in both languages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import expect

from linli.catalogue import messages_of
from tests.browser.axe import require_axe, serious_violations
from tests.browser.conftest import NewPage, Site, log_in
from tests.conftest import wait_until
from tests.e2e.harness import Client, login

pytestmark = pytest.mark.timeout(150)

ROOT = Path(__file__).resolve().parents[2]
ZH = messages_of("zh-Hant")
EMBEDDED_ONLY = pytest.mark.parametrize("deployment", ["embedded"], indirect=True)


async def _chat(site: Site) -> None:
    """Ann says two things in Block A, Bob one in Block B; waits until all three are indexed."""
    ann = await Client.connect(site.server, await login(site.server, "ann"))
    bob = await Client.connect(site.server, await login(site.server, "bob"))
    room_a, room_b = f"building:{site.hood.building_a}", f"building:{site.hood.building_b}"
    for number, (client, room, text) in enumerate(
        (
            (ann, room_a, "明天上午九時至十二時停水，請預先儲水。"),
            (ann, room_a, "今晚 WiFi 密碼已經改咗，" + "請到管理處查詢新密碼" * 6),
            (bob, room_b, "B座都停水"),
        )
    ):
        await client.ok("publish", channel=room, text=text, client_msg_id=f"s{number}")
    await ann.close()
    await bob.close()
    from persistence.search.sql import SqlSearchStore

    store = await site.deployment.store()
    try:

        async def indexed() -> bool:
            return (await SqlSearchStore(store.database).stats()).documents == 3

        await wait_until(indexed, timeout=20)
    finally:
        await store.close()


async def test_search_from_the_top_bar_and_open_the_hit(site: Site, new_page: NewPage) -> None:
    await _chat(site)
    page = await new_page()
    await log_in(page, "ann")
    await page.get_by_role("link", name=ZH["search.nav"], exact=True).click()
    await page.wait_for_url("**/search")
    box = page.get_by_label(ZH["search.box_label"])
    await box.fill("停水")
    await box.press("Enter")
    await expect(page.locator("#search-summary")).to_have_text(
        ZH["search.found"].format(count=1, query="停水")
    )
    hits = page.locator(".search-hit")
    await expect(hits).to_have_count(1)  # Bob's Block B message is not for Ann
    await expect(hits.first.locator("mark")).to_have_text("停水")
    await expect(hits.first).to_contain_text("Block A")
    await hits.first.locator("a").click()
    await page.wait_for_url(f"**/?at=1#building:{site.hood.building_a}")
    # Nothing found: said plainly.
    await page.goto("/search?q=" + "找不到的字")
    await expect(page.locator("#search-summary")).to_have_text(
        ZH["search.none"].format(query="找不到的字")
    )


@EMBEDDED_ONLY
@pytest.mark.parametrize("locale", ["zh-TW", "en-GB"])
async def test_phone_width_and_axe(site: Site, new_page: NewPage, locale: str) -> None:
    require_axe()
    await _chat(site)
    page = await new_page(locale=locale, width=360, height=740)
    await log_in(page, "ann")
    for query in ("密碼", "停水 儲水", ""):
        await page.goto(f"/search?q={query}")
        await page.locator("#search-q").wait_for()
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"/search?q={query} is {width} px wide at 360 px ({locale})"
        assert await serious_violations(page) == []
    await page.goto("/search?q=密碼")
    await page.locator(".search-filters summary").click()
    await expect(page.locator("#search-kind")).to_be_visible()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360
    assert await serious_violations(page) == []


async def _long_chat(site: Site, count: int, found_at: int, text: str) -> str:
    """``count`` messages by Amy in Block A, ``text`` at offset ``found_at``; waits until all are
    stored and indexed. Returns the room."""
    amy = await Client.connect(site.server, await login(site.server, "amy"))
    room = f"building:{site.hood.building_a}"
    for n in range(1, count + 1):
        line = text if n == found_at else f"第{n}則：今日天氣幾好"
        await amy.ok("publish", channel=room, text=line, client_msg_id=f"long{n}")
    await amy.close()
    from persistence.search.sql import SqlSearchStore

    store = await site.deployment.store()
    try:

        async def ready() -> bool:
            documents = (await SqlSearchStore(store.database).stats()).documents
            return documents == count and await store.count_messages(room) == count

        await wait_until(ready, timeout=30)
    finally:
        await store.close()
    return room


# A hot history of 20: the hit (offset 20 of 70) and its neighbours come from the database.
@pytest.mark.parametrize("server_env", [{"LINLI_HISTORY_SIZE": "20"}])
async def test_a_chat_hit_opens_the_room_at_the_message_with_its_neighbours(
    site: Site, new_page: NewPage
) -> None:
    room = await _long_chat(site, 70, 20, "停車位下個月重新抽籤")
    page = await new_page()
    await log_in(page, "ann")
    await page.goto("/search?q=停車位")
    hits = page.locator(".search-hit")
    await expect(hits).to_have_count(1)
    await hits.first.locator("a").click()
    await page.wait_for_url(f"**/?at=20#{room}")
    items = page.locator("#messages li.message")
    # A page of 30 around it: 15 up to it (6-20) and 15 after (21-35), not the newest 30.
    found = page.locator("#messages li[data-offset='20']")
    await expect(found).to_have_class(re.compile(r"\bfound\b"))
    await expect(found).to_have_attribute("aria-current", "true")
    await expect(found).to_contain_text("停車位下個月重新抽籤")
    await expect(found).to_be_in_viewport()
    await expect(items).to_have_count(30)
    offsets = [int(o) for o in await items.evaluate_all("els => els.map(e => e.dataset.offset)")]
    assert offsets == list(range(6, 36))
    await expect(page.locator("#chat-status")).to_have_text(ZH["chat.jumped"])
    assert await serious_violations(page) == []
    # Older and newer pages from there, in order, until the start and the newest.
    await page.locator("#load-older").click()
    await expect(items).to_have_count(35)
    await expect(page.locator("#no-older")).to_be_visible()
    newer = page.locator("#load-newer")
    await newer.click()
    await expect(items).to_have_count(65)
    await newer.click()
    await expect(items).to_have_count(70)
    await expect(newer).to_be_hidden()
    offsets = [int(o) for o in await items.evaluate_all("els => els.map(e => e.dataset.offset)")]
    assert offsets == list(range(1, 71))
    await expect(found).to_have_class(re.compile(r"\bfound\b"))
    # Another room from the list drops the jump: back in Block A the newest page shows.
    await page.goto(f"/#{room}")
    await expect(page.locator("#messages li[data-offset='70']")).to_be_visible()
    await expect(items).to_have_count(30)
    await expect(page.locator("#messages li.found")).to_have_count(0)

"""The chat log read as a conversation, the composer and elder mode, in a real browser, both modes
(issue 22): date lines, the author's name and initial once per run, links that are safe, the
"new messages" button, the skip link to the composer, a refused message kept for editing, Enter
on a touch screen, and the text size and contrast remembered across a reload."""

from __future__ import annotations

import datetime
import itertools
import time

import httpx
import pytest
from playwright.async_api import Page, expect

from linli.catalogue import messages_of
from persistence.store import Role
from tests.browser.axe import serious_violations
from tests.browser.conftest import NewPage, Site, log_in
from tests.e2e.harness import PASSWORD, Client, login

pytestmark = pytest.mark.timeout(150)

ZH = messages_of("zh-Hant")
TEXTS = "#messages .message .text"
_SENT = itertools.count()


async def publish(site: Site, user: str, *texts: str) -> None:
    """``user`` writes ``texts`` to Block A over the wire."""
    client = await Client.connect(site.server, await login(site.server, user))
    try:
        for text in texts:
            await client.ok(
                "publish",
                channel=f"building:{site.hood.building_a}",
                text=text,
                client_msg_id=f"l{next(_SENT)}",
            )
    finally:
        await client.close()


def fnv_colour(key: str) -> int:
    """lib/message-runs.js colourOf: FNV-1a over the code points, modulo the 8 colours."""
    value = 2166136261
    for char in key:
        value = ((value ^ ord(char)) * 16777619) & 0xFFFFFFFF
    return value % 8


async def open_page(new_page: NewPage, user: str = "ann", **how: object) -> Page:
    page = await new_page(**how)
    await log_in(page, user)
    await expect(page.locator("#room-title")).to_have_text("Block A")
    return page


async def shown_authors(page: Page) -> list[str]:
    """The author names a sighted reader sees (the later messages of a run keep theirs for
    screen readers only, in a 1 px box)."""
    names: list[str] = await page.evaluate(
        """() => [...document.querySelectorAll("#messages .message .author")]
            .filter((a) => a.getBoundingClientRect().width > 1)
            .map((a) => a.firstChild.textContent)"""
    )
    return names


async def test_date_lines_and_the_name_once_per_run(site: Site, new_page: NewPage) -> None:
    await publish(site, "amy", "早晨", "今日好熱", "記得飲水")
    await publish(site, "ann", "多謝提醒")
    await publish(site, "amy", "唔使客氣")
    page = await open_page(new_page)
    await expect(page.locator(TEXTS)).to_have_count(5)
    # One date line, "today", before the first message; names once per run of one author.
    await expect(page.locator("#messages .day-sep")).to_have_text([ZH["chat.today"]])
    assert (
        await page.evaluate("document.querySelector('#messages').firstElementChild.className")
        == "day-sep"
    )
    assert await shown_authors(page) == ["Amy", "Ann", "Amy"]
    # Every message still names its author to a screen reader.
    await expect(page.locator("#messages .message .author")).to_have_count(5)
    # Amy's initial in her own colour, the same in both of her runs; none on one's own messages.
    amy = str(site.hood.users["amy"])
    avatars = page.locator("#messages .message .avatar:visible")
    await expect(avatars).to_have_text(["A", "A"])
    for n in range(2):
        await expect(avatars.nth(n)).to_have_class(f"avatar avatar-c{fnv_colour(amy)}")
    # A new message by Amy joins her run; one by Ann starts a new one.
    await publish(site, "amy", "好")
    await expect(page.locator(TEXTS)).to_have_count(6)
    assert await shown_authors(page) == ["Amy", "Ann", "Amy"]
    await page.fill("#composer-text", "收到")
    await page.press("#composer-text", "Enter")
    await expect(page.locator(TEXTS)).to_have_count(7)
    await expect(page.locator("#messages .message.pending")).to_have_count(0)
    assert await shown_authors(page) == ["Amy", "Ann", "Amy", "Ann"]
    await expect(page.locator("#messages .day-sep")).to_have_count(1)

    # Seen a day later the same messages are "yesterday"'s; three days later, a date.
    for days, label in ((1, ZH["time.yesterday"]), (3, None)):
        later = await new_page()
        when = datetime.datetime.now() + datetime.timedelta(days=days)
        await later.clock.set_fixed_time(when)
        await log_in(later, "ann")
        await expect(later.locator(TEXTS)).to_have_count(7)
        line = later.locator("#messages .day-sep")
        await expect(line).to_have_count(1)
        if label:
            await expect(line).to_have_text(label)
        else:
            shown = await line.inner_text()
            assert shown not in (ZH["chat.today"], ZH["time.yesterday"])
            assert str((when - datetime.timedelta(days=3)).day) in shown, shown


async def test_links_are_safe_and_bodies_say_their_language(site: Site, new_page: NewPage) -> None:
    await publish(
        site,
        "amy",
        "通告在 https://example.org/notice?id=3。請看",
        "javascript:alert(1)",
        '<a href="javascript:alert(1)">click</a>',
        "see http://example.org/a_(b) and ftp://example.org/x",
    )
    page = await open_page(new_page)
    messages = page.locator("#messages .message .text")
    await expect(messages).to_have_count(4)
    first = messages.nth(0).locator("a")
    await expect(first).to_have_count(1)
    await expect(first).to_have_text("https://example.org/notice?id=3")
    await expect(first).to_have_attribute("href", "https://example.org/notice?id=3")
    await expect(first).to_have_attribute("rel", "noopener nofollow ugc")
    await expect(first).to_have_attribute("target", "_blank")
    await expect(messages.nth(0)).to_have_text("通告在 https://example.org/notice?id=3。請看")
    # A javascript: address is text, and so is markup: never a link, never an element.
    for n in (1, 2):
        await expect(messages.nth(n).locator("a")).to_have_count(0)
        assert await messages.nth(n).evaluate("(e) => e.children.length") == 0
    await expect(messages.nth(2)).to_have_text('<a href="javascript:alert(1)">click</a>')
    # Parentheses the address opened stay in it; ftp is not linked.
    fourth = messages.nth(3).locator("a")
    await expect(fourth).to_have_count(1)
    await expect(fourth).to_have_attribute("href", "http://example.org/a_(b)")
    # Chinese text is marked as such; Latin letters alone say nothing of the language.
    await expect(messages.nth(0)).to_have_attribute("lang", "zh-Hant")
    for n in (1, 2, 3):
        assert await messages.nth(n).get_attribute("lang") is None


async def test_new_messages_button_when_scrolled_up(site: Site, new_page: NewPage) -> None:
    await publish(site, "amy", *[f"訊息 {n}" for n in range(1, 31)])
    page = await open_page(new_page, height=700)
    await expect(page.locator(TEXTS)).to_have_count(30)
    button = page.locator("#new-messages")
    # At the bottom a new message just shows.
    await publish(site, "amy", "新一則")
    await expect(page.locator(TEXTS)).to_have_count(31)
    await expect(button).to_be_hidden()
    # Scrolled up: the button says it came.
    await page.eval_on_selector("#log", "(log) => { log.scrollTop = 0; }")
    await publish(site, "amy", "再一則")
    await expect(page.locator(TEXTS)).to_have_count(32)
    await expect(button).to_be_visible()
    await expect(button).to_have_text(f"{ZH['chat.new_messages']} ↓")
    assert await page.eval_on_selector("#log", "(log) => log.scrollTop") == 0
    await button.click()
    await expect(button).to_be_hidden()
    await expect(page.locator("#log")).to_be_focused()
    at_bottom = "(log) => log.scrollHeight - log.scrollTop - log.clientHeight < 2"
    assert await page.eval_on_selector("#log", at_bottom)
    # Scrolling down by hand hides it too.
    await page.eval_on_selector("#log", "(log) => { log.scrollTop = 0; }")
    await publish(site, "amy", "第三則")
    await expect(button).to_be_visible()
    await page.eval_on_selector("#log", "(log) => { log.scrollTop = log.scrollHeight; }")
    await expect(button).to_be_hidden()


async def test_the_skip_link_reaches_the_composer(site: Site, new_page: NewPage) -> None:
    page = await open_page(new_page)
    await page.locator("body").focus()
    presses = 0
    while await page.evaluate("document.activeElement.id") != "skip-composer":
        presses += 1
        assert presses <= 2, "the skip link is not among the first two Tab stops"
        await page.keyboard.press("Tab")
    await expect(page.locator("#skip-composer")).to_be_visible()
    await expect(page.locator("#skip-composer")).to_have_text(ZH["chat.skip_to_composer"])
    await page.keyboard.press("Enter")
    await expect(page.locator("#composer-text")).to_be_focused()
    await page.keyboard.type("用鍵盤寫的")
    await page.keyboard.press("Enter")
    await expect(page.locator(TEXTS)).to_have_text(["用鍵盤寫的"])


async def _add_admin(site: Site) -> str:
    from web.passwords import hash_password

    store = await site.deployment.store()
    try:
        await store.create_user(
            username="root",
            display_name="Root",
            password_hash=await hash_password(PASSWORD),
            role=Role.ADMIN,
            building_id=None,
            unit_label=None,
            now=int(time.time() * 1000),
        )
    finally:
        await store.close()
    return await login(site.server, "root")


async def test_a_refused_message_keeps_its_text(site: Site, new_page: NewPage) -> None:
    cookie = await _add_admin(site)
    async with httpx.AsyncClient(base_url=site.url, cookies={"linli_session": cookie}) as root:
        response = await root.post(
            "/api/mod/words", json={"pattern": "六合彩", "action": "block", "reason": "賭博"}
        )
        assert response.status_code == 201, response.text
    page = await open_page(new_page)
    text = "今晚一齊買六合彩啦"
    await page.fill("#composer-text", text)
    await page.press("#composer-text", "Enter")
    await expect(page.locator("#composer-error")).to_have_text(ZH["errors.blocked_word"])
    await expect(page.locator("#messages .message.failed")).to_have_count(1)
    # Back in the composer, to change and send again.
    await expect(page.locator("#composer-text")).to_have_value(text)
    await page.fill("#composer-text", "今晚一齊去散步啦")
    await page.press("#composer-text", "Enter")
    await expect(page.locator("#messages .message:not(.failed) .text")).to_have_text(
        ["今晚一齊去散步啦"]
    )
    await expect(page.locator("#composer-text")).to_have_value("")


async def test_enter_makes_a_new_line_on_a_touch_screen(site: Site, new_page: NewPage) -> None:
    page = await new_page(width=360, height=740, touch=True)
    await log_in(page, "ann")
    await page.locator(".room-link", has_text="Block A").tap()
    box = page.locator("#composer-text")
    await expect(box).to_be_enabled()
    await expect(page.locator("#composer-hint")).to_have_text(ZH["chat.enter_hint_touch"])
    assert "Shift" not in await page.locator("#composer-hint").inner_text()
    await box.tap()
    await page.keyboard.type("第一行")
    await page.keyboard.press("Enter")
    await page.keyboard.type("第二行")
    await expect(box).to_have_value("第一行\n第二行")
    await expect(page.locator(TEXTS)).to_have_count(0)
    await expect(page.locator("#send")).to_be_visible()
    await page.locator("#send").tap()
    await expect(page.locator(TEXTS)).to_have_text(["第一行\n第二行"])
    # Not on a touch screen: the Shift + Enter hint.
    desk = await open_page(new_page)
    await expect(desk.locator("#composer-hint")).to_have_text(ZH["chat.enter_hint"])


async def no_sideways_scroll(page: Page) -> None:
    sizes = await page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert sizes[0] <= sizes[1], f"{page.url} scrolls sideways at 150 % text: {sizes}"


async def test_elder_mode_is_remembered_and_every_page_takes_150_percent(
    site: Site, new_page: NewPage
) -> None:
    page = await open_page(new_page)
    root = page.locator("html")
    toggle = page.locator("#display-toggle")
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await toggle.click()
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    size_150 = page.get_by_role("button", name=ZH["ui.text_size_label"].format(size=150))
    await size_150.click()
    await expect(size_150).to_have_attribute("aria-pressed", "true")
    await expect(root).to_have_attribute("data-text-size", "150")
    base = await page.evaluate("parseFloat(getComputedStyle(document.documentElement).fontSize)")
    assert base == 30  # 150 % of the 20 px base
    contrast = page.get_by_role("button", name=ZH["ui.high_contrast"])
    await contrast.click()
    await expect(contrast).to_have_attribute("aria-pressed", "true")
    await expect(root).to_have_attribute("data-contrast", "high")
    await page.keyboard.press("Escape")
    await expect(toggle).to_be_focused()
    await expect(toggle).to_have_attribute("aria-expanded", "false")

    # A reload keeps it, before the first paint (display-early.js), and so does another page.
    await page.reload()
    await expect(root).to_have_attribute("data-text-size", "150")
    await expect(root).to_have_attribute("data-contrast", "high")
    await page.goto("/groups")
    await expect(root).to_have_attribute("data-text-size", "150")
    # Another resident in another browser keeps the default.
    other = await open_page(new_page, "amy")
    assert await other.locator("html").get_attribute("data-text-size") is None
    assert await other.locator("html").get_attribute("data-contrast") is None

    # Every page at 150 % text, desktop and phone: nothing scrolls sideways; the chat's composer
    # stays in sight.
    assert await serious_violations(page) == []
    for width, height in ((1280, 800), (360, 740)):
        await page.set_viewport_size({"width": width, "height": height})
        for path in (
            "/",
            "/notices",
            "/forum",
            "/requests",
            "/groups",
            "/polls",
            "/help",
            "/inbox",
        ):
            await page.goto(path)
            await page.wait_for_load_state("load")
            await no_sideways_scroll(page)
        await page.goto(f"/#building:{site.hood.building_a}")
        await expect(page.locator("#composer-text")).to_be_enabled()
        bottom = await page.evaluate(
            "document.querySelector('#composer-text').getBoundingClientRect().bottom <= innerHeight"
        )
        assert bottom, f"the composer is below the window at {width}x{height}, 150 % text"

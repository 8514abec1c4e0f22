"""Polls where residents are (issue 23) in Chromium, both modes: the poll card in the room's chat
when a poll opens, and a vote from it; an admin runs a building poll from /polls; the named-poll
notice and the organiser's list of who voted; a one-option poll's error on its field; drafts
edited and deleted; the projector at 1920×1080 filling the screen, and after the close its
banner, the winner and no QR code; a friendly page for a bad projector token; a group with a
Chinese name, its page, and leaving it only after a confirmation. axe finds nothing serious on
each page."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Dialog, Page, expect

from persistence.store import Role
from tests.browser.axe import serious_violations
from tests.browser.conftest import STEP_MS, browser  # noqa: F401  (fixture)
from tests.e2e.conftest import deployment  # noqa: F401  (fixture)
from tests.e2e.harness import Client, Deployment, Server, running
from tests.e2e.polls_helpers import PollApi, Voters, close_all, connect_many, make_voters
from web.sessions import new_token, token_hash

pytestmark = pytest.mark.timeout(150)

ROOT = Path(__file__).resolve().parents[2] / "web" / "locales"


def _catalogue(lang: str) -> dict[str, str]:
    words: dict[str, str] = json.loads((ROOT / f"{lang}.json").read_text("utf-8"))
    for folder in ("polls", "groups"):
        words.update(json.loads((ROOT / folder / f"{lang}.json").read_text("utf-8")))
    return words


EN = _catalogue("en")
ZH = _catalogue("zh-Hant")
OPTIONS = ["Green", "Blue", "Leave it"]


class Site:
    def __init__(self, server: Server, voters: Voters, admin: str) -> None:
        self.server, self.voters, self.admin = server, voters, admin

    def cookie(self, name: str) -> str:
        return self.voters.cookies[name][1]

    @property
    def room(self) -> str:
        return f"building:{self.voters.building_id}"


async def _admin(deployment: Deployment) -> str:  # noqa: F811
    store = await deployment.store()
    try:
        now = int(time.time() * 1000)
        user = await store.create_user(
            username="boss",
            display_name="Boss",
            password_hash="-",
            role=Role.ADMIN,
            building_id=None,
            unit_label=None,
            now=now,
        )
        token = new_token()
        await store.create_session(token_hash(token), user.id, expires_at=now + 86_400_000, now=now)
        return token
    finally:
        await store.close()


@pytest.fixture
async def site(deployment: Deployment) -> AsyncIterator[Site]:  # noqa: F811
    voters = await make_voters(deployment, 4)
    admin = await _admin(deployment)
    async with running(
        deployment,
        LINLI_RUN_WORKERS="true",
        LINLI_POLL_TALLY_RATE="4",
        LINLI_PUBLISH_RATE="100",
        LINLI_PUBLISH_BURST="200",
    ) as server:
        yield Site(server, voters, admin)


class Pages:
    """Pages in contexts of their own; every script error fails the test. Dialogs are answered
    with ``answer`` (False: cancel) and their messages kept in ``dialogs``."""

    def __init__(self, browser: Browser, site: Site) -> None:  # noqa: F811
        self.browser, self.site = browser, site
        self.contexts: list[Any] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.answer = False

    async def open(
        self, cookie: str | None, *, locale: str = "en-GB", width: int = 1280, height: int = 800
    ) -> Page:
        context = await self.browser.new_context(
            locale=locale,
            viewport={"width": width, "height": height},
            base_url=self.site.server.http,
            bypass_csp=True,  # axe is injected as a script
        )
        context.set_default_timeout(STEP_MS)
        if cookie:
            await context.add_cookies(
                [{"name": "linli_session", "value": cookie, "url": self.site.server.http}]
            )
        self.contexts.append(context)
        page = await context.new_page()

        async def on_dialog(dialog: Dialog) -> None:
            self.dialogs.append(dialog.message)
            await (dialog.accept() if self.answer else dialog.dismiss())

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        return page


@pytest.fixture
async def pages(browser: Browser, site: Site) -> AsyncIterator[Pages]:  # noqa: F811
    made = Pages(browser, site)
    yield made
    for context in made.contexts:
        await context.close()
    assert made.errors == [], f"script errors in the page: {made.errors}"


async def _no_axe(page: Page) -> None:
    assert await serious_violations(page) == []


async def test_poll_card_appears_in_the_chat_and_takes_a_vote(site: Site, pages: Pages) -> None:
    api = PollApi(site.server, site.cookie(site.voters.organiser))
    try:
        page = await pages.open(site.cookie("v0000"))
        await page.goto("/")
        await page.wait_for_function("window.linliClient && window.linliClient.state === 'open'")
        poll = await api.create(channel=site.room, question="Paint the lobby?", options=OPTIONS)
        await api.open(poll["id"])
        card = page.locator(f".poll-card[data-poll-id='{poll['id']}']")
        await expect(card.locator(".poll-card-question")).to_have_text("Paint the lobby?")
        await expect(card).to_have_attribute("data-state", "open")
        await expect(card.locator(".poll-card-named")).to_be_hidden()
        message = page.locator("#messages li", has=card)
        await expect(message.locator(".text")).to_have_text(
            EN["polls.card.opened"].format(q="Paint the lobby?")
        )
        await card.get_by_label("Blue").check()
        await card.get_by_role("button", name=EN["poll.submit"]).click()
        await expect(card.locator(".poll-card-mine")).to_have_text(
            EN["poll.your_vote"].format(choices="Blue")
        )
        await expect(card.get_by_role("button", name=EN["polls.change_vote"])).to_be_visible()
        # Live bars: the card's count follows the stored votes.
        await expect(card.locator(".bar").nth(1)).to_have_attribute("data-count", "1")
        tally = (await api.get(f"/api/polls/{poll['id']}")).json()["tally"]
        assert tally["counts"] == [0, 1, 0] and tally["voters"] == 1
        # Another resident's vote moves this card's bars with no reload.
        other = await Client.connect(site.server, site.cookie("v0001"))
        try:
            await other.ok("vote", poll_id=poll["id"], choices=[1], client_vote_id="o1")
        finally:
            await other.close()
        await expect(card.locator(".bar").nth(1)).to_have_attribute("data-count", "2")
        await _no_axe(page)
        # From history after a reload: the card, and the reader's own vote on it.
        await page.reload()
        again = page.locator(f".poll-card[data-poll-id='{poll['id']}']")
        await expect(again.locator(".poll-card-mine")).to_have_text(
            EN["poll.your_vote"].format(choices="Blue")
        )
        await expect(page.locator(".poll-card")).to_have_count(1)
    finally:
        await api.aclose()


async def test_admin_runs_a_building_poll_and_the_projector_link_waits_for_the_open(
    site: Site, pages: Pages
) -> None:
    page = await pages.open(site.admin)
    await page.goto("/polls")
    room = page.locator("#channel")
    await expect(room.locator("option")).to_have_text(["Block A", "Block B", "Gardening"])
    await room.select_option(label="Block A")
    await page.fill("#question", "Admin's question")
    await page.fill("#options", "Yes\nNo")
    await page.click("#new-submit")
    draft = page.locator("#draft-list .poll-item")
    await expect(draft).to_have_count(1)
    await expect(draft.locator(".poll-item-room")).to_have_text("Block A")
    # A draft has no projector link (nothing to show on a screen yet).
    await expect(draft.get_by_role("link", name=EN["poll.list.projector"])).to_have_count(0)
    await _no_axe(page)
    await draft.get_by_role(
        "button", name=EN["polls.open_label"].format(q="Admin's question")
    ).click()
    opened = page.locator("#open-list .poll-item")
    await expect(opened).to_have_count(1)
    await expect(opened).to_have_attribute("data-state", "open")
    await expect(page.locator("#draft-list .poll-item")).to_have_count(0)
    projector = opened.get_by_role(
        "link", name=EN["polls.projector_label"].format(q="Admin's question")
    )
    await expect(projector).to_be_visible()
    poll_id = int(await opened.get_attribute("data-poll-id") or 0)
    api = PollApi(site.server, site.admin)
    try:
        made = (await api.get(f"/api/polls/{poll_id}")).json()["poll"]
        assert made["channel"] == site.room and made["state"] == "open"
    finally:
        await api.aclose()
    # The residents of Block A see it as an open poll for them.
    resident = await pages.open(site.cookie("v0002"))
    await resident.goto("/polls")
    mine = resident.locator("#open-list .poll-item")
    await expect(mine.locator(".poll-item-question")).to_have_text("Admin's question")
    await expect(mine.locator(".poll-item-state")).to_have_text(EN["polls.not_voted"])
    await _no_axe(resident)


async def test_one_option_error_on_the_field_and_drafts_edited_and_deleted(
    site: Site, pages: Pages
) -> None:
    page = await pages.open(site.cookie(site.voters.organiser), locale="zh-TW")
    await page.goto("/polls")
    await expect(page.locator("#channel option")).to_have_text(["Block A"])
    await page.fill("#question", "只有一個？")
    await page.fill("#options", "唯一\n\n")
    await page.click("#new-submit")
    error = page.locator("#options-error")
    await expect(error).to_have_text(ZH["errors.bad_request.options"])
    assert "至少需要 2 個選項" in ZH["errors.bad_request.options"]
    await expect(page.locator("#options")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#form-error")).to_be_hidden()
    await expect(page.locator("#draft-list .poll-item")).to_have_count(0)
    await _no_axe(page)

    await page.fill("#options", "甲\n乙")
    await page.click("#new-submit")
    draft = page.locator("#draft-list .poll-item")
    await expect(draft).to_have_count(1)
    await expect(page.locator("#options-error")).to_be_hidden()
    await draft.get_by_role("button", name=ZH["polls.edit_label"].format(q="只有一個？")).click()
    await expect(page.locator("#new-title")).to_have_text(ZH["polls.edit_title"])
    await expect(page.locator("#question")).to_have_value("只有一個？")
    await expect(page.locator("#options")).to_have_value("甲\n乙")
    await page.fill("#question", "兩個選項")
    await page.fill("#options", "甲\n乙\n丙")
    await page.click("#new-submit")
    await expect(draft.locator(".poll-item-question")).to_have_text("兩個選項")
    await expect(page.locator("#new-title")).to_have_text(ZH["poll.new.title"])
    # A phone's width: the lists and the form fit without sideways scrolling.
    await page.set_viewport_size({"width": 360, "height": 740})
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    await page.set_viewport_size({"width": 1280, "height": 800})
    poll_id = int(await draft.get_attribute("data-poll-id") or 0)
    api = PollApi(site.server, site.cookie(site.voters.organiser))
    try:
        stored = (await api.get(f"/api/polls/{poll_id}")).json()["poll"]
        assert stored["question"] == "兩個選項" and stored["options"] == ["甲", "乙", "丙"]
        delete = draft.get_by_role("button", name=ZH["polls.delete_label"].format(q="兩個選項"))
        pages.answer = False
        await delete.click()
        await expect(page.locator("#polls-status")).to_have_text(
            ZH["polls.done.edit"].format(q="兩個選項")
        )
        assert pages.dialogs == [ZH["polls.delete_ask"].format(q="兩個選項")]
        await api.get(f"/api/polls/{poll_id}")  # cancelled: still there
        pages.answer = True
        await delete.click()
        await expect(page.locator("#draft-list .poll-item")).to_have_count(0)
        await expect(page.locator("#polls-status")).to_have_text(ZH["polls.done.delete"])
        await api.get(f"/api/polls/{poll_id}", expect=404)
    finally:
        await api.aclose()


async def test_named_poll_notice_and_who_voted(site: Site, pages: Pages) -> None:
    api = PollApi(site.server, site.cookie(site.voters.organiser))
    try:
        named = await api.create(
            channel=site.room, question="Named one", options=OPTIONS, anonymous=False
        )
        await api.open(named["id"])
        secret = await api.create(channel=site.room, question="Secret one", options=OPTIONS)
        await api.open(secret["id"])
        resident = await pages.open(site.cookie("v0001"))
        await resident.goto(f"/polls/{secret['id']}")
        await expect(resident.locator("#poll-question")).to_have_text("Secret one")
        await expect(resident.locator("#poll-named")).to_be_hidden()
        await resident.goto(f"/polls/{named['id']}")
        notice = resident.locator("#poll-named")
        await expect(notice).to_have_text(EN["polls.named_notice"])
        # Above the choices, where it is read before choosing.
        above = await resident.evaluate(
            "() => !!(document.querySelector('#poll-named').compareDocumentPosition("
            "document.querySelector('#poll-options')) & Node.DOCUMENT_POSITION_FOLLOWING)"
        )
        assert above
        await resident.get_by_label("Leave it").check()
        await resident.click("#poll-form button[type=submit]")
        await expect(resident.locator("#poll-mine")).to_have_text(
            EN["poll.your_vote"].format(choices="Leave it")
        )
        await expect(resident.locator("#poll-submit")).to_have_text(EN["polls.change_vote"])
        await expect(resident.locator("#who-voted")).to_have_count(0)  # residents: no list
        await _no_axe(resident)
        org = await pages.open(site.cookie(site.voters.organiser))
        await org.goto(f"/polls/{named['id']}")
        rows = org.locator("#who-list tr")
        await expect(rows).to_have_count(1)
        await expect(rows.locator("td")).to_have_text(["V0001", "U0", "Leave it", any_text()])
        await _no_axe(org)
        await org.set_viewport_size({"width": 360, "height": 740})
        assert await org.evaluate("document.documentElement.scrollWidth") <= 360
        await org.goto(f"/polls/{secret['id']}")
        await expect(org.locator("#poll-question")).to_have_text("Secret one")
        await expect(org.locator("#who-voted")).to_be_hidden()
    finally:
        await api.aclose()


def any_text() -> Any:
    import re

    return re.compile(r".+")


async def _fill(page: Page) -> dict[str, float]:
    return await page.evaluate(  # type: ignore[no-any-return]
        """() => {
      const box = (sel) => { const el = document.querySelector(sel);
        if (!el || el.hidden || el.offsetParent === null) return null;
        return el.getBoundingClientRect(); };
      const parts = ['#closed-banner', '#question', '#bars', '.projector-foot', '#join-box']
        .map(box).filter(Boolean);
      const left = Math.min(...parts.map(r => r.left));
      const right = Math.max(...parts.map(r => r.right));
      const top = Math.min(...parts.map(r => r.top));
      const bottom = Math.max(...parts.map(r => r.bottom));
      const bars = document.querySelector('#bars').getBoundingClientRect();
      const qr = document.querySelector('#qr').getBoundingClientRect();
      const track = document.querySelector('#bars .bar-track').getBoundingClientRect();
      return {width: (right - left) / innerWidth, height: (bottom - top) / innerHeight,
              barsHeight: bars.height / innerHeight, barsWidth: bars.width / innerWidth,
              qr: qr.width, track: track.width / innerWidth,
              scrollY: document.documentElement.scrollHeight - innerHeight,
              scrollX: document.documentElement.scrollWidth - innerWidth};
    }"""
    )


async def test_projector_fills_1080p_and_shows_the_close_clearly(site: Site, pages: Pages) -> None:
    api = PollApi(site.server, site.cookie(site.voters.organiser))
    names = ["v0000", "v0001", "v0002", "v0003"]
    clients = await connect_many(site.server, [site.cookie(n) for n in names])
    try:
        poll = await api.create(channel=site.room, question="Lobby colour?", options=OPTIONS)
        await api.open(poll["id"])
        page = await pages.open(None, locale="zh-TW", width=1920, height=1080)
        await page.goto(f"/projector/{poll['projector_token']}")
        await expect(page.locator("#question")).to_have_text("Lobby colour?")
        for client, choice, name in zip(clients, [1, 1, 0, 2], names, strict=True):
            await client.ok("vote", poll_id=poll["id"], choices=[choice], client_vote_id=name)
        await expect(page.locator("#voters")).to_have_attribute("data-voters", "4")
        await expect(page.locator("#qr")).to_be_visible()
        await expect(page.locator("#closed-banner")).to_be_hidden()
        figure = page.locator("#bars .bar").nth(1).locator(".bar-figure")
        await expect(figure).to_have_text(ZH["poll.count"].format(count=2, percent=50))
        shown = await _fill(page)
        # The 16:9 screen is used: content spans nearly all of it, the bars most of the height,
        # the QR code is large, and nothing scrolls.
        assert shown["width"] >= 0.9 and shown["height"] >= 0.88, shown
        assert shown["barsHeight"] >= 0.5, shown
        assert shown["qr"] >= 500, shown
        assert shown["track"] >= 0.4, shown  # long bars, beside the QR code too
        assert shown["scrollY"] <= 0 and shown["scrollX"] <= 0, shown
        await _no_axe(page)

        await api.close(poll["id"])
        banner = page.locator("#closed-banner")
        await expect(banner).to_be_visible()
        await expect(banner).to_have_text(ZH["polls.projector.closed"])
        assert ZH["polls.projector.closed"] == "投票已截止"
        await expect(page.locator("#qr")).to_be_hidden()
        await expect(page.locator("#join-box")).to_be_hidden()
        await expect(page.get_by_text(ZH["poll.projector.join"])).to_be_hidden()
        winners = page.locator("#bars .bar[data-winner='true']")
        await expect(winners).to_have_count(1)
        await expect(winners.locator(".bar-label")).to_have_text("Blue")
        await expect(page.locator("#winner")).to_have_text(
            ZH["polls.projector.winner"].format(option="Blue")
        )
        box = await banner.bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 1080
        assert box["width"] >= 0.9 * 1920 - 200, box
        closed = await _fill(page)
        assert closed["width"] >= 0.9 and closed["height"] >= 0.88, closed
        assert closed["barsWidth"] >= 0.85, closed  # the QR column's room goes to the bars
        assert closed["scrollY"] <= 0, closed
        await _no_axe(page)
    finally:
        await close_all(clients)
        await api.aclose()


async def test_a_bad_projector_token_gets_a_friendly_page(site: Site, pages: Pages) -> None:
    page = await pages.open(None)
    response = await page.goto("/projector/not-a-real-token")
    assert response is not None and response.status == 404
    await expect(page.locator("h1")).to_have_text(EN["polls.projector.missing_title"])
    await expect(page.get_by_text(EN["polls.projector.missing_text"])).to_be_visible()
    await expect(page.locator("img")).to_have_count(0)
    await _no_axe(page)


async def test_a_group_with_a_chinese_name_its_page_and_leaving_it(
    site: Site, pages: Pages
) -> None:
    page = await pages.open(site.cookie("v0000"), locale="zh-TW", width=360, height=740)
    await page.goto("/groups")
    await page.fill("#name", "行山")
    await page.fill("#description", "每個星期六早上")
    await page.click("#create-form button[type=submit]")
    await expect(page.locator("#groups-status")).to_have_text(
        ZH["groups.created"].format(name="行山")
    )
    item = page.locator("#group-list .group", has_text="行山")
    slug = await item.get_attribute("data-slug") or ""
    assert slug.startswith("g-") and len(slug) == 8, slug
    await _no_axe(page)
    await item.get_by_role("link", name="行山", exact=True).click()
    await page.wait_for_url(f"**/groups/{slug}")
    await expect(page.locator("h1")).to_have_text("行山")
    await expect(page.locator(".group-description")).to_have_text("每個星期六早上")
    await expect(page.locator("#group-members")).to_contain_text(
        ZH["groups.members"].format(count=1)
    )
    room = page.get_by_role("link", name=ZH["groups.page.room"])
    assert await room.get_attribute("href") == f"/#group:{slug}"
    wide = await page.evaluate("document.documentElement.scrollWidth")
    assert wide <= 360
    await _no_axe(page)

    leave = page.get_by_role("button", name=ZH["groups.leave"])
    pages.answer = False
    await leave.click()
    assert pages.dialogs == [ZH["groups.leave_ask"].format(name="行山")]
    api = PollApi(site.server, site.cookie("v0000"))
    try:
        joined = (await api.get(f"/api/groups/{slug}")).json()["group"]["joined"]
        assert joined is True  # cancelled: still a member
        pages.answer = True
        await leave.click()
        await expect(page.get_by_role("button", name=ZH["groups.join"])).to_be_visible()
        assert (await api.get(f"/api/groups/{slug}")).json()["group"]["joined"] is False
    finally:
        await api.aclose()
    # The list's Leave asks too.
    await page.goto("/groups")
    await page.get_by_role("button", name=ZH["groups.join_label"].format(name="行山")).click()
    leave_list = page.get_by_role("button", name=ZH["groups.leave_label"].format(name="行山"))
    pages.answer = False
    await leave_list.click()
    assert len(pages.dialogs) == 3
    await expect(leave_list).to_be_visible()
    missing = await page.goto("/groups/no-such-group")
    assert missing is not None and missing.status == 404
    await expect(page.locator("h1")).to_have_text(ZH["error_page.not_found.title"])

"""The residents' side of moderation in the chat page, in a real browser (Chromium) against the
real server in both modes: reporting a message through the dialog, a moderator's hide and restore
reaching open pages live and history, a muted resident's refused message, and a message the word
list holds shown to its author only."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from linli.catalogue import messages_of
from persistence.store import Role
from tests.browser.conftest import NewPage, Site, log_in
from tests.e2e.harness import PASSWORD, login

pytestmark = pytest.mark.timeout(150)

ZH = messages_of("zh-Hant")
EN = messages_of("en")

TEXTS = "#messages .message .text"


class Http:
    """The HTTP API as one logged-in user."""

    def __init__(self, site: Site, cookie: str) -> None:
        self.client = httpx.AsyncClient(
            base_url=site.url, cookies={"linli_session": cookie}, timeout=10
        )

    @classmethod
    async def login(cls, site: Site, username: str) -> Http:
        return cls(site, await login(site.server, username))

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.client.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    async def post(self, path: str, status: int = 200, **body: Any) -> Any:
        response = await self.client.post(path, json=body)
        assert response.status_code == status, response.text
        return response.json()

    async def close(self) -> None:
        await self.client.aclose()


async def send(page: Page, text: str) -> None:
    await page.fill("#composer-text", text)
    await page.press("#composer-text", "Enter")


async def open_room(page: Page) -> None:
    await page.wait_for_function("window.linliClient && window.linliClient.state === 'open'")
    await expect(page.locator("#room-title")).to_have_text("Block A")


async def test_report_then_hide_and_restore_live_and_in_history(
    site: Site, new_page: NewPage
) -> None:
    room = f"building:{site.hood.building_a}"
    ann, amy = await new_page(), await new_page()
    await log_in(ann, "ann")
    await log_in(amy, "amy")
    await send(ann, "<b>平價</b>手袋，私訊我")
    await send(amy, "早晨")
    for page in (ann, amy):
        await expect(page.locator(TEXTS)).to_have_text(["<b>平價</b>手袋，私訊我", "早晨"])
    # Only others' messages can be reported.
    await expect(ann.locator(".report-button")).to_have_count(1)
    message = amy.locator("#messages .message").first
    button = message.get_by_role("button", name=ZH["chat.report_label"].format(name="Ann"))
    await expect(amy.locator(".report-button")).to_have_count(1)

    # The dialog: focus on the first reason, Escape closes it and focus comes back.
    dialog = amy.locator("#report-dialog")
    await button.click()
    await expect(dialog).to_be_visible()
    await expect(amy.get_by_role("radio", name=ZH["mod.reason.spam"])).to_be_focused()
    await amy.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(button).to_be_focused()

    # Keyboard only: Enter opens it, arrows pick a reason; "other" needs a text.
    await amy.keyboard.press("Enter")
    await expect(dialog).to_be_visible()
    await expect(amy.locator("#report-quote")).to_have_text("<b>平價</b>手袋，私訊我")
    await amy.keyboard.press("ArrowUp")  # from the first reason round to the last, "other"
    await expect(amy.get_by_role("radio", name=ZH["mod.reason.other"], exact=True)).to_be_checked()
    await amy.get_by_role("button", name=ZH["chat.report_send"]).click()
    await expect(amy.locator("#report-error")).to_have_text(ZH["chat.report_need_text"])
    await amy.get_by_role("radio", name=ZH["mod.reason.harassment"]).check()
    await amy.get_by_label(ZH["chat.report_text"]).fill("罵人")
    await amy.get_by_role("button", name=ZH["chat.report_send"]).click()
    await expect(dialog).to_be_hidden()
    await expect(message.locator(".reported")).to_have_text(ZH["chat.reported"])
    await expect(message.locator(".report-button")).to_have_count(0)
    await expect(message.locator(".reported")).to_be_focused()

    # The moderators have it.
    mo = await Http.login(site, "mo")
    deadline = time.monotonic() + 10
    while True:
        queue = (await mo.get("/api/mod/queue"))["messages"]
        if queue or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    [flagged] = queue
    assert (flagged["channel"], flagged["offset"], flagged["flag_count"]) == (room, 1, 1)
    assert [(f["reason"], f["note"]) for f in flagged["flags"]] == [("harassment", "罵人")]

    # After a reload the mark comes from /api/flags/mine.
    await amy.reload()
    await open_room(amy)
    await expect(amy.locator(TEXTS)).to_have_text(["<b>平價</b>手袋，私訊我", "早晨"])
    await expect(amy.locator("#messages .message").first.locator(".reported")).to_have_text(
        ZH["chat.reported"]
    )
    await expect(amy.locator(".report-button")).to_have_count(0)

    # A moderator hides it: both open pages show it at once, not as a new line, not unread.
    await mo.post(f"/api/mod/messages/{room}/1/hide", reason="商業廣告")
    for page in (ann, amy):
        await expect(page.locator(TEXTS)).to_have_text([ZH["chat.hidden"], "早晨"])
        await expect(page.locator("#messages .message")).to_have_count(2)
    # History (a reload) shows it hidden too.
    await amy.reload()
    await open_room(amy)
    await expect(amy.locator(TEXTS)).to_have_text([ZH["chat.hidden"], "早晨"])
    await expect(amy.locator("#messages .message.moderated")).to_have_count(1)

    # Restore brings the text back, live, everywhere.
    await mo.post(f"/api/mod/messages/{room}/1/restore", reason="誤會")
    for page in (ann, amy):
        await expect(page.locator(TEXTS)).to_have_text(["<b>平價</b>手袋，私訊我", "早晨"])
    await expect(amy.locator("#messages .message.moderated")).to_have_count(0)

    # Delete is final: "deleted by a moderator". Ann is reading another room meanwhile: the
    # event is not an unread message there, Amy's next message is.
    block_a = ann.locator(".room-link", has_text="Block A")
    await ann.locator(".room-link", has_text="Gardening").click()
    await expect(ann.locator("#room-title")).to_have_text("Gardening")
    await mo.post(f"/api/mod/messages/{room}/1/delete", reason="私隱")
    await expect(amy.locator(TEXTS)).to_have_text([ZH["chat.deleted"], "早晨"])
    await send(amy, "有人喺度嗎？")
    await expect(amy.locator(TEXTS)).to_have_text([ZH["chat.deleted"], "早晨", "有人喺度嗎？"])
    await expect(block_a.locator(".badge [aria-hidden]")).to_have_text("1")
    await block_a.click()
    await expect(ann.locator(TEXTS)).to_have_text([ZH["chat.deleted"], "早晨", "有人喺度嗎？"])
    await ann.reload()
    await open_room(ann)
    await expect(ann.locator(TEXTS)).to_have_text([ZH["chat.deleted"], "早晨", "有人喺度嗎？"])
    await mo.close()


async def _add_admin(site: Site) -> None:
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


async def test_muted_and_held_messages(site: Site, new_page: NewPage) -> None:
    ann, amy = await new_page(), await new_page(locale="en-GB")
    await log_in(ann, "ann")
    await log_in(amy, "amy")
    mo = await Http.login(site, "mo")
    ann_id = site.hood.users["ann"]

    # Muted: the composer is disabled at once and says why (the room, the end, the reason:
    # tests/browser/test_moderation_residents.py), and nothing reaches the others. The server
    # refuses a message sent anyway (tests/e2e/test_moderation.py).
    await mo.post(f"/api/mod/users/{ann_id}/mute", seconds=30, reason="洗版")
    await expect(ann.locator("#composer-text")).to_be_disabled()
    await expect(ann.locator("#composer-why .mute-reason")).to_have_text(
        ZH["modres.reason"].format(reason="洗版")
    )
    await mo.post(f"/api/mod/users/{ann_id}/unmute", reason="夠鐘")
    await expect(ann.locator("#composer-text")).to_be_enabled()
    await send(ann, "對不起")
    await expect(ann.locator("#composer-error")).to_be_hidden()
    await expect(amy.locator(TEXTS)).to_have_text(["對不起"])

    # Held by the word list (a Chinese phrase inside a sentence): shown to its author only, as
    # waiting, also after a reload; approval publishes it for everyone.
    await _add_admin(site)
    root = await Http.login(site, "root")
    await root.post("/api/mod/words", 201, pattern="網上賭場", action="hold", reason="可疑")
    await send(ann, "邊個試過呢個網上賭場？")
    held = ann.locator("#messages .message.held")
    await expect(held.locator(".text")).to_have_text(["邊個試過呢個網上賭場？"])
    await expect(held.locator(".status")).to_have_text([ZH["chat.held"]])
    await expect(ann.locator("#composer-error")).to_be_hidden()
    await send(ann, "好天氣")
    await expect(amy.locator(TEXTS)).to_have_text(["對不起", "好天氣"])
    await ann.reload()
    await open_room(ann)
    after = ["對不起", "好天氣", "邊個試過呢個網上賭場？"]
    await expect(ann.locator(TEXTS)).to_have_text(after)
    await expect(held.locator(".status")).to_have_text([ZH["chat.held"]])
    [waiting] = (await mo.get("/api/mod/queue"))["held"]
    await mo.post(f"/api/mod/held/{waiting['id']}/approve", reason="問路而已")
    for page in (ann, amy):
        await expect(page.locator(TEXTS)).to_have_text(after)
    await expect(held).to_have_count(0)

    # A blocked phrase: the English page's message by the composer.
    await root.post("/api/mod/words", 201, pattern="六合彩", action="block", reason="賭博")
    await send(amy, "今晚一齊買六合彩啦")
    await expect(amy.locator("#composer-error")).to_have_text(EN["errors.blocked_word"])
    await expect(amy.locator("#messages .message.failed")).to_have_count(1)
    await expect(ann.locator(TEXTS)).to_have_text(after)
    # The publishing rules are linked from the chat page (the top menu).
    rules = amy.get_by_role("link", name=EN["mod.nav_rules"], exact=True)
    await expect(rules).to_have_attribute("href", re.compile(r"^/rules$"))
    await root.close()
    await mo.close()

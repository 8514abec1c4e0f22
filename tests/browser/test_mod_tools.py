"""The redesigned moderators' tools in a real browser (Chromium), against the real server in both
modes (issue 23): delete and ban on /mod ask in a dialog and do nothing on cancel; a deleted
message's text stays readable to moderators; the word-list page (add a word and a message with
it is blocked live; the test box says matched or not), the auto-hide threshold page (changes
what a report does), the audit-log page (filters; the CSV has exactly the filtered rows,
computed here from the store), the figures at 360 px with no sideways scroll; axe on every page;
residents refused."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Page, expect

from linli.catalogue import messages_of
from persistence.audit.sql import SqlAuditLog
from persistence.store import Role
from tests.browser.axe import serious_violations
from tests.browser.conftest import NewPage, Site, log_in
from tests.e2e.harness import PASSWORD, Client, login

pytestmark = pytest.mark.timeout(180)

ZH = messages_of("zh-Hant")
EN = messages_of("en")
#: The harness's neighbourhood time zone (LINLI_TIME_ZONE's default).
ZONE = ZoneInfo("Asia/Taipei")


class Http:
    """The HTTP API as one logged-in user."""

    def __init__(self, site: Site, cookie: str) -> None:
        self.client = httpx.AsyncClient(
            base_url=site.url, cookies={"linli_session": cookie}, timeout=10
        )

    @classmethod
    async def login(cls, site: Site, username: str) -> Http:
        return cls(site, await login(site.server, username))

    async def get(self, path: str, status: int = 200, **params: Any) -> Any:
        response = await self.client.get(path, params=params)
        assert response.status_code == status, response.text
        return response.json()

    async def post(self, path: str, status: int = 200, **body: Any) -> Any:
        response = await self.client.post(path, json=body)
        assert response.status_code == status, response.text
        return response.json()

    async def close(self) -> None:
        await self.client.aclose()


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


async def _no_axe(page: Page) -> None:
    assert await serious_violations(page) == []


async def _flagged_message(site: Site, text: str, cmid: str) -> tuple[str, int]:
    """Ann posts ``text`` in Block A and Amy reports it; (room, offset)."""
    room = f"building:{site.hood.building_a}"
    ann = await Client.connect(site.server, await login(site.server, "ann"))
    amy = await Client.connect(site.server, await login(site.server, "amy"))
    try:
        reply = await ann.ok("publish", channel=room, text=text, client_msg_id=cmid)
        offset = int(reply["offset"])
        await amy.ok("flag", channel=room, offset=offset, reason="spam", text="")
    finally:
        await ann.close()
        await amy.close()
    return room, offset


async def _state(mo: Http, room: str, offset: int) -> dict[str, Any]:
    """The message's queue item, once the moderation worker has recorded its report (the flag
    op answers before that: on a loaded machine the first read can come too early)."""
    deadline = time.monotonic() + 15
    while True:
        items = (await mo.get("/api/mod/queue", state="all"))["messages"]
        found = [i for i in items if i["channel"] == room and i["offset"] == offset]
        if found or time.monotonic() > deadline:
            [item] = found
            return item  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)


async def test_delete_and_ban_ask_first_and_cancel_changes_nothing(
    site: Site, new_page: NewPage
) -> None:
    room, offset = await _flagged_message(site, "私人電話 9123 4567", "d1")
    mo = await Http.login(site, "mo")
    page = await new_page()
    await log_in(page, "mo")
    await page.goto("/mod")
    item = page.locator("#mod-queue .mod-item")
    await expect(item).to_have_count(1)
    await _no_axe(page)
    await item.get_by_label(ZH["mod.reason_label"]).fill("私隱資料")
    # Delete and ban are in the secondary group.
    delete = item.get_by_role("button", name=ZH["mod.action.delete"], exact=True)
    await expect(delete).to_be_hidden()
    await item.locator(".mod-more summary").click()
    await delete.click()
    dialog = page.locator("#mod-confirm")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("#mod-confirm-title")).to_have_text(ZH["modp.confirm.delete_title"])
    await expect(dialog.locator("#mod-confirm-text")).to_have_text(
        ZH["modp.confirm.delete_text"].format(
            author="Ann", room="Block A", text="私人電話 9123 4567"
        )
    )
    await expect(dialog.locator("#mod-confirm-reason")).to_have_text(
        ZH["modp.confirm.reason"].format(reason="私隱資料")
    )
    await _no_axe(page)
    await dialog.get_by_role("button", name=ZH["modp.confirm.cancel"]).click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#mod-result")).to_have_text(ZH["modp.cancelled"])
    assert (await _state(mo, room, offset))["visibility"] == "visible"
    # Escape is a cancel too.
    await delete.click()
    await expect(dialog).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    assert (await _state(mo, room, offset))["visibility"] == "visible"

    # Ban, cancelled: Ann can still log in; nothing in the audit log.
    ban = item.get_by_role("button", name=ZH["mod.action.ban"], exact=True)
    await ban.click()
    await expect(dialog.locator("#mod-confirm-title")).to_have_text(
        ZH["modp.confirm.ban_title"].format(author="Ann")
    )
    await expect(dialog.locator("#mod-confirm-text")).to_have_text(
        ZH["modp.confirm.ban_text"].format(author="Ann")
    )
    await dialog.get_by_role("button", name=ZH["modp.confirm.cancel"]).click()
    await expect(dialog).to_be_hidden()
    await login(site.server, "ann")
    assert (await mo.get("/api/mod/audit"))["entries"] == []

    # Delete, confirmed: done, and the moderator still reads the text (with the retention note).
    await delete.click()
    await dialog.get_by_role("button", name=ZH["modp.confirm.delete_ok"]).click()
    done = ZH["modp.done"].format(what=ZH["modp.what.delete"].format(author="Ann"))
    await expect(page.locator("#mod-result")).to_have_text(done)
    assert (await _state(mo, room, offset))["visibility"] == "deleted"
    await page.select_option("#mod-state", "handled")
    await expect(item.locator(".mod-visibility")).to_have_text(ZH["mod.visibility.deleted"])
    await expect(item.locator(".mod-message .text")).to_have_text("私人電話 9123 4567")
    await expect(item.locator(".mod-deleted-note")).to_have_text(
        ZH["modp.deleted_note"].format(days=30)
    )
    await item.get_by_role("button", name=ZH["mod.show_context"]).click()
    await expect(item.locator(".mod-context-target .text")).to_have_text("私人電話 9123 4567")
    # Only a hidden message offers restore; a deleted one offers neither hide nor delete.
    await expect(item.get_by_role("button", name=ZH["mod.action.restore"])).to_have_count(0)
    await expect(item.get_by_role("button", name=ZH["mod.action.delete"])).to_have_count(0)

    # Ban, confirmed: Ann's login is refused and the item says so.
    await item.get_by_label(ZH["mod.reason_label"]).fill("屢勸不改")
    await item.locator(".mod-more summary").click()
    await item.get_by_role("button", name=ZH["mod.action.ban"], exact=True).click()
    await dialog.get_by_role("button", name=ZH["modp.confirm.ban_ok"]).click()
    await expect(page.locator("#mod-result")).to_have_text(
        ZH["modp.done"].format(what=ZH["modp.what.ban"].format(author="Ann"))
    )
    await expect(item.locator(".mod-author-status")).to_have_text(ZH["modp.author_status.banned"])
    async with httpx.AsyncClient(base_url=site.url) as anonymous:
        response = await anonymous.post(
            "/api/login", json={"username": "ann", "password": PASSWORD}
        )
    assert response.status_code == 403 and response.json()["error"]["code"] == "banned"
    actions = [e["action"] for e in (await mo.get("/api/mod/audit"))["entries"]]
    assert actions == ["ban", "delete"]
    # The item's history lists both, newest first.
    await expect(item.locator(".mod-history-action")).to_have_text(
        [ZH["audit.action.ban"], ZH["audit.action.delete"]]
    )
    await mo.close()


async def test_word_list_page_blocks_live_and_tests_sentences(
    site: Site, new_page: NewPage
) -> None:
    await _add_admin(site)
    room = f"building:{site.hood.building_a}"
    ann = await Client.connect(site.server, await login(site.server, "ann"))
    page = await new_page()
    await log_in(page, "root")
    await page.goto("/mod/words")
    await expect(page.locator("#words-empty")).to_be_visible()
    await _no_axe(page)
    # The test box before the word is on the list.
    await page.get_by_label(ZH["modp.test_label"], exact=True).fill("今晚一齊買六合彩啦")
    await page.get_by_role("button", name=ZH["modp.test_button"]).click()
    await expect(page.locator("#test-result")).to_have_text(ZH["modp.test_none"])
    await page.get_by_label(ZH["modp.words_pattern_label"]).fill("六合彩")
    await page.get_by_label(ZH["modp.words_reason_label"]).fill("賭博")
    await page.get_by_role("button", name=ZH["modp.words_add"], exact=True).click()
    await expect(page.locator("#words-status")).to_have_text(
        ZH["modp.words_added"].format(pattern="六合彩")
    )
    await expect(page.locator("#words-table .word-pattern")).to_have_text(["六合彩"])
    await page.get_by_role("button", name=ZH["modp.test_button"]).click()
    await expect(page.locator("#test-result")).to_have_text(
        ZH["modp.test_block"].format(pattern="六合彩")
    )
    # Live: the resident's next message with it is refused, one without it goes out.
    assert await ann.error("publish", channel=room, text="買六合彩", client_msg_id="w1") == (
        "blocked_word"
    )
    await ann.ok("publish", channel=room, text="今日天氣好", client_msg_id="w2")
    await _no_axe(page)
    # Removed: in effect at once too.
    await page.get_by_label(ZH["modp.words_remove_reason"].format(pattern="六合彩")).fill("誤加")
    await page.get_by_role("button", name=ZH["modp.words_remove"].format(pattern="六合彩")).click()
    await expect(page.locator("#words-status")).to_have_text(
        ZH["modp.words_removed"].format(pattern="六合彩")
    )
    await expect(page.locator("#words-empty")).to_be_visible()
    await ann.ok("publish", channel=room, text="買六合彩", client_msg_id="w3")
    await ann.close()
    # The rules editor asks for the reason of an edit, not of a moderation decision.
    await page.goto("/rules")
    await expect(page.get_by_label(ZH["modp.rules_reason_label"])).to_have_count(2)
    await expect(page.get_by_label(ZH["mod.reason_label"])).to_have_count(0)
    await _no_axe(page)
    # A moderator sees the list and tests, but has no add form.
    mo = await new_page(locale="en-GB")
    await log_in(mo, "mo")
    await mo.goto("/mod/words")
    await expect(mo.locator("#add-form")).to_have_count(0)
    await mo.get_by_label(EN["modp.test_label"], exact=True).fill("hello")
    await mo.get_by_role("button", name=EN["modp.test_button"]).click()
    await expect(mo.locator("#test-result")).to_have_text(EN["modp.test_none"])
    await _no_axe(mo)


async def test_threshold_page_changes_auto_hide(site: Site, new_page: NewPage) -> None:
    await _add_admin(site)
    mo = await Http.login(site, "mo")
    page = await new_page()
    await log_in(page, "root")
    await page.goto("/mod/threshold")
    await expect(page.locator("#threshold-now")).to_have_text(
        ZH["modp.threshold_now"].format(count=3)
    )
    await _no_axe(page)
    # With the default (3), one report does not hide a message.
    room, first = await _flagged_message(site, "第一則", "t1")
    assert (await _state(mo, room, first))["visibility"] == "visible"
    # A bad value is refused by the field; nothing changes.
    await page.get_by_label(ZH["modp.threshold_label"]).fill("101")
    await page.get_by_label(ZH["modp.threshold_reason"]).fill("試")
    await page.get_by_role("button", name=ZH["modp.threshold_save"]).click()
    await expect(page.locator("#auto_hide_threshold-error")).to_have_text(ZH["modp.threshold_bad"])
    assert (await mo.get("/api/mod/settings"))["auto_hide_threshold"] == 3
    await page.get_by_label(ZH["modp.threshold_label"]).fill("1")
    await page.get_by_role("button", name=ZH["modp.threshold_save"]).click()
    await expect(page.locator("#threshold-now")).to_have_text(
        ZH["modp.threshold_now"].format(count=1)
    )
    assert (await mo.get("/api/mod/settings"))["auto_hide_threshold"] == 1
    # Now one report hides the next message by itself (the worker applies it; wait for it).
    room, second = await _flagged_message(site, "第二則", "t2")
    deadline = time.monotonic() + 15
    while (await _state(mo, room, second))["visibility"] != "hidden":
        assert time.monotonic() < deadline, "not auto-hidden after the threshold change"
        await page.wait_for_timeout(200)
    assert (await _state(mo, room, second))["auto_hidden"] is True
    await _no_axe(page)
    # A moderator sees the value but cannot change it.
    mo_page = await new_page()
    await log_in(mo_page, "mo")
    await mo_page.goto("/mod/threshold")
    await expect(mo_page.locator("#threshold-form")).to_have_count(0)
    await expect(mo_page.locator("#threshold-now")).to_have_text(
        ZH["modp.threshold_now"].format(count=1)
    )
    await mo.close()


def _expected_rows(
    entries: list[Any], names: dict[int, str], rooms: dict[str, str]
) -> list[list[str]]:
    """The CSV rows the audit page should give, computed here from the stored entries."""
    rows = []
    for e in entries:
        at = datetime.fromtimestamp(e.at / 1000, ZONE).isoformat(timespec="seconds")
        rows.append(
            [
                at,
                ZH.get(f"audit.feature.{e.feature}", e.feature),
                e.actor_name or ZH["audit.system"],
                ZH.get(f"audit.action.{e.action}", e.action),
                "" if e.channel is None else rooms.get(e.channel, e.channel),
                "" if e.offset is None else str(e.offset),
                "" if e.target_user_id is None else names[e.target_user_id],
                e.subject or "",
                e.reason,
                json.dumps(e.detail, ensure_ascii=False, separators=(",", ":")) if e.detail else "",
            ]
        )
    return rows


async def test_audit_page_filters_and_the_csv_has_the_filtered_rows(
    site: Site, new_page: NewPage
) -> None:
    await _add_admin(site)
    room, offset = await _flagged_message(site, "廣告", "a1")
    mo = await Http.login(site, "mo")
    root = await Http.login(site, "root")
    ann_id, bob_id = site.hood.users["ann"], site.hood.users["bob"]
    await mo.post(f"/api/mod/messages/{room}/{offset}/hide", reason="廣告")
    await mo.post(f"/api/mod/users/{ann_id}/warn", reason="第一次警告", channel=room, offset=offset)
    await mo.post(f"/api/mod/users/{bob_id}/warn", reason="語氣")
    await root.post("/api/mod/words", 201, pattern="賭場", action="hold", reason="可疑")

    page = await new_page()
    await log_in(page, "mo")
    await page.goto("/audit")
    rows = page.locator("#audit-table tbody tr")
    # A moderator sees the moderation entries: all four (add_word is moderation's too).
    await expect(rows).to_have_count(4)
    await _no_axe(page)
    await page.select_option("#action", "warn")
    await page.get_by_role("button", name=ZH["audit.filter_apply"]).click()
    await expect(rows).to_have_count(2)
    await expect(rows.locator(".audit-target")).to_have_text(["Bob", "Ann"])
    await page.select_option("#target", f"user:{ann_id}")
    await page.get_by_role("button", name=ZH["audit.filter_apply"]).click()
    await expect(rows).to_have_count(1)
    await expect(rows.locator(".audit-reason")).to_have_text(["第一次警告"])
    await expect(rows.locator(".audit-room")).to_have_text([f"Block A #{offset}"])
    today = datetime.now(ZONE).date()
    await page.fill("#from", (today + timedelta(days=1)).isoformat())
    await page.get_by_role("button", name=ZH["audit.filter_apply"]).click()
    await expect(page.locator("#audit-empty")).to_be_visible()
    await page.fill("#from", today.isoformat())
    await page.fill("#to", today.isoformat())
    await page.get_by_role("button", name=ZH["audit.filter_apply"]).click()
    await expect(rows).to_have_count(1)

    # The CSV link carries the same filters; its rows are the ones computed from the store.
    href = await page.locator("#audit-csv").get_attribute("href")
    assert href is not None and "action=warn" in href
    response = await mo.client.get(href, headers={"accept-language": "zh-TW"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
    header = [
        ZH[f"audit.col.{c}"]
        for c in (
            "time",
            "feature",
            "actor",
            "action",
            "room",
            "offset",
            "target",
            "subject",
            "reason",
            "detail",
        )
    ]
    assert table[0] == header
    store = await site.deployment.store()
    try:
        stored = await SqlAuditLog(store.database).entries(limit=1000)
        names = {}
        for user_id in (ann_id, bob_id):
            user = await store.get_user(user_id)
            assert user is not None
            names[user_id] = user.display_name
    finally:
        await store.close()
    start = int(datetime.combine(today, datetime.min.time(), ZONE).timestamp() * 1000)
    end = int(
        datetime.combine(today + timedelta(days=1), datetime.min.time(), ZONE).timestamp() * 1000
    )
    wanted = [
        e
        for e in stored
        if e.feature == "moderation"
        and e.action == "warn"
        and e.target_user_id == ann_id
        and start <= e.at < end
    ]
    assert len(wanted) == 1
    assert table[1:] == _expected_rows(wanted, names, {room: "Block A"})
    assert table[1][0].endswith("+08:00")  # local time with its offset
    # The whole log as CSV, in English: every moderation entry, English headers.
    whole = await mo.client.get("/audit.csv", headers={"accept-language": "en"})
    english = list(csv.reader(io.StringIO(whole.text.lstrip("\ufeff"))))
    assert english[0][0] == EN["audit.col.time"] and english[0][3] == EN["audit.col.action"]
    assert len(english) - 1 == len([e for e in stored if e.feature == "moderation"]) == 4
    # A bad date: a clear message, a 400, no rows.
    bad = await page.goto("/audit?from=2026-13-40")
    assert bad is not None and bad.status == 400
    await expect(page.locator("#audit-error")).to_have_text(ZH["audit.bad.from"])
    await mo.close()
    await root.close()


async def test_figures_on_a_phone_and_residents_refused(site: Site, new_page: NewPage) -> None:
    await _flagged_message(site, "一則", "f1")
    page = await new_page(width=360, height=740)
    await log_in(page, "mo")
    for path in ("/mod", "/mod/words", "/mod/threshold", "/audit"):
        await page.goto(path)
        if path == "/mod":
            await expect(page.locator("#mod-figures tbody tr")).to_have_count(6)
            await expect(page.locator("#mod-queue .mod-item")).to_have_count(1)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{path} scrolls sideways at 360 px ({width} px)"
        await _no_axe(page)
    await page.goto("/mod")
    await expect(page.locator("#mod-figures tbody tr")).to_have_count(6)
    # Stacked: each cell is on its own line with its column's name; the area takes the focus.
    cell = page.locator("#mod-figures tbody tr").first.locator("td").nth(1)
    await expect(cell).to_have_attribute("data-label", ZH["mod.fig.received"])
    # The first two cells of the first row, measured in one step in the page, until the table
    # has settled: the page redraws its figures (a replaced row measures as all zeros).
    measure = (
        "tr => [...tr.querySelectorAll('td')].slice(0, 2)"
        ".map(c => c.getBoundingClientRect()).map(r => [r.top, r.height])"
    )
    deadline = time.monotonic() + 10
    while True:
        rects = await page.locator("#mod-figures tbody tr").first.evaluate(measure)
        (top0, height0), (top1, height1) = rects
        if height0 > 0 and height1 > 0:
            break
        assert time.monotonic() < deadline, rects
        await asyncio.sleep(0.2)
    assert top1 >= top0 + height0, rects  # stacked: the second cell is below the first
    wrap = page.get_by_role("region", name=ZH["modp.figures_label"])
    await wrap.focus()
    await expect(wrap).to_be_focused()

    resident = await new_page()
    await log_in(resident, "ann")
    for path in ("/mod", "/mod/words", "/mod/threshold", "/audit"):
        response = await resident.goto(path)
        assert response is not None and response.status == 403, path
        await expect(resident.locator("#error-title")).to_have_text(
            ZH["error_page.forbidden.title"]
        )
        await _no_axe(resident)
    ann = await Http.login(site, "ann")
    assert (await ann.client.get("/audit.csv")).status_code == 403
    await ann.get("/api/mod/audit", status=403)
    await ann.post("/api/mod/words/test", status=403, text="x")
    await ann.close()
    # A date input's own check happens in the browser; the API says which field is wrong.
    mo = await Http.login(site, "mo")
    error = (await mo.get("/api/mod/audit", status=400, to="yesterday"))["error"]
    assert error["code"] == "bad_request" and error["field"] == "to"
    await mo.close()

"""What residents see of notifications, in Chromium against the real server: the bell's count
moving live when an organiser opens a poll in the resident's building; the inbox listing it, a
click marking it read and the bell on another page of the same resident dropping to none; the
inbox's paging and "99+"; the settings saved and read back; no sideways scrolling on a 360 px
phone; and axe-core finding nothing serious or critical on the inbox and the settings page, in
both languages.

The live test and the settings round trip run in both modes (the push crosses Redis in the scaled
one; the settings are PostgreSQL or SQLite rows); the layout and accessibility checks are about
the pages alone and run in the embedded mode only.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from linli.catalogue import messages_of
from persistence.notifications import Kind, NewNotification
from persistence.notifications.sql import SqlNotificationStore
from persistence.store import Role
from tests.browser.axe import require_axe, serious_violations
from tests.browser.conftest import NewPage, Site, log_in
from tests.e2e.harness import PASSWORD, login

pytestmark = pytest.mark.timeout(150)

ROOT = Path(__file__).resolve().parents[2]
ZH = messages_of("zh-Hant")
EN = messages_of("en")
#: The layout and accessibility checks need only one mode.
EMBEDDED_ONLY = pytest.mark.parametrize("deployment", ["embedded"], indirect=True)


async def _organiser(site: Site) -> httpx.AsyncClient:
    """Wong, an organiser living in Block A, logged in over HTTP."""
    from web.passwords import hash_password

    store = await site.deployment.store()
    try:
        await store.create_user(
            username="wong",
            display_name="Wong",
            password_hash=await hash_password(PASSWORD),
            role=Role.ORGANISER,
            building_id=site.hood.building_a,
            unit_label="9F",
            now=int(time.time() * 1000),
        )
    finally:
        await store.close()
    return httpx.AsyncClient(
        base_url=site.url, cookies={"linli_session": await login(site.server, "wong")}
    )


async def _inbox_rows(site: Site, user: str, rows: list[dict[str, Any]]) -> None:
    """Put notifications straight into ``user``'s inbox, oldest first (``read``: marked read)."""
    store = await site.deployment.store()
    try:
        notifications = SqlNotificationStore(store.database)
        user_id = site.hood.users[user]
        now = int(time.time() * 1000)
        inserted = await notifications.insert(
            [
                NewNotification(
                    user_id=user_id,
                    source_key=f"test:{i}",
                    kind=row.get("kind", Kind.NOTICE),
                    urgent=row.get("urgent", False),
                    text_zh=row.get("zh", f"通告 {i}"),
                    text_en=row.get("en", f"Notice {i}"),
                    link=row.get("link", "/help"),
                    created_at=now - (len(rows) - i) * 60_000,
                )
                for i, row in enumerate(rows)
            ],
            now=now,
        )
        read = [n.id for n, row in zip(inserted, rows, strict=True) if row.get("read")]
        if read:
            await notifications.mark_read(user_id, read, now=now)
    finally:
        await store.close()


#: Read and unread, one urgent: what the layout and accessibility checks look at.
SAMPLE: list[dict[str, Any]] = [
    {"kind": Kind.EVENT, "zh": "提醒：太極班明早七時", "en": "Tai Chi at 7", "read": True},
    {"kind": Kind.MENTION, "zh": "Amy 提及你", "en": "Amy mentioned you"},
    {"kind": Kind.NOTICE, "urgent": True, "zh": "緊急：明天停水", "en": "Urgent: no water"},
]


async def _second_page(first: Page, errors: list[str]) -> Page:
    """Another tab of the same resident (same cookies), its script errors collected."""
    page = await first.context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page


async def test_bell_counts_live_and_reading_in_the_inbox_clears_it_elsewhere(
    site: Site, new_page: NewPage
) -> None:
    chat = await new_page()
    await log_in(chat, "ann")
    bell = chat.locator("#bell")
    await expect(chat.locator("#bell-count")).to_be_hidden()
    await expect(bell).to_have_attribute("aria-label", ZH["notify.bell_none"])
    errors: list[str] = []
    inbox = await _second_page(chat, errors)
    await inbox.goto("/inbox")
    await expect(inbox.locator("#inbox-empty")).to_be_visible()
    await inbox.wait_for_function("window.linliClient && window.linliClient.state === 'open'")

    # A real path: the organiser opens a poll in Block A, which notifies its residents.
    async with await _organiser(site) as wong:
        made = await wong.post(
            "/api/polls",
            json={
                "channel": f"building:{site.hood.building_a}",
                "question": "換大堂燈?",
                "options": ["好", "不好"],
            },
        )
        assert made.status_code == 201, made.text
        poll_id = made.json()["poll"]["id"]
        assert (await wong.post(f"/api/polls/{poll_id}/open", json={})).status_code == 200

    # Live on both pages, with no reload: the number, the name, the announcement.
    for page in (chat, inbox):
        await expect(page.locator("#bell-count")).to_have_text("1")
        await expect(page.locator("#bell")).to_have_attribute(
            "aria-label", ZH["notify.bell_unread"].format(count=1)
        )
    await expect(chat.locator("#bell-live")).to_have_text(
        ZH["notify.announce"].format(text="新投票：換大堂燈?")
    )
    # The inbox page shows the new item at the top, unread, with its kind in words.
    item = inbox.locator("#inbox-list .inbox-item")
    await expect(item).to_have_count(1)
    await expect(inbox.locator("#inbox-empty")).to_be_hidden()
    await expect(item).to_have_class(re.compile(r"\bunread\b"))
    await expect(item.locator(".inbox-flag-unread")).to_have_text(ZH["inbox.unread"])
    await expect(item.locator(".inbox-kind")).to_have_text(ZH["notify.kind.poll"])
    await expect(item.locator(".inbox-text")).to_have_text("新投票：換大堂燈?")
    await expect(item.locator(".inbox-time")).to_have_text(ZH["notify.time.now"])
    await expect(inbox.locator("#inbox-summary")).to_have_text(
        ZH["inbox.unread_summary"].format(count=1)
    )

    # Following it marks it read: the poll opens, and the chat tab's bell goes to none.
    await item.locator("a").click()
    await inbox.wait_for_url(f"**/polls/{poll_id}")
    await expect(chat.locator("#bell-count")).to_be_hidden()
    await expect(bell).to_have_attribute("aria-label", ZH["notify.bell_none"])
    unread = await chat.request.get("/api/notifications/unread")
    assert await unread.json() == {"unread": 0}
    await inbox.goto("/inbox")
    await expect(item).to_have_count(1)
    await expect(item).not_to_have_class(re.compile(r"\bunread\b"))
    await expect(item.locator(".inbox-flag-unread")).to_be_hidden()
    await expect(inbox.locator("#inbox-summary")).to_have_text(ZH["inbox.all_read"])
    assert errors == []


@EMBEDDED_ONLY
async def test_inbox_pages_back_marks_all_read_and_the_bell_says_99_plus(
    site: Site, new_page: NewPage
) -> None:
    await _inbox_rows(site, "amy", [{"en": f"Notice {i}"} for i in range(100)])
    page = await new_page(locale="en-GB")
    await log_in(page, "amy")
    await expect(page.locator("#bell-count")).to_have_text("99+")
    await expect(page.locator("#bell")).to_have_attribute(
        "aria-label", EN["notify.bell_unread"].format(count=100)
    )
    await page.goto("/inbox")
    texts = page.locator("#inbox-list .inbox-text")
    await expect(texts).to_have_count(30)
    await expect(texts.first).to_have_text("Notice 99")
    older = page.locator("#load-older")
    for shown in (60, 90, 100):
        await older.click()
        await expect(texts).to_have_count(shown)
    await expect(older).to_be_hidden()
    await expect(page.locator("#no-older")).to_have_text(EN["inbox.no_older"])
    assert await texts.all_text_contents() == [f"Notice {i}" for i in range(99, -1, -1)]

    await page.locator("#mark-all").click()
    await expect(page.locator("#inbox-status")).to_have_text(EN["inbox.marked_all"])
    await expect(page.locator("#inbox-list .inbox-item.unread")).to_have_count(0)
    await expect(page.locator("#inbox-summary")).to_have_text(EN["inbox.all_read"])
    await expect(page.locator("#mark-all")).to_be_hidden()
    await expect(page.locator("#bell-count")).to_be_hidden()
    await expect(page.locator("#bell")).to_have_attribute("aria-label", EN["notify.bell_none"])


async def test_settings_save_and_come_back_after_a_reload(site: Site, new_page: NewPage) -> None:
    page = await new_page(locale="en-GB")
    await log_in(page, "ann")
    await page.goto("/settings/notifications")
    poll_push = page.locator("#pref-poll-push")
    await expect(poll_push).to_be_enabled()
    await expect(poll_push).to_be_checked()  # the default
    # Residents are not asked about moderation; Chromium can push, and this device has not
    # turned it on (lib/push.js with the server's device list).
    await expect(page.locator("#kind-moderation")).to_have_count(0)
    await expect(page.locator("#device-state")).to_have_text(EN["notify.device.state.off"])
    await expect(page.locator("#device-none")).to_be_visible()

    await poll_push.uncheck()
    await expect(page.locator("#kind-poll .kind-status")).to_have_text(EN["notify.saved"])
    # Chat e-mail is off by default (a followed room would swamp the digest): turn it on.
    chat_email = page.locator("#pref-chat-email")
    await expect(chat_email).not_to_be_checked()
    await chat_email.check()
    await expect(page.locator("#kind-chat .kind-status")).to_have_text(EN["notify.saved"])

    await page.fill("#quiet-start", "23:00")
    await page.fill("#quiet-end", "06:30")
    await page.locator("#quiet-form button[type=submit]").click()
    await expect(page.locator("#quiet-status")).to_have_text(EN["notify.saved"])

    await page.fill("#email", "not an address")
    await page.locator("#email-form button[type=submit]").click()
    await expect(page.locator("#email-error")).to_have_text(EN["errors.bad_request.email"])
    await expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")
    await page.fill("#email", "ann@example.org")
    await page.select_option("#digest", "weekly")
    await page.locator("#email-form button[type=submit]").click()
    await expect(page.locator("#email-status")).to_have_text(EN["notify.saved"])
    await expect(page.locator("#email-error")).to_be_hidden()

    building = f"building:{site.hood.building_a}"
    room = page.locator(f'#room-prefs select[data-channel="{building}"]')
    await expect(page.locator("#room-prefs label")).to_have_text(["Block A", "Gardening"])
    await room.select_option("follow")
    await expect(page.locator("#rooms-status")).to_have_text(EN["notify.saved"])

    await page.reload()
    await expect(poll_push).to_be_enabled()
    await expect(poll_push).not_to_be_checked()
    await expect(chat_email).to_be_checked()
    await expect(page.locator("#pref-urgent-push")).to_be_checked()
    await expect(page.locator("#quiet-start")).to_have_value("23:00")
    await expect(page.locator("#quiet-end")).to_have_value("06:30")
    await expect(page.locator("#email")).to_have_value("ann@example.org")
    await expect(page.locator("#digest")).to_have_value("weekly")
    await expect(room).to_have_value("follow")
    saved = await (await page.request.get("/api/notifications/prefs")).json()
    assert saved["kinds"]["poll"]["push"] is False
    assert saved["kinds"]["chat"]["email"] is True
    assert saved["quiet"] == {"start": 23 * 60, "end": 6 * 60 + 30}
    assert (saved["email"], saved["digest"]) == ("ann@example.org", "weekly")
    assert saved["rooms"] == {building: "follow"}

    # No quiet hours: the times are put aside, and stay so.
    await page.locator("#quiet-none").check()
    await expect(page.locator("#quiet-start")).to_be_disabled()
    await page.locator("#quiet-form button[type=submit]").click()
    await expect(page.locator("#quiet-now")).to_have_text(EN["notify.quiet.now_none"])
    await page.reload()
    await expect(page.locator("#quiet-none")).to_be_checked()
    await expect(page.locator("#quiet-end")).to_be_disabled()

    # The chat room's own control shows the same choice and changes it.
    await page.goto("/")
    await page.wait_for_function("window.linliClient && window.linliClient.state === 'open'")
    await expect(page.locator("#room-title")).to_have_text("Block A")
    await expect(page.locator("#room-notify")).to_have_value("follow")
    await page.select_option("#room-notify", "mute")
    await expect(page.locator("#chat-status")).to_have_text(EN["notify.saved"])
    await page.goto("/settings/notifications")
    await expect(room).to_have_value("mute")

    # A moderator is asked about moderation too.
    mo = await new_page(locale="en-GB")
    await log_in(mo, "mo")
    await mo.goto("/settings/notifications")
    await expect(mo.locator("#kind-moderation legend")).to_have_text(EN["notify.kind.moderation"])


@EMBEDDED_ONLY
@pytest.mark.parametrize("locale", ["zh-TW", "en-GB"])
async def test_no_sideways_scrolling_on_a_360_px_phone(
    site: Site, new_page: NewPage, locale: str
) -> None:
    await _inbox_rows(
        site,
        "ann",
        [
            *SAMPLE,
            {"zh": "很長的一行" * 40, "en": "a-very-long-word-without-spaces" * 6},
        ],
    )
    page = await new_page(locale=locale, width=360, height=740)
    await log_in(page, "ann")
    for path, ready in (
        (f"/#building:{site.hood.building_a}", "#room-notify-box:not([hidden])"),
        ("/inbox", "#inbox-list .inbox-item"),
        ("/settings/notifications", "#pref-notice-inbox:enabled"),
        ("/help#notifications", "#notifications"),
    ):
        await page.goto(path)
        await page.locator(ready).first.wait_for()
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{path} is {width} px wide at 360 px ({locale})"


@EMBEDDED_ONLY
@pytest.mark.parametrize("locale", ["zh-TW", "en-GB"])
async def test_axe_finds_nothing_serious_on_the_inbox_and_the_settings(
    site: Site, new_page: NewPage, locale: str
) -> None:
    require_axe()
    await _inbox_rows(site, "ann", SAMPLE)
    page = await new_page(locale=locale)
    await log_in(page, "ann")
    await page.goto("/inbox")
    await expect(page.locator("#inbox-list .inbox-item")).to_have_count(3)
    await expect(page.locator("#bell-count")).to_have_text("2")
    assert await serious_violations(page) == []
    await page.goto("/settings/notifications")
    await expect(page.locator("#pref-notice-inbox")).to_be_enabled()
    await expect(page.locator("#room-prefs select")).to_have_count(2)
    assert await serious_violations(page) == []

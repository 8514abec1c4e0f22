"""Residents told about moderation, and staff in the rooms, in a real browser against the real
server in both modes: a warning, a mute (with its end time) and a ban each seen by the resident
with the reason; a hidden message's author sees the reason (and appeals once); staff see every
room by name; a moderator's composer is disabled where they may not post; an official post has
its badge; a pin shows at the top of the room for another resident, live. axe on each page."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest
from playwright.async_api import Page, expect

from linli.catalogue import messages_of
from persistence.store import Role
from tests.browser.axe import serious_violations
from tests.browser.conftest import NewPage, Site, log_in
from tests.browser.test_chat_moderation import Http, open_room, send
from tests.e2e.harness import PASSWORD, Client, login

pytestmark = pytest.mark.timeout(180)

ZH = messages_of("zh-Hant")
EN = messages_of("en")
#: Markup in a moderator's words must arrive as text, never as elements.
BAN_REASON = "屢勸不改 <b>廣告</b>"
ANSWER = "停用維持至下月 <img src=x>"


async def _add_user(site: Site, username: str, role: Role) -> None:
    from web.passwords import hash_password

    store = await site.deployment.store()
    try:
        user = await store.create_user(
            username=username,
            display_name=username.title(),
            password_hash=await hash_password(PASSWORD),
            role=role,
            building_id=None,
            unit_label=None,
            now=int(time.time() * 1000),
        )
        site.hood.users[username] = user.id
    finally:
        await store.close()


async def _readable(page: Page, ms: int) -> str:
    """``ms`` as the page's language and time zone write it (dateStyle long, timeStyle short)."""
    return str(
        await page.evaluate(
            "(ms) => new Intl.DateTimeFormat(document.documentElement.lang,"
            " {dateStyle: 'long', timeStyle: 'short'}).format(new Date(ms))",
            ms,
        )
    )


async def _no_violations(page: Page) -> None:
    assert await serious_violations(page) == []


async def test_warning_mute_and_ban_are_told_with_their_reason(
    site: Site, new_page: NewPage
) -> None:
    ann = await new_page()
    await log_in(ann, "ann")
    await open_room(ann)
    mo = await Http.login(site, "mo")
    ann_id = site.hood.users["ann"]

    # A warning: a notice at once, with the reason, the rules and an appeal; dismissed, it stays
    # away after a reload.
    await mo.post(f"/api/mod/users/{ann_id}/warn", reason="請勿張貼廣告")
    notice = ann.locator("#mod-notices .mod-notice")
    await expect(notice).to_have_count(1)
    await expect(notice).to_contain_text(ZH["modres.warning_title"])
    await expect(notice).to_contain_text(ZH["modres.reason"].format(reason="請勿張貼廣告"))
    await expect(notice.get_by_role("link", name=ZH["modres.rules_link"])).to_have_attribute(
        "href", "/rules"
    )
    await expect(notice.get_by_role("button", name=ZH["modres.appeal"])).to_be_visible()
    await _no_violations(ann)
    await ann.reload()
    await open_room(ann)
    await expect(notice).to_have_count(1)  # on load too, until dismissed
    await notice.get_by_role("button", name=ZH["modres.dismiss"]).click()
    await expect(notice).to_have_count(0)
    await ann.reload()
    await open_room(ann)
    await expect(ann.locator("#composer-text")).to_be_enabled()
    await expect(notice).to_have_count(0)

    # A mute for ten minutes: the room, the end time and the reason by the composer, which is
    # disabled; live, and after a reload.
    made = await mo.post(f"/api/mod/users/{ann_id}/mute", seconds=600, reason="洗版")
    until = made["sanction"]["expires_at"]
    why = ann.locator("#composer-why")
    expected = (
        ZH["modres.muted_everywhere"]
        + " "
        + ZH["modres.muted_until"].format(time=await _readable(ann, until))
    )
    await expect(why.locator(".mute-text")).to_have_text(expected)
    await expect(why.locator(".mute-reason")).to_have_text(
        ZH["modres.reason"].format(reason="洗版")
    )
    await expect(ann.locator("#composer-text")).to_be_disabled()
    await expect(ann.locator("#send")).to_be_disabled()
    await _no_violations(ann)
    await ann.reload()
    await open_room(ann)
    await expect(why.locator(".mute-text")).to_have_text(expected)
    await expect(ann.locator("#composer-text")).to_be_disabled()
    # Appealed (the queue shows it below, in words).
    ann_http = await Http.login(site, "ann")
    await ann_http.post(
        "/api/moderation/appeals", 201, kind="mute", id=made["sanction"]["id"], note="唔係洗版"
    )
    await ann_http.close()
    # Lifted: the composer comes back, live.
    await mo.post(f"/api/mod/users/{ann_id}/unmute", reason="夠鐘")
    await expect(ann.locator("#composer-text")).to_be_enabled()
    await expect(why).to_be_hidden()

    # A ban: the page says why, then the login page repeats it (both languages' catalogue).
    await mo.post(f"/api/mod/users/{ann_id}/ban", reason=BAN_REASON)
    await ann.wait_for_url("**/login?ended=banned")
    banned = ann.locator("#login-banned")
    await expect(banned).to_contain_text(ZH["modres.login_banned"])
    await expect(ann.locator("#login-banned-reason")).to_have_text(
        ZH["modres.reason"].format(reason=BAN_REASON)
    )
    await _no_violations(ann)
    # Trying again: the refusal names the reason too.
    await ann.fill("#username", "ann")
    await ann.fill("#password", PASSWORD)
    await ann.click("#login-form button[type=submit]")
    await expect(ann.locator("#form-error")).to_have_text(ZH["errors.banned"])
    await expect(ann.locator("#login-refused-reason")).to_have_text(
        ZH["modres.reason"].format(reason=BAN_REASON)
    )
    # ... and offers the one appeal: a note is needed, then it reaches the moderators' queue.
    appeal = ann.locator("#ban-appeal")
    await expect(appeal).to_be_visible()
    await _no_violations(ann)
    await appeal.get_by_role("button", name=ZH["modres.appeal_send"]).click()
    await expect(ann.locator("#ban-appeal-error")).to_have_text(ZH["modres.appeal_need_note"])
    await ann.get_by_label(ZH["modres.appeal_note"]).fill("我會守規矩，請再考慮")
    await appeal.get_by_role("button", name=ZH["modres.appeal_send"]).click()
    # (visible, not only its text: the hidden element holds the text from the start)
    await expect(ann.locator("#ban-appeal-done")).to_be_visible()
    await expect(ann.locator("#ban-appeal-done")).to_have_text(ZH["modres.appeal_done"])
    queue = await mo.get("/api/mod/queue")
    assert [a["note"] for a in queue["appeals"]] == ["我會守規矩，請再考慮", "唔係洗版"]

    # The moderators' queue says what each appeal is against, in words, never "sanction:<id>":
    # a ban or a mute, the rooms, whom it concerns (and their building), the reason and the end.
    mod_page = await new_page()
    await log_in_to(mod_page, "mo", "/mod")
    items = mod_page.locator("#mod-appeals .mod-appeal-item")
    await expect(items).to_have_count(2)
    ban_item, mute_item = items.nth(0), items.nth(1)
    whom = ZH["modres.decision_user_of"].format(name="Ann", building="Block A")
    for item, kind in ((ban_item, "ban"), (mute_item, "mute")):
        d = item.locator(".mod-decision")
        await expect(d.locator(".mod-decision-kind")).to_have_text(
            ZH[f"modres.decision_kind.{kind}"]
        )
        await expect(d.locator(".mod-decision-room")).to_have_text(ZH["modres.decision_everywhere"])
        await expect(d.locator(".mod-decision-user")).to_have_text(whom)
        await expect(d.locator("dt")).to_contain_text(
            [ZH["modres.decision_reason"], ZH["modres.decision_until"]]
        )
    await expect(ban_item.locator(".mod-decision-reason")).to_have_text(BAN_REASON)
    assert await ban_item.locator(".mod-decision b").count() == 0
    await expect(ban_item.locator(".mod-decision-until")).to_have_text(
        ZH["modres.decision_until_lifted"]
    )
    await expect(mute_item.locator(".mod-decision-reason")).to_have_text("洗版")
    ends = mute_item.locator(".mod-decision-until time")
    await expect(ends).to_have_attribute("datetime", _iso(until))
    await expect(ends).not_to_be_empty()
    assert "sanction:" not in await mod_page.locator("#mod-appeals").inner_text()
    await _no_violations(mod_page)
    # The English page says it in English.
    mod_en = await new_page(locale="en-GB")
    await log_in_to(mod_en, "mo", "/mod")
    ban_en = mod_en.locator("#mod-appeals .mod-appeal-item").first
    await expect(ban_en.locator(".mod-decision-kind")).to_have_text(EN["modres.decision_kind.ban"])
    await expect(ban_en.locator(".mod-decision-room")).to_have_text(
        EN["modres.decision_everywhere"]
    )
    await expect(ban_en.locator(".mod-decision-until")).to_have_text(
        EN["modres.decision_until_lifted"]
    )

    # Before the answer, ann (still banned) reads that her appeal waits; the form is not offered.
    await log_in_banned(ann)
    state = ann.locator("#ban-appealed-state")
    await expect(state).to_contain_text(ZH["modres.my_appeal_open"].split("{time}")[0])
    await expect(ann.locator("#ban-appealed-note")).to_have_text(
        ZH["modres.my_appeal_note"].format(note="我會守規矩，請再考慮")
    )
    await expect(ann.locator("#ban-appeal")).to_be_hidden()
    # The moderator answers on the page ...
    await ban_item.locator("input.mod-reason").fill(ANSWER)
    await ban_item.get_by_role("button", name=ZH["modres.queue_uphold"]).click()
    await expect(items).to_have_count(1)
    # ... and ann reads the answer where the ban left her (no session: she stays banned).
    await log_in_banned(ann)
    await expect(ann.locator("#form-error")).to_have_text(ZH["errors.banned"])
    await expect(state).to_contain_text(ZH["modres.my_appeal_closed"].split("{time}")[0])
    await expect(ann.locator("#ban-appealed-answer")).to_have_text(ANSWER)
    assert await ann.locator("#ban-appealed img").count() == 0
    await expect(ann.locator("#ban-appeal")).to_be_hidden()
    await _no_violations(ann)
    await ann.goto("/")
    await ann.wait_for_url("**/login**")
    # The English page says it in English.
    english = await new_page(locale="en-GB")
    await english.goto("/login?ended=banned")
    await expect(english.locator("#login-banned")).to_contain_text(EN["modres.login_banned"])
    await log_in_banned(english)
    await expect(english.locator("#ban-appealed-state")).to_contain_text(
        EN["modres.my_appeal_closed"].split("{time}")[0]
    )
    await expect(english.locator("#ban-appealed-answer")).to_have_text(ANSWER)
    # Someone else who knows only the username reads nothing of it.
    await english.fill("#password", "not-her-password")
    await english.click("#login-form button[type=submit]")
    await expect(english.locator("#form-error")).to_have_text(EN["errors.wrong_credentials"])
    await expect(english.locator("#ban-appealed")).to_be_hidden()
    await mo.close()


async def log_in_banned(page: Page) -> None:
    """ann's login on the login page (refused: she is banned)."""
    await page.fill("#username", "ann")
    await page.fill("#password", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#form-error")).to_be_visible()


async def test_the_author_of_a_hidden_message_is_told_why_and_appeals_once(
    site: Site, new_page: NewPage
) -> None:
    room = f"building:{site.hood.building_a}"
    ann, amy = await new_page(), await new_page()
    await log_in(ann, "ann")
    await log_in(amy, "amy")
    await send(ann, "平價手袋，私訊我")
    await expect(amy.locator("#messages .message .text")).to_have_text(["平價手袋，私訊我"])
    mo = await Http.login(site, "mo")
    await mo.post(f"/api/mod/messages/{room}/1/hide", reason="商業廣告")
    mine = ann.locator("#messages .message").first
    reason = mine.locator(".mod-reason")
    await expect(reason).to_contain_text(ZH["modres.hidden_reason"].format(reason="商業廣告"))
    await expect(reason.get_by_role("link", name=ZH["modres.rules_link"])).to_have_attribute(
        "href", "/rules"
    )
    # The others see it hidden, without the reason.
    await expect(amy.locator("#messages .message .text")).to_have_text([ZH["chat.hidden"]])
    await expect(amy.locator(".mod-reason")).to_have_count(0)
    # From history too.
    await ann.reload()
    await open_room(ann)
    await expect(reason).to_contain_text(ZH["modres.hidden_reason"].format(reason="商業廣告"))
    await _no_violations(ann)

    # The appeal: a note is needed; sent once, the button becomes "appealed".
    await reason.get_by_role("button", name=ZH["modres.appeal"]).click()
    dialog = ann.locator("#appeal-dialog")
    await expect(dialog).to_be_visible()
    await expect(ann.locator("#appeal-quote")).to_have_text("商業廣告")
    await ann.get_by_role("button", name=ZH["modres.appeal_send"]).click()
    await expect(ann.locator("#appeal-error")).to_have_text(ZH["modres.appeal_need_note"])
    await ann.get_by_label(ZH["modres.appeal_note"]).fill("我係住戶，唔係賣嘢")
    await ann.get_by_role("button", name=ZH["modres.appeal_send"]).click()
    await expect(dialog).to_be_hidden()
    await expect(reason.locator(".appealed")).to_have_text(ZH["modres.appealed_link"])
    queue = await mo.get("/api/mod/queue")
    assert [(a["subject"], a["note"]) for a in queue["appeals"]] == [
        (f"message:{room}:1", "我係住戶，唔係賣嘢")
    ]
    # After a reload it stays appealed (no second button).
    await ann.reload()
    await open_room(ann)
    await expect(reason.locator(".appealed")).to_have_text(ZH["modres.appealed_link"])
    await expect(reason.get_by_role("button", name=ZH["modres.appeal"])).to_have_count(0)
    # Deleted afterwards: the author reads that, with the new reason, live.
    await mo.post(f"/api/mod/messages/{room}/1/delete", reason="私隱資料")
    await expect(reason).to_contain_text(ZH["modres.deleted_reason"].format(reason="私隱資料"))
    # The moderators' page lists it.
    mod_page = await new_page()
    await log_in_to(mod_page, "mo", "/mod")
    item = mod_page.locator("#mod-appeals .mod-appeal-item")
    await expect(item).to_have_count(1)
    await expect(item).to_contain_text("我係住戶，唔係賣嘢")
    await _no_violations(mod_page)
    await mo.close()


async def log_in_to(page: Page, username: str, path: str) -> None:
    await page.goto("/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_url("**/")
    await page.goto(path)


async def test_staff_see_rooms_by_name_and_the_composer_follows_access(
    site: Site, new_page: NewPage
) -> None:
    mo = await new_page()
    await log_in(mo, "mo")
    links = mo.locator(".room-link .room-name")
    await expect(links).to_have_text(["Block A", "Block B", "Gardening"])
    await expect(mo.locator("#room-title")).to_have_text("Block A")
    why = mo.locator("#composer-why")
    await expect(why).to_have_text(ZH["rooms.why.read_only"])
    await expect(mo.locator("#composer-text")).to_be_disabled()
    # Typed address: a named room, still read-only.
    await mo.goto(f"/#building:{site.hood.building_b}")
    await expect(mo.locator("#room-title")).to_have_text("Block B")
    await expect(mo.locator("#composer-text")).to_be_disabled()
    await expect(why).to_have_text(ZH["rooms.why.read_only"])
    await _no_violations(mo)
    # A resident's message reaches the moderator's open room.
    bob = await new_page()
    await log_in(bob, "bob")
    await send(bob, "B座升降機壞咗")
    await expect(mo.locator("#messages .message .text")).to_have_text(["B座升降機壞咗"])


async def test_official_post_and_pin_reach_residents_live(site: Site, new_page: NewPage) -> None:
    await _add_user(site, "manny", Role.MANAGEMENT)
    manny, amy = await new_page(), await new_page(width=360, height=740)
    await log_in(manny, "manny")
    await log_in(amy, "amy")
    await amy.locator(".room-link", has_text="Block A").click()  # a phone opens on the room list
    await expect(manny.locator(".room-link .room-name")).to_have_text(
        ["Block A", "Block B", "Gardening"]
    )
    await expect(manny.locator("#room-title")).to_have_text("Block A")
    await expect(manny.locator("#composer-text")).to_be_enabled()
    await send(manny, "明日上午九時至十二時停水")
    official = amy.locator("#messages .message.official")
    await expect(official.locator(".official-badge")).to_have_text(ZH["rooms.official"])
    await expect(official.locator(".text")).to_have_text("明日上午九時至十二時停水")
    # Management reads a group room but does not post there.
    await manny.locator(".room-link", has_text="Gardening").click()
    await expect(manny.locator("#composer-why")).to_have_text(ZH["rooms.why.join_group"])
    await expect(manny.locator("#composer-text")).to_be_disabled()
    await manny.locator(".room-link", has_text="Block A").click()
    # Pin: at the top of amy's open room at once, and after a reload.
    pin_button = manny.get_by_role("button", name=ZH["rooms.pin_label"].format(name="Manny"))
    await pin_button.click()
    pinned = amy.locator("#room-pin")
    await expect(pinned).to_be_visible()
    await expect(pinned.locator(".text")).to_have_text("明日上午九時至十二時停水")
    await expect(pinned.locator(".official-badge")).to_be_visible()
    await expect(amy.locator("#room-unpin")).to_be_hidden()  # residents do not unpin
    await _no_violations(amy)
    # A phone's width: no sideways scroll with the pin and the badge shown.
    assert await amy.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    await amy.reload()
    await open_room(amy)
    await expect(pinned.locator(".text")).to_have_text("明日上午九時至十二時停水")
    # Unpinned: gone for amy, live.
    await manny.locator("#room-unpin").click()
    await expect(pinned).to_be_hidden()
    # Pinned again, the pin follows its message live: the author's edit, then the delete.
    await pin_button.click()
    await expect(pinned.locator(".text")).to_have_text("明日上午九時至十二時停水")
    room = f"building:{site.hood.building_a}"
    writer = await Client.connect(site.server, await login(site.server, "manny"))
    await writer.ok("edit", channel=room, offset=1, text="明日上午十時至十二時停水")
    await expect(pinned.locator(".text")).to_have_text("明日上午十時至十二時停水")
    await writer.ok("delete", channel=room, offset=1)
    await expect(pinned).to_be_hidden()
    await writer.close()
    await amy.reload()
    await open_room(amy)
    await expect(amy.locator("#messages .message")).to_have_count(1)
    await expect(pinned).to_be_hidden()


def _iso(ms: int) -> str:
    """``ms`` as a ``<time datetime>`` carries it (JavaScript's toISOString)."""
    at = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


async def test_an_answered_appeal_leads_from_the_inbox_to_its_answer(
    site: Site, new_page: NewPage
) -> None:
    ann = await new_page()
    await log_in(ann, "ann")
    mo = await Http.login(site, "mo")
    ann_http = await Http.login(site, "ann")
    warned = await mo.post(f"/api/mod/users/{site.hood.users['ann']}/warn", reason="請勿賣廣告")
    made = await ann_http.post(
        "/api/moderation/appeals", 201, kind="warning", id=warned["audit_id"], note="我唔知"
    )
    appeal_id = made["appeal"]["id"]
    await mo.post(f"/api/mod/appeals/{appeal_id}/close", reason=ANSWER)
    await ann_http.close()
    await mo.close()
    # The notify worker delivers the line in a moment.
    await ann.goto("/inbox")
    await ann.evaluate(
        """async () => {
            for (let i = 0; i < 100; i++) {
                const r = await (await fetch('/api/notifications')).json();
                if (r.notifications.some((n) => n.link.startsWith('/appeals'))) return;
                await new Promise((ok) => setTimeout(ok, 200));
            }
        }"""
    )
    await ann.goto("/inbox")
    line = ann.locator("#inbox-list .inbox-link", has_text="決定維持")
    await expect(line).to_have_count(1)
    await line.click()
    await ann.wait_for_url(f"**/appeals#appeal-{appeal_id}")
    shown = ann.locator(f"#appeal-{appeal_id}")
    await expect(shown.locator("h2")).to_have_text(ZH["modres.my_appeals_against_warning"])
    await expect(shown).to_contain_text(ZH["modres.reason"].format(reason="請勿賣廣告"))
    await expect(shown).to_contain_text(ZH["modres.my_appeal_note"].format(note="我唔知"))
    await expect(shown.locator(".my-appeal-answer")).to_have_text(ANSWER)
    assert await shown.locator("img").count() == 0
    await _no_violations(ann)


async def test_a_sanction_on_mod_names_its_room_and_the_prompting_message(
    site: Site, new_page: NewPage
) -> None:
    room = f"building:{site.hood.building_a}"
    ann_id = site.hood.users["ann"]
    text = "平價手袋 <b>私訊</b>"
    ann = await Client.connect(site.server, await login(site.server, "ann"))
    amy = await Client.connect(site.server, await login(site.server, "amy"))
    await ann.ok("publish", channel=room, text=text, client_msg_id="a1")
    await amy.ok("flag", channel=room, offset=1, reason="spam")
    mo = await Http.login(site, "mo")
    ann_http = await Http.login(site, "ann")
    # A mute in every room from the flagged message; its appeal.
    made = await mo.post(
        f"/api/mod/users/{ann_id}/mute", seconds=600, reason="洗版", channel=room, offset=1
    )
    await ann_http.post(
        "/api/moderation/appeals", 201, kind="mute", id=made["sanction"]["id"], note="唔啱"
    )
    await ann_http.close()
    await mo.close()
    for c in (ann, amy):
        await c.close()
    because = ZH["modres.because_message"].format(room="Block A", excerpt=text)
    page = await new_page()
    await log_in_to(page, "mo", "/mod")
    # The appeal's decision: every room, because of the message in Block A (its text as text).
    decision = page.locator("#mod-appeals .mod-appeal-item .mod-decision")
    await expect(decision.locator(".mod-decision-room")).to_have_text(
        ZH["modres.decision_everywhere"]
    )
    await expect(decision.locator(".mod-decision-because")).to_have_text(because)
    assert await decision.locator("b").count() == 0
    # The item's history: the mute applies to every room, because of this message.
    entry = page.locator("#mod-queue .mod-item .mod-history-entry[data-action=mute]")
    await expect(entry.locator(".mod-history-scope")).to_have_text(
        ZH["modp.history_applies_everywhere"]
    )
    await expect(entry.locator(".mod-history-because")).to_have_text(because)
    assert await page.locator("#mod-queue .mod-history-entry b").count() == 0
    await _no_violations(page)


async def test_a_granted_appeal_is_answered_and_acknowledged_from_the_chat_page(
    site: Site, new_page: NewPage
) -> None:
    """A mute appealed from the chat page: the mark links to the appeal on /appeals; the
    moderator accepts it on /mod, which lifts the mute (the composer comes back, live); the chat
    page says an answer waits, with a link; on /appeals the resident reads the outcome and the
    answer and acknowledges it, after which the chat page no longer says so."""
    ann = await new_page()
    await log_in(ann, "ann")
    await open_room(ann)
    mo = await Http.login(site, "mo")
    await mo.post(f"/api/mod/users/{site.hood.users['ann']}/mute", seconds=600, reason="洗版")
    await mo.close()
    why = ann.locator("#composer-why")
    await expect(ann.locator("#composer-text")).to_be_disabled()
    await why.get_by_role("button", name=ZH["modres.appeal"]).click()
    await ann.get_by_label(ZH["modres.appeal_note"]).fill("我只係講咗兩句")
    await ann.get_by_role("button", name=ZH["modres.appeal_send"]).click()
    appealed = why.get_by_role("link", name=ZH["modres.appealed_link"])
    await expect(appealed).to_have_attribute("href", re.compile(r"^/appeals#appeal-\d+$"))
    appeal_id = int((await appealed.get_attribute("href") or "").rpartition("-")[2])
    # After a reload too (the link is drawn from /api/moderation/mine).
    await ann.reload()
    await open_room(ann)
    await expect(appealed).to_have_attribute("href", f"/appeals#appeal-{appeal_id}")
    answered = ann.locator("#mod-notices .mod-answered")
    await expect(answered).to_have_count(0)

    # The moderator accepts the appeal on /mod: the mute is lifted, live on ann's page.
    mod_page = await new_page()
    await log_in_to(mod_page, "mo", "/mod")
    item = mod_page.locator(f'#mod-appeals .mod-appeal-item[data-appeal="{appeal_id}"]')
    await item.locator("input.mod-reason").fill("接納，已解除禁言")
    await item.get_by_role("button", name=ZH["modres.queue_grant"]).click()
    # Answered (lift, audit, inbox, feed: slow on a loaded machine), the queue drops it.
    await expect(item).to_have_count(0, timeout=90_000)
    await expect(ann.locator("#composer-text")).to_be_enabled()

    # The chat page says an answer waits, and leads to it.
    await ann.reload()
    await open_room(ann)
    await expect(answered).to_have_count(1)
    await expect(answered).to_contain_text(ZH["modres.answered_notice"])
    await _no_violations(ann)
    await answered.get_by_role("link", name=ZH["modres.answered_link"]).click()
    await ann.wait_for_url(f"**/appeals#appeal-{appeal_id}")
    shown = ann.locator(f"#appeal-{appeal_id}")
    await expect(shown.locator("h2")).to_have_text(ZH["modres.my_appeals_against_mute"])
    await expect(shown.locator(".my-appeal-answer")).to_have_text("接納，已解除禁言")
    await expect(shown.locator(".my-appeal-outcome")).to_have_text(
        ZH["modres.my_appeal_outcome_granted"]
    )
    await _no_violations(ann)
    await shown.get_by_role("button", name=ZH["modres.my_appeal_seen_button"]).click()
    await expect(shown.locator(".my-appeal-seen")).to_have_text(ZH["modres.my_appeal_seen"])
    await expect(shown.get_by_role("button")).to_have_count(0)
    await ann.reload()
    await expect(shown.locator(".my-appeal-seen")).to_have_text(ZH["modres.my_appeal_seen"])
    await expect(shown.get_by_role("button")).to_have_count(0)
    await ann.goto("/")
    await open_room(ann)
    await expect(ann.locator("#composer-text")).to_be_enabled()
    await expect(answered).to_have_count(0)

"""The residents' web app in a real browser (Chromium), against the real server in both modes.

Each test plays residents of the harness's neighbourhood (ann and amy in Block A, bob in Block B),
each in a browser context of their own, and checks what they see: exact texts, in exact order,
each exactly once.
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from linli.catalogue import messages_of
from tests.browser.conftest import INVITE_CODE, NewPage, Site, dialogs_of, log_in
from tests.e2e.harness import Client, login

pytestmark = pytest.mark.timeout(120)

ZH = messages_of("zh-Hant")
EN = messages_of("en")

TEXTS = "#messages .message .text"


async def send(page: Page, text: str) -> None:
    await page.fill("#composer-text", text)
    await page.press("#composer-text", "Enter")


async def offsets(page: Page) -> list[int]:
    values = await page.locator("#messages .message").evaluate_all(
        "items => items.map(li => li.dataset.offset === undefined ? -1 : Number(li.dataset.offset))"
    )
    return list(values)


async def test_two_residents_chat_live_with_presence_and_unread(
    site: Site, new_page: NewPage
) -> None:
    ann, amy = await new_page(), await new_page()
    await log_in(ann, "ann")
    await log_in(amy, "amy")
    for page in (ann, amy):
        await expect(page.locator("#room-title")).to_have_text("Block A")
    # Each sees the other online (the presence op, then join pushes).
    await expect(ann.locator("#online-list li")).to_have_text(["Ann (你)", "Amy"])
    await expect(amy.locator("#online-list li")).to_have_text(["Amy (你)", "Ann"])
    await expect(ann.locator("#online-title")).to_have_text(ZH["chat.online"].format(count=2))

    await send(ann, "早晨！Good morning")
    await expect(amy.locator(TEXTS)).to_have_text(["早晨！Good morning"])
    await expect(ann.locator(TEXTS)).to_have_text(["早晨！Good morning"])
    mine = ann.locator("#messages .message")
    await expect(mine).to_have_class(re.compile(r"\bmine\b"))
    await expect(mine.locator(".status")).to_have_text("")  # acknowledged: no "sending…"
    await expect(amy.locator("#messages .message .author")).to_have_text(["Ann"])

    await amy.fill("#composer-text", "早晨 Ann")
    await amy.click("#send")
    for page in (ann, amy):
        await expect(page.locator(TEXTS)).to_have_text(["早晨！Good morning", "早晨 Ann"])
        assert await offsets(page) == [1, 2]

    # Amy joins the gardening group on the groups page and writes there; Ann, looking at the
    # building's room, sees one unread message on the group, which goes once she opens it.
    await amy.goto("/groups")
    await amy.get_by_role("button", name=ZH["groups.join_label"].format(name="Gardening")).click()
    await expect(amy.locator("#groups-status")).to_have_text(
        ZH["groups.joined_now"].format(name="Gardening")
    )
    await amy.get_by_role("link", name=ZH["groups.open_label"].format(name="Gardening")).click()
    await amy.wait_for_function("window.linliClient && window.linliClient.state === 'open'")
    await expect(amy.locator("#room-title")).to_have_text("Gardening")
    await send(amy, "番茄出芽了")
    await expect(amy.locator(TEXTS)).to_have_text(["番茄出芽了"])
    gardening = ann.locator(".room-link", has_text="Gardening")
    await expect(gardening.locator(".badge")).to_be_visible()
    await expect(gardening.locator(".badge [aria-hidden]")).to_have_text("1")
    await expect(gardening.locator(".badge .sr-only")).to_have_text(
        ZH["chat.unread"].format(count=1)
    )
    await gardening.click()
    await expect(ann.locator(TEXTS)).to_have_text(["番茄出芽了"])
    await expect(gardening.locator(".badge")).to_be_hidden()


async def test_resident_of_another_building_cannot_see_the_room(
    site: Site, new_page: NewPage
) -> None:
    room_a = f"building:{site.hood.building_a}"
    ann, bob = await new_page(), await new_page()
    await log_in(ann, "ann")
    await send(ann, "Block A only")
    await expect(ann.locator(TEXTS)).to_have_text(["Block A only"])

    await log_in(bob, "bob")
    await expect(bob.locator("#room-title")).to_have_text("Block B")
    await expect(bob.locator(".room-name")).to_have_text(["Block B"])  # A is not offered
    await bob.goto(f"/#{room_a}")  # asked for by address anyway
    await expect(bob.locator("#room-notice")).to_have_text(ZH["chat.room_forbidden"])
    await expect(bob.locator("#messages .message")).to_have_count(0)
    await expect(bob.locator("#composer-text")).to_be_disabled()
    assert "Block A only" not in await bob.content()
    # The server refuses it, not only the page: over the WebSocket and over HTTP.
    code = await bob.evaluate(
        "ch => linliClient.request('subscribe', {channel: ch}).then(() => 'ok', e => e.code)",
        room_a,
    )
    assert code == "forbidden"
    code = await bob.evaluate(
        "ch => linliClient.history(ch, {limit: 10}).then(() => 'ok', e => e.code)", room_a
    )
    assert code == "forbidden"
    status = await bob.evaluate(
        "ch => fetch(`/api/channels/${ch}/history`).then(r => r.status)", room_a
    )
    assert status == 403


async def test_connection_cut_then_back_shows_every_message_once_in_order(
    site: Site, new_page: NewPage
) -> None:
    ann, amy = await new_page(), await new_page()
    await log_in(ann, "ann")
    await log_in(amy, "amy")
    await send(ann, "before")
    await expect(amy.locator(TEXTS)).to_have_text(["before"])

    # Cut Amy off: offline emulation stops new connections, but Chromium leaves an open
    # WebSocket alone, so close that one from the page as the network would.
    await amy.context.set_offline(True)
    await amy.evaluate("linliClient.dropConnection()")
    await expect(amy.locator("#banner")).to_be_visible()
    await expect(amy.locator("#banner")).to_have_text(ZH["chat.reconnecting"])

    # Amy writes while cut off: it waits as "sending…".
    await send(amy, "amy while offline")
    pending = amy.locator("#messages .message.pending")
    await expect(pending.locator(".status")).to_have_text(ZH["chat.sending"])

    # Ann keeps writing; Amy must not see it yet.
    for i in range(1, 6):
        await send(ann, f"gap {i}")
    await expect(ann.locator(TEXTS)).to_have_text(["before"] + [f"gap {i}" for i in range(1, 6)])
    await amy.wait_for_timeout(500)
    assert await amy.locator(TEXTS).all_text_contents() == ["before", "amy while offline"]
    assert await amy.evaluate("linliClient.state") == "reconnecting"

    await amy.context.set_offline(False)
    expected = ["before", *(f"gap {i}" for i in range(1, 6)), "amy while offline"]
    await expect(amy.locator(TEXTS)).to_have_text(expected)
    await expect(ann.locator(TEXTS)).to_have_text(expected)
    await expect(amy.locator("#banner")).to_be_hidden()
    await expect(amy.locator("#messages .message.pending")).to_have_count(0)
    for page in (ann, amy):
        assert await offsets(page) == [1, 2, 3, 4, 5, 6, 7]
    # The resent message was published once: the server holds seven, not eight.
    room = f"building:{site.hood.building_a}"
    reply = await amy.evaluate("ch => linliClient.history(ch, {limit: 100})", room)
    assert [p["data"]["text"] for p in reply["publications"]] == expected

    # The connection drops right after a message went out, before its acknowledgement came
    # back: the page resends it with the same client_msg_id and the server keeps one copy.
    await amy.evaluate(
        """() => {
            document.getElementById('composer-text').value = 'ack lost';
            document.getElementById('composer').requestSubmit();
            linliClient.dropConnection();
            // As the browser's "online" event would: skip the backoff, keep the test short.
            linliClient.reconnectNow();
        }"""
    )
    expected.append("ack lost")
    await expect(amy.locator(TEXTS)).to_have_text(expected)
    await expect(ann.locator(TEXTS)).to_have_text(expected)
    await expect(amy.locator("#messages .message.pending")).to_have_count(0)
    await amy.wait_for_function("linliClient.state === 'open'")
    reply = await amy.evaluate("ch => linliClient.history(ch, {limit: 100})", room)
    assert [p["data"]["text"] for p in reply["publications"]] == expected
    assert await offsets(amy) == [1, 2, 3, 4, 5, 6, 7, 8]


@pytest.mark.parametrize("server_env", [{"LINLI_RECOVERY_MAX": "2"}])
async def test_gap_too_long_to_recover_reloads_the_latest_page(
    site: Site, new_page: NewPage
) -> None:
    """More missed than the server recovers (here 2): the subscribe reply says
    ``recovered: false`` and the page reloads the newest history page instead."""
    ann, amy = await new_page(), await new_page()
    await log_in(ann, "ann")
    await log_in(amy, "amy")
    await send(ann, "before")
    await expect(amy.locator(TEXTS)).to_have_text(["before"])
    await amy.context.set_offline(True)
    await amy.evaluate("linliClient.dropConnection()")
    for i in range(1, 6):
        await send(ann, f"gap {i}")
    expected = ["before", *(f"gap {i}" for i in range(1, 6))]
    await expect(ann.locator(TEXTS)).to_have_text(expected)
    await amy.context.set_offline(False)
    await expect(amy.locator(TEXTS)).to_have_text(expected)
    assert await offsets(amy) == [1, 2, 3, 4, 5, 6]
    await send(ann, "after")
    await expect(amy.locator(TEXTS)).to_have_text([*expected, "after"])


async def test_language_switch_changes_the_page_and_is_remembered(
    site: Site, new_page: NewPage
) -> None:
    page = await new_page(locale="zh-TW")
    await page.goto("/login")
    await expect(page.locator("html")).to_have_attribute("lang", "zh-Hant-TW")
    await expect(page.locator("h1")).to_have_text(ZH["login.title"])
    await page.click("#lang-switch")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("h1")).to_have_text(EN["login.title"])
    await expect(page.locator("label[for=username]")).to_have_text(EN["login.username"])
    assert await page.evaluate("localStorage.getItem('linli.lang')") == "en"
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    assert cookies["linli_lang"] == "en"

    # Remembered through a log-in, on every page; error messages come from the same catalogue.
    await page.fill("#username", "ann")
    await page.fill("#password", "not the password")
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#form-error")).to_have_text(EN["errors.wrong_credentials"])
    await log_in(page, "ann")
    await expect(page.locator("label[for=composer-text]")).to_have_text(EN["chat.composer_label"])
    await expect(page.locator("#online-title")).to_have_text(EN["chat.online"].format(count=1))
    await page.click("#lang-switch")
    await expect(page.locator("label[for=composer-text]")).to_have_text(ZH["chat.composer_label"])
    await expect(page.locator("#send")).to_have_text(ZH["chat.send"])

    # A browser that prefers English gets English from the start.
    english = await new_page(locale="en-GB")
    await english.goto("/register")
    await expect(english.locator("h1")).to_have_text(EN["register.title"])


async def test_markup_in_a_message_is_shown_as_text(site: Site, new_page: NewPage) -> None:
    attack = "<img src=x onerror=alert(1)>"
    script = "<script>alert(2)</script><b>bold?</b>"
    ann, amy = await new_page(), await new_page()
    await log_in(ann, "ann")
    await log_in(amy, "amy")
    await send(ann, attack)
    await send(ann, script)
    for page in (ann, amy):
        await expect(page.locator(TEXTS)).to_have_text([attack, script])
        await page.wait_for_timeout(300)  # time for an injected onerror to fire, if any were
        assert await page.locator("#messages img, #messages script, #messages b").count() == 0
        assert dialogs_of(page) == []
    # After a reload (the history page) too. The page also carries a CSP forbidding inline
    # script, as a second wall (the test contexts bypass it to test the first one).
    response = await amy.reload()
    assert response is not None
    assert "script-src 'self'" in response.headers["content-security-policy"]
    await expect(amy.locator(TEXTS)).to_have_text([attack, script])
    assert dialogs_of(amy) == []


async def test_register_and_log_in_with_clear_messages(site: Site, new_page: NewPage) -> None:
    page = await new_page()
    await page.goto("/")
    await page.wait_for_url("**/login?next=/")  # the chat needs a login, then comes back
    await page.click("a[href='/register']")
    await page.fill("#invite_code", "WRONG234")
    await page.fill("#username", "ann")
    await page.fill("#display_name", "<i>Iris</i>")
    await page.fill("#password", "short")
    await page.fill("#unit", "7B")
    # The privacy notice must be agreed to (web/privacy): the box is required.
    await page.click("#register-form button[type=submit]")
    await expect(page.locator("#consent-error")).to_have_text(ZH["errors.consent_required.consent"])
    await page.check("#consent")
    await page.click("#register-form button[type=submit]")
    await expect(page.locator("#password-error")).to_have_text(
        ZH["errors.weak_password"].format(min=8)
    )
    await expect(page.locator("#password")).to_have_attribute("aria-invalid", "true")
    await page.fill("#password", "my bauhinia tree")
    await page.click("#register-form button[type=submit]")
    await expect(page.locator("#invite_code-error")).to_have_text(ZH["errors.invalid_invite"])
    await page.fill("#invite_code", INVITE_CODE.lower())  # typed in small letters: still fine
    await page.click("#register-form button[type=submit]")
    await expect(page.locator("#username-error")).to_have_text(ZH["errors.username_taken"])
    await expect(page.locator("#invite_code-error")).to_be_hidden()
    await page.fill("#username", "iris")
    await page.click("#register-form button[type=submit]")
    # A welcome with three first steps (web/onboard), then the chat without the tour.
    await page.wait_for_url("**/welcome")
    await page.click("#skip-tour")
    await page.wait_for_url("**/")
    await expect(page.locator("#room-title")).to_have_text("Block A")
    signed_in = ZH["nav.signed_in_as"].format(name="<i>Iris</i>")
    await expect(page.locator(".who")).to_have_text(signed_in)

    await page.click("#logout")
    await page.wait_for_url(re.compile(r".*/login(\?next=/)?$"))
    for _ in range(5):
        await page.fill("#username", "iris")
        await page.fill("#password", "wrong password")
        await page.click("#login-form button[type=submit]")
        await expect(page.locator("#form-error")).to_have_text(ZH["errors.wrong_credentials"])
        await page.evaluate("document.getElementById('form-error').hidden = true")
    # The next try comes too soon: it is delayed, not checked. The first delay is 1 s after the
    # latest failure and doubles with each one after it (web/throttle.py), so on a loaded
    # machine where a try took longer than the delay, the one after it is refused all the same.
    shown = ""
    for _ in range(3):
        await page.click("#login-form button[type=submit]")
        error = page.locator("#form-error")
        await expect(error).to_be_visible()
        shown = await error.inner_text()
        if shown == ZH["errors.too_many_attempts"]:
            break
        assert shown == ZH["errors.wrong_credentials"], shown
        await page.evaluate("document.getElementById('form-error').hidden = true")
    assert shown == ZH["errors.too_many_attempts"]


async def test_older_history_page_by_page(site: Site, new_page: NewPage) -> None:
    room = f"building:{site.hood.building_a}"
    writer = await Client.connect(site.server, await login(site.server, "ann"))
    try:
        for i in range(1, 71):
            await writer.ok("publish", channel=room, text=f"m{i}", client_msg_id=f"h{i}")
    finally:
        await writer.close()
    amy = await new_page(width=360, height=740)
    await log_in(amy, "amy")
    # A phone opens on the room list; the room is a tap away.
    await amy.locator(".room-link", has_text="Block A").click()
    await expect(amy.locator(TEXTS)).to_have_text([f"m{i}" for i in range(41, 71)])
    await amy.click("#load-older")
    await expect(amy.locator(TEXTS)).to_have_text([f"m{i}" for i in range(11, 71)])
    await amy.click("#load-older")
    await expect(amy.locator(TEXTS)).to_have_text([f"m{i}" for i in range(1, 71)])
    await expect(amy.locator("#load-older")).to_be_hidden()
    await expect(amy.locator("#no-older")).to_have_text(ZH["chat.no_older"])
    assert await offsets(amy) == list(range(1, 71))

"""The moderators' feed page and the rules page in a real browser (Chromium), against the real
server in both modes: a report made by a resident appears in the moderator's open page by itself;
the moderator hides the message with a reason, and the author's live connection gets the hide;
the item names its room, keeps its history after it is handled (under the "handled" filter) and
the outcome stays on the page."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from linli.catalogue import messages_of
from tests.browser.conftest import NewPage, Site, log_in
from tests.e2e.harness import Client, login

pytestmark = pytest.mark.timeout(120)

ZH = messages_of("zh-Hant")


async def test_report_appears_live_and_the_moderator_hides_it(
    site: Site, new_page: NewPage
) -> None:
    room = f"building:{site.hood.building_a}"
    page = await new_page()
    await log_in(page, "mo")
    await page.goto("/mod")
    await page.wait_for_function("window.linliClient && window.linliClient.state === 'open'")
    await expect(page.locator("#mod-live")).to_have_text(ZH["mod.live"])
    await expect(page.locator("#mod-empty")).to_be_visible()

    ann = await Client.connect(site.server, await login(site.server, "ann"))
    amy = await Client.connect(site.server, await login(site.server, "amy"))
    await ann.ok("subscribe", channel=room)
    await ann.ok("publish", channel=room, text="<b>平價</b>手袋，私訊我", client_msg_id="s1")
    await amy.ok("flag", channel=room, offset=1, reason="spam", text="又係廣告")

    # No reload: the page follows mod:flags and shows the report with its message.
    item = page.locator("#mod-queue .mod-item")
    await expect(item).to_have_count(1)
    await expect(item.locator(".mod-message .text")).to_have_text("<b>平價</b>手袋，私訊我")
    await expect(item.locator(".mod-message .author")).to_have_text("Ann")
    await expect(item.locator(".mod-flag .flagger")).to_have_text(["Amy"])
    await expect(item.locator(".mod-flag .reason")).to_have_text([ZH["mod.reason.spam"]])
    await expect(item.locator(".mod-flag .note")).to_have_text(["又係廣告"])
    await expect(item.locator(".mod-count")).to_have_text(ZH["mod.flag_count"].format(count=1))
    await expect(item.locator(".mod-room")).to_have_text("Block A")  # the name, not building:1
    await expect(item.locator(".mod-history-empty")).to_have_text(ZH["modp.history_empty"])
    await expect(item.locator(".mod-author-status")).to_have_text(ZH["modp.author_status.free"])
    # The everyday actions come first; restore is not offered for a visible message.
    primary = item.locator(".mod-primary button")
    await expect(primary).to_have_text(
        [ZH["mod.action.hide"], ZH["mod.action.dismiss"], ZH["mod.action.warn"]]
    )
    await expect(item.get_by_role("button", name=ZH["mod.action.restore"])).to_have_count(0)
    await expect(page.locator("#mod-empty")).to_be_hidden()

    # An action without a reason is not sent.
    await item.get_by_role("button", name=ZH["mod.action.hide"], exact=True).click()
    await expect(item.locator(".mod-status")).to_have_text(ZH["mod.reason_needed"])
    await item.get_by_label(ZH["mod.reason_label"]).fill("商業廣告")
    await item.get_by_role("button", name=ZH["mod.action.hide"], exact=True).click()

    [published, hide] = await ann.pubs(2)
    assert published["offset"] == 1
    assert (hide["offset"], hide["data"]["kind"], hide["data"]["target"]) == (2, "hide", 1)
    # Handled: gone from the open queue; shown as hidden under "handled", with its history.
    await expect(page.locator("#mod-empty")).to_be_visible()
    done = ZH["modp.done"].format(what=ZH["modp.what.hide"].format(author="Ann"))
    await expect(page.locator("#mod-result")).to_have_text(done)
    await page.select_option("#mod-state", "handled")
    await expect(item.locator(".mod-visibility")).to_have_text(ZH["mod.visibility.hidden"])
    entry = item.locator(".mod-history-entry")
    await expect(entry).to_have_count(1)
    await expect(entry.locator(".mod-history-who")).to_have_text("Mo")
    await expect(entry.locator(".mod-history-action")).to_have_text(ZH["audit.action.hide"])
    await expect(entry.locator(".mod-history-reason")).to_have_text(
        ZH["modp.history_reason"].format(reason="商業廣告")
    )
    # Hidden now: restore is offered instead of hide.
    await expect(item.locator(".mod-primary button").first).to_have_text(ZH["mod.action.restore"])
    # The outcome is still shown after the reload the action caused (not gone in 1.5 s).
    await page.wait_for_timeout(2000)
    await expect(page.locator("#mod-result")).to_have_text(done)

    # The figures table counts this month's report as received and handled.
    current = page.locator("#mod-figures tbody tr").first
    cells = current.locator("td")
    await expect(cells.nth(1)).to_have_text("1")
    await expect(cells.nth(3)).to_have_text("1")
    await expect(cells.nth(6)).to_have_text("100%")
    await ann.close()
    await amy.close()


async def test_rules_page_in_both_languages_and_only_staff_see_the_feed(
    site: Site, new_page: NewPage
) -> None:
    page = await new_page()
    await log_in(page, "ann")
    await expect(page.get_by_role("link", name=ZH["mod.nav_rules"])).to_be_visible()
    await expect(page.get_by_role("link", name=ZH["mod.nav"])).to_have_count(0)
    await page.goto("/rules")
    await expect(page.locator("#rules h1")).to_have_text("鄰里社區發布守則")
    await expect(page.locator("textarea")).to_have_count(0)  # only admins edit
    response = await page.goto("/mod")
    assert response is not None and response.status == 403  # a page saying why, not the feed
    await expect(page.locator("#error-title")).to_have_text(ZH["error_page.forbidden.title"])
    await expect(page.locator("#mod-queue")).to_have_count(0)
    english = await new_page(locale="en-GB")
    await english.goto("/rules")
    await expect(english.locator("#rules h1")).to_have_text("Linli community publishing rules")

"""The moderators' feed page and the rules page in a real browser (Chromium), against the real
server in both modes: a report made by a resident appears in the moderator's open page by itself;
the moderator hides the message with a reason, and the author's live connection gets the hide."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.browser.conftest import NewPage, Site, log_in
from tests.e2e.harness import Client, login

pytestmark = pytest.mark.timeout(120)

LOCALES = Path(__file__).resolve().parents[2] / "web" / "locales"
ZH = json.loads((LOCALES / "zh-Hant.json").read_text(encoding="utf-8"))


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
    await expect(page.locator("#mod-empty")).to_be_hidden()

    # An action without a reason is not sent.
    await item.get_by_role("button", name=ZH["mod.action.hide"], exact=True).click()
    await expect(item.locator(".mod-status")).to_have_text(ZH["mod.reason_needed"])
    await item.get_by_label(ZH["mod.reason_label"]).fill("商業廣告")
    await item.get_by_role("button", name=ZH["mod.action.hide"], exact=True).click()

    [published, hide] = await ann.pubs(2)
    assert published["offset"] == 1
    assert (hide["offset"], hide["data"]["kind"], hide["data"]["target"]) == (2, "hide", 1)
    # Handled: gone from the open queue; shown as hidden under "handled".
    await expect(page.locator("#mod-empty")).to_be_visible()
    await page.select_option("#mod-state", "handled")
    await expect(item.locator(".mod-visibility")).to_have_text(ZH["mod.visibility.hidden"])

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
    await page.goto("/mod")
    await page.wait_for_url("**/")  # residents are sent back to the chat
    english = await new_page(locale="en-GB")
    await english.goto("/rules")
    await expect(english.locator("#rules h1")).to_have_text("Linli community publishing rules")

"""A training session (教學說明會) on the welcome page in real Chromium at 360 px, in both
modes: a resident signs up with the page's button (the events' own sign-up) and is told their
place; with the one place taken, the next resident is offered the waiting list and joins it;
the handbook lists the session too. No page scrolls sideways and axe-core finds nothing serious
or critical."""

from __future__ import annotations

import time

import pytest
from playwright.async_api import Page, expect

from persistence.events import Audience, Counting, EventDraft, SessionDraft
from persistence.events.sql import HOUR_MS, SqlEventStore
from tests.browser.axe import serious_violations
from tests.browser.conftest import NewPage, Site, log_in

pytestmark = pytest.mark.timeout(240)

PHONE = {"width": 360, "height": 740}
DAY_MS = 24 * HOUR_MS
TITLE = "「鄰里」教學說明會 Linli training session"


async def _training_event(site: Site) -> int:
    store = await site.deployment.store()
    try:
        now = int(time.time() * 1000)
        start = now + 2 * DAY_MS
        event = await SqlEventStore(store.database).create_event(
            EventDraft(
                title=TITLE,
                body="",
                body_html="",
                place="管理處會議室",
                audience=Audience(everyone=True),
                counting=Counting.PERSON,
                max_seats=1,
                signup_opens=now - DAY_MS,
                signup_closes=start,
                sessions=(SessionDraft("", start, start + HOUR_MS, 1),),
                training=True,
            ),
            created_by=site.hood.users["ann"],
            now=now,
        )
        return event.id
    finally:
        await store.close()


async def _no_sideways_scroll(page: Page) -> None:
    extra = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert extra <= 0, f"{page.url} scrolls sideways by {extra} px"


async def test_training_sign_up_from_the_welcome_page_on_a_phone(
    new_page: NewPage, site: Site
) -> None:
    await _training_event(site)
    ann = await new_page(**PHONE)
    await log_in(ann, "ann")
    await ann.goto("/welcome")
    item = ann.locator(".training-item")
    await expect(item).to_have_count(1)
    await expect(item.locator(".training-name")).to_contain_text(TITLE)
    await expect(item.locator(".training-counts")).to_have_text(
        "名額 1 位，已報名 0 位 · 候補 0 位"
    )
    await _no_sideways_scroll(ann)
    assert await serious_violations(ann) == []
    await item.get_by_role("button", name="報名").click()
    await expect(item.locator(".training-state")).to_have_text("您已報名成功，到時見！")
    await expect(item.get_by_role("button")).to_be_hidden()
    assert await serious_violations(ann) == []

    # The one place is taken: the next resident is offered the waiting list.
    amy = await new_page(**PHONE)
    await log_in(amy, "amy")
    await amy.goto("/welcome")
    item = amy.locator(".training-item")
    await expect(item.locator(".training-counts")).to_have_text(
        "名額 1 位，已報名 1 位 · 候補 0 位"
    )
    await item.get_by_role("button", name="已額滿：登記候補").click()
    await expect(item.locator(".training-state")).to_have_text(
        "您是候補第 1 位；有名額空出時會通知您。"
    )
    await _no_sideways_scroll(amy)
    assert await serious_violations(amy) == []

    # The handbook lists it too, with amy's place.
    await amy.goto("/help/handbook")
    await expect(amy.locator(".training-state")).to_have_text(
        "您是候補第 1 位；有名額空出時會通知您。"
    )
    await _no_sideways_scroll(amy)
    assert await serious_violations(amy) == []

"""The event pages in Chromium against the real server, in both modes: a resident on a 360 px
phone signs up and gets the QR code and entry code; another, at a desktop, joins the waitlist
and sees their place — and is promoted while the page is open when the first cancels; the
organiser checks the promoted resident in by typed code, and a second check-in is refused with
who and when. axe-core finds nothing serious or critical on the event, manage and check-in
pages (embedded only: the pages alone)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from bench.events_rush import RushSetup, seed_rush
from tests.browser.axe import require_axe, serious_violations
from tests.browser.conftest import STEP_MS, browser  # noqa: F401  (fixture)
from tests.e2e.conftest import deployment  # noqa: F401  (fixture)
from tests.e2e.harness import Deployment, Server, running

pytestmark = pytest.mark.timeout(180)

EN = json.loads(
    (Path(__file__).resolve().parents[2] / "web" / "locales" / "events" / "en.json").read_text(
        "utf-8"
    )
)
DAY_MS = 86_400_000


@pytest.fixture
async def event_site(
    deployment: Deployment,  # noqa: F811
) -> AsyncIterator[tuple[Server, RushSetup, int]]:
    setup = await seed_rush(deployment.database_url, 3)
    async with running(deployment, LINLI_RUN_WORKERS="true") as server:
        now = int(time.time() * 1000)
        body = {
            "title": "中秋烤肉 BBQ",
            "body": "Bring **plates**.",
            "place": "Podium garden",
            "audience": {"buildings": [setup.building_id]},
            "max_seats": 2,
            "signup_opens": now - DAY_MS,
            "signup_closes": now + DAY_MS,
            "questions": [{"text": "Vegetarian?", "choices": ["No", "Yes"]}],
            "room": f"building:{setup.building_id}",
            "sessions": [
                {"label": "", "starts_at": now + 2 * DAY_MS,
                 "ends_at": now + 2 * DAY_MS + 3_600_000, "capacity": 2}
            ],
        }  # fmt: skip
        async with httpx.AsyncClient(
            base_url=server.http, cookies={"linli_session": setup.organiser}
        ) as organiser:
            reply = await organiser.post("/api/events", json=body, headers={"Origin": server.http})
            assert reply.status_code == 201, reply.text
        yield server, setup, reply.json()["event"]["id"]


async def _page(
    browser: Browser,  # noqa: F811
    server: Server,
    token: str,
    *,
    width: int = 1280,
) -> Page:
    context = await browser.new_context(
        locale="en-GB",
        viewport={"width": width, "height": 800},
        base_url=server.http,
        bypass_csp=True,
    )
    context.set_default_timeout(STEP_MS)
    await context.add_cookies([{"name": "linli_session", "value": token, "url": server.http}])
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: d.accept())
    page.errors = errors  # type: ignore[attr-defined]
    return page


async def test_sign_up_waitlist_promotion_and_check_in(
    browser: Browser,  # noqa: F811
    event_site: tuple[Server, RushSetup, int],
) -> None:
    server, setup, event_id = event_site
    phone = await _page(browser, server, setup.residents[0][1], width=360)
    desk = await _page(browser, server, setup.residents[1][1])
    door = await _page(browser, server, setup.organiser, width=360)
    try:
        # On the phone: 2 seats, a vegetarian answer, signed up; the QR code and code show.
        await phone.goto(f"/events/{event_id}")
        await expect(phone.locator("#event-title")).to_have_text("中秋烤肉 BBQ")
        await expect(phone.locator("#event-body strong")).to_have_text("plates")
        await phone.fill("#seats", "2")
        await phone.select_option("#answer-0", "Yes")
        await phone.click("#signup-submit")
        status = phone.locator(".event-status")
        await expect(status).to_have_text(EN["events.mine.confirmed"].format(seats=2))
        await expect(phone.locator(".event-qr")).to_be_visible()
        code_text = await phone.locator(".event-code").inner_text()
        assert code_text.startswith("Entry code: ")
        # Nothing is wider than the phone.
        assert await phone.evaluate("document.documentElement.scrollWidth") <= 360

        # At the desk: full, so the waitlist, number 1.
        await desk.goto(f"/events/{event_id}")
        await desk.click("#signup-submit")
        await expect(desk.locator(".event-status")).to_have_text(
            EN["events.mine.waitlisted"].format(position=1)
        )
        await expect(desk.locator("#event-sessions li")).to_contain_text(
            "2 of 2 places taken, 1 waiting"
        )

        # The phone cancels; the desk's open page shows the promotion by itself.
        await phone.click("text=" + EN["events.cancel"])
        await expect(phone.locator("#signup-form")).to_be_visible()
        await expect(desk.locator(".event-status")).to_have_text(
            EN["events.mine.confirmed"].format(seats=1), timeout=15_000
        )
        code = (await desk.locator(".event-code").inner_text()).removeprefix("Entry code: ")

        # The door: the typed code checks in once; again is refused with who and when.
        await door.goto(f"/events/{event_id}/checkin")
        await expect(door.locator("#checkin-counts")).to_have_text("0 of 1 checked in")
        await door.fill("#code", code.lower())
        await door.click("#code-form button[type=submit]")
        await expect(door.locator("#checkin-result")).to_have_text("✓ rush1 checked in")
        await expect(door.locator("#checkin-counts")).to_have_text("1 of 1 checked in")
        await door.fill("#code", code)
        await door.click("#code-form button[type=submit]")
        await expect(door.locator("#checkin-result")).to_contain_text(
            "Already checked in by rush-organiser at "
        )
        for page in (phone, desk, door):
            assert page.errors == []  # type: ignore[attr-defined]
    finally:
        for page in (phone, desk, door):
            await page.context.close()


@pytest.mark.parametrize("deployment", ["embedded"], indirect=True)
async def test_event_pages_pass_axe(
    browser: Browser,  # noqa: F811
    event_site: tuple[Server, RushSetup, int],
) -> None:
    require_axe()
    server, setup, event_id = event_site
    resident = await _page(browser, server, setup.residents[0][1], width=360)
    organiser = await _page(browser, server, setup.organiser)
    try:
        await resident.goto(f"/events/{event_id}")
        await resident.click("#signup-submit")
        await expect(resident.locator(".event-qr")).to_be_visible()
        assert await serious_violations(resident) == []
        await resident.goto("/events")
        await expect(resident.locator(".event-item")).to_have_count(1)
        assert await serious_violations(resident) == []
        await organiser.goto(f"/events/{event_id}/manage")
        await expect(organiser.locator("#manage-rows tr")).to_have_count(1)
        assert await serious_violations(organiser) == []
        await organiser.goto(f"/events/{event_id}/checkin")
        await expect(organiser.locator("#checkin-counts")).to_have_text("0 of 1 checked in")
        assert await serious_violations(organiser) == []
    finally:
        await resident.context.close()
        await organiser.context.close()


async def test_the_card_in_the_chat_room_follows_the_places(
    browser: Browser,  # noqa: F811
    event_site: tuple[Server, RushSetup, int],
) -> None:
    server, setup, event_id = event_site
    page = await _page(browser, server, setup.residents[2][1], width=360)
    try:
        await page.goto(f"/#building:{setup.building_id}")
        card = page.locator(f'.event-card[href="/events/{event_id}"]')
        await expect(card.locator(".event-card-title")).to_have_text("中秋烤肉 BBQ")
        places = card.locator(".event-card-places")
        await expect(places).to_have_text("0 of 2 places taken, 0 waiting")
        async with httpx.AsyncClient(
            base_url=server.http, cookies={"linli_session": setup.residents[0][1]}
        ) as ann:
            event = (await ann.get(f"/api/events/{event_id}")).json()["event"]
            reply = await ann.post(
                f"/api/events/{event_id}/sessions/{event['sessions'][0]['id']}/signups",
                json={"request_key": "card-1", "seats": 2, "answers": ["No"]},
                headers={"Origin": server.http},
            )
            assert reply.status_code == 201, reply.text
        await expect(places).to_have_text("2 of 2 places taken, 0 waiting")
        await card.click()
        await page.wait_for_url(f"**/events/{event_id}")
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        await page.context.close()


@pytest.mark.parametrize("deployment", ["embedded"], indirect=True)
async def test_organiser_creates_an_event_on_a_phone(
    browser: Browser,  # noqa: F811
    event_site: tuple[Server, RushSetup, int],
) -> None:
    server, setup, _ = event_site
    page = await _page(browser, server, setup.organiser, width=360)
    try:
        await page.goto("/events")
        await page.fill("#ev-title", "太極班 Tai chi")
        await page.fill("#ev-place", "Park")
        await page.fill("#ev-start", "2031-03-01T08:00")
        await page.fill("#ev-end", "2031-03-01T09:00")
        await page.fill("#ev-repeat", "3")
        await page.fill("#ev-capacity", "15")
        await page.select_option("#ev-audience", "building")
        await page.fill("#ev-questions", "Vegetarian? Yes / No\nAnything we should know")
        await page.fill("#ev-cost", "Free")
        await page.click("#new-submit")
        await page.wait_for_url("**/events/*")
        await expect(page.locator("#event-title")).to_have_text("太極班 Tai chi")
        await expect(page.locator("#event-sessions li")).to_have_count(3)
        await expect(page.locator("#event-cost")).to_have_text("Free")
        await expect(page.locator("#answer-0 option")).to_have_count(2)
        await expect(page.locator("#answer-1")).to_have_attribute("maxlength", "200")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        await page.context.close()

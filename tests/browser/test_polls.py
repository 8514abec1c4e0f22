"""The poll pages in Chromium, against the real server in both modes: the projector view (no
login, the token in the address) shows the bars move as real WebSocket voters vote and settles on
the final counts when the poll closes; a resident votes from the poll page, changes the vote, and
sees it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import STEP_MS, browser  # noqa: F401  (fixture)
from tests.e2e.conftest import deployment  # noqa: F401  (fixture)
from tests.e2e.harness import PASSWORD, Client, Deployment, Server, running
from tests.e2e.polls_helpers import PollApi, Voters, close_all, connect_many, make_voters

pytestmark = pytest.mark.timeout(120)

_LOCALES = Path(__file__).resolve().parents[2] / "web" / "locales"
EN = {
    **json.loads((_LOCALES / "en.json").read_text("utf-8")),
    **json.loads((_LOCALES / "polls" / "en.json").read_text("utf-8")),
}
OPTIONS = ["Green", "Blue", "Leave it"]


@pytest.fixture
async def poll_site(deployment: Deployment) -> AsyncIterator[tuple[Server, Voters]]:  # noqa: F811
    voters = await make_voters(deployment, 6)
    async with running(deployment, LINLI_RUN_WORKERS="true", LINLI_POLL_TALLY_RATE="4") as server:
        yield server, voters


async def _page(browser: Browser, server: Server, cookie: str | None = None) -> Page:  # noqa: F811
    context = await browser.new_context(
        locale="en-GB", viewport={"width": 1280, "height": 720}, base_url=server.http
    )
    context.set_default_timeout(STEP_MS)
    if cookie:
        await context.add_cookies([{"name": "linli_session", "value": cookie, "url": server.http}])
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors  # type: ignore[attr-defined]
    return page


def _qr_svg(url: str) -> bytes:
    import io

    import segno

    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=10, border=4, dark="#000", light="#fff")
    return out.getvalue()


async def _counts(page: Page) -> list[str]:
    return list(
        await page.locator("#bars .bar").evaluate_all("items => items.map(li => li.dataset.count)")
    )


async def test_projector_shows_bars_moving_and_final_counts(
    browser: Browser,  # noqa: F811
    poll_site: tuple[Server, Voters],
) -> None:
    server, voters = poll_site
    api = PollApi(server, voters.cookies[voters.organiser][1])
    names = sorted(n for n in voters.cookies if n.startswith("v"))
    clients: list[Client] = await connect_many(server, [voters.cookies[n][1] for n in names])
    try:
        poll = await api.create(
            channel=f"building:{voters.building_id}", question="Paint the lobby?", options=OPTIONS
        )
        await api.open(poll["id"])
        # No login: a fresh browser with nothing but the link.
        page = await _page(browser, server)
        await page.goto(f"/projector/{poll['projector_token']}")
        await expect(page.locator("#question")).to_have_text("Paint the lobby?")
        await expect(page.locator("#join-code")).to_have_text(poll["join_code"])
        await expect(page.locator("#bars .bar-label")).to_have_text(OPTIONS)
        await expect(page.locator("#voters")).to_have_text(EN["poll.voters"].format(count=0))
        # The QR code on the screen encodes the join link, black on white.
        natural = await page.locator("#qr").evaluate("img => img.complete && img.naturalWidth")
        assert natural and natural > 0
        svg = await api.get(f"/api/projector/{poll['projector_token']}/qr.svg")
        assert svg.headers["content-type"] == "image/svg+xml"
        assert svg.content == _qr_svg(f"{server.http}/p/{poll['join_code']}")

        # The bars move as the votes come in, one step at a time.
        await clients[0].ok("vote", poll_id=poll["id"], choices=[0], client_vote_id="a")
        await expect(page.locator("#voters")).to_have_attribute("data-voters", "1")
        assert await _counts(page) == ["1", "0", "0"]
        await expect(page.locator("#bars .bar").first.locator(".bar-figure")).to_have_text(
            EN["poll.count"].format(count=1, percent=100)
        )
        for i, client in enumerate(clients[1:4], start=1):
            await client.ok("vote", poll_id=poll["id"], choices=[1], client_vote_id=f"a{i}")
        await expect(page.locator("#voters")).to_have_attribute("data-voters", "4")
        assert await _counts(page) == ["1", "3", "0"]
        width = (
            await page.locator("#bars .bar")
            .nth(1)
            .locator(".bar-fill")
            .evaluate("el => el.style.width")
        )
        assert width == "75%"

        # A changed vote and the rest, then the close: the final counts, exactly.
        await clients[0].ok("vote", poll_id=poll["id"], choices=[2], client_vote_id="b")
        for i, client in enumerate(clients[4:], start=4):
            await client.ok("vote", poll_id=poll["id"], choices=[2], client_vote_id=f"a{i}")
        await api.close(poll["id"])
        await expect(page.locator("body")).to_have_attribute("data-state", "closed")
        await expect(page.locator("#closed-banner")).to_have_text(EN["polls.projector.closed"])
        await expect(page.locator("#voters")).to_have_attribute("data-voters", "6")
        assert await _counts(page) == ["0", "3", "3"]
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        await close_all(clients)
        await api.aclose()


async def test_a_scanned_code_logged_out_lands_on_the_poll_after_logging_in(
    browser: Browser,  # noqa: F811
    poll_site: tuple[Server, Voters],
) -> None:
    """Issue 22: the projector's QR code, scanned by a phone that is logged out, leads through
    the login page to the poll, not to the chat."""
    server, voters = poll_site
    api = PollApi(server, voters.cookies[voters.organiser][1])
    try:
        poll = await api.create(
            channel=f"building:{voters.building_id}", question="Which day?", options=OPTIONS
        )
        await api.open(poll["id"])
        page = await _page(browser, server)  # no session
        await page.goto(f"/p/{poll['join_code']}")
        await page.wait_for_url(f"**/login?next=/p/{poll['join_code']}")
        await page.fill("#username", "ann")
        await page.fill("#password", PASSWORD)
        await page.click("#login-form button[type=submit]")
        await page.wait_for_url(f"**/polls/{poll['id']}")
        await expect(page.locator("#poll-question")).to_have_text("Which day?")
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        await api.aclose()


async def test_resident_votes_and_changes_vote_on_the_poll_page(
    browser: Browser,  # noqa: F811
    poll_site: tuple[Server, Voters],
) -> None:
    server, voters = poll_site
    api = PollApi(server, voters.cookies[voters.organiser][1])
    try:
        poll = await api.create(
            channel=f"building:{voters.building_id}", question="Which day?", options=OPTIONS
        )
        await api.open(poll["id"])
        page = await _page(browser, server, voters.cookies["v0000"][1])
        # The short join link leads to the poll page.
        await page.goto(f"/p/{poll['join_code']}")
        await expect(page.locator("#poll-question")).to_have_text("Which day?")
        await page.get_by_label("Blue").check()
        await page.click("#poll-form button[type=submit]")
        await expect(page.locator("#poll-mine")).to_have_text(
            EN["poll.your_vote"].format(choices="Blue")
        )
        await expect(page.locator("#poll-bars .bar").nth(1)).to_have_attribute("data-count", "1")
        await page.get_by_label("Leave it").check()
        await page.click("#poll-form button[type=submit]")
        await expect(page.locator("#poll-bars .bar").nth(2)).to_have_attribute("data-count", "1")
        await expect(page.locator("#poll-bars .bar").nth(1)).to_have_attribute("data-count", "0")
        await api.close(poll["id"])
        await expect(page.locator("#poll-form")).to_be_hidden()
        await expect(page.locator("#poll-status")).to_have_text(EN["poll.state.closed"])
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        await api.aclose()


async def test_organiser_writes_opens_and_closes_a_poll_and_a_resident_joins_by_code(
    browser: Browser,  # noqa: F811
    poll_site: tuple[Server, Voters],
) -> None:
    server, voters = poll_site
    org = await _page(browser, server, voters.cookies[voters.organiser][1])
    await org.goto("/polls")
    await expect(org.locator("#drafts-none")).to_be_visible()
    await expect(org.locator("#open-none")).to_be_visible()
    await org.fill("#question", "Garden party on Sunday?")
    await org.fill("#options", "Yes\nNo\n\nMaybe\n")
    await org.check("#named")
    await org.click("#new-form button[type=submit]")
    q = "Garden party on Sunday?"
    item = org.locator("#draft-list .poll-item")
    await expect(item).to_have_count(1)
    await expect(item).to_have_attribute("data-state", "draft")
    await expect(item.locator("a").first).to_have_text(q)
    await item.get_by_role("button", name=EN["polls.open_label"].format(q=q)).click()
    item = org.locator("#open-list .poll-item")
    await expect(item).to_have_attribute("data-state", "open")
    poll_id = int(await item.get_attribute("data-poll-id") or 0)

    api = PollApi(server, voters.cookies[voters.organiser][1])
    try:
        detail = (await api.get(f"/api/polls/{poll_id}")).json()["poll"]
        assert detail["options"] == ["Yes", "No", "Maybe"] and detail["anonymous"] is False

        resident = await _page(browser, server, voters.cookies["v0003"][1])
        await resident.goto("/polls")
        await resident.fill("#join-code", detail["join_code"].lower())
        await resident.click("#join-form button[type=submit]")
        await expect(resident.locator("#poll-question")).to_have_text("Garden party on Sunday?")
        await resident.get_by_label("Maybe").check()
        await resident.click("#poll-form button[type=submit]")
        await expect(resident.locator("#poll-bars .bar").nth(2)).to_have_attribute(
            "data-count", "1"
        )

        close = item.get_by_role("button", name=EN["polls.close_label"].format(q=q))
        await close.click()
        # The close takes effect ~1.5 s later; meanwhile the button is busy and cannot be
        # pressed again.
        await expect(close).to_be_disabled()
        await expect(close).to_have_attribute("aria-busy", "true")
        done = org.locator("#recent-list .poll-item")
        await expect(done).to_have_attribute("data-state", "closed")
        await expect(
            done.get_by_role("link", name=EN["polls.csv_label"].format(q=q))
        ).to_be_visible()
        named = (await api.get(f"/api/polls/{poll_id}/votes")).json()["votes"]
        assert [(v["name"], v["choices"]) for v in named] == [("V0003", [2])]
        assert org.errors == [] and resident.errors == []  # type: ignore[attr-defined]
    finally:
        await api.aclose()

"""The meeting pages in Chromium against the real server: an owner on a 360 px phone checks in
with the door's code and votes when the chair opens the item (the vote box comes live); the
projector (no login) shows attendance and a tally moving as owners check in and vote, then the
final result when the chair closes the vote; axe finds nothing serious on the owner's page and
the chair's page, in both languages."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.axe import require_axe, serious_violations
from tests.browser.conftest import STEP_MS, browser  # noqa: F401  (fixture)
from tests.e2e.conftest import deployment  # noqa: F401  (fixture)
from tests.e2e.harness import Deployment, Server, running
from tests.e2e.test_meetings import Api, Community, make_community, register_csv

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[2]
EN = json.loads((ROOT / "web/locales/meetings/en.json").read_text("utf-8"))
ZH = json.loads((ROOT / "web/locales/meetings/zh-Hant.json").read_text("utf-8"))
DAY = 86_400_000
OWNERS = 8
EMBEDDED_ONLY = pytest.mark.parametrize("deployment", ["embedded"], indirect=True)


@dataclass
class Night:
    server: Server
    community: Community
    staff: Api
    meeting_id: int
    item_id: int
    code: str
    token: str

    def api(self, name: str) -> Api:
        return Api(self.server, self.community.cookies[name][1])


@pytest.fixture
async def night(deployment: Deployment) -> AsyncIterator[Night]:  # noqa: F811
    community = await make_community(deployment, OWNERS)
    async with running(deployment) as server:
        admin = Api(server, community.cookies["root"][1])
        staff = Api(server, community.cookies["lam"][1])
        await admin.post("/api/meetings/register", csv=register_csv(community))
        meeting = (
            await staff.post(
                "/api/meetings",
                201,
                kind="regular",
                title="Annual meeting",
                place="Lobby",
                starts_at=int(time.time() * 1000) + 11 * DAY,
                items=[{"title": "Repaint the lobby", "threshold": "art31"}],
            )
        )["meeting"]
        mid = meeting["id"]
        await staff.post(f"/api/meetings/{mid}/convene")
        await staff.post(f"/api/meetings/{mid}/open")
        full = (await staff.get(f"/api/meetings/{mid}"))["meeting"]
        try:
            yield Night(
                server,
                community,
                staff,
                mid,
                full["items"][0]["id"],
                full["checkin_code"],
                full["projector_token"],
            )
        finally:
            await staff.aclose()
            await admin.aclose()


async def _page(
    browser: Browser,  # noqa: F811
    server: Server,
    cookie: str | None,
    *,
    width: int,
    locale: str,
    axe: bool = False,
) -> Page:
    context = await browser.new_context(
        locale=locale,
        viewport={"width": width, "height": 800},
        base_url=server.http,
        bypass_csp=axe,  # axe is injected as an inline script; other pages keep the CSP
    )
    context.set_default_timeout(STEP_MS)
    if cookie:
        await context.add_cookies([{"name": "linli_session", "value": cookie, "url": server.http}])
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors  # type: ignore[attr-defined]
    return page


async def test_an_owner_checks_in_and_votes_on_a_phone(
    browser: Browser,  # noqa: F811
    night: Night,
) -> None:
    page = await _page(
        browser, night.server, night.community.cookies["o0000"][1], width=360, locale="zh-TW"
    )
    # The door's QR carries the code: the form comes filled in.
    await page.goto(f"/meetings/{night.meeting_id}?code={night.code}")
    await expect(page.locator("#meeting-title")).to_have_text("Annual meeting")
    await expect(page.locator("#code")).to_have_value(night.code)
    await page.get_by_role("button", name=ZH["meetings.checkin.submit"]).click()
    await expect(page.locator("#me-status")).to_contain_text("已報到")
    await expect(page.locator(".mt-attendance")).to_contain_text(f"出席 1/{OWNERS} 戶")
    # Nothing is wider than the phone.
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    # The chair opens the vote: the vote box comes without a reload.
    await night.staff.post(f"/api/meetings/{night.meeting_id}/items/{night.item_id}/open")
    vote = page.get_by_role("button", name=ZH["meetings.choice.for"], exact=True)
    await expect(vote).to_be_visible()
    await vote.click()
    await expect(page.locator("#vote-done")).to_be_visible()
    await expect(page.locator(".mt-for dd")).to_have_attribute("data-heads", "1")
    assert page.errors == []  # type: ignore[attr-defined]


async def test_the_projector_shows_attendance_and_a_tally_moving_then_the_result(
    browser: Browser,  # noqa: F811
    night: Night,
) -> None:
    page = await _page(browser, night.server, None, width=1280, locale="en-GB")
    await page.goto(f"/meetings/projector/{night.token}")
    await expect(page.locator("#p-title")).to_have_text("Annual meeting")
    await expect(page.locator("#p-code")).to_have_text(night.code)
    await expect(page.locator(".mt-attendance")).to_have_attribute("data-present", "0")
    names = [f"o{i:04d}" for i in range(6)]
    apis = [night.api(n) for n in names]
    try:
        for count, api in enumerate(apis, start=1):
            await api.post(f"/api/meetings/{night.meeting_id}/checkin", code=night.code)
            await expect(page.locator(".mt-attendance")).to_have_attribute(
                "data-present", str(count)
            )
        # 6 of 8 present is 3/4 of the heads: the quorum shows as reached (shares 1..3 each:
        # o0000..o0005 hold 1+2+3+1+2+3 = 12 of 1+2+3+1+2+3+1+2 = 15, 4/5 >= 2/3).
        await expect(page.locator(".mt-quorum")).to_have_text(EN["meetings.fig.quorum_met"])
        await night.staff.post(f"/api/meetings/{night.meeting_id}/items/{night.item_id}/open")
        path = f"/api/meetings/{night.meeting_id}/items/{night.item_id}/vote"
        for count, api in enumerate(apis[:5], start=1):
            await api.post(path, choice="for")
            await expect(page.locator(".mt-for dd")).to_have_attribute("data-heads", str(count))
        await apis[5].post(path, choice="against")
        await expect(page.locator(".mt-against dd")).to_have_attribute("data-heads", "1")
        # Not final until the chair closes the vote.
        verdict = page.locator("#mt-verdict")
        await expect(verdict).to_have_attribute("data-final", "false")
        # For: 5 of 6 present (>= 3/4), shares 1+2+3+1+2 = 9 of 12 (= 3/4): it passes.
        await expect(verdict).to_have_text(EN["meetings.result.would_pass"])
        await night.staff.post(f"/api/meetings/{night.meeting_id}/items/{night.item_id}/close")
        await expect(verdict).to_have_attribute("data-final", "true")
        await expect(verdict).to_have_text(EN["meetings.result.passed"])
        # A question from the floor reaches the projector once staff show it.
        asked = await apis[0].post(
            f"/api/meetings/{night.meeting_id}/questions", 201, text="Who pays for it?"
        )
        await night.staff.post(
            f"/api/meetings/{night.meeting_id}/questions/{asked['question_id']}/state",
            state="shown",
        )
        await apis[1].post(
            f"/api/meetings/{night.meeting_id}/questions/{asked['question_id']}/upvote"
        )
        await expect(page.locator(".mt-questions li")).to_have_text(
            "Who pays for it? (1 want to ask)"
        )
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        for api in apis:
            await api.aclose()


@EMBEDDED_ONLY
@pytest.mark.parametrize("locale", ["zh-TW", "en-GB"])
async def test_axe_finds_nothing_serious_on_the_meeting_pages(
    browser: Browser,  # noqa: F811
    night: Night,
    locale: str,
) -> None:
    require_axe()
    owner = await _page(
        browser,
        night.server,
        night.community.cookies["o0001"][1],
        width=360,
        locale=locale,
        axe=True,
    )
    await owner.goto(f"/meetings/{night.meeting_id}")
    await expect(owner.locator("#me-status")).not_to_be_empty()
    assert await serious_violations(owner) == []
    chair = await _page(
        browser,
        night.server,
        night.community.cookies["lam"][1],
        width=1280,
        locale=locale,
        axe=True,
    )
    await chair.goto(f"/meetings/{night.meeting_id}/run")
    await expect(chair.locator("#roll-body tr")).to_have_count(OWNERS)
    assert await serious_violations(chair) == []
    projector = await _page(browser, night.server, None, width=1280, locale=locale, axe=True)
    await projector.goto(f"/meetings/projector/{night.token}")
    await expect(projector.locator(".mt-attendance")).to_be_visible()
    assert await serious_violations(projector) == []
    for page in (owner, chair, projector):
        assert page.errors == []  # type: ignore[attr-defined]


@EMBEDDED_ONLY
async def test_the_desk_scans_an_owners_qr_and_checks_them_in(
    browser: Browser,  # noqa: F811
    night: Night,
) -> None:
    """The owner's page at 360 px shows their QR (an SVG image); the desk's phone opens its
    link, sees whose it is, taps Check in; the owner's page then says checked in; axe finds
    nothing serious on either page."""
    require_axe()
    owner = await _page(
        browser, night.server, night.community.cookies["o0003"][1], width=360, locale="zh-TW",
        axe=True,
    )  # fmt: skip
    await owner.goto(f"/meetings/{night.meeting_id}")
    qr = owner.locator("#my-qr-img")
    await expect(qr).to_be_visible()
    # Decoded, not merely visible (the SVG may still be on its way when the box shows).
    assert await qr.evaluate("img => img.decode().then(() => img.naturalWidth > 0)")
    assert await serious_violations(owner) == []
    api = night.api("o0003")
    try:
        link = (await api.get(f"/api/meetings/{night.meeting_id}"))["me"]["checkin_link"]
    finally:
        await api.aclose()
    desk = await _page(
        browser, night.server, night.community.cookies["lam"][1], width=360, locale="zh-TW",
        axe=True,
    )  # fmt: skip
    await desk.goto(link)
    await expect(desk.locator("#desk-owner")).to_have_text("O0003 的報到 QR 碼")
    assert await serious_violations(desk) == []
    assert await desk.evaluate("document.documentElement.scrollWidth") <= 360
    await desk.get_by_role("button", name=ZH["meetings.desk.checkin"]).click()
    await expect(desk.locator("#desk-units li")).to_have_text(re.compile("已報到$"))
    await expect(desk.get_by_role("button", name=ZH["meetings.desk.checkin"])).to_be_hidden()
    # The owner's page learns of it at once, without a reload: a push to the owner's own
    # connections (the public figures carry no one's presence).
    await expect(owner.locator("#me-status")).to_contain_text("已報到")
    await expect(owner.locator("#my-qr")).to_be_hidden()
    for page in (owner, desk):
        assert page.errors == []  # type: ignore[attr-defined]


def _pct(part: int, whole: int) -> str:
    """Per cent with one decimal, rounded half up, counted here (not by rules.percent)."""
    tenths = int(Fraction(part * 1000, whole) + Fraction(1, 2))
    return f"{tenths // 10}.{tenths % 10}"


async def test_the_owners_page_says_checked_in_live_and_checks_out(
    browser: Browser,  # noqa: F811
    night: Night,
) -> None:
    """o0004's page at 360 px, open on the phone: the desk ticks o0004 on the printed list and
    the page says checked in without a reload, and the quorum is reached; o0004 taps check out:
    the page says not checked in, the attendance and the quorum drop; back, o0004 checks in
    with the code, then the desk checks them out and the page says so, live. The quorum
    (Art. 31: 2/3 of the heads and of the shares) is counted here from the shares."""
    shares = night.community.shares  # o0000..o0007: 1, 2, 3, 1, 2, 3, 1, 2 (15)
    total = sum(shares.values())
    roll = (await night.staff.get(f"/api/meetings/{night.meeting_id}/roll"))["roll"]
    unit = {r["label"].split()[-1].split("-")[-1]: r["unit_id"] for r in roll}
    first = ["o0000", "o0001", "o0002", "o0003", "o0005"]  # 5 of 8 heads, 10 of 15 shares
    await night.staff.post(
        f"/api/meetings/{night.meeting_id}/checkin/staff",
        unit_ids=[unit[f"U{int(n[1:])}"] for n in first],
    )

    def shown(names: list[str]) -> tuple[str, bool]:
        heads, share = len(names), sum(shares[n] for n in names)
        text = (
            f"出席 {heads}/{OWNERS} 戶（{_pct(heads, OWNERS)} %）、"
            f"區分所有權 {_pct(share, total)} %"
        )
        return text, 3 * heads >= 2 * OWNERS and 3 * share >= 2 * total

    page = await _page(
        browser, night.server, night.community.cookies["o0004"][1], width=360, locale="zh-TW"
    )
    await page.goto(f"/meetings/{night.meeting_id}")
    status, attendance = page.locator("#me-status"), page.locator(".mt-attendance")
    quorum = page.locator(".mt-quorum")
    await expect(status).to_contain_text("尚未報到")
    text, met = shown(first)
    assert not met  # 5/8 < 2/3 of the heads
    await expect(attendance).to_have_text(text)
    await expect(quorum).to_have_text(ZH["meetings.fig.quorum_not_yet"])
    leave = page.get_by_role("button", name=ZH["meetings.checkout.submit"])
    await expect(leave).to_be_hidden()

    # The desk ticks o0004: the page says so, live.
    await night.staff.post(f"/api/meetings/{night.meeting_id}/checkin/staff", unit_ids=[unit["U4"]])
    await expect(status).to_contain_text("已報到")
    await expect(status).to_have_attribute("data-present", "1")
    text, met = shown([*first, "o0004"])
    assert met  # 6/8 and 12/15
    await expect(attendance).to_have_text(text)
    await expect(quorum).to_have_text(ZH["meetings.fig.quorum_met"])
    await expect(page.locator("#my-qr")).to_be_hidden()

    # o0004 leaves: checked out, the figures drop back.
    await leave.click()
    await expect(status).to_contain_text("尚未報到")
    await expect(status).to_have_attribute("data-present", "0")
    text, _ = shown(first)
    await expect(attendance).to_have_text(text)
    await expect(quorum).to_have_text(ZH["meetings.fig.quorum_not_yet"])
    await expect(leave).to_be_hidden()

    # Back: the code again (the form is there again); then the desk checks o0004 out.
    await page.locator("#code").fill(night.code)
    await page.get_by_role("button", name=ZH["meetings.checkin.submit"]).click()
    await expect(status).to_have_attribute("data-present", "1")
    await expect(quorum).to_have_text(ZH["meetings.fig.quorum_met"])
    await night.staff.post(
        f"/api/meetings/{night.meeting_id}/checkout/staff", unit_ids=[unit["U4"]]
    )
    await expect(status).to_have_attribute("data-present", "0")
    await expect(status).to_contain_text("尚未報到")
    await expect(quorum).to_have_text(ZH["meetings.fig.quorum_not_yet"])
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    assert page.errors == []  # type: ignore[attr-defined]

"""Surveys in Chromium against the real server: a resident answers on a 360 px phone, one
question per screen (tapping the labelled rating, back and next, the progress bar moving), the
answers saved as they go so a desktop of the same resident resumes with them in place, and the
response sent once; staff read the results page, whose SVG charts carry the exact numbers; no
sideways scrolling at 360 px; axe-core finds nothing serious or critical on the answer and
results pages, in both languages.

Answering runs in both modes (the rows are PostgreSQL or SQLite); the layout and accessibility
checks are about the pages alone and run in the embedded mode only.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from linli.catalogue import messages_of
from persistence.store import Role
from tests.browser.axe import require_axe, serious_violations
from tests.browser.conftest import NewPage, Site, log_in
from tests.e2e.harness import PASSWORD, login

pytestmark = pytest.mark.timeout(150)

ROOT = Path(__file__).resolve().parents[2]
ZH = messages_of("zh-Hant")
EN = messages_of("en")
EMBEDDED_ONLY = pytest.mark.parametrize("deployment", ["embedded"], indirect=True)

QUESTIONS: list[dict[str, Any]] = [
    {"id": "s1", "kind": "section", "text": "大廈管理 The estate"},
    {"id": "overall", "kind": "scale", "text": "整體滿意嗎？ Satisfied overall?", "required": True},
    {"id": "nps", "kind": "nps", "text": "會推薦嗎？ Would you recommend it?"},
    {
        "id": "fix",
        "kind": "multiple",
        "text": "要改善甚麼？ What should improve?",
        "options": ["燈 Lights", "垃圾桶 Bins", "門 Doors"],
        "max_choices": 2,
    },
    {"id": "note", "kind": "long_text", "text": "其他意見 Anything else?"},
]


async def _staff(site: Site) -> httpx.AsyncClient:
    """Ho of the management office, logged in over HTTP."""
    from web.passwords import hash_password

    store = await site.deployment.store()
    try:
        await store.create_user(
            username="ho",
            display_name="Ho",
            password_hash=await hash_password(PASSWORD),
            role=Role.MANAGEMENT,
            building_id=None,
            unit_label=None,
            now=int(time.time() * 1000),
        )
    finally:
        await store.close()
    return httpx.AsyncClient(
        base_url=site.url, cookies={"linli_session": await login(site.server, "ho")}
    )


async def _survey(staff: httpx.AsyncClient) -> int:
    created = await staff.post(
        "/api/surveys", json={"title": "十一月 November", "questions": QUESTIONS}
    )
    assert created.status_code == 201, created.text
    survey_id = int(created.json()["survey"]["id"])
    assert (await staff.post(f"/api/surveys/{survey_id}/publish", json={})).status_code == 200
    return survey_id


async def test_answering_on_a_phone_and_resuming_on_a_desktop(
    site: Site, new_page: NewPage
) -> None:
    async with await _staff(site) as staff:
        survey_id = await _survey(staff)
        phone = await new_page(width=360, height=740)
        await log_in(phone, "ann")
        await phone.goto("/surveys")
        await phone.get_by_role("link", name=ZH["surveys.list.answer"]).click()
        await phone.wait_for_url(f"**/surveys/{survey_id}")
        steps = phone.locator(".survey-step")
        # One question per screen: only the first shows, with its words on every point.
        await expect(steps.nth(0)).to_be_visible()
        await expect(steps.nth(1)).to_be_hidden()
        await expect(phone.locator("#survey-back")).to_be_hidden()
        # Next without the required answer: told so, and stays.
        await phone.click("#survey-next")
        await expect(phone.locator("#err-overall")).to_have_text(ZH["surveys.answer.need_answer"])
        await phone.get_by_label(f"4 {ZH['surveys.scale.4']}").click()
        progress = phone.locator("#survey-progress-text")
        await expect(progress).to_have_text(ZH["surveys.answer.progress"].format(done=1, total=4))
        await phone.click("#survey-next")
        await expect(steps.nth(1)).to_be_visible()
        await expect(steps.nth(0)).to_be_hidden()
        # The NPS by keyboard: focus 9's radio and choose it with the space bar.
        await phone.locator("input[name=nps][value='9']").focus()
        await phone.keyboard.press("Space")
        await expect(phone.locator("input[name=nps][value='9']")).to_be_checked()
        await phone.click("#survey-back")
        await expect(steps.nth(0)).to_be_visible()
        await expect(phone.get_by_label(f"4 {ZH['surveys.scale.4']}")).to_be_checked()
        await phone.click("#survey-next")
        await phone.click("#survey-next")
        # A third choice over the maximum of two is refused on the spot.
        for option in ("燈 Lights", "門 Doors", "垃圾桶 Bins"):
            await phone.get_by_label(option).click()
        await expect(phone.locator("#err-fix")).to_have_text(
            ZH["surveys.answer.too_many"].format(n=2)
        )
        await expect(phone.get_by_label("垃圾桶 Bins")).not_to_be_checked()
        await expect(phone.locator("#survey-saved")).to_have_text(ZH["surveys.answer.saved"])
        width = await phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 360

        # Another device of the same resident resumes with every saved answer in place.
        desktop = await new_page(width=1280, height=900)
        await log_in(desktop, "ann")
        await desktop.goto(f"/surveys/{survey_id}")
        await expect(desktop.get_by_label(f"4 {ZH['surveys.scale.4']}")).to_be_checked()
        await expect(desktop.locator("input[name=nps][value='9']")).to_be_checked()
        await expect(desktop.get_by_label("燈 Lights")).to_be_checked()
        await expect(desktop.get_by_label("門 Doors")).to_be_checked()
        # All questions on one screen on a desktop.
        await expect(desktop.locator(".survey-step:visible")).to_have_count(4)
        await desktop.fill("#answer-note", "大堂燈太暗 The lobby is dark")
        await desktop.click("#survey-submit")
        await expect(desktop.locator("#survey-done")).to_be_visible()

        results = (await staff.get(f"/api/surveys/{survey_id}/results")).json()
        assert results["responses"] == 1
        by_id = {q["id"]: q for q in results["questions"]}
        assert [b["count"] for b in by_id["overall"]["bars"]] == [0, 0, 0, 1, 0]
        assert [b["count"] for b in by_id["fix"]["bars"]] == [1, 0, 1]
        assert by_id["nps"]["nps"]["promoters"] == 1
        assert by_id["note"]["texts"] == ["大堂燈太暗 The lobby is dark"]

        # Staff read the results: the chart's numbers are in the SVG, beside the bars.
        reader = await new_page(locale="en", width=1280)
        await log_in(reader, "ho")
        await reader.goto(f"/surveys/{survey_id}/results")
        chart = reader.locator("#result-overall svg.survey-chart")
        await expect(chart).to_be_visible()
        numbers = await chart.locator("text.bar-number").all_text_contents()
        assert numbers == ["0 (0.0%)", "0 (0.0%)", "0 (0.0%)", "1 (100.0%)", "0 (0.0%)"]
        await expect(reader.locator("#results-summary")).to_contain_text("1 responses")


@EMBEDDED_ONLY
@pytest.mark.parametrize("locale", ["zh-TW", "en"])
async def test_axe_and_360px_on_the_survey_pages(
    site: Site, new_page: NewPage, locale: str
) -> None:
    require_axe()
    async with await _staff(site) as staff:
        survey_id = await _survey(staff)
        async with httpx.AsyncClient(
            base_url=site.url, cookies={"linli_session": await login(site.server, "amy")}
        ) as amy:
            sent = await amy.post(
                f"/api/surveys/{survey_id}/answers",
                json={"answers": {"overall": 2, "nps": 3, "fix": [1]}, "submit": True},
            )
            assert sent.status_code == 200
    for user, paths in (
        ("ann", ["/surveys", f"/surveys/{survey_id}"]),
        ("ho", ["/surveys", f"/surveys/{survey_id}/results"]),
    ):
        page = await new_page(locale=locale, width=360, height=740)
        await log_in(page, user)
        for path in paths:
            await page.goto(path)
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, f"{path} is {width} px wide at 360 px ({locale})"
            assert await serious_violations(page) == [], path
        words = EN if locale == "en" else ZH
        if user == "ann":
            await expect(page.locator("#survey-progress-text")).to_have_text(
                words["surveys.answer.progress"].format(done=0, total=4)
            )


async def test_staff_write_a_draft_preview_and_publish_it(site: Site, new_page: NewPage) -> None:
    async with await _staff(site) as staff:
        page = await new_page(width=1280, height=900)
        await log_in(page, "ho")
        await page.goto("/surveys")
        await page.click("#new-survey")
        await page.wait_for_url("**/surveys/new")
        await page.fill("#title", "電梯意見 The lifts")
        await page.select_option("#new-kind", "scale")
        await page.click("#add-question")
        await page.fill("#text-q1", "電梯滿意嗎？ Happy with the lifts?")
        await (
            page.locator(".survey-builder-item")
            .nth(0)
            .get_by_label(ZH["surveys.edit.required"])
            .check()
        )
        await page.select_option("#new-kind", "single")
        await page.click("#add-question")
        await page.fill("#text-q2", "邊部最差？ Which is worst?")
        await page.fill("#options-q2", "A座 Block A\nB座 Block B")
        # Moved above the first: the order is what residents will see.
        await (
            page.locator(".survey-builder-item")
            .nth(1)
            .get_by_role("button", name=ZH["surveys.edit.up"])
            .click()
        )
        await page.click("#edit-form button[type=submit]")
        await page.wait_for_url(re.compile(r".*/surveys/\d+$"))
        await expect(page.locator(".survey-preview")).to_be_visible()
        legends = await page.locator(".survey-step legend").all_text_contents()
        assert "邊部最差？ Which is worst?" in legends[0]
        assert "電梯滿意嗎？ Happy with the lifts?" in legends[1]
        survey_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
        stored = (await staff.get(f"/api/surveys/{survey_id}")).json()["survey"]
        assert stored["state"] == "draft"
        assert [q["id"] for q in stored["questions"]] == ["q2", "q1"]
        assert stored["questions"][1]["required"] is True
        assert stored["questions"][0]["options"] == ["A座 Block A", "B座 Block B"]
        # Residents see no draft, and no editor.
        resident = await new_page()
        await log_in(resident, "ann")
        await resident.goto(f"/surveys/{survey_id}")
        await expect(resident.locator("h1")).to_have_text(ZH["surveys.missing.title"])
        await resident.goto("/surveys/new")
        await expect(resident.locator("h1")).to_have_text(ZH["surveys.missing.title"])
        # Published from the list.
        await page.goto("/surveys")
        item = page.locator(f".survey-item[data-survey-id='{survey_id}']")
        await item.get_by_role("button", name=ZH["surveys.staff.publish"]).click()
        await expect(
            page.locator(f".survey-item[data-survey-id='{survey_id}'] .survey-state")
        ).to_have_text(ZH["surveys.state.open"])
        await resident.goto("/surveys")
        await expect(resident.get_by_role("link", name="電梯意見 The lifts")).to_be_visible()
        require_axe()
        await page.goto("/surveys/new")
        assert await serious_violations(page) == []

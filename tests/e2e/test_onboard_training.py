"""Training sessions (教學說明會) on the onboarding pages, end to end in both modes (scaled: the
organiser on one gateway process, residents on the other): an event marked ``training`` is on
the welcome page and the handbook of the residents in its audience (an ordinary event is not);
the page's sign-up button is the events' own sign-up, so its capacity holds and the next
resident is waitlisted; each resident's page then shows their own place."""

from __future__ import annotations

import re
import time

import pytest

from bench.events_rush import seed_rush
from tests.e2e.harness import Deployment
from tests.e2e.test_events import DAY_MS, HOUR_MS, Api, _create, _rows, gateways

pytestmark = pytest.mark.timeout(240)

TITLE = "「鄰里」教學說明會"
_ITEM_RE = re.compile(r'class="training-item" data-event="(\d+)" data-session="(\d+)"')


async def _page(api: Api, path: str) -> str:
    reply = await api.client.get(
        path, headers={"Accept": "text/html", "Accept-Language": "zh-Hant"}
    )
    assert reply.status_code == 200, reply.text[:500]
    return reply.text


async def test_a_resident_signs_up_for_training_from_the_welcome_page(
    deployment: Deployment,
) -> None:
    setup = await seed_rush(deployment.database_url, 3)
    now = int(time.time() * 1000)
    async with gateways(deployment) as servers:
        staff, home = servers[0], servers[-1]
        other, _ = await _create(staff, setup, 5, title="中秋烤肉")
        training, session = await _create(
            staff,
            setup,
            2,
            title=TITLE,
            training=True,
            sessions=[
                {
                    "label": "",
                    "starts_at": now + 2 * DAY_MS,
                    "ends_at": now + 2 * DAY_MS + HOUR_MS,
                    "capacity": 2,
                }
            ],
        )
        residents = [Api(home, token) for _, token in setup.residents]
        try:
            page = await _page(residents[0], "/welcome")
            assert TITLE in page and "中秋烤肉" not in page
            assert _ITEM_RE.findall(page) == [(str(training), str(session))]
            assert "名額 2 位，已報名 0 位 · 候補 0 位" in page
            assert TITLE in await _page(residents[0], "/help/handbook")
            event = (await residents[0].get(f"/api/events/{training}")).json()["event"]
            assert event["training"] is True

            # The button's request: the events' own sign-up.
            states = []
            for i, resident in enumerate(residents):
                reply = await resident.post(
                    f"/api/events/{training}/sessions/{session}/signups",
                    {"request_key": f"welcome-{i}", "seats": 1, "answers": []},
                )
                assert reply.status_code == 201, reply.text
                states.append((reply.json()["signup"]["state"], reply.json()["signup"]["position"]))
            assert states == [("confirmed", None), ("confirmed", None), ("waitlisted", 1)]

            first = await _page(residents[0], "/welcome")
            assert "您已報名成功" in first
            assert "名額 2 位，已報名 2 位 · 候補 1 位" in first
            assert "候補第 1 位" in await _page(residents[2], "/welcome")
            english = await residents[2].client.get(
                "/welcome", headers={"Accept": "text/html", "Accept-Language": "en"}
            )
            assert "You are number 1 on the waiting list" in english.text
        finally:
            for resident in residents:
                await resident.close()
    rows = await _rows(
        deployment,
        "SELECT state, count(*) AS n FROM event_signups WHERE session_id = $1 GROUP BY state",
        session,
    )
    assert {r["state"]: r["n"] for r in rows} == {"confirmed": 2, "waitlisted": 1}
    assert other != training

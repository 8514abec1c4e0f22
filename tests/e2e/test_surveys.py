"""Surveys end to end, in both modes, against the real server: one response per household when
three residents of one unit submit at once (each retrying); the audience enforced; required
questions; changes before the close replacing and after it refused; anonymity in the stored rows
and in the CSV; results equal to figures computed here from what was sent; the results page's
SVG charts carrying the numbers; and a survey opened, reminded and closed by the timers with no
page open, the reminder reaching exactly those who had not answered."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections import Counter
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest

from persistence.store import Role
from tests.conftest import wait_until
from tests.e2e.harness import Deployment, Server, running, seed
from web.sessions import new_token, token_hash

pytestmark = pytest.mark.timeout(120)

QUESTIONS: list[dict[str, Any]] = [
    {"id": "s1", "kind": "section", "text": "The estate"},
    {"id": "overall", "kind": "scale", "text": "Satisfied?", "required": True},
    {"id": "nps", "kind": "nps", "text": "Recommend?"},
    {"id": "best", "kind": "single", "text": "Best?", "options": ["lift", "lobby", "garden"]},
    {
        "id": "fix",
        "kind": "multiple",
        "text": "Fix?",
        "options": ["lights", "bins", "doors"],
        "max_choices": 2,
    },
    {"id": "note", "kind": "long_text", "text": "Anything else?"},
]


@dataclass
class Hood:
    building_a: int
    building_b: int
    #: username -> session cookie
    cookies: dict[str, str]
    ids: dict[str, int]


async def _hood(deployment: Deployment, residents: int = 9) -> Hood:
    """Block A: r0..r{n-1}, three to a unit (U0 = r0, r1, r2); Block B: far; ho is management."""
    base = await seed(deployment)
    store = await deployment.store()
    try:
        now = int(time.time() * 1000)
        cookies: dict[str, str] = {}
        ids: dict[str, int] = {}

        async def person(name: str, role: Role, building: int | None, unit: str | None) -> None:
            user = await store.create_user(
                username=name,
                display_name=name.title(),
                password_hash="-",
                role=role,
                building_id=building,
                unit_label=unit,
                now=now,
            )
            token = new_token()
            await store.create_session(
                token_hash(token), user.id, expires_at=now + 86_400_000, now=now
            )
            cookies[name], ids[name] = token, user.id

        await person("ho", Role.MANAGEMENT, None, None)
        await person("far", Role.RESIDENT, base.building_b, "9Z")
        for i in range(residents):
            await person(f"r{i}", Role.RESIDENT, base.building_a, f"U{i // 3}")
        return Hood(base.building_a, base.building_b, cookies, ids)
    finally:
        await store.close()


def _client(server: Server, cookie: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.http, cookies={"linli_session": cookie}, timeout=20)


def _env(deployment: Deployment) -> dict[str, str]:
    return {"LINLI_RUN_WORKERS": "true"} if deployment.mode == "scaled" else {}


async def _open_survey(staff: httpx.AsyncClient, **fields: Any) -> int:
    body = {"title": "November", "questions": QUESTIONS, **fields}
    created = await staff.post("/api/surveys", json=body)
    assert created.status_code == 201, created.text
    survey_id = int(created.json()["survey"]["id"])
    published = await staff.post(f"/api/surveys/{survey_id}/publish", json={})
    assert published.status_code == 200, published.text
    assert published.json()["survey"]["state"] == "open"
    return survey_id


def _one_decimal(part: int, whole: int) -> str:
    return str((Decimal(100 * part) / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP))


async def test_one_response_per_household_under_concurrency(deployment: Deployment) -> None:
    hood = await _hood(deployment)
    async with running(deployment, **_env(deployment)) as server:
        async with _client(server, hood.cookies["ho"]) as staff:
            survey_id = await _open_survey(
                staff,
                counting="unit",
                allow_change=False,
                audience="buildings",
                buildings=[hood.building_a],
            )
            path = f"/api/surveys/{survey_id}/answers"
            clients = [_client(server, hood.cookies[f"r{i}"]) for i in range(3)]
            try:

                async def submit(i: int) -> int:
                    body = {"answers": {"overall": i + 1}, "submit": True, "submission_id": f"s{i}"}
                    return (await clients[i].post(path, json=body)).status_code

                # Three residents of unit U0 at once, each sending its request twice.
                codes = await asyncio.gather(*(submit(i) for i in (0, 1, 2, 0, 1, 2)))
                assert Counter(codes)[200] in (1, 2)  # the winner, and maybe its own retry
                assert set(codes) <= {200, 409}
                results = (await staff.get(f"/api/surveys/{survey_id}/results")).json()
                assert results["responses"] == 1
                overall = next(q for q in results["questions"] if q["id"] == "overall")
                assert sum(b["count"] for b in overall["bars"]) == 1
                # Block A: nine residents in units U0-U2, ann and amy in 1A; far (Block B) is
                # not asked: 4 households.
                assert results["asked"] == 4
                # The household's answer is shown to all three as answered, and locked.
                mine = (await clients[2].get(f"/api/surveys/{survey_id}")).json()["mine"]
                assert mine["submitted"] is True
                again = await clients[1].post(
                    path, json={"answers": {"overall": 5}, "submit": True, "submission_id": "x"}
                )
                assert again.status_code == 409
                assert again.json()["error"]["code"] == "survey_answered"
            finally:
                for c in clients:
                    await c.aclose()
            async with _client(server, hood.cookies["far"]) as far:
                refused = await far.post(path, json={"answers": {"overall": 3}, "submit": True})
                assert refused.status_code == 404  # not asked: the survey is not even shown
                assert (await far.get(f"/api/surveys/{survey_id}")).status_code == 404
                listing = (await far.get("/api/surveys")).json()["surveys"]
                assert listing == []
            # A resident may not read results or run surveys.
            async with _client(server, hood.cookies["r4"]) as resident:
                assert (await resident.get(f"/api/surveys/{survey_id}/results")).status_code == 403
                made = await resident.post(
                    "/api/surveys", json={"title": "x", "questions": QUESTIONS}
                )
                assert made.status_code == 403


async def test_answers_results_csv_and_anonymity(deployment: Deployment) -> None:
    hood = await _hood(deployment, residents=12)
    async with running(deployment, **_env(deployment)) as server:
        async with _client(server, hood.cookies["ho"]) as staff:
            survey_id = await _open_survey(staff)
            path = f"/api/surveys/{survey_id}/answers"
            sent: dict[str, dict[str, Any]] = {}
            for i in range(12):
                name = f"r{i}"
                answers: dict[str, Any] = {"overall": 1 + i % 5, "fix": [i % 3]}
                if i % 2 == 0:
                    answers["nps"] = i % 11
                if i % 3 == 0:
                    answers["best"] = i % 3
                if i % 4 == 0:
                    answers["note"] = f"note {i}"
                async with _client(server, hood.cookies[name]) as resident:
                    # Saved as they go: one question, then the rest with the submit.
                    first = await resident.post(path, json={"answers": {"fix": answers["fix"]}})
                    assert first.status_code == 200 and first.json()["mine"]["submitted"] is False
                    if i == 0:
                        # Required question missing: refused, nothing of it kept.
                        bad = await resident.post(
                            path, json={"answers": {"nps": 3}, "submit": True}
                        )
                        assert bad.status_code == 400
                        assert bad.json()["error"]["code"] == "survey_missing_answers"
                        assert bad.json()["error"]["questions"] == ["overall"]
                        wrong = await resident.post(path, json={"answers": {"fix": [0, 1, 2]}})
                        assert wrong.json()["error"]["code"] == "survey_invalid_answer"
                        assert wrong.json()["error"]["question"] == "fix"
                        unknown = await resident.post(path, json={"answers": {"zz": 1}})
                        assert unknown.status_code == 400
                        mine = (await resident.get(f"/api/surveys/{survey_id}")).json()["mine"]
                        assert mine["answers"] == {"fix": answers["fix"]}
                    done = await resident.post(
                        path, json={"answers": answers, "submit": True, "submission_id": f"a{i}"}
                    )
                    assert done.status_code == 200, done.text
                    if i == 1:
                        # A change before the close replaces the answer.
                        answers = {**answers, "overall": 5}
                        changed = await resident.post(
                            path,
                            json={"answers": {"overall": 5}, "submit": True, "submission_id": "b1"},
                        )
                        assert changed.json()["mine"]["answers"]["overall"] == 5
                    sent[name] = answers
            closed = await staff.post(f"/api/surveys/{survey_id}/close", json={})
            assert closed.json()["survey"]["state"] == "closed"
            async with _client(server, hood.cookies["r3"]) as late:
                refused = await late.post(path, json={"answers": {"overall": 1}, "submit": True})
                assert refused.status_code == 409
                assert refused.json()["error"]["code"] == "survey_not_open"

            # Results equal the figures computed here from what was sent.
            results = (await staff.get(f"/api/surveys/{survey_id}/results")).json()
            assert results["responses"] == 12
            by_id = {q["id"]: q for q in results["questions"]}
            overall = [a["overall"] for a in sent.values()]
            assert [b["count"] for b in by_id["overall"]["bars"]] == [
                overall.count(v) for v in range(1, 6)
            ]
            assert [b["percent"] for b in by_id["overall"]["bars"]] == [
                _one_decimal(overall.count(v), 12) for v in range(1, 6)
            ]
            mean = (Decimal(sum(overall)) / 12).quantize(Decimal("0.1"), ROUND_HALF_UP)
            assert by_id["overall"]["mean"] == str(mean)
            nps = [a["nps"] for a in sent.values() if "nps" in a]
            promoters = sum(1 for v in nps if v >= 9)
            detractors = sum(1 for v in nps if v <= 6)
            assert by_id["nps"]["answered"] == len(nps)
            assert by_id["nps"]["nps"]["promoters"] == promoters
            assert by_id["nps"]["nps"]["detractors"] == detractors
            assert by_id["nps"]["nps"]["score"] == _one_decimal(promoters - detractors, len(nps))
            fixes = Counter(c for a in sent.values() for c in a["fix"])
            assert [b["count"] for b in by_id["fix"]["bars"]] == [fixes[c] for c in range(3)]
            assert sorted(by_id["note"]["texts"]) == sorted(
                a["note"] for a in sent.values() if "note" in a
            )

            # The results page draws the charts with the numbers in them.
            page = await staff.get(f"/surveys/{survey_id}/results")
            assert page.status_code == 200
            assert page.text.count('<svg class="survey-chart"') == 4  # overall, nps, best, fix
            for v in range(1, 6):
                count = overall.count(v)
                assert f">{count} ({_one_decimal(count, 12)}%)</text>" in page.text

            # The CSV of an anonymous survey: question columns only, one row per response.
            exported = await staff.get(f"/api/surveys/{survey_id}/export.csv")
            rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
            assert rows[0] == [
                f"{q['id']}: {q['text']}" for q in QUESTIONS if q["kind"] != "section"
            ]
            assert len(rows) == 13
            assert {len(row) for row in rows} == {5}  # no column beyond the questions
            names = {n.title() for n in sent}
            assert not any(cell in names for row in rows for cell in row)
            assert sorted(int(r[0]) for r in rows[1:]) == sorted(overall)

    # The stored rows: no user id, and no key left to link a token to anyone.
    store = await deployment.store()
    try:
        db = store.database
        assert (
            await db.fetchval(
                "SELECT count(*) FROM survey_responses "
                "WHERE survey_id = $1 AND user_id IS NOT NULL",
                survey_id,
            )
            == 0
        )
        assert (
            await db.fetchval("SELECT response_key FROM surveys WHERE id = $1", survey_id) is None
        )
    finally:
        await store.close()


async def test_named_survey_csv_has_names(deployment: Deployment) -> None:
    hood = await _hood(deployment, residents=3)
    async with running(deployment, **_env(deployment)) as server:
        async with _client(server, hood.cookies["ho"]) as staff:
            survey_id = await _open_survey(staff, anonymous=False)
            async with _client(server, hood.cookies["r1"]) as resident:
                page = await resident.get(f"/surveys/{survey_id}")
                assert "survey-named" in page.text  # the first screen says it is named
                ok = await resident.post(
                    f"/api/surveys/{survey_id}/answers",
                    json={"answers": {"overall": 4}, "submit": True},
                )
                assert ok.status_code == 200
            exported = await staff.get(f"/api/surveys/{survey_id}/export.csv")
            rows = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
            assert rows[0][:2] == ["name", "unit"]
            assert rows[1][:3] == ["R1", "U0", "4"]


async def _inbox_links(server: Server, cookie: str) -> list[str]:
    async with _client(server, cookie) as client:
        body = (await client.get("/api/notifications")).json()
    return [n["link"] for n in body["notifications"]]


async def test_timers_open_remind_and_close(deployment: Deployment) -> None:
    hood = await _hood(deployment, residents=3)
    async with running(deployment, **_env(deployment)) as server:
        async with _client(server, hood.cookies["ho"]) as staff:
            now = int(time.time() * 1000)
            body = {
                "title": "Timed",
                "questions": QUESTIONS,
                "audience": "buildings",
                "buildings": [hood.building_a],
                "opens_at": now + 1500,
                "remind_at": now + 4000,
                "closes_at": now + 6000,
            }
            survey_id = int((await staff.post("/api/surveys", json=body)).json()["survey"]["id"])
            published = await staff.post(f"/api/surveys/{survey_id}/publish", json={})
            assert published.json()["survey"]["state"] == "scheduled"

            async def state() -> str:
                return str((await staff.get(f"/api/surveys/{survey_id}")).json()["survey"]["state"])

            await wait_until(lambda: _is(state, "open"), timeout=10)
            link = f"/surveys/{survey_id}"
            # Everyone asked hears of the opening.
            await wait_until(lambda: _has(server, hood.cookies["r2"], link, 1), timeout=10)
            async with _client(server, hood.cookies["r0"]) as resident:
                ok = await resident.post(
                    f"/api/surveys/{survey_id}/answers",
                    json={"answers": {"overall": 3}, "submit": True},
                )
                assert ok.status_code == 200
            # The reminder reaches r1 and r2, who have not answered, and not r0.
            await wait_until(lambda: _has(server, hood.cookies["r2"], link, 2), timeout=15)
            await wait_until(lambda: _has(server, hood.cookies["r1"], link, 2), timeout=10)
            await wait_until(lambda: _is(state, "closed"), timeout=15)
            assert (await _inbox_links(server, hood.cookies["r0"])).count(link) == 1
            assert (await _inbox_links(server, hood.cookies["far"])).count(link) == 0


async def _is(state: Any, wanted: str) -> bool:
    return bool(await state() == wanted)


async def _has(server: Server, cookie: str, link: str, count: int) -> bool:
    return (await _inbox_links(server, cookie)).count(link) >= count

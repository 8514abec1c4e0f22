"""Surveys in search, in both modes: a draft is found only by the staff who run surveys; once
open, by its audience and nobody else; its questions and options are searchable, a
respondent's answers never are; the rebuild gives what the actions indexed."""

from __future__ import annotations

import time

import pytest

from linli.config import load_settings
from linli.runtime import open_runtime
from persistence.search import SearchFilters
from persistence.search.sql import SqlSearchStore
from persistence.store import Role, User
from persistence.surveys import Audience, Question, QuestionKind, Respondent, SurveyDraft
from tests.e2e.harness import Deployment, seed
from web.search import actions as search
from web.surveys import actions as surveys
from web.surveys import search as surveys_search
from workers.search import SearchWorker

pytestmark = pytest.mark.timeout(120)

SURVEYS = SearchFilters(kinds=("survey",))


async def test_surveys_are_found_by_their_audience_and_answers_never(
    deployment: Deployment,
) -> None:
    hood = await seed(deployment)
    async with open_runtime(load_settings(deployment.env()), migrate_first=True) as runtime:
        worker = SearchWorker(runtime.work_queue, SqlSearchStore(runtime.database))
        now = int(time.time() * 1000)
        boss = await runtime.store.create_user(
            username="boss", display_name="管理處", password_hash="-", role=Role.MANAGEMENT,
            building_id=None, unit_label=None, now=now,
        )  # fmt: skip
        ann = await runtime.store.get_user_by_username("ann")
        bob = await runtime.store.get_user_by_username("bob")
        assert ann is not None and bob is not None

        async def found(who: User, query: str) -> int:
            return (await search.search(runtime, who, query, filters=SURVEYS)).total

        draft = SurveyDraft(
            title="A棟停車場滿意度",
            intro="請告訴我們**停車場**的情況。",
            questions=(
                Question(id="q1", kind=QuestionKind.SCALE, text="照明足夠嗎？", required=True),
                Question(
                    id="q2",
                    kind=QuestionKind.SINGLE,
                    text="最常用的入口",
                    options=("北門", "南門"),
                ),
                Question(id="q3", kind=QuestionKind.LONG_TEXT, text="其他意見"),
            ),
            audience=Audience.BUILDINGS,
            buildings=(hood.building_a,),
        )
        survey = await surveys.create_survey(runtime, draft, actor_id=boss.id)
        await worker.run_until_idle()
        assert await found(boss, "停車場") == 1
        assert await found(ann, "停車場") == 0  # a draft: staff only

        survey = await surveys.publish(runtime, survey.id, actor_id=boss.id)
        await worker.run_until_idle()
        assert await found(ann, "停車場") == 1
        assert await found(ann, "南門") == 1  # the options are searchable
        assert await found(ann, "照明") == 1
        assert await found(bob, "停車場") == 0  # Block B is not in its audience
        page = await search.search(runtime, ann, "停車場", filters=SURVEYS)
        assert [(h.ref, h.link) for h in page.hits] == [(str(survey.id), f"/surveys/{survey.id}")]

        # An answer's text is never indexed.
        await surveys.answer(
            runtime,
            survey,
            Respondent(key=f"user:{ann.id}", user_id=ann.id, building_id=hood.building_a),
            {"q1": 4, "q3": "電單車位太少"},
            submit=True,
            submission_id="s1",
        )
        await worker.run_until_idle()
        assert (await search.search(runtime, boss, "電單車位")).total == 0

        rows = await runtime.database.fetch(
            "SELECT ref, title, folded, scopes FROM search_docs WHERE kind = 'survey'"
        )
        assert await surveys_search.reindex(runtime.store, runtime.clock.now_ms()) == 1
        again = await runtime.database.fetch(
            "SELECT ref, title, folded, scopes FROM search_docs WHERE kind = 'survey'"
        )
        assert [tuple(r[c] for c in ("ref", "title", "folded", "scopes")) for r in rows] == [
            tuple(r[c] for c in ("ref", "title", "folded", "scopes")) for r in again
        ]

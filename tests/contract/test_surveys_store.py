"""The surveys store's contract on SQLite and PostgreSQL: states, one response per resident or
household under concurrent saves, retries that change nothing, required questions, changes
before the close replacing and after it refused, anonymity in the stored rows (no user column
filled, the key erased at the close), and results equal to a count made here from the answers
this test sent."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from persistence.factory import open_store
from persistence.migrate import migrate
from persistence.store import Role, Store
from persistence.surveys import (
    AlreadyAnswered,
    AnswerRow,
    Audience,
    Counting,
    MissingAnswers,
    Question,
    QuestionKind,
    Respondent,
    SeriesSettings,
    SurveyDraft,
    SurveyExists,
    SurveyState,
    SurveyStateError,
    answer_rows,
    respondent_key,
)
from persistence.surveys.sql import SqlSurveyStore

NOW = 1_700_000_000_000
pytestmark = pytest.mark.timeout(60)

QUESTIONS = (
    Question(id="s1", kind=QuestionKind.SECTION, text="About the estate"),
    Question(id="q1", kind=QuestionKind.SCALE, text="Satisfied?", required=True),
    Question(id="q2", kind=QuestionKind.NPS, text="Recommend?"),
    Question(id="q3", kind=QuestionKind.SINGLE, text="Best?", options=("lift", "lobby", "garden")),
    Question(
        id="q4",
        kind=QuestionKind.MULTIPLE,
        text="Improve?",
        options=("lights", "bins", "doors", "paint"),
        max_choices=2,
    ),
    Question(id="q5", kind=QuestionKind.LONG_TEXT, text="Anything else?"),
)
DRAFT = SurveyDraft(title="November", intro="Tell us", questions=QUESTIONS)


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    await migrate(db_url)
    store = await open_store(db_url)
    try:
        yield store
    finally:
        await store.close()


async def _people(
    store: Store, count: int, *, per_unit: int = 1
) -> tuple[int, list[tuple[int, int | None, int]]]:
    building = await store.create_building("Harbour View", now=NOW)
    staff = await store.create_user(
        username="ho",
        display_name="Ho",
        password_hash="h",
        role=Role.MANAGEMENT,
        building_id=None,
        unit_label=None,
        now=NOW,
    )
    people = []
    for i in range(count):
        user = await store.create_user(
            username=f"r{i}",
            display_name=f"R{i}",
            password_hash="h",
            role=Role.RESIDENT,
            building_id=building.id,
            unit_label=f"U{i // per_unit}",
            now=NOW,
        )
        people.append((user.id, user.unit_id, building.id))
    return staff.id, people


def _respondent(person: tuple[int, int | None, int], counting: Counting) -> Respondent:
    key = respondent_key(counting, person[0], person[1])
    assert key is not None
    return Respondent(key=key, user_id=person[0], building_id=person[2])


def _rows(values: dict[str, object]) -> dict[str, list[AnswerRow]]:
    return {q.id: answer_rows(q, values[q.id]) for q in QUESTIONS if q.id in values}  # type: ignore[arg-type]


async def _open(surveys: SqlSurveyStore, staff: int, draft: SurveyDraft = DRAFT) -> int:
    survey = await surveys.create_survey(draft, created_by=staff, now=NOW)
    opened = await surveys.publish(survey.id, now=NOW + 1)
    assert opened.state is SurveyState.OPEN
    return survey.id


async def test_states_move_forward_and_only_drafts_change(store: Store) -> None:
    surveys = SqlSurveyStore(store.database)
    staff, _ = await _people(store, 0)
    survey = await surveys.create_survey(DRAFT, created_by=staff, now=NOW)
    assert survey.state is SurveyState.DRAFT and survey.draft == DRAFT
    edited = await surveys.update_survey(survey.id, SurveyDraft("Dec", "", QUESTIONS[1:2]))
    assert edited.draft.title == "Dec" and edited.version == survey.version + 1
    await surveys.publish(survey.id, now=NOW)
    with pytest.raises(SurveyStateError):
        await surveys.update_survey(survey.id, DRAFT)
    with pytest.raises(SurveyStateError):
        await surveys.publish(survey.id, now=NOW)
    closed, changed = await surveys.close_survey(survey.id, now=NOW + 5)
    assert changed and closed.state is SurveyState.CLOSED and closed.closed_at == NOW + 5
    again, changed = await surveys.close_survey(survey.id, now=NOW + 9)
    assert not changed and again.closed_at == NOW + 5


async def test_scheduled_opens_only_when_due(store: Store) -> None:
    surveys = SqlSurveyStore(store.database)
    staff, _ = await _people(store, 0)
    draft = SurveyDraft("Later", "", QUESTIONS, opens_at=NOW + 1000, closes_at=NOW + 5000)
    survey = await surveys.create_survey(draft, created_by=staff, now=NOW)
    published = await surveys.publish(survey.id, now=NOW)
    assert published.state is SurveyState.SCHEDULED
    early, opened = await surveys.open_due(survey.id, now=NOW + 999)
    assert not opened and early.state is SurveyState.SCHEDULED
    late, opened = await surveys.open_due(survey.id, now=NOW + 1000)
    assert opened and late.state is SurveyState.OPEN and late.opened_at == NOW + 1000
    _, opened = await surveys.open_due(survey.id, now=NOW + 1001)
    assert not opened


async def test_template_period_is_unique(store: Store) -> None:
    surveys = SqlSurveyStore(store.database)
    staff, _ = await _people(store, 0)
    first = await surveys.create_survey(
        DRAFT, created_by=staff, now=NOW, template="monthly", period="2026-11"
    )
    with pytest.raises(SurveyExists):
        await surveys.create_survey(
            DRAFT, created_by=staff, now=NOW, template="monthly", period="2026-11"
        )
    # Hand-written surveys (no template) never clash.
    await surveys.create_survey(DRAFT, created_by=staff, now=NOW)
    await surveys.create_survey(DRAFT, created_by=staff, now=NOW)
    found = await surveys.get_by_period("monthly", "2026-11")
    assert found is not None and found.id == first.id


@pytest.mark.parametrize("allow_change", [False, True])
async def test_one_response_per_household_under_concurrent_submits(
    store: Store, allow_change: bool
) -> None:
    """Three residents of one unit submit at once (and each retries): one response."""
    surveys = SqlSurveyStore(store.database)
    staff, people = await _people(store, 3, per_unit=3)
    draft = SurveyDraft("Unit", "", QUESTIONS, counting=Counting.UNIT, allow_change=allow_change)
    survey_id = await _open(surveys, staff, draft)

    async def submit(i: int) -> str:
        person = people[i]
        try:
            result = await surveys.save_response(
                survey_id,
                _respondent(person, Counting.UNIT),
                _rows({"q1": i + 1}),
                submit=True,
                submission_id=f"sub-{i}",
            )
        except AlreadyAnswered:
            return "refused"
        return "duplicate" if result.duplicate else "saved"

    outcomes = await asyncio.gather(*(submit(i) for i in range(3)), *(submit(i) for i in range(3)))
    results = await surveys.raw_results(survey_id)
    assert results.responses == 1
    assert sum(results.counts.get(("q1", v), 0) for v in range(1, 6)) == 1
    rows = await store.database.fetch("SELECT token FROM survey_responses")
    assert len(rows) == 1
    if not allow_change:
        # Exactly one first submission; its own retry is a duplicate, every other refused.
        assert Counter(outcomes)["saved"] == 1
        assert Counter(outcomes)["duplicate"] <= 1
        assert Counter(outcomes)["refused"] == 6 - 1 - Counter(outcomes)["duplicate"]


async def test_retry_of_a_submission_changes_nothing(store: Store) -> None:
    surveys = SqlSurveyStore(store.database)
    staff, people = await _people(store, 1)
    survey_id = await _open(surveys, staff, SurveyDraft("x", "", QUESTIONS, allow_change=False))
    me = _respondent(people[0], Counting.RESIDENT)
    first = await surveys.save_response(
        survey_id, me, _rows({"q1": 4, "q5": "more trees"}), submit=True, submission_id="a"
    )
    assert not first.duplicate and first.response.submitted and first.response.revision == 1
    again = await surveys.save_response(
        survey_id, me, _rows({"q1": 4, "q5": "more trees"}), submit=True, submission_id="a"
    )
    assert again.duplicate and again.response == first.response
    with pytest.raises(AlreadyAnswered):
        await surveys.save_response(survey_id, me, _rows({"q1": 1}), submit=True, submission_id="b")
    with pytest.raises(AlreadyAnswered):
        await surveys.save_response(survey_id, me, _rows({"q1": 1}), submit=False, submission_id="")
    mine = await surveys.my_response(survey_id, me.key)
    assert mine is not None and mine.answers == {"q1": 4, "q5": "more trees"}


async def test_saved_as_they_go_required_checked_changes_replace(store: Store) -> None:
    surveys = SqlSurveyStore(store.database)
    staff, people = await _people(store, 1)
    survey_id = await _open(surveys, staff)
    me = _respondent(people[0], Counting.RESIDENT)
    # Saved one question at a time (another device resumes from here).
    await surveys.save_response(
        survey_id, me, _rows({"q4": [3, 0]}), submit=False, submission_id=""
    )
    mine = await surveys.my_response(survey_id, me.key)
    assert mine is not None and not mine.submitted and mine.answers == {"q4": [0, 3]}
    # Required q1 missing: refused, and nothing of this request is kept.
    with pytest.raises(MissingAnswers) as missing:
        await surveys.save_response(survey_id, me, _rows({"q2": 9}), submit=True, submission_id="s")
    assert missing.value.questions == ("q1",)
    mine = await surveys.my_response(survey_id, me.key)
    assert mine is not None and mine.answers == {"q4": [0, 3]} and not mine.submitted
    assert (await surveys.raw_results(survey_id)).responses == 0  # unsubmitted: not counted
    await surveys.save_response(survey_id, me, _rows({"q1": 2}), submit=True, submission_id="s")
    # A change before the close replaces that question's answer, the rest stays.
    await surveys.save_response(
        survey_id, me, _rows({"q1": 5, "q4": [1]}), submit=True, submission_id="t"
    )
    mine = await surveys.my_response(survey_id, me.key)
    assert mine is not None and mine.answers == {"q1": 5, "q4": [1]} and mine.submitted
    results = await surveys.raw_results(survey_id)
    assert results.responses == 1
    assert results.counts == {("q1", 5): 1, ("q4", 1): 1}
    # After the close: refused, and the response can no longer be linked to its author.
    await surveys.close_survey(survey_id, now=NOW + 100)
    with pytest.raises(SurveyStateError):
        await surveys.save_response(survey_id, me, _rows({"q1": 1}), submit=True, submission_id="u")
    assert await surveys.my_response(survey_id, me.key) is None
    assert (await surveys.raw_results(survey_id)).counts == {("q1", 5): 1, ("q4", 1): 1}


async def test_anonymous_rows_carry_no_user_and_the_key_is_erased(store: Store) -> None:
    surveys = SqlSurveyStore(store.database)
    staff, people = await _people(store, 4)
    anonymous = await _open(surveys, staff)
    named = await _open(surveys, staff, SurveyDraft("named", "", QUESTIONS, anonymous=False))
    unfinished = _respondent(people[3], Counting.RESIDENT)
    for survey_id in (anonymous, named):
        for person in people[:3]:
            await surveys.save_response(
                survey_id,
                _respondent(person, Counting.RESIDENT),
                _rows({"q1": 3, "q5": "ok"}),
                submit=True,
                submission_id="x",
            )
        await surveys.save_response(
            survey_id, unfinished, _rows({"q2": 1}), submit=False, submission_id=""
        )
    ids = {str(p[0]) for p in people}
    responses = await store.database.fetch(
        "SELECT * FROM survey_responses WHERE survey_id = $1", anonymous
    )
    assert len(responses) == 4 and all(row["user_id"] is None for row in responses)
    for row in responses:  # nothing in a row is a user's id or name
        assert row["token"] not in ids and len(row["token"]) == 32
    answers = await store.database.fetch(
        "SELECT * FROM survey_answers WHERE survey_id = $1", anonymous
    )
    # An answer row is (survey, token, question, value, text): no person in it.
    assert len(answers) == 3 * 2 + 1
    assert {row["token"] for row in answers} <= {row["token"] for row in responses}
    assert {len(tuple(row)) for row in answers} == {5}  # type: ignore[arg-type]
    assert await surveys.named_answers(anonymous) == []
    assert sorted(a.user_id for a in await surveys.named_answers(named)) == sorted(
        p[0] for p in people[:3]
    )
    assert await surveys.answered(anonymous, [unfinished.key, f"user:{people[0][0]}"]) == {
        f"user:{people[0][0]}"
    }
    await surveys.close_survey(anonymous, now=NOW + 10)
    key = await store.database.fetchval("SELECT response_key FROM surveys WHERE id = $1", anonymous)
    assert key is None
    # The unfinished response is gone with the key; the three submitted remain, unlinked.
    assert (
        await store.database.fetchval(
            "SELECT count(*) FROM survey_responses WHERE survey_id = $1", anonymous
        )
        == 3
    )
    assert await surveys.answered(anonymous, [f"user:{people[0][0]}"]) == set()


async def test_results_equal_an_independent_count(store: Store) -> None:
    surveys = SqlSurveyStore(store.database)
    staff, people = await _people(store, 40)
    other = await store.create_building("Second", now=NOW)
    survey_id = await _open(surveys, staff)
    rng = random.Random(17)
    sent: list[dict[str, object]] = []
    buildings: list[int] = []
    for i, person in enumerate(people):
        values: dict[str, object] = {"q1": rng.randint(1, 5)}
        if rng.random() < 0.8:
            values["q2"] = rng.randint(0, 10)
        if rng.random() < 0.7:
            values["q3"] = rng.randint(0, 2)
        values["q4"] = rng.sample(range(4), rng.randint(0, 2))
        if rng.random() < 0.3:
            values["q5"] = f"note {i}"
        building = other.id if i % 3 == 0 else person[2]
        respondent = Respondent(f"user:{person[0]}", person[0], building)
        submit = i % 10 != 9  # every tenth is left unsubmitted: not counted
        await surveys.save_response(
            survey_id, respondent, _rows(values), submit=submit, submission_id=f"s{i}"
        )
        if submit:
            sent.append(values)
            buildings.append(building)
    expected: Counter[tuple[str, int]] = Counter()
    by_building: Counter[tuple[int, str, int]] = Counter()
    for values, building in zip(sent, buildings, strict=True):
        for qid in ("q1", "q2", "q3"):
            if qid in values:
                expected[(qid, values[qid])] += 1  # type: ignore[index]
                by_building[(building, qid, values[qid])] += 1  # type: ignore[index]
        for c in values["q4"]:  # type: ignore[attr-defined]
            expected[("q4", c)] += 1
            by_building[(building, "q4", c)] += 1
    results = await surveys.raw_results(survey_id)
    assert results.responses == len(sent) == 36
    assert dict(results.counts) == dict(expected)
    assert dict(results.counts_by_building) == dict(by_building)
    assert dict(results.responses_by_building) == dict(Counter(buildings))
    assert results.answered["q2"] == sum(1 for v in sent if "q2" in v)
    assert results.answered["q4"] == sum(1 for v in sent if v["q4"])
    assert sorted(results.texts["q5"]) == sorted(str(v["q5"]) for v in sent if "q5" in v)
    assert len(await surveys.anonymous_answers(survey_id)) == 36


async def test_audience_and_series(store: Store) -> None:
    surveys = SqlSurveyStore(store.database)
    staff, people = await _people(store, 3)
    other = await store.create_building("Second", now=NOW)
    outsider = await store.create_user(
        username="far",
        display_name="Far",
        password_hash="h",
        role=Role.RESIDENT,
        building_id=other.id,
        unit_label="1",
        now=NOW,
    )
    await store.create_group("garden", "Garden", "", created_by=people[0][0], now=NOW)
    everyone = await surveys.audience_users(DRAFT)
    assert [u for u, _ in everyone] == sorted([p[0] for p in people] + [outsider.id])
    block = SurveyDraft("b", "", QUESTIONS, audience=Audience.BUILDINGS, buildings=(other.id,))
    assert [u for u, _ in await surveys.audience_users(block)] == [outsider.id]
    group = SurveyDraft("g", "", QUESTIONS, audience=Audience.GROUP, group_slug="garden")
    assert [u for u, _ in await surveys.audience_users(group)] == [people[0][0]]
    assert await surveys.series("monthly") is None
    settings = SeriesSettings("monthly", True, Audience.EVERYONE, Counting.UNIT, staff, NOW)
    await surveys.set_series(settings)
    await surveys.set_series(settings)
    assert await surveys.series("monthly") == settings


async def test_the_demo_has_last_months_results_and_a_survey_chan_has_not_answered(
    store: Store,
) -> None:
    from linli.demo import seed_demo

    assert await seed_demo(store)
    surveys = SqlSurveyStore(store.database)
    last, current = sorted(await surveys.list_surveys(), key=lambda s: s.id)
    assert (last.state, current.state) == (SurveyState.CLOSED, SurveyState.OPEN)
    assert last.template == current.template == "monthly"
    assert (await surveys.raw_results(last.id)).responses == 4
    assert (await surveys.raw_results(current.id)).responses == 3
    chan = await store.get_user_by_username("chan")
    lee = await store.get_user_by_username("lee")
    assert chan is not None and lee is not None
    assert await surveys.answered(current.id, [f"user:{chan.id}", f"user:{lee.id}"]) == {
        f"user:{lee.id}"
    }
    close = await store.database.fetchval(
        "SELECT due_at FROM timer_jobs WHERE key = $1", f"surveys.close:{current.id}"
    )
    assert close == current.draft.closes_at

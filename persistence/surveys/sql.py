"""``SurveyStore`` in SQL for SQLite and PostgreSQL alike (see ``persistence/surveys`` for the
guarantees).

Every statement is in the dialects' common subset but two row locks: on PostgreSQL a save takes
``FOR SHARE`` on its survey (so the close, an UPDATE of that row, waits for saves in progress and
a save after it sees the survey closed) and ``FOR UPDATE`` on its response (so two saves of one
household apply one after the other). SQLite's ``BEGIN IMMEDIATE`` makes every write transaction
the only writer, which gives the same order.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Final

import msgspec
import orjson

from linli.types import BuildingId, Millis, UserId
from persistence.db import Database, Executor, Row, UniqueViolation
from persistence.surveys import (
    AlreadyAnswered,
    AnswerRow,
    AnswerValue,
    Audience,
    Counting,
    MissingAnswers,
    MyResponse,
    NamedAnswer,
    Question,
    RawResults,
    Respondent,
    SaveResult,
    SeriesSettings,
    Survey,
    SurveyDraft,
    SurveyExists,
    SurveyNotFound,
    SurveyState,
    SurveyStateError,
    response_token,
    rows_value,
)

_COLUMNS: Final = (
    "id, title, intro, questions, audience, buildings, group_slug, counting, anonymous, "
    "allow_change, state, opens_at, closes_at, remind_at, template, period, version, "
    "created_by, created_at, opened_at, closed_at"
)
_QUESTIONS = msgspec.json.Decoder(tuple[Question, ...])


def _survey(row: Row) -> Survey:
    return Survey(
        id=row["id"],
        draft=SurveyDraft(
            title=row["title"],
            intro=row["intro"],
            questions=_QUESTIONS.decode(row["questions"]),
            audience=Audience(row["audience"]),
            buildings=tuple(orjson.loads(row["buildings"])),
            group_slug=row["group_slug"],
            counting=Counting(row["counting"]),
            anonymous=bool(row["anonymous"]),
            allow_change=bool(row["allow_change"]),
            opens_at=row["opens_at"],
            closes_at=row["closes_at"],
            remind_at=row["remind_at"],
        ),
        state=SurveyState(row["state"]),
        template=row["template"],
        period=row["period"],
        version=row["version"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        opened_at=row["opened_at"],
        closed_at=row["closed_at"],
    )


def _draft_args(draft: SurveyDraft) -> tuple[object, ...]:
    return (
        draft.title,
        draft.intro,
        msgspec.json.encode(draft.questions).decode(),
        str(draft.audience),
        orjson.dumps(list(draft.buildings)).decode(),
        draft.group_slug,
        str(draft.counting),
        int(draft.anonymous),
        int(draft.allow_change),
        draft.opens_at,
        draft.closes_at,
        draft.remind_at,
    )


def _answers(questions: Sequence[Question], rows: Sequence[Row]) -> dict[str, AnswerValue]:
    grouped: dict[str, list[AnswerRow]] = {}
    for row in rows:
        grouped.setdefault(row["question"], []).append(
            AnswerRow(row["question"], int(row["value"]), row["text"])
        )
    found: dict[str, AnswerValue] = {}
    for question in questions:
        value = rows_value(question, grouped.get(question.id, []))
        if value is not None:
            found[question.id] = value
    return found


class SqlSurveyStore:
    """Implements ``persistence.surveys.SurveyStore`` over the shared database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- surveys --------------------------------------------------------------------------------

    async def create_survey(
        self,
        draft: SurveyDraft,
        *,
        created_by: UserId,
        now: Millis,
        template: str | None = None,
        period: str | None = None,
    ) -> Survey:
        try:
            row = await self._db.fetchrow(
                "INSERT INTO surveys (title, intro, questions, audience, buildings, group_slug, "
                "counting, anonymous, allow_change, opens_at, closes_at, remind_at, state, "
                "template, period, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, "
                f"$8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING {_COLUMNS}",
                *_draft_args(draft),
                str(SurveyState.DRAFT),
                template,
                period,
                created_by,
                now,
            )
        except UniqueViolation:
            raise SurveyExists(f"{template} {period}") from None
        assert row is not None
        return _survey(row)

    async def get_survey(self, survey_id: int) -> Survey | None:
        row = await self._db.fetchrow(f"SELECT {_COLUMNS} FROM surveys WHERE id = $1", survey_id)
        return None if row is None else _survey(row)

    async def get_by_period(self, template: str, period: str) -> Survey | None:
        row = await self._db.fetchrow(
            f"SELECT {_COLUMNS} FROM surveys WHERE template = $1 AND period = $2", template, period
        )
        return None if row is None else _survey(row)

    async def list_surveys(self) -> list[Survey]:
        rows = await self._db.fetch(f"SELECT {_COLUMNS} FROM surveys ORDER BY id DESC")
        return [_survey(row) for row in rows]

    async def _state(self, tx: Executor, survey_id: int, *allowed: SurveyState) -> SurveyState:
        state = await tx.fetchval("SELECT state FROM surveys WHERE id = $1", survey_id)
        if state is None:
            raise SurveyNotFound(f"survey {survey_id}")
        current = SurveyState(state)
        if current not in allowed:
            raise SurveyStateError(survey_id, allowed[0], current)
        return current

    async def _fetch(self, tx: Executor, survey_id: int) -> Survey:
        row = await tx.fetchrow(f"SELECT {_COLUMNS} FROM surveys WHERE id = $1", survey_id)
        assert row is not None
        return _survey(row)

    async def update_survey(self, survey_id: int, draft: SurveyDraft) -> Survey:
        async with self._db.transaction() as tx:
            state = await self._state(tx, survey_id, SurveyState.DRAFT, SurveyState.SCHEDULED)
            await tx.execute(
                "UPDATE surveys SET title = $2, intro = $3, questions = $4, audience = $5, "
                "buildings = $6, group_slug = $7, counting = $8, anonymous = $9, "
                "allow_change = $10, opens_at = $11, closes_at = $12, remind_at = $13, "
                "version = version + 1 WHERE id = $1 AND state = $14",
                survey_id,
                *_draft_args(draft),
                str(state),
            )
            return await self._fetch(tx, survey_id)

    async def publish(self, survey_id: int, *, now: Millis) -> Survey:
        async with self._db.transaction() as tx:
            await self._state(tx, survey_id, SurveyState.DRAFT)
            opens_at = await tx.fetchval("SELECT opens_at FROM surveys WHERE id = $1", survey_id)
            opening = opens_at is None or opens_at <= now
            await tx.execute(
                "UPDATE surveys SET state = $2, opened_at = $3, response_key = $4, "
                "version = version + 1 WHERE id = $1",
                survey_id,
                str(SurveyState.OPEN if opening else SurveyState.SCHEDULED),
                now if opening else None,
                secrets.token_hex(32),
            )
            return await self._fetch(tx, survey_id)

    async def open_due(self, survey_id: int, *, now: Millis) -> tuple[Survey, bool]:
        async with self._db.transaction() as tx:
            changed = (
                await tx.execute(
                    "UPDATE surveys SET state = $2, opened_at = $3, version = version + 1 "
                    "WHERE id = $1 AND state = $4 AND opens_at <= $3",
                    survey_id,
                    str(SurveyState.OPEN),
                    now,
                    str(SurveyState.SCHEDULED),
                )
                == 1
            )
            if not changed:
                await self._state(tx, survey_id, *SurveyState)
            return await self._fetch(tx, survey_id), changed

    async def close_survey(self, survey_id: int, *, now: Millis) -> tuple[Survey, bool]:
        async with self._db.transaction() as tx:
            await self._state(
                tx, survey_id, SurveyState.OPEN, SurveyState.SCHEDULED, SurveyState.CLOSED
            )
            changed = (
                await tx.execute(
                    "UPDATE surveys SET state = $2, closed_at = $3, response_key = NULL, "
                    "version = version + 1 WHERE id = $1 AND state IN ($4, $5)",
                    survey_id,
                    str(SurveyState.CLOSED),
                    now,
                    str(SurveyState.OPEN),
                    str(SurveyState.SCHEDULED),
                )
                == 1
            )
            if changed:
                # What was never submitted is not a response; without the key nobody could
                # finish it anyway.
                await tx.execute(
                    "DELETE FROM survey_answers WHERE survey_id = $1 AND token IN "
                    "(SELECT token FROM survey_responses WHERE survey_id = $1 AND submitted = 0)",
                    survey_id,
                )
                await tx.execute(
                    "DELETE FROM survey_responses WHERE survey_id = $1 AND submitted = 0",
                    survey_id,
                )
            return await self._fetch(tx, survey_id), changed

    # -- responses ------------------------------------------------------------------------------

    async def save_response(
        self,
        survey_id: int,
        respondent: Respondent,
        rows: Mapping[str, Sequence[AnswerRow]],
        *,
        submit: bool,
        submission_id: str,
    ) -> SaveResult:
        postgres = self._db.dialect == "postgres"
        async with self._db.transaction() as tx:
            survey_row = await tx.fetchrow(
                f"SELECT {_COLUMNS}, response_key FROM surveys WHERE id = $1"
                + (" FOR SHARE" if postgres else ""),
                survey_id,
            )
            if survey_row is None:
                raise SurveyNotFound(f"survey {survey_id}")
            survey = _survey(survey_row)
            if survey.state is not SurveyState.OPEN or survey_row["response_key"] is None:
                raise SurveyStateError(survey_id, SurveyState.OPEN, survey.state)
            token = response_token(survey_row["response_key"], respondent.key)
            await tx.execute(
                "INSERT INTO survey_responses (survey_id, token, building_id, user_id, "
                "submitted, submission_id, revision) VALUES ($1, $2, $3, NULL, 0, '', 0) "
                "ON CONFLICT (survey_id, token) DO NOTHING",
                survey_id,
                token,
                respondent.building_id,
            )
            stored = await tx.fetchrow(
                "SELECT submitted, submission_id FROM survey_responses "
                "WHERE survey_id = $1 AND token = $2" + (" FOR UPDATE" if postgres else ""),
                survey_id,
                token,
            )
            assert stored is not None
            if stored["submitted"]:
                if submit and submission_id and stored["submission_id"] == submission_id:
                    return SaveResult(await self._mine(tx, survey, token), duplicate=True)
                if not survey.draft.allow_change:
                    raise AlreadyAnswered(f"survey {survey_id}: answered already")
            questions = [q for q in rows if q in {x.id for x in survey.draft.questions}]
            for qid in questions:
                await tx.execute(
                    "DELETE FROM survey_answers WHERE survey_id = $1 AND token = $2 "
                    "AND question = $3",
                    survey_id,
                    token,
                    qid,
                )
            new_rows = [
                (survey_id, token, r.question, r.value, r.text) for q in questions for r in rows[q]
            ]
            if new_rows:
                await tx.executemany(
                    "INSERT INTO survey_answers (survey_id, token, question, value, text) "
                    "VALUES ($1, $2, $3, $4, $5)",
                    new_rows,
                )
            submitted = bool(stored["submitted"]) or submit
            if submit:
                present = {
                    row["question"]
                    for row in await tx.fetch(
                        "SELECT DISTINCT question FROM survey_answers "
                        "WHERE survey_id = $1 AND token = $2",
                        survey_id,
                        token,
                    )
                }
                missing = [
                    q.id for q in survey.draft.questions if q.required and q.id not in present
                ]
                if missing:
                    raise MissingAnswers(missing)
            await tx.execute(
                "UPDATE survey_responses SET submitted = $3, building_id = $4, user_id = $5, "
                "submission_id = $6, revision = revision + 1 WHERE survey_id = $1 AND token = $2",
                survey_id,
                token,
                int(submitted),
                respondent.building_id,
                None if survey.draft.anonymous else respondent.user_id,
                submission_id if submit else stored["submission_id"],
            )
            return SaveResult(await self._mine(tx, survey, token), duplicate=False)

    async def _mine(self, tx: Executor, survey: Survey, token: str) -> MyResponse:
        head = await tx.fetchrow(
            "SELECT submitted, revision FROM survey_responses WHERE survey_id = $1 AND token = $2",
            survey.id,
            token,
        )
        assert head is not None
        rows = await tx.fetch(
            "SELECT question, value, text FROM survey_answers WHERE survey_id = $1 AND token = $2 "
            "ORDER BY question, value",
            survey.id,
            token,
        )
        return MyResponse(
            answers=_answers(survey.draft.questions, rows),
            submitted=bool(head["submitted"]),
            revision=int(head["revision"]),
        )

    async def my_response(self, survey_id: int, respondent_key: str) -> MyResponse | None:
        async with self._db.transaction() as tx:
            row = await tx.fetchrow(
                f"SELECT {_COLUMNS}, response_key FROM surveys WHERE id = $1", survey_id
            )
            if row is None or row["response_key"] is None:
                return None
            token = response_token(row["response_key"], respondent_key)
            exists = await tx.fetchval(
                "SELECT 1 FROM survey_responses WHERE survey_id = $1 AND token = $2",
                survey_id,
                token,
            )
            if not exists:
                return None
            return await self._mine(tx, _survey(row), token)

    async def answered(self, survey_id: int, respondent_keys: Sequence[str]) -> set[str]:
        async with self._db.transaction() as tx:
            key = await tx.fetchval("SELECT response_key FROM surveys WHERE id = $1", survey_id)
            if key is None:
                return set()
            tokens = {
                row["token"]
                for row in await tx.fetch(
                    "SELECT token FROM survey_responses WHERE survey_id = $1 AND submitted = 1",
                    survey_id,
                )
            }
        return {k for k in respondent_keys if response_token(key, k) in tokens}

    # -- results --------------------------------------------------------------------------------

    async def raw_results(self, survey_id: int) -> RawResults:
        # One transaction: on PostgreSQL the reads below see one another's rows (READ COMMITTED
        # re-snapshots per statement, so a save could land in between; the counts per building
        # are then summed to the totals in Python rather than read twice).
        async with self._db.transaction() as tx:
            by_building = await tx.fetch(
                "SELECT r.building_id, a.question, a.value, count(*) AS n "
                "FROM survey_answers a JOIN survey_responses r "
                "ON r.survey_id = a.survey_id AND r.token = a.token "
                "WHERE a.survey_id = $1 AND r.submitted = 1 AND a.text IS NULL "
                "GROUP BY r.building_id, a.question, a.value",
                survey_id,
            )
            responses = await tx.fetch(
                "SELECT building_id, count(*) AS n FROM survey_responses "
                "WHERE survey_id = $1 AND submitted = 1 GROUP BY building_id",
                survey_id,
            )
            answered = await tx.fetch(
                "SELECT a.question, count(DISTINCT a.token) AS n FROM survey_answers a "
                "JOIN survey_responses r ON r.survey_id = a.survey_id AND r.token = a.token "
                "WHERE a.survey_id = $1 AND r.submitted = 1 GROUP BY a.question",
                survey_id,
            )
            texts = await tx.fetch(
                "SELECT a.question, a.text FROM survey_answers a "
                "JOIN survey_responses r ON r.survey_id = a.survey_id AND r.token = a.token "
                "WHERE a.survey_id = $1 AND r.submitted = 1 AND a.text IS NOT NULL "
                "ORDER BY a.question, a.token",
                survey_id,
            )
        counts_by_building: dict[tuple[BuildingId | None, str, int], int] = {}
        counts: dict[tuple[str, int], int] = {}
        for row in by_building:
            n = int(row["n"])
            counts_by_building[(row["building_id"], row["question"], int(row["value"]))] = n
            key = (row["question"], int(row["value"]))
            counts[key] = counts.get(key, 0) + n
        per_building = {row["building_id"]: int(row["n"]) for row in responses}
        text_map: dict[str, list[str]] = {}
        for row in texts:
            text_map.setdefault(row["question"], []).append(row["text"])
        return RawResults(
            survey_id=survey_id,
            responses=sum(per_building.values()),
            responses_by_building=per_building,
            counts=counts,
            counts_by_building=counts_by_building,
            answered={row["question"]: int(row["n"]) for row in answered},
            texts={q: tuple(t) for q, t in text_map.items()},
        )

    async def _submitted_answers(self, survey_id: int) -> tuple[Survey | None, list[Row]]:
        survey = await self.get_survey(survey_id)
        rows = await self._db.fetch(
            "SELECT r.token, r.user_id, a.question, a.value, a.text FROM survey_responses r "
            "LEFT JOIN survey_answers a ON a.survey_id = r.survey_id AND a.token = r.token "
            "WHERE r.survey_id = $1 AND r.submitted = 1 ORDER BY r.token, a.question, a.value",
            survey_id,
        )
        return survey, rows

    async def named_answers(self, survey_id: int) -> list[NamedAnswer]:
        survey, rows = await self._submitted_answers(survey_id)
        if survey is None or survey.draft.anonymous:
            return []
        grouped: dict[str, tuple[UserId, list[Row]]] = {}
        for row in rows:
            entry = grouped.setdefault(row["token"], (row["user_id"], []))
            if row["question"] is not None:
                entry[1].append(row)
        return sorted(
            (
                NamedAnswer(user_id, _answers(survey.draft.questions, answer_rows))
                for user_id, answer_rows in grouped.values()
                if user_id is not None
            ),
            key=lambda a: a.user_id,
        )

    async def anonymous_answers(self, survey_id: int) -> list[Mapping[str, AnswerValue]]:
        survey, rows = await self._submitted_answers(survey_id)
        if survey is None:
            return []
        grouped: dict[str, list[Row]] = {}
        for row in rows:
            entry = grouped.setdefault(row["token"], [])
            if row["question"] is not None:
                entry.append(row)
        return [_answers(survey.draft.questions, r) for r in grouped.values()]

    async def audience_users(self, draft: SurveyDraft) -> list[tuple[UserId, int | None]]:
        if draft.audience is Audience.GROUP:
            rows = await self._db.fetch(
                "SELECT u.id, u.unit_id FROM users u JOIN group_members m ON m.user_id = u.id "
                "WHERE m.slug = $1 ORDER BY u.id",
                draft.group_slug,
            )
        else:
            rows = await self._db.fetch(
                "SELECT id, unit_id, building_id FROM users WHERE building_id IS NOT NULL "
                "ORDER BY id"
            )
            if draft.audience is Audience.BUILDINGS:
                wanted = set(draft.buildings)
                rows = [row for row in rows if row["building_id"] in wanted]
        return [(int(row["id"]), row["unit_id"]) for row in rows]

    # -- the monthly series ---------------------------------------------------------------------

    async def series(self, template: str) -> SeriesSettings | None:
        row = await self._db.fetchrow(
            "SELECT template, enabled, audience, counting, updated_by, updated_at "
            "FROM survey_series WHERE template = $1",
            template,
        )
        if row is None:
            return None
        return SeriesSettings(
            template=row["template"],
            enabled=bool(row["enabled"]),
            audience=Audience(row["audience"]),
            counting=Counting(row["counting"]),
            updated_by=row["updated_by"],
            updated_at=row["updated_at"],
        )

    async def set_series(self, settings: SeriesSettings) -> None:
        await self._db.execute(
            "INSERT INTO survey_series (template, enabled, audience, counting, updated_by, "
            "updated_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (template) DO UPDATE SET "
            "enabled = excluded.enabled, audience = excluded.audience, "
            "counting = excluded.counting, updated_by = excluded.updated_by, "
            "updated_at = excluded.updated_at",
            settings.template,
            int(settings.enabled),
            str(settings.audience),
            str(settings.counting),
            settings.updated_by,
            settings.updated_at,
        )

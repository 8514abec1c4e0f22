"""The surveys feature's store: surveys (several questions, answered over days), their responses,
and results counted from the stored answers.

Guarantees (``tests/contract/test_surveys_store.py`` runs them against SQLite and PostgreSQL):

* **One response per respondent key.** A respondent key is ``user:<id>`` when each resident
  answers, ``unit:<id>`` when each household does. The response is stored under a token, the
  HMAC of that key under the survey's ``response_key``; the token is the primary key with the
  survey, so any number of saves of one resident (or of one household's residents) at once land
  on one row.
* **Anonymous by shape.** An anonymous survey's responses and answers carry no user id and no
  time of answering. The link from a person to a token needs ``response_key``, which
  ``close_survey`` erases: after the close nothing in the database links an answer to anyone.
  No method returns a token together with a user.
* **Saves replace; submitted is final unless changes are allowed.** ``save_response`` replaces the
  answers of the questions it is given, in one transaction with the survey's state checked under
  a lock (a save racing the close either commits before it or is refused). Submitting checks
  every required question has an answer. Once submitted, a survey without ``allow_change``
  refuses any further save (``AlreadyAnswered``) except the same submission again (its
  ``submission_id``), which changes nothing: a retried request is harmless.
* **Exact results.** ``raw_results`` counts submitted responses' answers with GROUP BY in one
  transaction; nothing is a stored counter.
* **State moves forward only**: draft → scheduled → open → closed (a draft may open at once).
  Only drafts (and scheduled surveys not yet open) can be edited.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import msgspec

from linli.types import BuildingId, Millis, UserId
from persistence.errors import StoreError

MAX_QUESTIONS = 40
MAX_OPTIONS = 12
SCALE_MIN, SCALE_MAX = 1, 5
NPS_MIN, NPS_MAX = 0, 10
SHORT_TEXT_CHARS = 200
LONG_TEXT_CHARS = 2000
#: The shipped monthly satisfaction template (``persistence/surveys/templates.py``).
MONTHLY = "monthly"


class SurveyState(enum.StrEnum):
    DRAFT = "draft"
    #: Published with an opening time still to come (the ``surveys.open`` timer opens it).
    SCHEDULED = "scheduled"
    OPEN = "open"
    CLOSED = "closed"


class Counting(enum.StrEnum):
    """Who has a response: each resident, or each household (unit), whose residents share it."""

    RESIDENT = "resident"
    UNIT = "unit"


class Audience(enum.StrEnum):
    #: Every resident of the neighbourhood (everyone with a building).
    EVERYONE = "everyone"
    BUILDINGS = "buildings"
    GROUP = "group"


class QuestionKind(enum.StrEnum):
    #: A heading that starts a section; not a question, never answered.
    SECTION = "section"
    #: 1-5 with labelled ends (非常不滿意 … 非常滿意).
    SCALE = "scale"
    #: Net promoter, 0-10.
    NPS = "nps"
    SINGLE = "single"
    MULTIPLE = "multiple"
    SHORT_TEXT = "short_text"
    LONG_TEXT = "long_text"


CHOICE_KINDS = (QuestionKind.SINGLE, QuestionKind.MULTIPLE)
TEXT_KINDS = (QuestionKind.SHORT_TEXT, QuestionKind.LONG_TEXT)


class Question(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One question as stored (in ``surveys.questions``) and sent to pages."""

    id: str
    kind: QuestionKind
    text: str
    required: bool = False
    #: Help under the question (may be empty).
    hint: str = ""
    #: Choice questions' options.
    options: tuple[str, ...] = ()
    #: A multiple choice's most options (None: any number).
    max_choices: int | None = None
    #: A scale's or NPS's end labels; empty: the catalogue's (非常不滿意 / 非常滿意).
    low_label: str = ""
    high_label: str = ""

    @property
    def answerable(self) -> bool:
        return self.kind is not QuestionKind.SECTION


class InvalidAnswer(ValueError):
    """An answer that does not fit its question; ``question`` names it."""

    def __init__(self, question: str, message: str) -> None:
        super().__init__(message)
        self.question = question


#: What a page sends for one question: a number (scale, NPS, single choice), a list of option
#: indexes (multiple choice) or a text.
AnswerValue = int | list[int] | str


@dataclass(frozen=True, slots=True)
class AnswerRow:
    question: str
    value: int
    text: str | None = None


def answer_rows(question: Question, value: AnswerValue) -> list[AnswerRow]:
    """The stored rows of one answer, or InvalidAnswer. An empty text or an empty list is no
    answer (no rows): it clears an optional question."""
    kind, qid = question.kind, question.id
    if kind is QuestionKind.SECTION:
        raise InvalidAnswer(qid, f"{qid} is a section heading, not a question")
    if kind in TEXT_KINDS:
        if not isinstance(value, str):
            raise InvalidAnswer(qid, f"{qid} takes a text")
        limit = SHORT_TEXT_CHARS if kind is QuestionKind.SHORT_TEXT else LONG_TEXT_CHARS
        text = value.strip()
        if len(text) > limit:
            raise InvalidAnswer(qid, f"{qid} takes at most {limit} characters")
        return [AnswerRow(qid, 0, text)] if text else []
    if kind is QuestionKind.MULTIPLE:
        if not isinstance(value, list):
            raise InvalidAnswer(qid, f"{qid} takes a list of options")
        chosen = sorted(set(value))
        if any(not 0 <= c < len(question.options) for c in chosen):
            raise InvalidAnswer(qid, f"{qid}: no such option")
        if question.max_choices is not None and len(chosen) > question.max_choices:
            raise InvalidAnswer(qid, f"{qid} takes at most {question.max_choices} options")
        return [AnswerRow(qid, c) for c in chosen]
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAnswer(qid, f"{qid} takes a number")
    low, high = {
        QuestionKind.SCALE: (SCALE_MIN, SCALE_MAX),
        QuestionKind.NPS: (NPS_MIN, NPS_MAX),
        QuestionKind.SINGLE: (0, len(question.options) - 1),
    }[kind]
    if not low <= value <= high:
        raise InvalidAnswer(qid, f"{qid} takes {low} to {high}")
    return [AnswerRow(qid, value)]


def rows_value(question: Question, rows: Sequence[AnswerRow]) -> AnswerValue | None:
    """The inverse of ``answer_rows`` (what a page shows again on resuming)."""
    if not rows:
        return None
    if question.kind is QuestionKind.MULTIPLE:
        return sorted(r.value for r in rows)
    if question.kind in TEXT_KINDS:
        return rows[0].text or ""
    return rows[0].value


@dataclass(frozen=True, slots=True)
class SurveyDraft:
    """What staff write (and may edit until the survey opens)."""

    title: str
    intro: str
    questions: tuple[Question, ...]
    audience: Audience = Audience.EVERYONE
    buildings: tuple[BuildingId, ...] = ()
    group_slug: str = ""
    counting: Counting = Counting.RESIDENT
    anonymous: bool = True
    allow_change: bool = True
    opens_at: Millis | None = None
    closes_at: Millis | None = None
    #: When those who have not answered are reminded (None: no reminder).
    remind_at: Millis | None = None

    def __post_init__(self) -> None:
        answerable = [q for q in self.questions if q.answerable]
        if not answerable or len(self.questions) > MAX_QUESTIONS:
            raise ValueError(f"a survey needs 1 to {MAX_QUESTIONS} questions")
        ids = [q.id for q in self.questions]
        if len(set(ids)) != len(ids):
            raise ValueError("question ids must differ")
        for q in self.questions:
            if q.kind in CHOICE_KINDS and not 2 <= len(q.options) <= MAX_OPTIONS:
                raise ValueError(f"{q.id}: a choice question needs 2 to {MAX_OPTIONS} options")
            if q.max_choices is not None and not 1 <= q.max_choices <= len(q.options):
                raise ValueError(f"{q.id}: max_choices must be 1 to the number of options")
        if self.audience is Audience.BUILDINGS and not self.buildings:
            raise ValueError("a survey for buildings names at least one")
        if self.audience is Audience.GROUP and not self.group_slug:
            raise ValueError("a survey for a group names it")
        if self.opens_at and self.closes_at and self.closes_at <= self.opens_at:
            raise ValueError("a survey closes after it opens")

    def question(self, qid: str) -> Question | None:
        return next((q for q in self.questions if q.id == qid), None)


@dataclass(frozen=True, slots=True)
class Survey:
    id: int
    draft: SurveyDraft
    state: SurveyState
    template: str | None
    period: str | None
    version: int
    created_by: UserId
    created_at: Millis
    opened_at: Millis | None
    closed_at: Millis | None


@dataclass(frozen=True, slots=True)
class Respondent:
    """Who is answering, as the store needs it: the key the one-response rule counts, and what a
    response keeps (the building always; the user only for a named survey)."""

    key: str
    user_id: UserId
    building_id: BuildingId | None


def respondent_key(counting: Counting, user_id: UserId, unit_id: int | None) -> str | None:
    """None when the survey counts households and the user has none (staff accounts)."""
    if counting is Counting.UNIT:
        return None if unit_id is None else f"unit:{unit_id}"
    return f"user:{user_id}"


def response_token(response_key: str, respondent: str) -> str:
    """The token a respondent's response is stored under (HMAC-SHA256, 128 bits in hex)."""
    mac = hmac.new(bytes.fromhex(response_key), respondent.encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class MyResponse:
    """A respondent's own response, to resume or show again."""

    answers: Mapping[str, AnswerValue]
    submitted: bool
    revision: int


@dataclass(frozen=True, slots=True)
class SaveResult:
    response: MyResponse
    #: The same submission again: nothing was changed.
    duplicate: bool


@dataclass(frozen=True, slots=True)
class RawResults:
    """Counts from the stored rows of submitted responses (one consistent read)."""

    survey_id: int
    responses: int
    #: Responses per building (None: a staff account's, with no building).
    responses_by_building: Mapping[BuildingId | None, int]
    #: (question, value) -> answers.
    counts: Mapping[tuple[str, int], int]
    #: (building, question, value) -> answers.
    counts_by_building: Mapping[tuple[BuildingId | None, str, int], int]
    #: Responses that answered each question.
    answered: Mapping[str, int]
    #: Text answers per question, in a stable order that is not the order of answering.
    texts: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class NamedAnswer:
    """A named survey's response with its author (CSV export of a named survey only)."""

    user_id: UserId
    answers: Mapping[str, AnswerValue]


@dataclass(frozen=True, slots=True)
class SeriesSettings:
    template: str
    enabled: bool
    audience: Audience
    counting: Counting
    updated_by: UserId
    updated_at: Millis


class SurveyStore(Protocol):
    async def create_survey(
        self,
        draft: SurveyDraft,
        *,
        created_by: UserId,
        now: Millis,
        template: str | None = None,
        period: str | None = None,
    ) -> Survey:
        """A new draft. Raises ``SurveyExists`` when the template already has that period."""

    async def get_survey(self, survey_id: int) -> Survey | None: ...

    async def get_by_period(self, template: str, period: str) -> Survey | None: ...

    async def list_surveys(self) -> list[Survey]:
        """Every survey, newest first."""

    async def update_survey(self, survey_id: int, draft: SurveyDraft) -> Survey:
        """Replace a draft's (or a scheduled survey's) content. SurveyNotFound, SurveyStateError."""

    async def publish(self, survey_id: int, *, now: Millis) -> Survey:
        """Draft → open (now, or with ``opens_at`` in the past) or scheduled; the response key is
        drawn here. SurveyNotFound, SurveyStateError."""

    async def open_due(self, survey_id: int, *, now: Millis) -> tuple[Survey, bool]:
        """Scheduled → open when ``opens_at`` has come; the bool: this call opened it."""

    async def close_survey(self, survey_id: int, *, now: Millis) -> tuple[Survey, bool]:
        """Open (or scheduled) → closed, erasing the response key; the bool: this call closed it
        (False: closed already). Unsubmitted responses are deleted. SurveyStateError for a
        draft."""

    async def save_response(
        self,
        survey_id: int,
        respondent: Respondent,
        rows: Mapping[str, Sequence[AnswerRow]],
        *,
        submit: bool,
        submission_id: str,
    ) -> SaveResult:
        """Replace the answers of the questions in ``rows`` (an empty list clears one); with
        ``submit``, check the required questions and mark it submitted (see the module
        docstring). Raises SurveyNotFound, SurveyStateError (not open), AlreadyAnswered,
        MissingAnswers."""

    async def my_response(self, survey_id: int, respondent_key: str) -> MyResponse | None:
        """The respondent's response while the survey is open (after the close the token can no
        longer be computed: None)."""

    async def answered(self, survey_id: int, respondent_keys: Sequence[str]) -> set[str]:
        """Which of the keys have a submitted response (for reminders; open surveys only)."""

    async def raw_results(self, survey_id: int) -> RawResults: ...

    async def named_answers(self, survey_id: int) -> list[NamedAnswer]:
        """A named survey's submitted responses with their authors; [] for an anonymous one."""

    async def anonymous_answers(self, survey_id: int) -> list[Mapping[str, AnswerValue]]:
        """Every submitted response's answers, with nothing about who gave them, in the order of
        their tokens (random, so not the order of answering)."""

    async def audience_users(self, draft: SurveyDraft) -> list[tuple[UserId, int | None]]:
        """(user id, unit id) of everyone the survey is for, by id."""

    async def series(self, template: str) -> SeriesSettings | None: ...

    async def set_series(self, settings: SeriesSettings) -> None: ...


class SurveyNotFound(StoreError):
    """No survey has that id."""


class SurveyExists(StoreError):
    """The template already has a survey for that period."""


class SurveyStateError(StoreError):
    """The survey is not in the state the operation needs."""

    def __init__(self, survey_id: int, expected: SurveyState, got: SurveyState) -> None:
        super().__init__(f"survey {survey_id}: expected state {expected}, but it is {got}")
        self.expected, self.got = expected, got


class AlreadyAnswered(StoreError):
    """The respondent (or household) submitted already and the survey allows no change."""


class MissingAnswers(StoreError):
    """A submission without an answer to every required question."""

    def __init__(self, questions: Sequence[str]) -> None:
        super().__init__("required questions not answered: " + ", ".join(questions))
        self.questions = tuple(questions)

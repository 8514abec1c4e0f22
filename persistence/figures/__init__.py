"""The community's figures (the plan's KPIs), computed by SQL over stored rows — exact, no
sampling (``web/figures/`` shows them; docs/design/0025-figures.md defines each).

Every count is over residents (role ``resident``): staff are not the community the plan
measures. A period is ``[start, end)`` in milliseconds with its local days ``first_day`` …
``last_day`` (YYYY-MM-DD) for the activity rollup; ``building`` None means the whole
neighbourhood.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from linli.types import BuildingId, Millis


@dataclass(frozen=True, slots=True)
class Span:
    start: Millis
    end: Millis
    first_day: str
    last_day: str


@dataclass(frozen=True, slots=True)
class CoreFigures:
    """The platform's own figures for one period and place."""

    #: Residents registered before the period's end.
    residents: int
    #: Units (households) of the place, and those with at least one resident registered.
    households: int
    households_with_account: int
    #: Residents with at least one active day in the period.
    active: int
    #: Residents' active days in the period (the sum of each day's active residents): ÷ the
    #: period's days, the average DAU of a week or month.
    user_days: int
    #: Residents who logged in at least once in the period, and the logins.
    residents_logged_in: int
    logins: int
    visits: int
    #: Residents who registered during the period.
    registrations: int
    #: Chat messages residents wrote in building and group rooms.
    chat_posts: int
    #: Votes residents cast in polls.
    votes: int


@dataclass(frozen=True, slots=True)
class CohortRow:
    """Residents who joined in one month, and how many of them were active around day N after
    joining (``web/figures/actions.COHORT_DAYS``); ``None`` where day N is still ahead for some of
    them (the figure would not be final)."""

    month: str
    joined: int
    active_at: dict[int, int | None]


class FiguresStore(Protocol):
    async def core(self, span: Span, building: BuildingId | None) -> CoreFigures: ...

    async def daily_active(
        self, first_day: str, last_day: str, building: BuildingId | None
    ) -> dict[str, int]:
        """Active residents per local day (days with none are absent)."""

    async def joined(self, building: BuildingId | None) -> list[tuple[int, Millis]]:
        """Every resident's id and registration time."""

    async def active_days(self, user_ids: list[int]) -> dict[int, set[str]]:
        """The local days each of these users was active."""

"""Onboarding's part of the community figures (``Feature.figures``, ``web/figures/``): the
period's new residents by where they registered from: one row per invite poster (named by its
code and building), one per other invite code used (named by the start of its code, its
building and its flat), the management desk, and the rest. Each resident counts once, so the
rows add up to the page's "new residents"; each is a count of people (1–4 is shown as "< 5").

The rows are the same in every period of the table (posters and codes of the place that were
ever made or used, zero where a period had none), so that a code used only last month still
has its row. A poster's code is printed in the lobby and shown in full; any other code still
registers whoever types it, and the committee sees this page without managing invites, so only
its first characters are shown (the admin console's invite list has it whole)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from linli.feature import Figure, Services
from linli.periods import Period
from linli.types import BuildingId
from persistence.onboard import SourceRegistrations
from web.onboard.actions import onboard_store

SECTION: Final = "figures.section.sources"
#: How much of an invite code (not a poster's) the page shows.
SHOWN_CHARS: Final = 4
#: Before any registration: every registration ever, for the rows' list.
_ALL_TIME: Final = 0


def masked(code: str) -> str:
    return code[:SHOWN_CHARS] + "…"


async def figure_source(
    services: Services, period: Period, building: BuildingId | None
) -> Sequence[Figure]:
    store = onboard_store(services)
    names = {b.id: b.name for b in await services.store.list_buildings()}
    counts = {
        (s.kind, s.code): s.count
        for s in await store.registrations(start=period.start, end=period.end, building=building)
    }
    # The rows: every poster of the place, and every code registered with in it so far.
    ever = await store.registrations(
        start=_ALL_TIME, end=max(period.end, services.clock.now_ms() + 1), building=building
    )
    posters = {code: b for code, b in await store.poster_codes(building)}
    for s in ever:
        if s.kind == "poster" and s.code is not None and s.building_id is not None:
            posters.setdefault(s.code, s.building_id)
    figures = [
        Figure(
            f"onboard.poster.{code}",
            "onboard.figures.poster",
            "onboard.figures.poster_def",
            counts.get(("poster", code), 0),
            unit="people",
            section=SECTION,
            args=(("code", code), ("building", names.get(b, "?"))),
        )
        for code, b in sorted(posters.items(), key=lambda item: (item[1], item[0]))
    ]
    figures.extend(_invite_rows([s for s in ever if s.kind == "invite"], counts, names))
    figures.append(
        Figure("onboard.desk", "onboard.figures.desk", "onboard.figures.desk_def",
               counts.get(("desk", None), 0), unit="people", section=SECTION)
    )  # fmt: skip
    figures.append(
        Figure("onboard.other", "onboard.figures.other", "onboard.figures.other_def",
               counts.get(("other", None), 0), unit="people", section=SECTION)
    )  # fmt: skip
    return figures


def _invite_rows(
    ever: list[SourceRegistrations],
    counts: dict[tuple[str, str | None], int],
    names: dict[BuildingId, str],
) -> list[Figure]:
    """A row per other invite code, keyed by its first characters (numbered when two codes
    start alike, in the order of their codes: the same key in every period)."""
    rows = []
    taken: dict[str, int] = {}
    for s in sorted(ever, key=lambda s: (s.building_id or 0, s.code or "")):
        code = s.code or ""
        prefix = code[:SHOWN_CHARS]
        taken[prefix] = taken.get(prefix, 0) + 1
        key = f"onboard.invite.{prefix}" + ("" if taken[prefix] == 1 else f"-{taken[prefix]}")
        building = names.get(s.building_id, "?") if s.building_id is not None else "?"
        label = "onboard.figures.invite_unit" if s.unit_label else "onboard.figures.invite"
        rows.append(
            Figure(
                key,
                label,
                "onboard.figures.invite_def",
                counts.get(("invite", s.code), 0),
                unit="people",
                section=SECTION,
                args=(
                    ("code", masked(code)),
                    ("building", building),
                    ("unit", s.unit_label or ""),
                ),
            )
        )
    return rows

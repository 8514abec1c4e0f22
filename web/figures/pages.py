"""``/figures``: the community's figures (社區數據) for the committee, the management office and
admins — tables per section with each figure's definition, the daily-active chart against the
plan's 50 %, the cohort view; drawn on the server so that it prints on A4 as it shows."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from linli.feature import Figure
from linli.live import zone_of
from linli.periods import local_date
from linli.roles import Can, may
from web.api import current_user, user_json
from web.figures.actions import (
    COHORT_DAYS,
    DAU_TARGET,
    MIN_PEOPLE,
    cohorts,
    daily_active_series,
    label_of,
    period_count,
    table,
)
from web.figures.api import parse_query, sources_of
from web.figures.chart import bars
from web.http import ApiError, services_of
from web.pages import catalogue, render, to_login, wording_of


def formatted(figure: Figure | None, words: dict[str, str]) -> str:
    """A figure's value as the page writes it."""
    if figure is None or (figure.value is None and figure.unit != "few"):
        return "—"
    if figure.unit == "few":
        return words["figures.few"]
    value = figure.value
    assert value is not None
    if figure.unit == "share":
        return f"{value * 100:.1f} %"
    if figure.unit == "duration":
        hours = value / 3_600_000
        if hours < 1:
            return words["figures.minutes"].format(n=round(value / 60_000))
        if hours < 48:
            return words["figures.hours"].format(n=f"{hours:.1f}")
        return words["figures.days"].format(n=f"{hours / 24:.1f}")
    if figure.unit == "score":
        return f"{value:.2f}"
    return f"{value:g}" if isinstance(value, float) else str(value)


#: Sections in this order first (new registrations' sources under the reach they add to), then
#: the others as the features list gives them.
SECTION_ORDER = ("figures.section.reach", "figures.section.sources", "figures.section.activity")


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    label: str
    definition: str
    target: str
    cells: list[str]
    #: The definition's term: "" when an earlier row of the section has the same definition
    #: (one per invite poster: the definition is written once).
    term: str = ""


@dataclass(frozen=True, slots=True)
class Section:
    key: str
    title: str
    rows: list[Row]


def _cohort_cell(joined: int, active: int | None, words: dict[str, str]) -> str:
    if active is None:
        return "—"
    if 0 < joined < MIN_PEOPLE:
        return words["figures.few"]
    return f"{active} ({active / joined * 100:.0f} %)" if joined else "0"


async def figures_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return to_login(request)
    words = catalogue(wording_of(request))
    if not may(user.role, Can.SEE_FIGURES):
        response = render(request, "figures/forbidden.html", user=user_json(user), page="figures")
        response.status_code = 403
        return response
    try:
        query = await parse_query(request)
    except ApiError:
        return RedirectResponse("/figures", status_code=303)
    services = services_of(request)
    found = await table(
        services,
        sources_of(request),
        kind=query.kind,
        count=period_count(query.kind),
        building=query.building,
    )
    sections: dict[str, Section] = {}
    defined: set[str] = set()
    for row in found.rows:
        key = row.section or "figures.section.other"
        section = sections.setdefault(key, Section(key, words.get(key, key), []))
        target = (
            ""
            if row.target is None
            else formatted(
                Figure(
                    row.key, "", "", row.target, unit=row.unit if row.unit != "few" else "share"
                ),
                words,
            )
        )
        label = label_of(row, words)
        term = "" if row.definition in defined else words.get(f"{row.label}_term", label)
        defined.add(row.definition)
        section.rows.append(
            Row(
                row.key,
                label,
                words.get(row.definition, ""),
                target,
                [formatted(c.figures.get(row.key), words) for c in found.columns],
                term,
            )
        )
    ordered = sorted(
        sections.values(),
        key=lambda s: SECTION_ORDER.index(s.key) if s.key in SECTION_ORDER else len(SECTION_ORDER),
    )
    series = await daily_active_series(services, 30, query.building)
    chart = bars(
        [
            (day, (active / residents * 100) if residents else 0.0)
            for day, active, residents in series
        ],
        title=words["figures.chart.dau_title"],
        target=DAU_TARGET * 100,
        target_label=words["figures.chart.target"],
        maximum=100,
    )
    cohort_rows = [
        {
            "month": c.month,
            "joined": words["figures.few"] if 0 < c.joined < MIN_PEOPLE else str(c.joined),
            "cells": [_cohort_cell(c.joined, c.active_at[n], words) for n in COHORT_DAYS],
        }
        for c in await cohorts(services, 6, query.building)
    ]
    buildings = await services.store.list_buildings()
    place = next((b.name for b in buildings if b.id == query.building), words["figures.everywhere"])
    today = local_date(services.clock.now_ms(), zone_of(services))
    return render(
        request,
        "figures/figures.html",
        user=user_json(user),
        page="figures",
        kind=query.kind,
        building=query.building,
        buildings=buildings,
        labels=[c.period.label for c in found.columns],
        sections=ordered,
        chart=chart,
        cohort_days=COHORT_DAYS,
        cohorts=cohort_rows,
        place=place,
        today=str(today),
    )


ROUTES = [Route("/figures", figures_page)]

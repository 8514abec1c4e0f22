"""The figures over HTTP: ``GET /api/figures`` (JSON) and ``GET /api/figures.csv`` for the
committee's spreadsheets; both for the roles that may see the figures (``Can.SEE_FIGURES``).

Query: ``period`` (day, week, month; default month), ``building`` (an id; default the whole
neighbourhood). Both apply the "< 5" rule (``web/figures/actions.shown``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from linli.feature import FigureSource
from linli.roles import Can, roles_that
from linli.types import BuildingId
from web.api import require_user
from web.figures.actions import PERIOD_KINDS, Table, cohorts, label_of, period_count, table
from web.http import ApiError, services_of
from web.pages import catalogue, wording_of

FIGURE_ROLES = roles_that(Can.SEE_FIGURES)


@dataclass(frozen=True, slots=True)
class Query:
    kind: str
    building: BuildingId | None


async def parse_query(request: Request) -> Query:
    params = request.query_params
    kind = params.get("period", "month")
    if kind not in PERIOD_KINDS:
        raise ApiError(400, "bad_request", "'period' must be day, week or month.")
    raw = params.get("building", "")
    building: BuildingId | None = None
    if raw:
        if not raw.isdigit():
            raise ApiError(400, "bad_request", "'building' must be a building's id.")
        building = int(raw)
        known = {b.id for b in await services_of(request).store.list_buildings()}
        if building not in known:
            raise ApiError(404, "not_found", "There is no such building.")
    return Query(kind, building)


def sources_of(request: Request) -> Sequence[FigureSource]:
    sources: Sequence[FigureSource] = getattr(request.app.state, "figure_sources", ())
    return sources


async def figures_table(request: Request) -> tuple[Query, Table]:
    await require_user(request, *FIGURE_ROLES)
    query = await parse_query(request)
    found = await table(
        services_of(request),
        sources_of(request),
        kind=query.kind,
        count=period_count(query.kind),
        building=query.building,
    )
    return query, found


async def figures_json(request: Request) -> Response:
    query, found = await figures_table(request)
    rows = [
        {
            "key": row.key,
            "section": row.section,
            # The label's placeholders (an invite poster's code and building), when it has any.
            "args": dict(row.args),
            "unit": row.unit,
            "target": row.target,
            "values": [_cell(column.figures.get(row.key)) for column in found.columns],
        }
        for row in found.rows
    ]
    cohort_rows = await cohorts(services_of(request), 6, query.building)
    return JSONResponse(
        {
            "period": query.kind,
            "building": query.building,
            "periods": [
                {"label": c.period.label, "start": c.period.start, "end": c.period.end}
                for c in found.columns
            ],
            "rows": rows,
            "cohorts": [
                {
                    "month": c.month,
                    "joined": None if 0 < c.joined < 5 else c.joined,
                    "active_at": {
                        str(n): None if v is None or (0 < c.joined < 5) else v
                        for n, v in c.active_at.items()
                    },
                }
                for c in cohort_rows
            ],
        }
    )


def _cell(figure: object) -> object:
    from linli.feature import Figure

    if not isinstance(figure, Figure):
        return None
    if figure.unit == "few":
        return "< 5"
    return figure.value


async def figures_csv(request: Request) -> Response:
    _query, found = await figures_table(request)
    words = catalogue(wording_of(request))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["key", words.get("figures.csv.figure", "figure")] + [c.period.label for c in found.columns]
    )
    for row in found.rows:
        writer.writerow(
            [row.key, label_of(row, words)]
            + ["" if (v := _cell(c.figures.get(row.key))) is None else v for c in found.columns]
        )
    # A BOM so that Excel opens the Chinese labels as UTF-8.
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="linli-figures.csv"'},
    )


ROUTES = [
    Route("/api/figures", figures_json),
    Route("/api/figures.csv", figures_csv),
]

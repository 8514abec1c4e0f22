"""The requests pages: a resident's requests and the form to file one (with the open requests
of the same place to follow instead), a request's page (its history live, reply, reopen, rate;
staff's controls for its team), the team's queue, the figures with their definitions, and the
admins' settings (common areas, reply templates, teams, targets).

Rendered like every page (``web.pages.render``); the words are ``requests.*`` of
``web/locales/requests/``; the scripts are ``web/static/js/requests/``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from linli.roles import Can, may
from persistence.requests import Bucket, Category
from persistence.requests.access import handled_categories
from persistence.store import Role
from web.api import current_user, user_json
from web.http import services_of
from web.pages import render, to_login
from web.requests.actions import request_figures, requests_store
from web.requests.api import message_text


async def list_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return to_login(request)
    channel = request.query_params.get("channel", "")
    offset_text = request.query_params.get("offset", "")
    offset = int(offset_text) if offset_text.isascii() and offset_text.isdigit() else 0
    prefill = await message_text(request, user, channel, offset) if channel and offset else ""
    return render(
        request,
        "requests/list.html",
        user=user_json(user),
        page="requests/list",
        categories=[str(c) for c in Category],
        prefill=prefill,
        source_channel=channel if prefill else "",
        source_offset=offset if prefill else 0,
        resident=user.building_id is not None,
    )


async def request_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return to_login(request)
    return render(
        request,
        "requests/view.html",
        user=user_json(user),
        page="requests/view",
        request_id=request.path_params["request_id"],
    )


async def queue_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return to_login(request)
    handled = await handled_categories(requests_store(services_of(request)), user.id, user.role)
    if not handled:
        return RedirectResponse("/requests", status_code=303)
    return render(
        request,
        "requests/queue.html",
        user=user_json(user),
        page="requests/queue",
        handled=[str(c) for c in handled],
        admin=user.role is Role.ADMIN,
    )


def _share(resolved: int, eligible: int) -> str:
    return "–" if not eligible else f"{100 * resolved / eligible:.1f} %"


def _days(ms: int | None) -> str:
    return "–" if ms is None else f"{ms / 86_400_000:.1f}"


def _row(bucket: Bucket) -> dict[str, str | int | bool]:
    """One table row, formatted here so the page shows the figures without a script."""
    return {
        "key": bucket.key,
        "filed": bucket.filed,
        "counted": bucket.counted,
        "rejected": bucket.rejected,
        "merged": bucket.merged,
        "open": bucket.open,
        "overdue": bucket.overdue,
        "share_7": _share(bucket.resolved_7, bucket.eligible_7),
        "share_30": _share(bucket.resolved_30, bucket.eligible_30),
        "share_365": _share(bucket.resolved_365, bucket.eligible_365),
        "on_target": _share(bucket.resolved_on_target, bucket.eligible_target),
        "met_365": bool(bucket.eligible_365)
        and bucket.resolved_365 * 100 >= 80 * bucket.eligible_365,
        "met_30": bool(bucket.eligible_30) and bucket.resolved_30 * 100 >= 80 * bucket.eligible_30,
        "first_median": _days(bucket.first_response_median),
        "first_p90": _days(bucket.first_response_p90),
        "resolution_median": _days(bucket.resolution_median),
        "resolution_p90": _days(bucket.resolution_p90),
        "csat": "–" if not bucket.ratings else f"{bucket.rating_sum / bucket.ratings:.2f}",
        "csat_rate": _share(bucket.ratings, bucket.resolutions),
    }


async def figures_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return to_login(request)
    if not (may(user.role, Can.SEE_FIGURES) or may(user.role, Can.HANDLE_REQUESTS)):
        return RedirectResponse("/requests", status_code=303)
    services = services_of(request)
    figures = await request_figures(services)
    names = {b.id: b.name for b in await services.store.list_buildings()}
    return render(
        request,
        "requests/figures.html",
        user=user_json(user),
        page="requests/figures",
        zone=figures.zone,
        since=figures.since,
        until=figures.until,
        total=_row(figures.total),
        by_category=[
            {**_row(b), "label_key": f"requests.category.{b.key}"}
            for b in figures.by_category.values()
        ],
        by_building=[
            {**_row(b), "label": names.get(int(b.key), b.key)} for b in figures.by_building.values()
        ],
        by_month=[{**_row(b), "label": b.key} for b in figures.by_month.values()],
    )


async def settings_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return to_login(request)
    if user.role is not Role.ADMIN:
        return RedirectResponse("/requests", status_code=303)
    services = services_of(request)
    return render(
        request,
        "requests/settings.html",
        user=user_json(user),
        page="requests/settings",
        categories=[str(c) for c in Category],
        buildings=[{"id": b.id, "name": b.name} for b in await services.store.list_buildings()],
    )


ROUTES = [
    Route("/requests", list_page),
    Route("/requests/queue", queue_page),
    Route("/requests/figures", figures_page),
    Route("/requests/settings", settings_page),
    Route("/requests/{request_id:int}", request_page),
]

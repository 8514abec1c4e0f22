"""Onboarding's pages: the management desk's registration form (``/admin/desk``), the buildings'
posters with registrations by source (``/admin/posters``), one building's printable A4 poster
(``/admin/posters/<id>``, a page of its own with print CSS and no menu) — staff holding
``Can.ONBOARD`` only — and the residents' first-login page (``/first-login``).

The words are ``onboard.*`` of ``web/locales/onboard/``; the scripts ``web/static/js/onboard/``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from linli.catalogue import DEFAULT_LOCALE
from linli.live import zone_of
from linli.roles import Can, may
from persistence.errors import NotFound
from persistence.requests import Category
from persistence.store import User
from web.admin import actions as admin_actions
from web.api import current_user, user_json
from web.events import actions as events_actions
from web.http import services_of
from web.onboard import actions
from web.pages import (
    catalogue,
    error_page,
    locale_of,
    markdown_subset,
    render,
    to_login,
    wording_of,
)

#: The staff pages, in the order of their own menu: (path, page, catalogue key).
SECTIONS = (
    ("/admin/desk", "onboard/desk", "onboard.desk.title"),
    ("/admin/posters", "onboard/posters", "onboard.posters.title"),
)
PAGES = (*(page for _, page, _ in SECTIONS), "onboard/poster")

StaffHandler = Callable[[Request, User], Awaitable[Response]]


def _staff(handler: StaffHandler) -> Callable[[Request], Awaitable[Response]]:
    """Staff pages: 403 page for residents, the login for nobody."""

    async def page(request: Request) -> Response:
        user = await current_user(request)
        if user is None:
            return to_login(request)
        if not may(user.role, Can.ONBOARD):
            return await error_page(request, "forbidden", 403)
        return await handler(request, user)

    return page


async def _desk(request: Request, user: User) -> Response:
    services = services_of(request)
    return render(
        request,
        "onboard/desk.html",
        user=user_json(user),
        page="onboard/desk",
        sections=SECTIONS,
        buildings=await services.store.list_buildings(),
        consent_hows=actions.CONSENT_HOWS,
    )


async def _posters(request: Request, user: User) -> Response:
    services = services_of(request)
    now = services.clock.now_ms()
    counts = {c.building_id: c for c in await actions.sources(services)}
    store = actions.onboard_store(services)
    buildings = [
        {
            "id": b.id,
            "name": b.name,
            "code": await store.poster_invite(b.id, now=now),
            "counts": counts.get(b.id),
        }
        for b in await services.store.list_buildings()
    ]
    return render(
        request,
        "onboard/posters.html",
        user=user_json(user),
        page="onboard/posters",
        sections=SECTIONS,
        buildings=buildings,
    )


async def _poster(request: Request, user: User) -> Response:
    services = services_of(request)
    messages = catalogue(wording_of(request))
    try:
        found = await actions.poster(
            services,
            request.path_params["building_id"],
            title=messages["onboard.poster.qr_title"],
        )
    except NotFound:
        return await error_page(request, "not_found", 404)
    return render(
        request,
        "onboard/poster.html",
        user=user_json(user),
        page="onboard/poster",
        poster=found,
        zh=catalogue("zh-Hant"),
        en=catalogue("en"),
    )


async def first_login_page(request: Request) -> Response:
    if await current_user(request) is not None:
        return RedirectResponse("/", status_code=303)
    settings = await admin_actions.current_settings(services_of(request))
    return render(
        request,
        "onboard/first_login.html",
        user=None,
        page="onboard/first_login",
        username=request.query_params.get("username", "")[:64],
        help_desk=settings["help_desk"],
    )


async def helpers_page(request: Request) -> Response:
    """The resident's helpers, what they did for them, and the residents they help."""
    user = await current_user(request)
    if user is None:
        return to_login(request)
    return render(
        request,
        "onboard/helpers.html",
        user=user_json(user),
        page="onboard/helpers",
        categories=[str(c) for c in Category],
        staff=may(user.role, Can.ONBOARD),
    )


async def training_of(request: Request, user: User | None) -> list[dict[str, Any]] | None:
    """The next training sessions (events marked ``training``) for ``user``, with their counts
    and the user's own sign-up, as the pages show them; None for a visitor."""
    if user is None:
        return None
    services = services_of(request)
    zone = zone_of(services)
    found = []
    for item in await events_actions.upcoming_training(services, user):
        start = datetime.fromtimestamp(item.session.starts_at / 1000, zone)
        end = datetime.fromtimestamp(item.session.ends_at / 1000, zone)
        mine = item.mine
        found.append(
            {
                "event_id": item.event.id,
                "session_id": item.session.id,
                "title": item.event.draft.title,
                "label": item.session.label if len(item.event.sessions) > 1 else "",
                "place": item.event.draft.place,
                "when": f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}",
                "taken": item.counts.taken,
                "capacity": item.counts.capacity,
                "waitlisted": item.counts.waitlisted,
                "free": item.counts.free,
                "state": None if mine is None else str(mine.state),
                "position": None if mine is None else mine.position,
            }
        )
    return found


async def welcome_page(request: Request) -> Response:
    """After registering (or the first login): a welcome with three first steps, the tour, and
    the next training sessions to sign up for."""
    user = await current_user(request)
    if user is None:
        return to_login(request)
    return render(
        request,
        "onboard/welcome.html",
        user=user_json(user),
        page="onboard/welcome",
        training=await training_of(request, user),
    )


#: The one-page user guide (使用手冊): its own short Markdown beside the guide, in the guide's
#: Markdown subset, rendered by the guide's converter.
HANDBOOK_DIR = Path(__file__).resolve().parents[2] / "docs" / "guide" / "handbook"


@functools.cache
def handbook_html(locale: str) -> str:
    path = HANDBOOK_DIR / f"{locale}.md"
    if not path.exists():
        path = HANDBOOK_DIR / f"{DEFAULT_LOCALE}.md"
    return markdown_subset(path.read_text(encoding="utf-8"))


async def handbook_page(request: Request) -> Response:
    """The printable one-page user guide, in the reader's language, open to anyone (it is
    handed out at the desk and at training sessions)."""
    user = await current_user(request)
    return render(
        request,
        "onboard/handbook.html",
        user=user_json(user) if user else None,
        page="onboard/handbook",
        handbook=handbook_html(locale_of(request)),
        training=await training_of(request, user),
    )


ROUTES = [
    Route("/admin/desk", _staff(_desk)),
    Route("/admin/posters", _staff(_posters)),
    Route("/admin/posters/{building_id:int}", _staff(_poster)),
    Route("/first-login", first_login_page),
    Route("/helpers", helpers_page),
    Route("/welcome", welcome_page),
    Route("/help/handbook", handbook_page),
]

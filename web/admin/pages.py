"""The admin console's pages (``/admin``: buildings and units with the CSV import, residents,
invite codes, settings) and the residents' forgot-password page (``/forgot-password``).

Rendered like every page (``web.pages.render``); the words are ``admin.*`` of
``web/locales/admin/``; the scripts are ``web/static/js/admin/``. The pages fetch their rows from
``web/admin/api.py``, so what the console shows is what the API says.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from linli.roles import Can, may
from linli.types import Role
from persistence.privacy import RetentionKind
from web.admin import actions
from web.api import current_user, user_json
from web.http import services_of
from web.pages import error_page, render, to_login

#: The console's sections, in the order of its own menu: (path, page, catalogue key).
SECTIONS = (
    ("/admin", "admin/units", "admin.units.title"),
    ("/admin/residents", "admin/residents", "admin.residents.title"),
    ("/admin/invites", "admin/invites", "admin.invites.title"),
    ("/admin/settings", "admin/settings", "admin.settings.title"),
)
PAGES = tuple(page for _, page, _ in SECTIONS)


def _page(template: str, page: str) -> Callable[[Request], Awaitable[Response]]:
    """A console page: admins only (403 page for anyone else, the login for nobody)."""

    async def handler(request: Request) -> Response:
        user = await current_user(request)
        if user is None:
            return to_login(request)
        if not may(user.role, Can.ADMINISTER):
            return await error_page(request, "forbidden", 403)
        services = services_of(request)
        return render(
            request,
            template,
            user=user_json(user),
            page=page,
            sections=SECTIONS,
            roles=[str(r) for r in Role],
            buildings=await services.store.list_buildings(),
            settings_defs=actions.SETTINGS,
            zones=actions.zone_choices(),
            read_only={key: getattr(services.settings, key) for key in actions.READ_ONLY},
            retention_kinds=[str(kind) for kind in RetentionKind],
        )

    return handler


async def forgot_page(request: Request) -> Response:
    if await current_user(request) is not None:
        return RedirectResponse("/", status_code=303)
    settings = await actions.current_settings(services_of(request))
    return render(
        request,
        "admin/forgot.html",
        user=None,
        page="admin/forgot",
        help_desk=settings["help_desk"],
        community_zh=settings["community_name_zh"],
        community_en=settings["community_name_en"],
    )


ROUTES = [
    Route("/admin", _page("admin/units.html", "admin/units")),
    Route("/admin/residents", _page("admin/residents.html", "admin/residents")),
    Route("/admin/invites", _page("admin/invites.html", "admin/invites")),
    Route("/admin/settings", _page("admin/settings.html", "admin/settings")),
    Route("/forgot-password", forgot_page),
]

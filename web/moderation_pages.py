"""The moderators' page (the live flag feed, actions, figures) and the publishing rules page.

Rendered like the residents' pages (``web/pages.py``): server-side in the reader's language, all
strings from the catalogues (keys ``mod.*``), the live part in ``web/static/js/mod.js`` over the
same WebSocket client as the chat.
"""

from __future__ import annotations

import functools
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from persistence.moderation_sql import moderation_store
from persistence.store import Role
from web.api import current_user, runtime_of, user_json
from web.pages import DEFAULT_LOCALE, LOCALES, locale_of, markdown_subset, render

RULES_DIR = Path(__file__).resolve().parent.parent / "docs" / "rules"


@functools.cache
def default_rules(locale: str) -> str:
    """The rules shipped with Linli (``docs/rules/<locale>.md``), until an admin edits them."""
    path = RULES_DIR / f"{locale}.md"
    if not path.exists():
        path = RULES_DIR / f"{DEFAULT_LOCALE}.md"
    return path.read_text(encoding="utf-8")


async def rules_markdown(request: Request, locale: str) -> str:
    stored = await moderation_store(runtime_of(request).store).get_rules(locale)
    return stored[0] if stored else default_rules(locale)


async def rules_page(request: Request) -> Response:
    user = await current_user(request)
    locale = locale_of(request)
    is_admin = user is not None and user.role is Role.ADMIN
    sources = {loc: await rules_markdown(request, loc) for loc in LOCALES} if is_admin else {}
    return render(
        request,
        "mod_rules.html",
        user=user_json(user) if user else None,
        page="mod_rules",
        rules=markdown_subset(await rules_markdown(request, locale)),
        sources=sources,
        is_admin=is_admin,
    )


async def moderation_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    if user.role not in (Role.MODERATOR, Role.ADMIN):
        return RedirectResponse("/", status_code=303)
    return render(request, "mod.html", user=user_json(user), page="mod")


MODERATION_PAGE_ROUTES = [
    Route("/mod", moderation_page),
    Route("/rules", rules_page),
]

"""The moderators' page (the live flag feed, actions, figures) and the publishing rules page.

Rendered like the residents' pages (``web/pages.py``): server-side in the reader's language, all
strings from the catalogues (keys ``mod.*``), the live part in ``web/static/js/mod.js`` over the
same WebSocket client as the chat.
"""

from __future__ import annotations

import functools
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from linli.catalogue import DEFAULT_LOCALE, LOCALES
from persistence.store import Role, User
from web.api import current_user, user_json
from web.http import services_of
from web.moderation.actions import STAFF, moderation_store
from web.pages import error_page, locale_of, markdown_subset, render, to_login
from workers.moderation import auto_hide_threshold

RULES_DIR = Path(__file__).resolve().parents[2] / "docs" / "rules"


@functools.cache
def default_rules(locale: str) -> str:
    """The rules shipped with Linli (``docs/rules/<locale>.md``), until an admin edits them."""
    path = RULES_DIR / f"{locale}.md"
    if not path.exists():
        path = RULES_DIR / f"{DEFAULT_LOCALE}.md"
    return path.read_text(encoding="utf-8")


async def rules_markdown(request: Request, locale: str) -> str:
    stored = await moderation_store(services_of(request)).get_rules(locale)
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


async def _staff(request: Request) -> User | Response:
    """The logged-in moderator or admin; else to the login page, or a 403 page for others."""
    user = await current_user(request)
    if user is None:
        return to_login(request)
    if user.role not in STAFF:
        return await error_page(request, "forbidden", 403)
    return user


async def moderation_page(request: Request) -> Response:
    user = await _staff(request)
    if not isinstance(user, User):
        return user
    store = services_of(request).store
    return render(
        request,
        "mod.html",
        user=user_json(user),
        page="mod",
        deleted_days=services_of(request).settings.mod_deleted_text_days,
        buildings=[(f"building:{b.id}", b.name) for b in await store.list_buildings()],
        groups=[(f"group:{g.slug}", g.name) for g in await store.list_groups()],
    )


async def words_page(request: Request) -> Response:
    """The word list: everyone on staff sees it and tests sentences; admins add and remove."""
    user = await _staff(request)
    if not isinstance(user, User):
        return user
    words = await moderation_store(services_of(request)).list_words()
    return render(
        request,
        "mod_words.html",
        user=user_json(user),
        page="mod_words",
        words=words,
        is_admin=user.role is Role.ADMIN,
    )


async def threshold_page(request: Request) -> Response:
    """The auto-hide threshold: how many residents' reports hide a message by themselves."""
    user = await _staff(request)
    if not isinstance(user, User):
        return user
    threshold = await auto_hide_threshold(moderation_store(services_of(request)))
    return render(
        request,
        "mod_threshold.html",
        user=user_json(user),
        page="mod_threshold",
        threshold=threshold,
        is_admin=user.role is Role.ADMIN,
    )


#: What an appeal is against, by its subject's prefix (the page's catalogue keys).
_APPEAL_KINDS = {"warning": "warning", "sanction": "mute", "message": "message"}


async def my_appeals_page(request: Request) -> Response:
    """The user's appeals with the moderators' answers (``#appeal-<id>``: where the inbox line
    of an answered appeal leads). A ban's appeal is read on the login page instead."""
    user = await current_user(request)
    if user is None:
        return to_login(request)
    mod = moderation_store(services_of(request))
    appeals = []
    for a in await mod.appeals(state=None, user_id=user.id):
        prefix, _, ref = a.subject.partition(":")
        kind = _APPEAL_KINDS.get(prefix, "decision")
        if prefix == "sanction" and ref.isdigit():
            sanction = await mod.get_sanction(int(ref))
            kind = "mute" if sanction is None else str(sanction.kind)
        appeals.append({"appeal": a, "kind": kind})
    return render(
        request,
        "mod_my_appeals.html",
        user=user_json(user),
        page="mod_my_appeals",
        appeals=appeals,
    )


ROUTES = [
    Route("/appeals", my_appeals_page),
    Route("/mod", moderation_page),
    Route("/mod/words", words_page),
    Route("/mod/threshold", threshold_page),
    Route("/rules", rules_page),
]

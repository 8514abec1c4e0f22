"""The poll pages: the polls page (join by code; a room's polls; organisers write, open and
close them), a resident's poll page (vote, see the own vote and the live results), the join
link behind a short code or QR, and the projector view (no login: the token in the address is
the key; large type, high contrast, the bars and counts live).

Rendered like every page (``web.pages.render``: the reader's language, the catalogue for the
script, the security headers); strings are the ``poll.*`` keys of ``web/locales/*.json``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from persistence.store import Role
from web.api import current_user, runtime_of, user_json
from web.pages import render


async def poll_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    return render(
        request,
        "poll.html",
        user=user_json(user),
        page="poll",
        poll_id=request.path_params["poll_id"],
    )


async def polls_page(request: Request) -> Response:
    """Join by code; the polls of a room; organisers write, open and close them here."""
    user = await current_user(request)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    return render(
        request,
        "polls.html",
        user=user_json(user),
        page="polls",
        organiser=user.role in (Role.ORGANISER, Role.ADMIN),
    )


async def join_page(request: Request) -> Response:
    """``/p/<code>``: the address a projector shows (and its QR encodes)."""
    code = request.path_params["code"].upper().replace(" ", "")
    poll = await runtime_of(request).store.get_poll_by_join_code(code)
    if poll is None:
        return RedirectResponse("/", status_code=303)
    return RedirectResponse(f"/polls/{poll.id}", status_code=303)


async def projector_page(request: Request) -> Response:
    return render(
        request,
        "poll-projector.html",
        user=None,
        page="poll-projector",
        token=request.path_params["token"],
    )


POLL_PAGE_ROUTES = [
    Route("/polls", polls_page),
    Route("/polls/{poll_id:int}", poll_page),
    Route("/p/{code}", join_page),
    Route("/projector/{token}", projector_page),
]

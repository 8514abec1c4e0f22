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

from persistence.polls import PollState
from persistence.store import Role
from web.api import current_user, user_json
from web.http import services_of
from web.pages import render, to_login
from web.polls.actions import polls_store


async def poll_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return to_login(request)
    return render(
        request,
        "poll.html",
        user=user_json(user),
        page="poll",
        poll_id=request.path_params["poll_id"],
        organiser=user.role in (Role.ORGANISER, Role.ADMIN),
    )


async def polls_page(request: Request) -> Response:
    """Join by code; the polls of a room; organisers write, open and close them here."""
    user = await current_user(request)
    if user is None:
        return to_login(request)
    return render(
        request,
        "polls.html",
        user=user_json(user),
        page="polls",
        organiser=user.role in (Role.ORGANISER, Role.ADMIN),
    )


async def join_page(request: Request) -> Response:
    """``/p/<code>``: the address a projector shows (and its QR encodes). A logged-out visitor
    goes to the login page whatever the code, so the answer tells them nothing about it (issue
    24: it used to show whether the code existed, and the poll's id)."""
    user = await current_user(request)
    if user is None:
        return to_login(request)
    code = request.path_params["code"].upper().replace(" ", "")
    poll = await polls_store(services_of(request)).get_poll_by_join_code(code)
    if poll is None or (
        poll.state is PollState.DRAFT and user.role not in (Role.ORGANISER, Role.ADMIN)
    ):
        return RedirectResponse("/", status_code=303)
    return RedirectResponse(f"/polls/{poll.id}", status_code=303)


async def projector_page(request: Request) -> Response:
    """The projector view; an unknown token gets a page that says so in words (404), not a
    screen of broken parts."""
    token = request.path_params["token"]
    poll = await polls_store(services_of(request)).get_poll_by_projector_token(token)
    response = render(
        request,
        "poll-projector.html",
        user=None,
        page="poll-projector",
        token=token,
        found=poll is not None,
    )
    if poll is None:
        response.status_code = 404
    return response


ROUTES = [
    Route("/polls", polls_page),
    Route("/polls/{poll_id:int}", poll_page),
    Route("/p/{code}", join_page),
    Route("/projector/{token}", projector_page),
]

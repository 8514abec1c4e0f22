"""The event pages: the list of events (``/events``), an event (``/events/<id>``: sign up, join
the waitlist, confirm an offered place, cancel, the QR code at the door), the organiser's view
(``/events/<id>/manage``: sign-ups, waitlist, answers, attendance, live counts, CSV, a message to
all) and the door (``/events/<id>/checkin``: the camera through BarcodeDetector where the browser
has it, else the typed code).

Rendered like every page (``web.pages.render``); strings are the ``events.*`` keys of
``web/locales/events/*.json``; the scripts are ``web/static/js/events/*.js``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from linli.roles import Can, may
from web.api import current_user, user_json
from web.pages import render, to_login


async def _page(request: Request, template: str, page: str, *, run: bool = False) -> Response:
    user = await current_user(request)
    if user is None:
        return to_login(request)
    runs = may(user.role, Can.RUN_EVENTS)
    if run and not runs:
        return RedirectResponse(f"/events/{request.path_params['event_id']}", status_code=303)
    return render(
        request,
        template,
        user=user_json(user),
        page=page,
        runs_events=runs,
        event_id=request.path_params.get("event_id"),
    )


async def events_page(request: Request) -> Response:
    return await _page(request, "events/list.html", "events/list")


async def event_page(request: Request) -> Response:
    return await _page(request, "events/event.html", "events/event")


async def manage_page(request: Request) -> Response:
    return await _page(request, "events/manage.html", "events/manage", run=True)


async def checkin_page(request: Request) -> Response:
    return await _page(request, "events/checkin.html", "events/checkin", run=True)


ROUTES = [
    Route("/events", events_page),
    Route("/events/{event_id:int}", event_page),
    Route("/events/{event_id:int}/manage", manage_page),
    Route("/events/{event_id:int}/checkin", checkin_page),
]

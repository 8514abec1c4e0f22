"""The search page, ``/search``: a plain form (one box, a few filters) and the results, rendered
on the server — it works without a script, at 360 px, in large type. Strings are the
``search.*`` keys of ``web/locales/search/*.json``."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from linli.live import zone_of
from persistence.search import PAGE_SIZE
from web.api import current_user, user_json
from web.http import ApiError, services_of
from web.pages import render, to_login
from web.search.api import KINDS, hit_json, run
from workers.search import room_name


async def search_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return to_login(request)
    services = services_of(request)
    rooms = []
    if user.building_id is not None:
        channel = f"building:{user.building_id}"
        rooms.append((channel, await room_name(services.store, channel)))
    for slug in await services.store.user_groups(user.id):
        rooms.append((f"group:{slug}", await room_name(services.store, f"group:{slug}")))
    context: dict[str, object] = {"rooms": rooms, "kinds": KINDS, "error": None}
    form = {k: request.query_params.get(k, "") for k in ("q", "kind", "place", "who", "from", "to")}
    hits: list[dict[str, object]] = []
    total = page = pages = 0
    if form["q"].strip():
        try:
            parsed_request, result, query = await run(request, user)
        except ApiError as exc:
            context["error"] = exc.extra.get("field", "q")
        else:
            form = {k: str(v) for k, v in parsed_request.form.items()}
            zone = zone_of(services)
            for hit in result.hits:
                shown = hit_json(hit, query)
                when = dt.datetime.fromtimestamp(hit.at / 1000, zone)
                shown["when"] = when.strftime("%Y-%m-%d %H:%M")
                shown["iso"] = when.isoformat()
                hits.append(shown)
            total, page = result.total, parsed_request.page
            pages = (total + PAGE_SIZE - 1) // PAGE_SIZE

    def page_link(number: int) -> str:
        values = {k: v for k, v in form.items() if v}
        return "/search?" + urlencode({**values, "page": number})

    return render(
        request,
        "search/results.html",
        page_link=page_link,
        page_size=PAGE_SIZE,
        user=user_json(user),
        page="search",
        form=form,
        hits=hits,
        total=total,
        page_no=page,
        pages=pages,
        searched=bool(form["q"].strip()) and context["error"] is None,
        **context,
    )


ROUTES = [Route("/search", search_page)]

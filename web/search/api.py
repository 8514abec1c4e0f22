"""Search over HTTP: ``GET /api/search`` (JSON) and the parsing both it and the results page
share. Parameters, all optional but ``q``:

* ``q`` — what to look for (at most ``MAX_QUERY_CHARS`` characters);
* ``kind`` — one or more kinds (``chat``, ``poll``, ``notice`` …), repeated;
* ``place`` — a room's channel or a category's key;
* ``who`` — the author's username;
* ``from`` / ``to`` — dates (``YYYY-MM-DD``) in the neighbourhood's time zone, both included;
* ``page`` — from 1.

Every hit is one the signed-in user may read (the store checks it inside the query).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from linli.feature import Services
from linli.live import zone_of
from persistence.search import MAX_QUERY_CHARS, Hit, SearchFilters, SearchPage
from persistence.search.text import ParsedQuery, parse_query, snippet_html
from persistence.store import User
from web.api import require_user
from web.http import ApiError, normalise_text, services_of
from web.search import actions

#: Kinds a filter may name (the features that index; unknown kinds are refused, not ignored).
KINDS = ("chat", "poll", "notice", "forum", "request", "event", "survey", "meeting")
MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class SearchRequest:
    query: str
    filters: SearchFilters
    page: int
    #: The form's values as given, to fill the form again.
    form: dict[str, Any]


def _bad(field: str, message: str) -> ApiError:
    return ApiError(400, "bad_request", message, field=field)


def _day(value: str, field: str, services: Services) -> dt.datetime:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise _bad(field, f"{field} must be a date like 2026-03-31.") from None
    return dt.datetime.combine(day, dt.time(), tzinfo=zone_of(services))


async def parse_request(request: Request, services: Services) -> SearchRequest:
    """The query's parameters checked; raises ``ApiError`` (400) naming the wrong field."""
    params = request.query_params
    query = normalise_text(params.get("q", ""))
    if len(query) > MAX_QUERY_CHARS:
        raise _bad("q", f"The search is too long (at most {MAX_QUERY_CHARS} characters).")
    kinds = tuple(k for k in params.getlist("kind") if k)
    for kind in kinds:
        if kind not in KINDS:
            raise _bad("kind", f"Unknown kind {kind!r}.")
    place = params.get("place") or None
    since = until = None
    if params.get("from"):
        since = int(_day(params["from"], "from", services).timestamp() * 1000)
    if params.get("to"):
        end = _day(params["to"], "to", services) + dt.timedelta(days=1)
        until = int(end.timestamp() * 1000)
    if since is not None and until is not None and until <= since:
        raise _bad("to", "The end date is before the start date.")
    author_id = None
    who = normalise_text(params.get("who", ""))
    if who:
        author = await services.store.get_user_by_username(who)
        author_id = author.id if author is not None else -1  # nobody: no hit
    try:
        page = int(params.get("page", "1"))
    except ValueError:
        raise _bad("page", "page must be a whole number.") from None
    if not 1 <= page <= MAX_PAGE:
        raise _bad("page", f"page must be between 1 and {MAX_PAGE}.")
    filters = SearchFilters(kinds=kinds, place=place, author_id=author_id, since=since, until=until)
    form = {
        "q": query,
        "kind": kinds[0] if len(kinds) == 1 else "",
        "place": place or "",
        "who": who,
        "from": params.get("from", ""),
        "to": params.get("to", ""),
    }
    return SearchRequest(query, filters, page, form)


async def run(request: Request, user: User) -> tuple[SearchRequest, SearchPage, ParsedQuery]:
    services = services_of(request)
    parsed_request = await parse_request(request, services)
    result = await actions.search(
        services,
        user,
        parsed_request.query,
        filters=parsed_request.filters,
        page=parsed_request.page,
    )
    return parsed_request, result, parse_query(parsed_request.query)


def hit_json(hit: Hit, query: ParsedQuery) -> dict[str, Any]:
    return {
        "kind": hit.kind,
        "ref": hit.ref,
        "title": hit.title,
        "title_html": snippet_html(hit.title, query, context=200) if hit.title else "",
        "snippet_html": snippet_html(hit.text, query),
        "link": hit.link,
        "at": hit.at,
        "place": hit.place,
        "place_name": hit.place_name,
        "author_id": hit.author_id,
        "author_name": hit.author_name,
        "exact": hit.exact,
    }


async def search_api(request: Request) -> Response:
    user = await require_user(request)
    parsed_request, result, query = await run(request, user)
    return JSONResponse(
        {
            "query": parsed_request.query,
            "total": result.total,
            "page": parsed_request.page,
            "page_size": result.limit,
            "hits": [hit_json(hit, query) for hit in result.hits],
        }
    )


ROUTES = [Route("/api/search", search_api)]

"""The forum's pages: the categories with their unread counts (``/forum``), a category's topics
(``/forum/c/<id>``) and a topic (``/forum/t/<id>``, its page in the address so a reload keeps
the place). The pages are shells; ``web/static/js/forum/*.js`` fills them from the API and
follows the topic live. Strings are the ``forum.*`` keys of ``web/locales/forum/``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from web.api import current_user, user_json
from web.pages import render, to_login


async def _page(request: Request, template: str, page: str, **context: object) -> Response:
    user = await current_user(request)
    if user is None:
        return to_login(request)
    return render(request, template, user=user_json(user), page=page, **context)


async def index_page(request: Request) -> Response:
    return await _page(request, "forum/index.html", "forum/index")


async def category_page(request: Request) -> Response:
    return await _page(
        request, "forum/category.html", "forum/category", category_id=request.path_params["id"]
    )


async def topic_page(request: Request) -> Response:
    return await _page(
        request, "forum/topic.html", "forum/topic", topic_id=request.path_params["id"]
    )


ROUTES = [
    Route("/forum", index_page),
    Route("/forum/c/{id:int}", category_page),
    Route("/forum/t/{id:int}", topic_page),
]

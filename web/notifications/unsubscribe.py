"""The unsubscribe page behind the link in every e-mail (``/unsubscribe/<token>``): no login,
the token in the address is the key (``notify_settings.unsubscribe_token``, 24 random bytes).

``GET`` only shows the page with a button: mail scanners and link previews follow links, and
must not unsubscribe anybody. ``POST`` unsubscribes (``actions.unsubscribe``: no more e-mail,
the address forgotten) — from the page's button, and from a mail program's own unsubscribe
button (RFC 8058: a ``List-Unsubscribe=One-Click`` form body with no cookie and no Origin,
which is why this POST, unlike the API's, checks neither). Knowing the token is what allows
it, and only the address's owner received it. Again is harmless: a token stays valid, and the
page then says it is done.

The page is in both languages at once, 繁體中文 first and in large type: whoever follows the
link has no session to take a language from. Strings are the ``unsubscribe.*`` catalogue keys.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from linli.catalogue import LOCALES
from web.http import services_of
from web.notifications import actions
from web.notifications.actions import notifications_store
from web.pages import catalogue, render

TEMPLATE = "notifications/unsubscribe.html"


def _languages() -> list[tuple[str, Any]]:
    def translator(locale: str) -> Any:
        messages = catalogue(locale)

        def t(key: str, **values: Any) -> str:
            text = messages.get(key, key)
            return text.format(**values) if values else text

        return t

    return [(locale, translator(locale)) for locale in LOCALES]


def _page(request: Request, state: str, status: int = 200) -> Response:
    response = render(
        request, TEMPLATE, user=None, page="unsubscribe", state=state, languages=_languages()
    )
    response.status_code = status
    # The token is in the address: no search engine, no referrer.
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


async def unsubscribe_page(request: Request) -> Response:
    token = request.path_params["token"]
    store = notifications_store(services_of(request))
    user_id = await store.by_unsubscribe_token(token)
    if user_id is None:
        return _page(request, "unknown", 404)
    settings = (await store.settings([user_id]))[user_id]
    return _page(request, "confirm" if settings.email else "done")


async def unsubscribe(request: Request) -> Response:
    if not await actions.unsubscribe(services_of(request), request.path_params["token"]):
        return _page(request, "unknown", 404)
    return _page(request, "done")


ROUTES = [
    Route("/unsubscribe/{token}", unsubscribe_page, methods=["GET"]),
    Route("/unsubscribe/{token}", unsubscribe, methods=["POST"]),
]

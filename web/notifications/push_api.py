"""Web Push over HTTP: the key pages subscribe with, a user's devices (add, list, remove), and
what makes the pages an installable web app — the manifest and the service worker, served at
the site's root so its scope is the whole site (``docs/protocol.md``, "Web Push API";
``docs/design/0013-web-push.md``)."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from linli.catalogue import LOCALES
from persistence.notifications import Kind, PushSubscription
from web.api import require_user
from web.http import ApiError, Empty, HttpCode, decode_body, line, services_of, set_field
from web.notifications import actions
from web.pages import WEB_DIR, catalogue, locale_of

SERVICE_WORKER = WEB_DIR / "static" / "js" / "sw.js"
#: The theme colour: ``--brand`` in web/static/css/linli.css; the splash's background: ``--page``.
THEME_COLOUR = "#0b5394"
BACKGROUND_COLOUR = "#f4f1ea"


def push_titles() -> dict[str, dict[str, str]]:
    """Each language's push title per kind and for urgent notices (``push.title.*`` in the
    catalogues), for the push sender (``workers/deliver_push.py``)."""
    keys = [str(kind) for kind in Kind]  # Kind.URGENT: the title of any urgent notice
    return {lang: {k: catalogue(lang)[f"push.title.{k}"] for k in keys} for lang in LOCALES}


def subscription_json(s: PushSubscription) -> dict[str, Any]:
    """A device as its owner sees it; ``endpoint`` lets a page find its own device in the list."""
    return {
        "id": s.id,
        "label": s.label,
        "endpoint": s.endpoint,
        "created_at": s.created_at,
        "last_ok_at": s.last_ok_at,
    }


async def public_key(request: Request) -> Response:
    """``{"public_key"}``: the ``applicationServerKey`` (base64url) to subscribe with."""
    key = await actions.push_public_key(services_of(request))
    return JSONResponse({"public_key": key}, headers={"Cache-Control": "no-cache"})


class SubscriptionKeys(msgspec.Struct, frozen=True):
    p256dh: str
    auth: str


class SubscriptionBody(msgspec.Struct, frozen=True):
    """``PushSubscription.toJSON()`` (its ``expirationTime`` is ignored) and a ``label`` that
    names the device for its owner ("Android Chrome")."""

    endpoint: str
    keys: SubscriptionKeys
    label: str = ""

    def __post_init__(self) -> None:
        set_field(self, "label", line(self.label, "label", min_len=0, max_len=80))


async def subscriptions(request: Request) -> Response:
    """GET: the user's devices, oldest first. POST: add this device (201 with it)."""
    user = await require_user(request)
    services = services_of(request)
    if request.method == "GET":
        devices = await actions.push_subscriptions(services, user.id)
        return JSONResponse({"subscriptions": [subscription_json(d) for d in devices]})
    body = await decode_body(request, SubscriptionBody)
    try:
        added = await actions.add_push_subscription(
            services,
            user.id,
            endpoint=body.endpoint,
            p256dh=body.keys.p256dh,
            auth=body.keys.auth,
            label=body.label,
        )
    except actions.InvalidSubscription as exc:
        raise ApiError(400, HttpCode.BAD_REQUEST, str(exc), field=exc.field) from None
    return JSONResponse({"subscription": subscription_json(added)}, status_code=201)


async def remove_subscription(request: Request) -> Response:
    """Forget one of your own devices (404 for anyone else's)."""
    user = await require_user(request)
    await decode_body(request, Empty)
    subscription_id: int = request.path_params["subscription_id"]
    if not await actions.remove_push_subscription(services_of(request), user.id, subscription_id):
        raise ApiError(404, HttpCode.NOT_FOUND, "You have no such device.")
    return JSONResponse({"removed": subscription_id})


async def manifest(request: Request) -> Response:
    """The web app manifest, in the reader's language (the page links it with credentials, so
    the language cookie comes along)."""
    lang = locale_of(request)
    messages = catalogue(lang)
    icons = [
        {"src": f"/static/icons/icon-{size}.png", "sizes": f"{size}x{size}", "type": "image/png"}
        for size in (192, 512)
    ] + [
        {
            "src": f"/static/icons/maskable-{size}.png",
            "sizes": f"{size}x{size}",
            "type": "image/png",
            "purpose": "maskable",
        }
        for size in (192, 512)
    ]
    body = {
        "id": "/",
        "name": messages["pwa.name"],
        "short_name": messages["pwa.short_name"],
        "description": messages["app.tagline"],
        "lang": lang,
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "theme_color": THEME_COLOUR,
        "background_color": BACKGROUND_COLOUR,
        "icons": icons,
    }
    return JSONResponse(
        body,
        media_type="application/manifest+json",
        headers={"Cache-Control": "no-cache", "Vary": "Cookie, Accept-Language"},
    )


async def service_worker(request: Request) -> Response:
    """``/sw.js``: at the root, so it may control every page (``Service-Worker-Allowed: /``
    says so too). ``no-cache``: browsers check it for updates on every visit."""
    return FileResponse(
        SERVICE_WORKER,
        media_type="text/javascript",
        headers={"Service-Worker-Allowed": "/", "Cache-Control": "no-cache"},
    )


ROUTES = [
    Route("/api/push/key", public_key, methods=["GET"]),
    Route("/api/push/subscriptions", subscriptions, methods=["GET", "POST"]),
    Route(
        "/api/push/subscriptions/{subscription_id:int}/delete",
        remove_subscription,
        methods=["POST"],
    ),
    Route("/manifest.webmanifest", manifest, methods=["GET"]),
    Route("/sw.js", service_worker, methods=["GET"]),
]

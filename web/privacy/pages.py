"""The privacy pages: the notice (``/privacy``, for everyone, linked from every page's footer and
the registration form) and a resident's privacy settings (``/settings/privacy``: download my
data, delete my account). Strings are the ``privacy.*`` keys of ``web/locales/privacy/``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from persistence.privacy import RetentionKind
from web.api import current_user, user_json
from web.http import services_of
from web.pages import render, to_login
from web.privacy import actions


async def notice_page(request: Request) -> Response:
    user = await current_user(request)
    services = services_of(request)
    retention = await actions.privacy_store(services).retention()
    return render(
        request,
        "privacy/notice.html",
        user=user_json(user) if user else None,
        page="privacy/notice",
        version=actions.NOTICE_VERSION,
        retention={str(k): v for k, v in retention.items()},
        notification_days=services.settings.notification_days,
        session_days=services.settings.session_days,
        kinds=[str(k) for k in RetentionKind],
    )


async def settings_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return to_login(request)
    consents = await actions.privacy_store(services_of(request)).consents(user.id)
    return render(
        request,
        "privacy/settings.html",
        user=user_json(user),
        page="privacy/settings",
        consent=consents[-1] if consents else None,
        version=actions.NOTICE_VERSION,
    )


ROUTES = [
    Route("/privacy", notice_page),
    Route("/settings/privacy", settings_page),
]

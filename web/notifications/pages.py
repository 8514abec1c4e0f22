"""The notifications pages a resident sees: the inbox (``/inbox``, behind the bell in the top
bar) and the notification settings (``/settings/notifications``: kinds and channels, this
device's push, quiet hours, e-mail and digest, rooms followed or muted).

Rendered like every page (``web.pages.render``); the scripts ``inbox.js`` and
``notify_settings.js`` read and change everything through ``/api/notifications*``. Strings are
the ``inbox.*`` and ``notify.*`` keys of ``web/locales/*.json``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from linli.types import Role
from persistence.notifications import Channel, Kind
from web.api import current_user, user_json
from web.pages import render, to_login

#: The kinds in the order the settings page lists them: what most residents get first, the
#: staff's own and the followed rooms' last.
KIND_ORDER = (
    Kind.NOTICE,
    Kind.URGENT,
    Kind.MENTION,
    Kind.REQUEST,
    Kind.EVENT,
    Kind.SURVEY,
    Kind.POLL,
    Kind.MODERATION,
    Kind.CHAT,
)
#: Who handles reports and held messages, so who is asked about moderation notifications (the
#: same roles the moderators' page is for).
MODERATION_ROLES = (Role.MODERATOR, Role.ADMIN)


async def inbox_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return to_login(request)
    return render(request, "inbox.html", user=user_json(user), page="inbox")


async def settings_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return to_login(request)
    kinds = [
        str(kind)
        for kind in KIND_ORDER
        if kind is not Kind.MODERATION or user.role in MODERATION_ROLES
    ]
    return render(
        request,
        "notify_settings.html",
        user=user_json(user),
        page="notify_settings",
        kinds=kinds,
        channels=[str(channel) for channel in Channel],
    )


ROUTES = [
    Route("/inbox", inbox_page),
    Route("/settings/notifications", settings_page),
]

"""The audit-log page (``/audit``) and its CSV export, over the one audit log
(``services.audit``): moderators see the moderation entries, admins every feature's.

Filters (the page's form, the CSV link and ``GET /api/mod/audit`` take the same query):
``who`` (an actor's id), ``action``, ``target`` (``user:<id>`` or a room's channel), ``from`` and
``to`` (local dates ``YYYY-MM-DD`` in the neighbourhood's time zone, both included), for
admins ``feature``, and for paging the API ``before`` (an entry id) and ``limit``. The CSV has
the page's rows, headers in the reader's language and times as local ISO 8601 with the
offset (``2026-12-02T14:03:05+08:00``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from channels.names import InvalidChannel, parse_channel
from linli.catalogue import messages_of
from linli.live import zone_of
from persistence.audit import AuditEntry, AuditQuery
from persistence.store import Role, User
from web.api import current_user, user_json
from web.http import ApiError, HttpCode, services_of
from web.moderation.actions import FEATURE, STAFF, place_names
from web.pages import error_page, locale_of, render, to_login, wording_of

#: Rows on the page and in one CSV file at most (newest first).
PAGE_ROWS: Final = 500
CSV_ROWS: Final = 10_000
CSV_COLUMNS: Final = (
    "time",
    "feature",
    "actor",
    "action",
    "room",
    "offset",
    "target",
    "subject",
    "reason",
    "detail",
)


def _int(raw: str, name: str) -> int:
    if not raw.isdigit():
        raise ApiError(400, HttpCode.BAD_REQUEST, f"'{name}' must be an id.", field=name)
    return int(raw)


def _day(raw: str, name: str, zone: ZoneInfo) -> int:
    """The start of local day ``raw`` (YYYY-MM-DD), in milliseconds."""
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ApiError(
            400, HttpCode.BAD_REQUEST, f"'{name}' must be a date YYYY-MM-DD.", field=name
        ) from None
    return int(datetime.combine(day, time(), zone).timestamp() * 1000)


def audit_query(
    params: Mapping[str, str], user: User, zone: ZoneInfo, *, limit: int = PAGE_ROWS
) -> AuditQuery:
    """The filters of the request (see the module's docstring); bad values are a 400 with the
    field."""
    feature = params.get("feature") or None
    if user.role is not Role.ADMIN:
        feature = FEATURE  # moderators see the moderation entries only
    actor = _int(params["who"], "who") if params.get("who") else None
    target_user = None
    channel = None
    target = params.get("target", "")
    if target.startswith("user:"):
        target_user = _int(target[5:], "target")
    elif target:
        try:
            channel = parse_channel(target).name
        except InvalidChannel:
            raise ApiError(
                400, HttpCode.BAD_REQUEST, "'target' must be user:<id> or a room.", field="target"
            ) from None
    since = _day(params["from"], "from", zone) if params.get("from") else None
    until = None
    if params.get("to"):
        until = _day(params["to"], "to", zone)
        # The next local day's start: the "to" day is included (and DST days are 23 or 25 h).
        next_day = date.fromisoformat(params["to"]) + timedelta(days=1)
        until = int(datetime.combine(next_day, time(), zone).timestamp() * 1000)
    if since is not None and until is not None and since >= until:
        raise ApiError(400, HttpCode.BAD_REQUEST, "'from' must not be after 'to'.", field="from")
    before = _int(params["before"], "before") if params.get("before") else None
    if params.get("limit"):
        limit = min(_int(params["limit"], "limit"), limit)
    return AuditQuery(
        feature=feature,
        actor_id=actor,
        action=params.get("action") or None,
        channel=channel,
        target_user_id=target_user,
        since=since,
        until=until,
        before_id=before,
        limit=limit,
    )


def local_iso(ms: int, zone: ZoneInfo) -> str:
    """``ms`` as local ISO 8601 with the offset, to the second."""
    return datetime.fromtimestamp(ms / 1000, zone).isoformat(timespec="seconds")


def action_label(messages: Mapping[str, str], action: str) -> str:
    return messages.get(f"audit.action.{action}", action)


async def _names(
    request: Request, channels: Iterable[str]
) -> tuple[dict[str, str], dict[int, str]]:
    """Places' names by channel (rooms, and other features' places such as a forum topic) and
    users' names by id (for the log's targets)."""
    services = services_of(request)
    facets = await services.audit.facets()
    names = await place_names(
        services,
        [*channels, *facets.channels],
        request.app.state.place_namers,
        locale_of(request),
    )
    return names, dict(facets.targets)


def row_cells(
    e: AuditEntry,
    messages: Mapping[str, str],
    rooms: dict[str, str],
    users: dict[int, str],
    zone: ZoneInfo,
) -> dict[str, str]:
    """One entry as the page and the CSV show it."""
    return {
        "time": local_iso(e.at, zone),
        "feature": messages.get(f"audit.feature.{e.feature}", e.feature),
        "actor": e.actor_name
        if e.actor_id is not None and e.actor_name
        else messages["audit.system"],
        "action": action_label(messages, e.action),
        "room": "" if e.channel is None else rooms.get(e.channel, e.channel),
        "offset": "" if e.offset is None else str(e.offset),
        "target": ""
        if e.target_user_id is None
        else users.get(e.target_user_id, f"#{e.target_user_id}"),
        "subject": e.subject or "",
        "reason": e.reason,
        "detail": orjson.dumps(e.detail).decode() if e.detail else "",
    }


async def _staff(request: Request) -> User | Response:
    user = await current_user(request)
    if user is None:
        return to_login(request)
    if user.role not in STAFF:
        return await error_page(request, "forbidden", 403)
    return user


async def audit_page(request: Request) -> Response:
    user = await _staff(request)
    if not isinstance(user, User):
        return user
    services = services_of(request)
    zone = zone_of(services)
    messages = messages_of(wording_of(request))
    error = None
    entries: list[AuditEntry] = []
    try:
        entries = await services.audit.search(audit_query(request.query_params, user, zone))
    except ApiError as exc:
        error = exc
    is_admin = user.role is Role.ADMIN
    facets = await services.audit.facets(feature=None if is_admin else FEATURE)
    rooms, users = await _names(request, [e.channel for e in entries if e.channel is not None])
    rows = [row_cells(e, messages, rooms, users, zone) for e in entries]
    response = render(
        request,
        "audit.html",
        user=user_json(user),
        page="audit",
        rows=rows,
        params=dict(request.query_params),
        query=str(request.url.query),
        actors=facets.actors,
        actions=[(a, action_label(messages, a)) for a in facets.actions],
        targets=[(f"user:{i}", n) for i, n in facets.targets]
        + [(c, rooms.get(c, c)) for c in facets.channels],
        is_admin=is_admin,
        error=None
        if error is None
        else messages.get(f"audit.bad.{error.extra.get('field')}", error.message),
        limit=PAGE_ROWS,
    )
    if error is not None:
        response.status_code = 400
    return response


async def audit_csv(request: Request) -> Response:
    user = await _staff(request)
    if not isinstance(user, User):
        return user
    services = services_of(request)
    zone = zone_of(services)
    messages = messages_of(wording_of(request))
    try:
        query = audit_query(request.query_params, user, zone, limit=CSV_ROWS)
    except ApiError as exc:
        return Response(exc.message, status_code=400, media_type="text/plain; charset=utf-8")
    entries = await services.audit.search(query)
    rooms, users = await _names(request, [e.channel for e in entries if e.channel is not None])
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([messages[f"audit.col.{c}"] for c in CSV_COLUMNS])
    for e in entries:
        cells = row_cells(e, messages, rooms, users, zone)
        writer.writerow([cells[c] for c in CSV_COLUMNS])
    # A byte-order mark: spreadsheet programs then read the Chinese text as UTF-8.
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="linli-audit.csv"'},
    )


ROUTES = [
    Route("/audit", audit_page),
    Route("/audit.csv", audit_csv),
]

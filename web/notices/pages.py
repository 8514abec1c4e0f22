"""The notices pages, rendered on the server (a notice reads, prints and works without its
script; the scripts add recording the read, the acknowledgement, the live reach and the form):

* ``/notices`` — current notices, pinned first, newest next, by category, unread marked.
* ``/notices/<id>`` — one notice: text, files, "我已閱讀" for the household, its edit history;
  for staff the live reach and the links to the door list and CSV.
* ``/notices/new``, ``/notices/<id>/edit`` — the staff's form.
* ``/notices/archive`` — the transparency archive: every notice by year and category, printable.
* ``/notices/<id>/doors`` — the door list of units not reached yet, printable.

A notice the reader may not read is "not found", as over the API.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from gateway.notices.events import reach_body
from linli.live import zone_of
from linli.roles import Can, may
from persistence.notices import Category, Notice, NoticeState, floor_of
from web.api import current_user, user_json
from web.http import services_of
from web.notices import actions
from web.notices.actions import Reader, notices_store, reader_of, visible
from web.notices.api import attachment_json, audience_json, category_json, notice_json
from web.pages import locale_of, render, to_login


def _when(request: Request) -> Callable[[int | None], str]:
    zone = zone_of(services_of(request))

    def when(ms: int | None) -> str:
        if ms is None:
            return ""
        return datetime.fromtimestamp(ms / 1000, zone).strftime("%Y-%m-%d %H:%M")

    return when


def _category_name(request: Request) -> Callable[[Category | None], str]:
    english = locale_of(request) == "en"

    def name(category: Category | None) -> str:
        if category is None:
            return ""
        return category.name_en if english else category.name_zh

    return name


async def _reader(request: Request) -> Reader | None:
    user = await current_user(request)
    return None if user is None else await reader_of(services_of(request), user)


async def _page(
    request: Request, template: str, page: str, reader: Reader, **context: Any
) -> Response:
    store = notices_store(services_of(request))
    categories = await store.list_categories()
    return render(
        request,
        template,
        user=user_json(reader.user),
        page=page,
        staff=reader.staff,
        categories=categories,
        categories_by_id={c.id: c for c in categories},
        category_name=_category_name(request),
        when=_when(request),
        **context,
    )


def _login(request: Request) -> Response:
    return to_login(request)


async def list_page(request: Request) -> Response:
    reader = await _reader(request)
    if reader is None:
        return _login(request)
    store = notices_store(services_of(request))
    slug = request.query_params.get("category", "")
    categories = {c.slug: c for c in await store.list_categories()}
    category = categories.get(slug)
    live = {NoticeState.PUBLISHED}
    if reader.staff:
        live |= {NoticeState.DRAFT, NoticeState.SCHEDULED}
    words = request.query_params.get("q", "").strip()
    notices = [
        n
        for n in await store.list_notices(states=frozenset(live))
        if visible(n, reader)
        and (category is None or n.draft.category_id == category.id)
        and (not words or words.casefold() in (n.draft.title + "\n" + n.draft.body).casefold())
    ]
    notices.sort(key=lambda n: not n.draft.pinned)
    unit = reader.user.unit_id
    return await _page(
        request,
        "notices/list.html",
        "notices/list",
        reader,
        notices=notices,
        current=category.slug if category else "",
        words=words,
        read=await store.read_by_user(reader.user.id),
        acked=await store.acked_by_unit(unit) if unit is not None else set(),
        admin=may(reader.user.role, Can.ADMINISTER),
    )


async def _visible_notice(request: Request, reader: Reader) -> Notice | None:
    notice = await notices_store(services_of(request)).get_notice(request.path_params["notice_id"])
    return notice if notice is not None and visible(notice, reader) else None


async def view_page(request: Request) -> Response:
    reader = await _reader(request)
    if reader is None:
        return _login(request)
    notice = await _visible_notice(request, reader)
    if notice is None:
        return await _page(request, "notices/missing.html", "notices/view", reader)
    services = services_of(request)
    store = notices_store(services)
    unit = reader.user.unit_id
    reach = await actions.reach_of(services, notice) if reader.staff else None
    buildings = {b.id: b.name for b in await services.store.list_buildings()}
    return await _page(
        request,
        "notices/view.html",
        "notices/view",
        reader,
        notice=notice,
        attachments=[attachment_json(a) for a in await store.attachments(notice.id)],
        revisions=await store.revisions(notice.id),
        acknowledged=unit is not None and notice.id in await store.acked_by_unit(unit),
        may_acknowledge=unit is not None
        and notice.draft.requires_ack
        and notice.state is NoticeState.PUBLISHED,
        reach=reach_body(reach) if reach is not None else None,
        buildings=buildings,
    )


async def edit_page(request: Request) -> Response:
    reader = await _reader(request)
    if reader is None:
        return _login(request)
    if not reader.staff:
        return RedirectResponse("/notices", status_code=303)
    notice = None
    if "notice_id" in request.path_params:
        notice = await _visible_notice(request, reader)
        if notice is None:
            return await _page(request, "notices/missing.html", "notices/edit", reader)
    services = services_of(request)
    buildings = await services.store.list_buildings()
    units = [
        {"id": u.id, "building_id": u.building_id, "label": u.label, "floor": floor_of(u.label)}
        for b in buildings
        for u in await services.store.list_units(b.id)
    ]
    facts = {
        "notice": notice_json(notice, staff=True) if notice else None,
        "audience": audience_json(notice.draft.audience) if notice else None,
        "buildings": [{"id": b.id, "name": b.name} for b in buildings],
        "units": units,
        "categories": [category_json(c) for c in await notices_store(services).list_categories()],
        "attachments": [
            attachment_json(a) for a in await notices_store(services).attachments(notice.id)
        ]
        if notice
        else [],
        "max_bytes": services.settings.upload_max_bytes,
    }
    return await _page(
        request, "notices/edit.html", "notices/edit", reader, notice=notice, facts=facts
    )


async def archive_page(request: Request) -> Response:
    reader = await _reader(request)
    if reader is None:
        return _login(request)
    services = services_of(request)
    store = notices_store(services)
    zone = zone_of(services)
    slug = request.query_params.get("category", "")
    year = request.query_params.get("year", "")
    categories = {c.slug: c for c in await store.list_categories()}
    category = categories.get(slug)
    readable = [n for n in await store.list_notices() if n.readable and visible(n, reader)]
    years = sorted(
        {datetime.fromtimestamp((n.published_at or 0) / 1000, zone).year for n in readable},
        reverse=True,
    )
    by_year: dict[int, list[Notice]] = {}
    for notice in readable:
        y = datetime.fromtimestamp((notice.published_at or 0) / 1000, zone).year
        if category is not None and notice.draft.category_id != category.id:
            continue
        if year and str(y) != year:
            continue
        by_year.setdefault(y, []).append(notice)
    printed = datetime.now(zone).strftime("%Y-%m-%d %H:%M")
    return await _page(
        request,
        "notices/archive.html",
        "notices/archive",
        reader,
        by_year=sorted(by_year.items(), reverse=True),
        years=years,
        current=category.slug if category else "",
        year=year,
        printed=printed,
        community=" · ".join(b.name for b in await services.store.list_buildings()),
    )


async def doors_page(request: Request) -> Response:
    reader = await _reader(request)
    if reader is None:
        return _login(request)
    notice = await _visible_notice(request, reader) if reader.staff else None
    if notice is None:
        return await _page(request, "notices/missing.html", "notices/doors", reader)
    services = services_of(request)
    reach = await actions.reach_of(services, notice)
    buildings = {b.id: b.name for b in await services.store.list_buildings()}
    missing: dict[int, dict[int | None, list[str]]] = {}
    for unit in reach.units:
        if unit.read_at is None:
            missing.setdefault(unit.building_id, {}).setdefault(unit.floor, []).append(unit.label)
    zone = zone_of(services)
    return await _page(
        request,
        "notices/doors.html",
        "notices/doors",
        reader,
        notice=notice,
        reach=reach,
        missing=[
            (
                buildings.get(b, str(b)),
                [(f, sorted(labels)) for f, labels in sorted(floors.items(), key=_floor_order)],
            )
            for b, floors in sorted(missing.items())
        ],
        printed=datetime.now(zone).strftime("%Y-%m-%d %H:%M"),
    )


def _floor_order(item: tuple[int | None, list[str]]) -> int:
    return -1 if item[0] is None else item[0]


ROUTES = [
    Route("/notices", list_page),
    Route("/notices/new", edit_page),
    Route("/notices/archive", archive_page),
    Route("/notices/{notice_id:int}", view_page),
    Route("/notices/{notice_id:int}/edit", edit_page),
    Route("/notices/{notice_id:int}/doors", doors_page),
]

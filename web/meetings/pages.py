"""The meetings pages: the list (staff write a meeting here), a meeting's page for owners and
residents (agenda, check in, proxy, vote, the live figures), the chair's page (run the night:
attendance, items, the printed list, paper ballots and proxies, minutes), the printable A4
minutes with the signature book, the owners' register (admins import a CSV), and the projector
view (no login: the token in the address is the key).

Rendered like every page (``web.pages.render``); words are the ``meetings.*`` keys of
``web/locales/meetings/``.
"""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from linli.live import zone_of
from linli.richtext import render as render_markdown
from linli.roles import Can, may
from web.api import current_user, user_json
from web.http import services_of
from web.meetings import minutes
from web.meetings.actions import meetings_store, minutes_due
from web.pages import render, to_login


async def _signed_in(request: Request, template: str, page: str, **context: object) -> Response:
    user = await current_user(request)
    if user is None:
        return to_login(request)
    return render(
        request,
        template,
        user=user_json(user),
        page=page,
        staff=may(user.role, Can.RUN_MEETINGS),
        admin=may(user.role, Can.ADMINISTER),
        **context,
    )


async def meetings_page(request: Request) -> Response:
    return await _signed_in(request, "meetings/list.html", "meetings/list")


async def meeting_page(request: Request) -> Response:
    return await _signed_in(
        request,
        "meetings/meeting.html",
        "meetings/meeting",
        meeting_id=request.path_params["meeting_id"],
        code=request.query_params.get("code", "")[:12],
    )


async def run_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return to_login(request)
    if not may(user.role, Can.RUN_MEETINGS):
        return RedirectResponse(f"/meetings/{request.path_params['meeting_id']}", status_code=303)
    return await _signed_in(
        request, "meetings/run.html", "meetings/run", meeting_id=request.path_params["meeting_id"]
    )


async def desk_page(request: Request) -> Response:
    """What the desk's phone opens from an owner's personal QR: whose it is, and Check in."""
    user = await current_user(request)
    if user is None:
        return to_login(request)
    if not may(user.role, Can.RUN_MEETINGS):
        return RedirectResponse(f"/meetings/{request.path_params['meeting_id']}", status_code=303)
    return await _signed_in(
        request,
        "meetings/desk.html",
        "meetings/desk",
        meeting_id=request.path_params["meeting_id"],
        token=request.query_params.get("t", "")[:64],
    )


async def register_page(request: Request) -> Response:
    return await _signed_in(request, "meetings/register.html", "meetings/register")


async def print_page(request: Request) -> Response:
    """The minutes as printable A4, with the signature book (attendance) and the proxies."""
    user = await current_user(request)
    if user is None:
        return to_login(request)
    services = services_of(request)
    snapshot = await meetings_store(services).snapshot(request.path_params["meeting_id"])
    if snapshot is None or (
        not may(user.role, Can.RUN_MEETINGS) and snapshot.meeting.minutes_state.value != "published"
    ):
        return RedirectResponse("/meetings", status_code=303)
    zone = zone_of(services)
    text = snapshot.meeting.minutes or minutes.draft(snapshot, zone)
    checkins = {c.unit_id: c for c in snapshot.checkins}
    proxies = {p.unit_id: p for p in snapshot.proxies}
    staff = may(user.role, Can.RUN_MEETINGS)
    # Art. 34: the proxy forms are kept with the minutes; the print lists every paper form's
    # scan (its fingerprint), linked for staff only (design 0022, "Proxy scans").
    scans = {s.unit_id: s for s in await meetings_store(services).proxy_scans(snapshot.meeting.id)}
    labels = {r.unit_id: r.label for r in snapshot.roll}
    stays: dict[int, list[tuple[int, int]]] = {}
    for stay in snapshot.checkouts:
        stays.setdefault(stay.unit_id, []).append((stay.at, stay.out_at))

    def when(ms: int | None) -> str:
        return (
            "" if ms is None else datetime.fromtimestamp(ms / 1000, zone).strftime("%Y-%m-%d %H:%M")
        )

    due = minutes_due(snapshot.meeting)
    return render(
        request,
        "meetings/print.html",
        user=user_json(user),
        page="meetings/print",
        meeting=snapshot.meeting,
        minutes_html=render_markdown(text),
        due=when(due),
        staff=staff,
        forms=[
            {
                "label": labels.get(p.unit_id, ""),
                "proxy": p.proxy_name,
                "reference": p.reference,
                "filename": scans[p.unit_id].file.filename if p.unit_id in scans else "",
                "sha256": scans[p.unit_id].file.sha256 if p.unit_id in scans else "",
                "url": f"/api/meetings/{snapshot.meeting.id}/proxies/{p.unit_id}/scan",
                "added": when(scans[p.unit_id].added_at) if p.unit_id in scans else "",
            }
            for p in snapshot.proxies
            if p.route.value == "paper"
        ],
        rows=[
            {
                "label": r.label,
                "owners": r.owners,
                "share": r.share,
                "at": when(checkins[r.unit_id].at) if r.unit_id in checkins else "",
                "proxy": proxies[r.unit_id].proxy_name if r.unit_id in proxies else "",
                "reference": proxies[r.unit_id].reference if r.unit_id in proxies else "",
                "scan": "scan"
                if r.unit_id in scans
                else "to_follow"
                if r.unit_id in proxies and proxies[r.unit_id].route.value == "paper"
                else "",
                "by_proxy": r.unit_id in checkins and checkins[r.unit_id].proxy_key is not None,
                # Earlier stays (checked out): the signature book says when they came and left.
                "stays": [
                    {"at": when(at), "out": when(out)} for at, out in stays.get(r.unit_id, [])
                ],
            }
            for r in snapshot.roll
        ],
    )


async def projector_page(request: Request) -> Response:
    return render(
        request,
        "meetings/projector.html",
        user=None,
        page="meetings/projector",
        token=request.path_params["token"],
    )


ROUTES = [
    Route("/meetings", meetings_page),
    Route("/meetings/register", register_page),
    Route("/meetings/projector/{token}", projector_page),
    Route("/meetings/{meeting_id:int}", meeting_page),
    Route("/meetings/{meeting_id:int}/run", run_page),
    Route("/meetings/{meeting_id:int}/desk", desk_page),
    Route("/meetings/{meeting_id:int}/print", print_page),
]

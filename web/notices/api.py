"""The notices HTTP API: staff (``Can.POST_NOTICES``) write, publish, edit and retract notices,
attach files and watch the reach; residents list and read the notices of their audience, open
and acknowledge them for their household, and read the attachments.

Every route that names a notice answers ``notice_not_found`` for a notice the reader may not
read (another building's, a draft), exactly as for one that does not exist, so ids reveal
nothing. Errors are ``ApiError`` like the rest of the HTTP API (``docs/protocol.md``).
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channels.names import SLUG_RE
from gateway.notices.events import reach_body
from linli.live import zone_of
from linli.richtext import MAX_SOURCE_CHARS, render
from linli.roles import Can, roles_that
from persistence.db import UniqueViolation
from persistence.notices import (
    Attachment,
    Audience,
    AudienceKind,
    Category,
    CategoryNotFound,
    Notice,
    NoticeDraft,
    NoticeState,
    NoticeStateError,
)
from persistence.store import User
from web.api import require_user
from web.http import (
    ApiError,
    Empty,
    Reasoned,
    check_origin,
    decode,
    decode_body,
    line,
    services_of,
    set_field,
)
from web.notices import actions
from web.notices.actions import Reader, notices_store, reader_of, visible
from web.uploads import UploadRefused, accept_upload, file_response, read_upload

#: A notice's JSON body may carry up to ``MAX_SOURCE_CHARS`` of Markdown, more than
#: ``web.http.MAX_BODY_BYTES``: its own bound (3 bytes a character of CJK text, escapes, fields).
MAX_NOTICE_BODY_BYTES = MAX_SOURCE_CHARS * 4 + 8192
_POSTERS = roles_that(Can.POST_NOTICES)
_ADMINS = roles_that(Can.ADMINISTER)
_MAX_ID = 2**63 - 1


class AudienceBody(msgspec.Struct, frozen=True):
    kind: AudienceKind = AudienceKind.ALL
    buildings: list[Annotated[int, msgspec.Meta(gt=0, le=_MAX_ID)]] = []
    floors: list[tuple[Annotated[int, msgspec.Meta(gt=0)], Annotated[int, msgspec.Meta(ge=0)]]] = []
    units: list[Annotated[int, msgspec.Meta(gt=0, le=_MAX_ID)]] = []

    def audience(self) -> Audience:
        try:
            return Audience(
                kind=self.kind,
                buildings=tuple(sorted(set(self.buildings)))
                if self.kind is AudienceKind.BUILDINGS
                else (),
                floors=tuple(sorted(set(self.floors))) if self.kind is AudienceKind.FLOORS else (),
                units=tuple(sorted(set(self.units))) if self.kind is AudienceKind.UNITS else (),
            )
        except ValueError:
            raise ApiError(
                400,
                "bad_request",
                f"Choose at least one of the audience's {self.kind}.",
                field="audience",
            ) from None


class NoticeBody(msgspec.Struct, frozen=True):
    """A notice's whole text and settings (create and edit)."""

    title: str
    body: str
    category_id: Annotated[int, msgspec.Meta(gt=0, le=_MAX_ID)]
    audience: AudienceBody = AudienceBody()
    urgent: bool = False
    requires_ack: bool = False
    pinned: bool = False
    publish_at: Annotated[int, msgspec.Meta(gt=0)] | None = None
    expire_at: Annotated[int, msgspec.Meta(gt=0)] | None = None
    #: Create only: publish at once (or at ``publish_at``); false keeps a draft.
    publish: bool = True

    def __post_init__(self) -> None:
        set_field(self, "title", line(self.title, "title", max_len=200))
        body = self.body.replace("\r\n", "\n").strip()
        if not 1 <= len(body) <= MAX_SOURCE_CHARS:
            raise ApiError(
                400,
                "bad_request",
                f"'body' must be 1 to {MAX_SOURCE_CHARS} characters long.",
                field="body",
            )
        set_field(self, "body", body)
        start = self.publish_at
        if self.expire_at is not None and start is not None and self.expire_at <= start:
            raise ApiError(
                400, "bad_request", "The notice must expire after it is published.",
                field="expire_at",
            )  # fmt: skip

    def draft(self) -> NoticeDraft:
        return NoticeDraft(
            category_id=self.category_id,
            title=self.title,
            body=self.body,
            body_html=render(self.body),
            audience=self.audience.audience(),
            urgent=self.urgent,
            requires_ack=self.requires_ack,
            pinned=self.pinned,
            publish_at=self.publish_at,
            expire_at=self.expire_at,
        )


class CategoryBody(msgspec.Struct, frozen=True):
    slug: str
    name_zh: str
    name_en: str
    position: int = 0
    archived: bool = False

    def __post_init__(self) -> None:
        slug = line(self.slug, "slug", min_len=2, max_len=40).lower()
        if not SLUG_RE.match(slug):
            raise ApiError(
                400, "bad_request", "'slug' takes letters a-z, digits and '-'.", field="slug"
            )
        set_field(self, "slug", slug)
        set_field(self, "name_zh", line(self.name_zh, "name_zh", max_len=40))
        set_field(self, "name_en", line(self.name_en, "name_en", max_len=60))


def not_found() -> ApiError:
    return ApiError(404, "notice_not_found", "No such notice.")


def category_json(c: Category) -> dict[str, Any]:
    return {
        "id": c.id,
        "slug": c.slug,
        "name_zh": c.name_zh,
        "name_en": c.name_en,
        "position": c.position,
        "archived": c.archived,
    }


def audience_json(a: Audience) -> dict[str, Any]:
    return {
        "kind": str(a.kind),
        "buildings": list(a.buildings),
        "floors": [list(f) for f in a.floors],
        "units": list(a.units),
    }


def attachment_json(a: Attachment) -> dict[str, Any]:
    base = f"/api/notices/{a.notice_id}/attachments/{a.id}"
    return {
        "id": a.id,
        "filename": a.filename,
        "media_type": a.media_type,
        "size": a.size,
        "sha256": a.sha256,
        "width": a.width,
        "height": a.height,
        "url": base,
        "thumb_url": f"{base}/thumb" if a.thumb_id else None,
    }


def notice_json(n: Notice, *, staff: bool) -> dict[str, Any]:
    d = n.draft
    body: dict[str, Any] = {
        "id": n.id,
        "title": d.title,
        "body_html": d.body_html,
        "preview": actions.preview(n),
        "category_id": d.category_id,
        "urgent": d.urgent,
        "requires_ack": d.requires_ack,
        "pinned": d.pinned,
        "state": str(n.state),
        "published_at": n.published_at,
        "expire_at": d.expire_at,
        "expired_at": n.expired_at,
        "retracted_at": n.retracted_at,
        "retract_reason": n.retract_reason,
        "version": n.version,
        "updated_at": n.updated_at,
        "edited": n.version > 1 and n.updated_at != n.published_at,
    }
    if staff:
        body |= {
            "body": d.body,
            "audience": audience_json(d.audience),
            "publish_at": d.publish_at,
            "created_at": n.created_at,
            "created_by": n.created_by,
        }
    return body


async def _reader(request: Request) -> Reader:
    user = await require_user(request)
    return await reader_of(services_of(request), user)


async def _notice_for(request: Request, *, staff: bool = False) -> tuple[Notice, Reader]:
    """The notice of the path, for a reader who may read it (and post notices when asked)."""
    reader = await _reader(request)
    if staff and not reader.staff:
        raise ApiError(403, "forbidden", "Only the management office and committee may do this.")
    notice_id = request.path_params["notice_id"]
    notice = await notices_store(services_of(request)).get_notice(notice_id)
    if notice is None or not visible(notice, reader):
        raise not_found()
    return notice, reader


async def _notice_body(request: Request) -> NoticeBody:
    check_origin(request, services_of(request))
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send the request body as JSON.")
    raw = await request.body()
    if len(raw) > MAX_NOTICE_BODY_BYTES:
        raise ApiError(413, "too_large", "The notice is too long.")
    return decode(raw or b"{}", NoticeBody)


async def _check_refs(request: Request, body: NoticeBody, *, new: bool) -> None:
    services = services_of(request)
    category = await notices_store(services).get_category(body.category_id)
    if category is None or (new and category.archived):
        raise ApiError(400, "category_not_found", "No such category.", field="category_id")
    known = {b.id for b in await services.store.list_buildings()}
    audience = body.audience
    wanted = set(audience.buildings) | {b for b, _ in audience.floors}
    if audience.kind in (AudienceKind.BUILDINGS, AudienceKind.FLOORS) and wanted - known:
        raise ApiError(400, "bad_request", "No such building.", field="audience")
    if audience.kind is AudienceKind.UNITS:
        units = {u.id for b in known for u in await services.store.list_units(b)}
        if set(audience.units) - units:
            raise ApiError(400, "bad_request", "No such unit.", field="audience")


# -- list and read -----------------------------------------------------------------------------


async def list_notices(request: Request) -> Response:
    """``?category=<slug>`` ``&archive=1`` (every notice, expired and retracted too) ``&year=``
    ``&q=`` (words in the title or text). Pinned first, then newest; each with ``read`` (by
    me) and, for a household, ``acknowledged``."""
    reader = await _reader(request)
    services = services_of(request)
    store = notices_store(services)
    query = request.query_params
    archive = query.get("archive") == "1"
    categories = {c.slug: c for c in await store.list_categories()}
    category = categories.get(query.get("category", ""))
    if query.get("category") and category is None:
        raise ApiError(400, "category_not_found", "No such category.", field="category")
    year = query.get("year", "")
    words = query.get("q", "").strip().casefold()
    read = await store.read_by_user(reader.user.id)
    unit = reader.user.unit_id
    acked = await store.acked_by_unit(unit) if unit is not None else set()
    shown = []
    zone = zone_of(services)
    for notice in await store.list_notices():
        if not visible(notice, reader):
            continue
        if (
            not archive
            and notice.state is not NoticeState.PUBLISHED
            and not (reader.staff and notice.state in (NoticeState.DRAFT, NoticeState.SCHEDULED))
        ):
            continue
        if category is not None and notice.draft.category_id != category.id:
            continue
        when = notice.published_at or notice.created_at
        if year and str(datetime.fromtimestamp(when / 1000, zone).year) != year:
            continue
        if words and words not in (notice.draft.title + "\n" + notice.draft.body).casefold():
            continue
        shown.append(
            notice_json(notice, staff=reader.staff)
            | {"read": notice.id in read, "acknowledged": notice.id in acked}
        )
    if not archive:
        shown.sort(key=lambda n: not n["pinned"])  # stable: newest first within each part
    return JSONResponse(
        {"notices": shown, "categories": [category_json(c) for c in categories.values()]}
    )


async def get_notice(request: Request) -> Response:
    notice, reader = await _notice_for(request)
    services = services_of(request)
    store = notices_store(services)
    unit = reader.user.unit_id
    body: dict[str, Any] = {
        "notice": notice_json(notice, staff=reader.staff),
        "attachments": [attachment_json(a) for a in await store.attachments(notice.id)],
        "category": None,
        "acknowledged": unit is not None and notice.id in await store.acked_by_unit(unit),
        "may_acknowledge": unit is not None and notice.draft.requires_ack,
    }
    category = await store.get_category(notice.draft.category_id)
    body["category"] = category_json(category) if category else None
    if reader.staff:
        body["reach"] = reach_body(await actions.reach_of(services, notice))
    return JSONResponse(body)


async def open_notice(request: Request) -> Response:
    """The page shows the notice: record the read (the household's, when it is the first)."""
    await decode_body(request, Empty)
    notice, reader = await _notice_for(request)
    if not notice.readable:
        return JSONResponse({"counted": False})
    first = await actions.record_open(services_of(request), notice, reader.user)
    return JSONResponse({"counted": True, "household_first": first})


async def acknowledge(request: Request) -> Response:
    await decode_body(request, Empty)
    notice, reader = await _notice_for(request)
    if notice.state is not NoticeState.PUBLISHED:
        raise ApiError(409, "notice_not_live", "This notice can no longer be acknowledged.")
    if not notice.draft.requires_ack:
        raise ApiError(409, "notice_no_ack", "This notice asks for no acknowledgement.")
    if reader.user.unit_id is None:
        raise ApiError(403, "notice_no_unit", "Only a household can acknowledge a notice.")
    made = await actions.acknowledge(services_of(request), notice, reader.user)
    return JSONResponse({"acknowledged": True, "by_this_request": made})


async def history(request: Request) -> Response:
    notice, _ = await _notice_for(request)
    revisions = await notices_store(services_of(request)).revisions(notice.id)
    return JSONResponse(
        {
            "revisions": [
                {
                    "revision": r.revision,
                    "title": r.title,
                    "body_html": render(r.body),
                    "changed": list(r.changed),
                    "editor": r.editor_name,
                    "edited_at": r.edited_at,
                }
                for r in revisions
            ],
            "retracted": (
                {"at": notice.retracted_at, "reason": notice.retract_reason}
                if notice.state is NoticeState.RETRACTED
                else None
            ),
        }
    )


async def banner(request: Request) -> Response:
    """The urgent notices the reader's household has not acknowledged yet (or, for one that
    asks for none, not opened; for a reader without a unit, not opened themselves)."""
    reader = await _reader(request)
    store = notices_store(services_of(request))
    user = reader.user
    if user.unit_id is not None:
        done_ack = await store.acked_by_unit(user.unit_id)
        done_read = await store.read_by_unit(user.unit_id)
    else:
        done_ack, done_read = set(), await store.read_by_user(user.id)
    shown = []
    for notice in await store.list_notices(states=frozenset({NoticeState.PUBLISHED})):
        if not notice.draft.urgent or not notice.draft.audience.includes(
            user.building_id, user.unit_id, reader.unit_label
        ):
            continue
        needs_ack = notice.draft.requires_ack and user.unit_id is not None
        if (needs_ack and notice.id in done_ack) or (not needs_ack and notice.id in done_read):
            continue
        shown.append({"id": notice.id, "title": notice.draft.title, "requires_ack": needs_ack})
    return JSONResponse({"urgent": shown})


# -- staff -------------------------------------------------------------------------------------


async def create_notice(request: Request) -> Response:
    user = await require_user(request, *_POSTERS)
    body = await _notice_body(request)
    await _check_refs(request, body, new=True)
    notice = await actions.create_notice(
        services_of(request), body.draft(), actor=user, publish=body.publish
    )
    return JSONResponse({"notice": notice_json(notice, staff=True)}, status_code=201)


async def edit_notice(request: Request) -> Response:
    notice, reader = await _notice_for(request, staff=True)
    body = await _notice_body(request)
    await _check_refs(request, body, new=False)
    try:
        edited, changed = await actions.edit_notice(
            services_of(request), notice.id, body.draft(), actor=reader.user
        )
    except NoticeStateError:
        raise ApiError(
            409, "notice_not_live", "A retracted or expired notice cannot be edited."
        ) from None
    return JSONResponse({"notice": notice_json(edited, staff=True), "changed": list(changed)})


async def publish_notice(request: Request) -> Response:
    await decode_body(request, Empty)
    notice, reader = await _notice_for(request, staff=True)
    published = await actions.publish_now(services_of(request), notice.id, actor=reader.user)
    if published is None:
        raise ApiError(409, "notice_not_live", "Only a draft or scheduled notice can be published.")
    return JSONResponse({"notice": notice_json(published, staff=True)})


async def retract_notice(request: Request) -> Response:
    body = await decode_body(request, Reasoned)
    notice, reader = await _notice_for(request, staff=True)
    retracted = await actions.retract_notice(
        services_of(request), notice.id, actor=reader.user, reason=body.reason
    )
    shown = retracted or await notices_store(services_of(request)).get_notice(notice.id)
    assert shown is not None
    return JSONResponse({"notice": notice_json(shown, staff=True)})


async def get_reach(request: Request) -> Response:
    notice, _ = await _notice_for(request, staff=True)
    services = services_of(request)
    buildings = {b.id: b.name for b in await services.store.list_buildings()}
    return JSONResponse(
        {
            "reach": reach_body(await actions.reach_of(services, notice)),
            "buildings": {str(k): v for k, v in buildings.items()},
        }
    )


async def reach_csv(request: Request) -> Response:
    """Every unit of the audience: building, unit, floor, first read, acknowledged (local
    time), for the office's phone list. A UTF-8 BOM so spreadsheet programs read the Chinese."""
    notice, _ = await _notice_for(request, staff=True)
    services = services_of(request)
    buildings = {b.id: b.name for b in await services.store.list_buildings()}
    reach = await actions.reach_of(services, notice)
    zone = zone_of(services)

    def when(ms: int | None) -> str:
        return (
            "" if ms is None else datetime.fromtimestamp(ms / 1000, zone).strftime("%Y-%m-%d %H:%M")
        )

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["building", "unit", "floor", "reached", "read_at", "acknowledged_at"])
    for u in reach.units:
        writer.writerow(
            [
                buildings.get(u.building_id, str(u.building_id)),
                u.label,
                "" if u.floor is None else u.floor,
                "yes" if u.read_at is not None else "no",
                when(u.read_at),
                when(u.acked_at),
            ]
        )
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="notice-{notice.id}-reach.csv"',
            "X-Content-Type-Options": "nosniff",
        },
    )


async def upload_attachment(request: Request) -> Response:
    """The file's bytes as the body (any ``Content-Type``; the content decides), its name in
    ``?name=``."""
    notice, reader = await _notice_for(request, staff=True)
    if notice.state is NoticeState.RETRACTED:
        raise ApiError(409, "notice_not_live", "A retracted notice takes no more files.")
    services = services_of(request)
    limit = services.settings.upload_max_bytes
    data = await read_upload(request, limit)
    try:
        upload = await accept_upload(data, request.query_params.get("name", ""), max_bytes=limit)
    except UploadRefused as refused:
        raise refused.api_error() from None
    attachment = await actions.add_attachment(services, notice, upload, actor=reader.user)
    return JSONResponse({"attachment": attachment_json(attachment)}, status_code=201)


async def get_attachment(request: Request) -> Response:
    return await _serve(request, thumb=False)


async def get_thumbnail(request: Request) -> Response:
    return await _serve(request, thumb=True)


async def _serve(request: Request, *, thumb: bool) -> Response:
    notice, _ = await _notice_for(request)
    services = services_of(request)
    attachment = await notices_store(services).get_attachment(
        notice.id, request.path_params["attachment_id"]
    )
    blob_id = None if attachment is None else (attachment.thumb_id if thumb else attachment.blob_id)
    data = None if blob_id is None else await actions.blobs_of(services).get(blob_id)
    if attachment is None or data is None:
        raise ApiError(404, "not_found", "No such file.")
    if thumb:
        stem = attachment.filename.rsplit(".", 1)[0]
        return file_response(data, media_type="image/jpeg", filename=f"{stem}-thumb.jpg")
    return file_response(data, media_type=attachment.media_type, filename=attachment.filename)


# -- categories --------------------------------------------------------------------------------


async def list_categories(request: Request) -> Response:
    await require_user(request)
    categories = await notices_store(services_of(request)).list_categories()
    return JSONResponse({"categories": [category_json(c) for c in categories]})


async def save_category(request: Request) -> Response:
    user: User = await require_user(request, *_ADMINS)
    body = await decode_body(request, CategoryBody)
    category_id = request.path_params.get("category_id")
    try:
        category = await notices_store(services_of(request)).save_category(
            category_id=category_id,
            slug=body.slug,
            name_zh=body.name_zh,
            name_en=body.name_en,
            position=body.position,
            archived=body.archived,
        )
    except UniqueViolation:
        raise ApiError(409, "slug_taken", "A category with this short name exists.") from None
    except CategoryNotFound:
        raise ApiError(400, "category_not_found", "No such category.") from None
    from persistence.audit import NewEntry

    await services_of(request).audit.append(
        NewEntry(
            feature=actions.FEATURE,
            action="notice_category_save",
            actor_id=user.id,
            reason="",
            at=services_of(request).clock.now_ms(),
            subject=f"notice_category:{category.id}",
            detail=category_json(category),
        )
    )
    return JSONResponse({"category": category_json(category)})


ROUTES = [
    Route("/api/notices", list_notices, methods=["GET"]),
    Route("/api/notices", create_notice, methods=["POST"]),
    Route("/api/notices/banner", banner, methods=["GET"]),
    Route("/api/notices/categories", list_categories, methods=["GET"]),
    Route("/api/notices/categories", save_category, methods=["POST"]),
    Route("/api/notices/categories/{category_id:int}", save_category, methods=["POST"]),
    Route("/api/notices/{notice_id:int}", get_notice, methods=["GET"]),
    Route("/api/notices/{notice_id:int}", edit_notice, methods=["POST"]),
    Route("/api/notices/{notice_id:int}/open", open_notice, methods=["POST"]),
    Route("/api/notices/{notice_id:int}/ack", acknowledge, methods=["POST"]),
    Route("/api/notices/{notice_id:int}/publish", publish_notice, methods=["POST"]),
    Route("/api/notices/{notice_id:int}/retract", retract_notice, methods=["POST"]),
    Route("/api/notices/{notice_id:int}/history", history, methods=["GET"]),
    Route("/api/notices/{notice_id:int}/reach", get_reach, methods=["GET"]),
    Route("/api/notices/{notice_id:int}/reach.csv", reach_csv, methods=["GET"]),
    Route("/api/notices/{notice_id:int}/attachments", upload_attachment, methods=["POST"]),
    Route(
        "/api/notices/{notice_id:int}/attachments/{attachment_id:int}",
        get_attachment,
        methods=["GET"],
    ),
    Route(
        "/api/notices/{notice_id:int}/attachments/{attachment_id:int}/thumb",
        get_thumbnail,
        methods=["GET"],
    ),
]

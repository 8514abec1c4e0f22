"""The requests HTTP API: residents file, follow, reply, reopen and rate; staff of the category's
team work the queue (status with a reply, notes, assignee, merge); admins keep the common
areas, reply templates, teams and targets; staff read the figures.

Who may see or handle a request is ``persistence/requests/access.py``; a request one may not
see is answered exactly like one that does not exist (``request_not_found``), so ids reveal
nothing. Errors are ``ApiError`` (``docs/protocol.md`` lists the codes).
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Annotated, Any

import msgpack
import msgspec
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channels.access import Action
from channels.names import ChannelRef, InvalidChannel, parse_channel, topic_channel
from gateway.forum.events import may_read
from linli.live import zone_of
from linli.roles import Can, may, roles_that
from persistence.forum import Post
from persistence.moderation.sql import SqlModerationStore
from persistence.requests import (
    MAX_PHOTOS,
    MAX_TEXT_CHARS,
    AlreadyRated,
    Bucket,
    Category,
    Figures,
    NewRequest,
    Photo,
    Query,
    ReopenExpired,
    Request,
    RequestNotFound,
    RequestStateError,
    Status,
    TooManyPhotos,
)
from persistence.requests.access import handled_categories, handles, may_see
from persistence.store import Role, User
from web.api import require_user
from web.forum.actions import forum_store, is_staff
from web.http import ApiError, Empty, HttpCode, decode_body, line, services_of, set_field
from web.onboard.actions import onboard_store
from web.requests import actions
from web.requests.actions import requests_store
from web.sessions import principal_of
from web.uploads import IMAGE_KINDS, UploadRefused, accept_upload, file_response, read_upload

_ORDERS = ("oldest", "overdue")


def request_json(request: Request, *, now: int, place: str = "") -> dict[str, Any]:
    return {
        "id": request.id,
        "category": str(request.category),
        "status": str(request.status),
        "private": request.private,
        "text": request.text,
        "author_id": request.author_id,
        "building_id": request.building_id,
        "floor": request.floor,
        "unit_id": request.unit_id,
        "place_id": request.place_id,
        "place": place,
        "assignee_id": request.assignee_id,
        "source_link": request.source_link,
        "merged_into": request.merged_into,
        "reject_reason": request.reject_reason,
        "version": request.version,
        "created_at": request.created_at,
        "updated_at": request.updated_at,
        "respond_by": request.respond_by,
        "resolve_by": request.resolve_by,
        "first_response_at": request.first_response_at,
        "resolved_at": request.resolved_at,
        "closed_at": request.closed_at,
        "resolutions": request.resolutions,
        "overdue": request.overdue(now),
        "overdue_marked": request.overdue_at is not None,
    }


def _text(value: str, name: str, *, min_len: int = 1) -> str:
    """Several lines allowed (a description), each normalised; bounded in length."""
    lines = [line(part, name, min_len=0, max_len=MAX_TEXT_CHARS) for part in value.split("\n")]
    text = "\n".join(lines).strip()
    if not min_len <= len(text) <= MAX_TEXT_CHARS:
        raise ApiError(
            400,
            HttpCode.BAD_REQUEST,
            f"'{name}' must be {min_len} to {MAX_TEXT_CHARS} characters long.",
            field=name,
        )
    return text


class FileBody(msgspec.Struct, frozen=True):
    category: Category
    text: str
    private: bool = False
    floor: str = ""
    place_id: Annotated[int, msgspec.Meta(gt=0)] | None = None
    #: File it for the user's own unit (a repair inside the flat).
    own_unit: bool = False
    #: A chat message the request comes from: its channel and offset.
    source_channel: str | None = None
    source_offset: Annotated[int, msgspec.Meta(gt=0)] | None = None
    #: A forum post the request comes from (its id). Its author files it, or staff who handle
    #: the category file it for the post's author.
    source_post: Annotated[int, msgspec.Meta(gt=0)] | None = None

    def __post_init__(self) -> None:
        set_field(self, "text", _text(self.text, "text"))
        set_field(self, "floor", line(self.floor, "floor", min_len=0, max_len=10))


class TextBody(msgspec.Struct, frozen=True):
    text: str

    def __post_init__(self) -> None:
        set_field(self, "text", _text(self.text, "text"))


class ReopenBody(msgspec.Struct, frozen=True):
    text: str = ""

    def __post_init__(self) -> None:
        set_field(self, "text", _text(self.text, "text", min_len=0))


class StatusBody(msgspec.Struct, frozen=True):
    status: Status
    reply: str = ""
    reason: str = ""

    def __post_init__(self) -> None:
        set_field(self, "reply", _text(self.reply, "reply", min_len=0))
        set_field(self, "reason", line(self.reason, "reason", min_len=0, max_len=500))
        if self.status is Status.REJECTED and not self.reason:
            raise ApiError(400, HttpCode.BAD_REQUEST, "A rejection needs a reason.", field="reason")


class AssignBody(msgspec.Struct, frozen=True):
    assignee_id: Annotated[int, msgspec.Meta(gt=0)] | None


class MergeBody(msgspec.Struct, frozen=True):
    into: Annotated[int, msgspec.Meta(gt=0)]


class RateBody(msgspec.Struct, frozen=True):
    score: Annotated[int, msgspec.Meta(ge=1, le=5)]
    comment: str = ""

    def __post_init__(self) -> None:
        set_field(self, "comment", line(self.comment, "comment", min_len=0, max_len=500))


class PlaceBody(msgspec.Struct, frozen=True):
    name: str
    building_id: Annotated[int, msgspec.Meta(gt=0)] | None = None

    def __post_init__(self) -> None:
        set_field(self, "name", line(self.name, "name", max_len=40))


class PlaceActiveBody(msgspec.Struct, frozen=True):
    active: bool


class TemplateBody(msgspec.Struct, frozen=True):
    title: str
    body: str

    def __post_init__(self) -> None:
        set_field(self, "title", line(self.title, "title", max_len=60))
        set_field(self, "body", _text(self.body, "body"))


class TeamBody(msgspec.Struct, frozen=True):
    name: str

    def __post_init__(self) -> None:
        set_field(self, "name", line(self.name, "name", max_len=40))


class MembersBody(msgspec.Struct, frozen=True):
    user_ids: Annotated[list[Annotated[int, msgspec.Meta(gt=0)]], msgspec.Meta(max_length=50)]


class RouteBody(msgspec.Struct, frozen=True):
    category: Category
    team_id: Annotated[int, msgspec.Meta(gt=0)] | None
    first_response_hours: Annotated[int, msgspec.Meta(ge=1, le=24 * 60)] | None = None
    resolution_days: Annotated[int, msgspec.Meta(ge=1, le=365)] | None = None


class HolidayBody(msgspec.Struct, frozen=True):
    day: date
    name: str

    def __post_init__(self) -> None:
        set_field(self, "name", line(self.name, "name", max_len=40))


# -- helpers --------------------------------------------------------------------------------


def _now(request: HttpRequest) -> int:
    return services_of(request).clock.now_ms()


def _today(request: HttpRequest) -> date:
    services = services_of(request)
    return datetime.fromtimestamp(services.clock.now_ms() / 1000, zone_of(services)).date()


def _not_found() -> ApiError:
    return ApiError(404, HttpCode.REQUEST_NOT_FOUND, "No such request.")


async def _visible(request: HttpRequest) -> tuple[Request, User]:
    """The request of the path, for a user who may see it."""
    user = await require_user(request)
    store = requests_store(services_of(request))
    found = await store.get_request(request.path_params["request_id"])
    if found is None or not await may_see(store, found, user.id, user.role, user.building_id):
        raise _not_found()
    return found, user


async def _handled(request: HttpRequest) -> tuple[Request, User]:
    """The request of the path, for a member of its category's team."""
    found, user = await _visible(request)
    if not await handles(requests_store(services_of(request)), user.id, user.role, found.category):
        raise ApiError(403, HttpCode.FORBIDDEN, "This request is handled by another team.")
    return found, user


def _state_error(exc: RequestStateError) -> ApiError:
    return ApiError(409, HttpCode.REQUEST_STATE, str(exc), current=str(exc.got))


async def _place_names(request: HttpRequest) -> dict[int, str]:
    return {p.id: p.name for p in await requests_store(services_of(request)).places()}


def photo_json(request_id: int, photo: Photo) -> dict[str, Any]:
    base = f"/api/requests/{request_id}/photos/{photo.position}"
    return {
        "position": photo.position,
        "filename": photo.filename,
        "width": photo.width,
        "height": photo.height,
        "url": base,
        "thumb_url": f"{base}/thumb",
    }


async def _one(
    request: HttpRequest, found: Request, user: User, *, status_code: int = 200
) -> Response:
    """A request with its history as this user may see it."""
    services = services_of(request)
    store = requests_store(services)
    staff = await handles(store, user.id, user.role, found.category)
    events = await store.events(found.id, internal=staff)
    rating = await store.rating_of(found.id)
    followers = await store.follower_ids(found.id)
    now = _now(request)
    places = await _place_names(request)
    done = found.status in (Status.RESOLVED, Status.CLOSED)
    window = services.settings.request_reopen_days * 86_400_000
    mine = found.author_id == user.id
    photos = await store.photos(found.id)
    # Filed by a helper for the resident (web/onboard): "代為提交 by X", shown to all who see it.
    acted = await onboard_store(services).acted_by("request", found.id)
    return JSONResponse(
        {
            "filed_by": None
            if acted is None
            else {"id": acted.helper_id, "name": acted.helper_name},
            "photos": [photo_json(found.id, p) for p in photos],
            "may_add_photos": (mine or staff) and found.is_open and len(photos) < MAX_PHOTOS,
            "request": request_json(found, now=now, place=places.get(found.place_id or 0, "")),
            "events": [
                {
                    "id": e.id,
                    "kind": str(e.kind),
                    "actor_id": e.actor_id,
                    "actor": e.actor_name,
                    "status": e.status,
                    "text": e.text,
                    "internal": e.internal,
                    "at": e.at,
                }
                for e in events
            ],
            "staff": staff,
            "mine": mine,
            "following": user.id in followers,
            "followers": len(followers),
            "may_rate": mine and done and (rating is None or rating.resolution < found.resolutions),
            "may_reopen": mine
            and done
            and found.resolved_at is not None
            and now - found.resolved_at <= window,
            "rating": None
            if rating is None
            else {"score": rating.score, "comment": rating.comment},
        },
        status_code=status_code,
    )


# -- residents ------------------------------------------------------------------------------


async def meta(request: HttpRequest) -> Response:
    """What the forms need: categories, this building's common areas, and for staff the
    queue's categories, the teams, templates and targets."""
    user = await require_user(request)
    store = requests_store(services_of(request))
    places = await store.places(building_id=user.building_id)
    handled = await handled_categories(store, user.id, user.role)
    body: dict[str, Any] = {
        "categories": [str(c) for c in Category],
        "places": [
            {"id": p.id, "name": p.name, "building_id": p.building_id}
            for p in places
            if p.active or user.role is Role.ADMIN
        ],
        "handled": [str(c) for c in handled],
    }
    if handled or user.role is Role.ADMIN:
        rules = await store.rules()
        body["templates"] = [
            {"id": t.id, "title": t.title, "body": t.body} for t in await store.templates()
        ]
        body["teams"] = [
            {
                "id": t.id,
                "name": t.name,
                "member_ids": list(t.member_ids),
                "categories": [str(c) for c in t.categories],
            }
            for t in await store.teams()
        ]
        body["rules"] = [
            {
                "category": str(r.category),
                "team_id": r.team_id,
                "first_response_ms": r.first_response_ms,
                "resolution_ms": r.resolution_ms,
            }
            for r in rules.values()
        ]
        body["staff"] = [
            {"id": user_id, "name": name}
            for user_id, name in await store.staff(
                [str(r) for r in roles_that(Can.HANDLE_REQUESTS)]
            )
        ]
        body["holidays"] = [
            {"day": h.day.isoformat(), "name": h.name}
            for h in await store.holidays(since=_today(request))
        ]
        if user.role is Role.ADMIN:
            body["all_places"] = [
                {"id": p.id, "name": p.name, "building_id": p.building_id, "active": p.active}
                for p in await store.places()
            ]
    return JSONResponse(body)


async def _chat_message(
    request: HttpRequest, user: User, channel: ChannelRef, offset: int
) -> str | None:
    """The text of message ``offset`` of ``channel`` as this user may read it (the gateway's
    history view: the broker's recent messages and the store's, hidden ones left out), or None
    when the user may not read the room or there is no such message."""
    gateway = request.app.state.gateway
    if not await gateway.allowed(principal_of(user), channel, Action.READ):
        return None
    pubs, _ = await gateway.history.page(
        channel.name, after=offset - 1, before=offset + 1, limit=1, newest=False
    )
    pubs = await gateway.history.for_reader(principal_of(user), channel.name, pubs)
    if not pubs:
        return None
    data = msgpack.unpackb(pubs[0].data, raw=False)
    text = data.get("text") if isinstance(data, dict) else None
    return text if isinstance(text, str) else ""


async def _source_link(request: HttpRequest, user: User, body: FileBody) -> str:
    """The chat message a request is made from, checked: the user may read its room and the
    message exists. Its link opens the room."""
    if body.source_channel is None and body.source_offset is None:
        return ""
    if body.source_channel is None or body.source_offset is None:
        raise ApiError(
            400,
            HttpCode.BAD_REQUEST,
            "Give both the message's room and its number.",
            field="source_offset",
        )
    try:
        channel = parse_channel(body.source_channel)
    except InvalidChannel as exc:
        raise ApiError(400, HttpCode.BAD_REQUEST, str(exc), field="source_channel") from None
    if not await request.app.state.gateway.allowed(principal_of(user), channel, Action.READ):
        raise ApiError(403, HttpCode.FORBIDDEN, "You may not read this room.")
    if await _chat_message(request, user, channel, body.source_offset) is None:
        raise ApiError(400, HttpCode.BAD_REQUEST, "No such message.", field="source_offset")
    return f"/#{channel.name}@{body.source_offset}"


async def message_text(request: HttpRequest, user: User, channel_name: str, offset: int) -> str:
    """A chat message's text for the new-request form, when the user may read it ("" else)."""
    try:
        channel = parse_channel(channel_name)
    except InvalidChannel:
        return ""
    return await _chat_message(request, user, channel, offset) or ""


def post_link(topic_id: int, number: int) -> str:
    """Where a forum post is: its topic's page at the post (``web/static/js/forum/topic.js``)."""
    return f"/forum/t/{topic_id}?n={number}#p{number}"


def _topic_links(topic_id: int) -> str:
    return f"/forum/t/{topic_id}?n="


async def readable_post(request: HttpRequest, user: User, post_id: int) -> tuple[Post, str] | None:
    """The forum post and its link, when this user may read it: a reader of its category; a
    deleted post for nobody, a hidden one for moderators only (the forum's own rules)."""
    services = services_of(request)
    forum = forum_store(services)
    post = await forum.get_post(post_id)
    topic = None if post is None else await forum.get_topic(post.topic_id)
    category = None if topic is None else await forum.get_category(topic.category_id)
    if post is None or topic is None or category is None or post.deleted:
        return None
    if not await may_read(principal_of(user), category.draft.scope, services.store.is_member):
        return None
    hidden = await SqlModerationStore(services.database).hidden_states(
        topic_channel(topic.id), post.id, post.id
    )
    if post.id in hidden and not is_staff(user):
        return None
    return post, post_link(topic.id, post.number)


async def _post_source(request: HttpRequest, user: User, body: FileBody) -> tuple[User, str]:
    """For a request made from a forum post: whose request it is (the post's author) and the
    link back. The author makes their own; staff who handle the category make it for them."""
    assert body.source_post is not None
    if body.source_channel is not None or body.source_offset is not None:
        raise ApiError(400, HttpCode.BAD_REQUEST, "Give a message or a post, not both.")
    found = await readable_post(request, user, body.source_post)
    if found is None:
        raise ApiError(400, HttpCode.BAD_REQUEST, "No such post.", field="source_post")
    post, link = found
    if post.author_id == user.id:
        return user, link
    store = requests_store(services_of(request))
    if not await handles(store, user.id, user.role, body.category):
        raise ApiError(
            403, HttpCode.FORBIDDEN, "Only the post's author or its category's team may do this."
        )
    author = await services_of(request).store.get_user(post.author_id)
    if author is None or author.building_id is None:
        raise ApiError(
            400,
            HttpCode.BAD_REQUEST,
            "The post's author is not a resident of a building.",
            field="source_post",
        )
    return author, link


async def file_request(request: HttpRequest) -> Response:
    user = await require_user(request)
    body = await decode_body(request, FileBody)
    author, source = user, await _source_link(request, user, body)
    if body.source_post is not None:
        author, source = await _post_source(request, user, body)
    if author.building_id is None:
        raise ApiError(403, HttpCode.FORBIDDEN, "Requests are filed by residents of a building.")
    if body.place_id is not None:
        places = await requests_store(services_of(request)).places(building_id=author.building_id)
        if not any(p.id == body.place_id and p.active for p in places):
            raise ApiError(400, HttpCode.BAD_REQUEST, "No such common area.", field="place_id")
    new = NewRequest(
        category=body.category,
        text=body.text,
        author_id=author.id,
        building_id=author.building_id,
        private=body.private,
        floor=body.floor,
        unit_id=author.unit_id if body.own_unit else None,
        place_id=body.place_id,
        source_link=source,
    )
    filed = await actions.file_request(services_of(request), new, filed_by=user.id)
    return JSONResponse({"request": request_json(filed, now=_now(request))}, status_code=201)


async def from_topic(request: HttpRequest) -> Response:
    """The requests made from a forum topic's posts that this user may see, by post number,
    for the topic's page; and the categories the user handles (staff make a request of any
    post in those; everyone else of their own posts)."""
    user = await require_user(request)
    raw = request.query_params.get("topic", "")
    services = services_of(request)
    forum = forum_store(services)
    topic = await forum.get_topic(int(raw)) if raw.isascii() and raw.isdigit() else None
    category = None if topic is None else await forum.get_category(topic.category_id)
    if (
        topic is None
        or category is None
        or not await may_read(principal_of(user), category.draft.scope, services.store.is_member)
    ):
        raise ApiError(404, HttpCode.NOT_FOUND, "No such topic, or you may not read it.")
    store = requests_store(services)
    prefix = _topic_links(topic.id)
    by_post: dict[str, list[dict[str, Any]]] = {}
    for found in await store.from_sources(prefix):
        if await may_see(store, found, user.id, user.role, user.building_id):
            number = found.source_link[len(prefix) :].split("#")[0]
            by_post.setdefault(number, []).append({"id": found.id, "status": str(found.status)})
    handled = await handled_categories(store, user.id, user.role)
    return JSONResponse({"requests": by_post, "handled": [str(c) for c in handled]})


async def similar(request: HttpRequest) -> Response:
    """Open public requests of the user's building, same category and place: follow one
    instead of filing the same again."""
    user = await require_user(request)
    params = request.query_params
    try:
        category = Category(params.get("category", ""))
        place_id = int(params["place_id"]) if params.get("place_id") else None
    except ValueError:
        raise ApiError(400, HttpCode.BAD_REQUEST, "Give a category and a place.") from None
    floor = line(params.get("floor", ""), "floor", min_len=0, max_len=10)
    if user.building_id is None:
        return JSONResponse({"requests": []})
    found = await requests_store(services_of(request)).similar_open(
        category=category, building_id=user.building_id, place_id=place_id, floor=floor
    )
    now, places = _now(request), await _place_names(request)
    return JSONResponse(
        {
            "requests": [
                request_json(r, now=now, place=places.get(r.place_id or 0, "")) for r in found
            ]
        }
    )


async def mine(request: HttpRequest) -> Response:
    user = await require_user(request)
    found = await requests_store(services_of(request)).followed_by(user.id)
    now, places = _now(request), await _place_names(request)
    return JSONResponse(
        {
            "requests": [
                request_json(r, now=now, place=places.get(r.place_id or 0, "")) for r in found
            ]
        }
    )


async def get_request(request: HttpRequest) -> Response:
    found, user = await _visible(request)
    return await _one(request, found, user)


async def reply(request: HttpRequest) -> Response:
    """A reply to the request's conversation: staff of its team answer the resident; the author
    (or a follower) answers staff's question."""
    found, user = await _visible(request)
    body = await decode_body(request, TextBody)
    services = services_of(request)
    store = requests_store(services)
    if await handles(store, user.id, user.role, found.category):
        await actions.staff_reply(services, found.id, actor_id=user.id, text=body.text)
    elif found.author_id != user.id and user.id not in await store.follower_ids(found.id):
        raise ApiError(403, HttpCode.FORBIDDEN, "Follow the request to take part in it.")
    else:
        await actions.resident_reply(services, found, actor_id=user.id, text=body.text)
    return await get_request(request)


async def follow(request: HttpRequest) -> Response:
    found, user = await _visible(request)
    await decode_body(request, Empty)
    if found.private:
        raise ApiError(409, HttpCode.REQUEST_STATE, "A private request cannot be followed.")
    await actions.follow(services_of(request), found.id, user.id)
    return await _one(request, found, user)


async def unfollow(request: HttpRequest) -> Response:
    found, user = await _visible(request)
    await decode_body(request, Empty)
    await actions.unfollow(services_of(request), found.id, user.id)
    return await _one(request, found, user)


async def reopen(request: HttpRequest) -> Response:
    found, user = await _visible(request)
    body = await decode_body(request, ReopenBody)
    if found.author_id != user.id:
        raise ApiError(403, HttpCode.FORBIDDEN, "Only who filed the request may reopen it.")
    try:
        done = await actions.reopen(
            services_of(request), found.id, actor_id=user.id, text=body.text
        )
    except RequestStateError as exc:
        raise _state_error(exc) from None
    except ReopenExpired:
        raise ApiError(
            409, HttpCode.REOPEN_EXPIRED, "It was resolved too long ago: please file it again."
        ) from None
    return await _one(request, done, user)


async def rate(request: HttpRequest) -> Response:
    found, user = await _visible(request)
    body = await decode_body(request, RateBody)
    if found.author_id != user.id:
        raise ApiError(403, HttpCode.FORBIDDEN, "Only who filed the request may rate it.")
    try:
        await actions.rate(
            services_of(request), found.id, user_id=user.id, score=body.score, comment=body.comment
        )
    except RequestStateError as exc:
        raise _state_error(exc) from None
    except AlreadyRated:
        raise ApiError(409, HttpCode.ALREADY_RATED, "You rated this already.") from None
    return await get_request(request)


async def add_photo(request: HttpRequest) -> Response:
    """The request's next photo (the raw image as the body, its name in ``?name=``): its author
    or its team, while it is open, five at most. The file is checked by its content
    (``web/uploads.py``: JPEG, PNG or WebP that decodes, at most LINLI_UPLOAD_MAX_BYTES)."""
    found, user = await _visible(request)
    services = services_of(request)
    store = requests_store(services)
    if found.author_id != user.id and not await handles(store, user.id, user.role, found.category):
        raise ApiError(403, HttpCode.FORBIDDEN, "Only who filed the request adds its photos.")
    if not found.is_open:
        raise ApiError(409, HttpCode.REQUEST_STATE, "Photos are added while a request is open.")
    if len(await store.photos(found.id)) >= MAX_PHOTOS:
        raise ApiError(409, HttpCode.TOO_MANY_PHOTOS, f"A request takes {MAX_PHOTOS} photos.")
    limit = services.settings.upload_max_bytes
    data = await read_upload(request, limit)
    try:
        upload = await accept_upload(
            data, request.query_params.get("name", ""), max_bytes=limit, allowed=IMAGE_KINDS
        )
    except UploadRefused as exc:
        raise exc.api_error() from None
    try:
        await actions.add_photo(services, found.id, upload, actor_id=user.id)
    except TooManyPhotos:
        raise ApiError(
            409, HttpCode.TOO_MANY_PHOTOS, f"A request takes {MAX_PHOTOS} photos."
        ) from None
    fresh = await store.get_request(found.id)
    assert fresh is not None
    return await _one(request, fresh, user, status_code=201)


async def get_photo(request: HttpRequest) -> Response:
    """A photo (or its thumbnail), for whoever may see the request."""
    found, _user = await _visible(request)
    services = services_of(request)
    position = request.path_params["position"]
    photo = next(
        (p for p in await requests_store(services).photos(found.id) if p.position == position), None
    )
    size = request.path_params.get("size")
    if size not in (None, "thumb"):
        raise ApiError(404, HttpCode.NOT_FOUND, "No such photo.")
    thumbnail = size == "thumb"
    data = (
        None if photo is None else await actions.photo_bytes(services, photo, thumbnail=thumbnail)
    )
    if photo is None or data is None:
        raise ApiError(404, HttpCode.NOT_FOUND, "No such photo.")
    if thumbnail:
        stem = photo.filename.rsplit(".", 1)[0]
        return file_response(data, media_type="image/jpeg", filename=f"{stem}-thumb.jpg")
    return file_response(data, media_type=photo.media_type, filename=photo.filename)


# -- staff ----------------------------------------------------------------------------------


async def queue(request: HttpRequest) -> Response:
    """The team's queue: the categories this user handles (narrowed by ``category``), open ones
    by default, oldest or overdue first, optionally only one assignee's or a building's."""
    user = await require_user(request)
    store = requests_store(services_of(request))
    handled = await handled_categories(store, user.id, user.role)
    if not handled:
        raise ApiError(403, HttpCode.FORBIDDEN, "You do not work a requests queue.")
    params = request.query_params
    try:
        categories = [Category(c) for c in params.getlist("category")] or handled
        statuses = [Status(s) for s in params.getlist("status")] or [
            Status.RECEIVED,
            Status.IN_PROGRESS,
            Status.WAITING,
        ]
        assignee = int(params["assignee"]) if params.get("assignee") else None
        building = int(params["building"]) if params.get("building") else None
    except ValueError:
        raise ApiError(400, HttpCode.BAD_REQUEST, "Unknown category, status or number.") from None
    order = params.get("order", "oldest")
    if order not in _ORDERS:
        raise ApiError(400, HttpCode.BAD_REQUEST, "order is 'oldest' or 'overdue'.")
    if any(c not in handled for c in categories):
        raise ApiError(403, HttpCode.FORBIDDEN, "This category is handled by another team.")
    now = _now(request)
    found = await store.list_requests(
        Query(
            categories=categories,
            statuses=statuses,
            assignee_id=assignee,
            building_id=building,
            order=order,
            limit=200,
        ),
        now=now,
    )
    places = await _place_names(request)
    return JSONResponse(
        {
            "handled": [str(c) for c in handled],
            "requests": [
                request_json(r, now=now, place=places.get(r.place_id or 0, "")) for r in found
            ],
        }
    )


async def change_status(request: HttpRequest) -> Response:
    found, user = await _handled(request)
    body = await decode_body(request, StatusBody)
    if body.status is Status.MERGED:
        raise ApiError(400, HttpCode.BAD_REQUEST, "Merge with the merge action.", field="status")
    try:
        done = await actions.change_status(
            services_of(request),
            found.id,
            body.status,
            actor_id=user.id,
            reply=body.reply,
            reason=body.reason,
        )
    except RequestStateError as exc:
        raise _state_error(exc) from None
    return await _one(request, done, user)


async def note(request: HttpRequest) -> Response:
    found, user = await _handled(request)
    body = await decode_body(request, TextBody)
    await actions.add_note(services_of(request), found.id, actor_id=user.id, text=body.text)
    return await _one(request, found, user)


async def assign(request: HttpRequest) -> Response:
    found, user = await _handled(request)
    body = await decode_body(request, AssignBody)
    services = services_of(request)
    if body.assignee_id is not None:
        assignee = await services.store.get_user(body.assignee_id)
        if assignee is None or not await handles(
            requests_store(services), assignee.id, assignee.role, found.category
        ):
            raise ApiError(
                400,
                HttpCode.BAD_REQUEST,
                "Assign it to a member of the team.",
                field="assignee_id",
            )
    done = await actions.assign(services, found.id, body.assignee_id, actor_id=user.id)
    return await _one(request, done, user)


async def merge(request: HttpRequest) -> Response:
    found, user = await _handled(request)
    body = await decode_body(request, MergeBody)
    services = services_of(request)
    store = requests_store(services)
    kept = await store.get_request(body.into)
    if kept is None or not await handles(store, user.id, user.role, kept.category):
        raise ApiError(404, HttpCode.REQUEST_NOT_FOUND, "No such request to merge into.")
    if kept.id == found.id:
        raise ApiError(400, HttpCode.BAD_REQUEST, "A request cannot be merged into itself.")
    if kept.private and kept.author_id != found.author_id:
        # Its followers would see someone else's private request.
        raise ApiError(
            409,
            HttpCode.REQUEST_STATE,
            "Only the same person's request can be merged into a private one.",
        )
    try:
        duplicate, _ = await actions.merge(services, found.id, kept.id, actor_id=user.id)
    except RequestStateError as exc:
        raise _state_error(exc) from None
    return await _one(request, duplicate, user)


def bucket_json(bucket: Bucket) -> dict[str, Any]:
    return dataclasses.asdict(bucket)


def figures_json(figures: Figures) -> dict[str, Any]:
    return {
        "since": figures.since,
        "until": figures.until,
        "now": figures.now,
        "zone": figures.zone,
        "total": bucket_json(figures.total),
        "by_category": {k: bucket_json(b) for k, b in figures.by_category.items()},
        "by_building": {k: bucket_json(b) for k, b in figures.by_building.items()},
        "by_month": {k: bucket_json(b) for k, b in figures.by_month.items()},
    }


async def figures(request: HttpRequest) -> Response:
    user = await require_user(request)
    if not (may(user.role, Can.SEE_FIGURES) or may(user.role, Can.HANDLE_REQUESTS)):
        raise ApiError(403, HttpCode.FORBIDDEN, "The figures are for staff.")
    found = await actions.request_figures(services_of(request))
    return JSONResponse({"figures": figures_json(found)})


# -- admin ----------------------------------------------------------------------------------


async def _admin(request: HttpRequest) -> User:
    return await require_user(request, Role.ADMIN)


async def add_place(request: HttpRequest) -> Response:
    await _admin(request)
    body = await decode_body(request, PlaceBody)
    services = services_of(request)
    if body.building_id is not None and await services.store.get_building(body.building_id) is None:
        raise ApiError(400, HttpCode.BAD_REQUEST, "No such building.", field="building_id")
    place = await requests_store(services).add_place(
        body.name, building_id=body.building_id, now=_now(request)
    )
    return JSONResponse({"place": dataclasses.asdict(place)}, status_code=201)


async def set_place(request: HttpRequest) -> Response:
    await _admin(request)
    body = await decode_body(request, PlaceActiveBody)
    try:
        await requests_store(services_of(request)).set_place_active(
            request.path_params["place_id"], body.active
        )
    except RequestNotFound:
        raise ApiError(404, HttpCode.NOT_FOUND, "No such common area.") from None
    return JSONResponse({"ok": True})


async def add_template(request: HttpRequest) -> Response:
    await _admin(request)
    body = await decode_body(request, TemplateBody)
    template = await requests_store(services_of(request)).add_template(
        body.title, body.body, now=_now(request)
    )
    return JSONResponse({"template": dataclasses.asdict(template)}, status_code=201)


async def delete_template(request: HttpRequest) -> Response:
    await _admin(request)
    await decode_body(request, Empty)
    if not await requests_store(services_of(request)).delete_template(
        request.path_params["template_id"]
    ):
        raise ApiError(404, HttpCode.NOT_FOUND, "No such template.")
    return JSONResponse({"ok": True})


async def add_team(request: HttpRequest) -> Response:
    await _admin(request)
    body = await decode_body(request, TeamBody)
    team = await requests_store(services_of(request)).create_team(body.name, now=_now(request))
    return JSONResponse({"team": {"id": team.id, "name": team.name}}, status_code=201)


async def set_members(request: HttpRequest) -> Response:
    await _admin(request)
    body = await decode_body(request, MembersBody)
    services = services_of(request)
    for user_id in body.user_ids:
        member = await services.store.get_user(user_id)
        if member is None or not may(member.role, Can.HANDLE_REQUESTS):
            raise ApiError(
                400,
                HttpCode.BAD_REQUEST,
                "A team member must be a user whose role handles requests.",
                field="user_ids",
            )
    try:
        await requests_store(services).set_team_members(
            request.path_params["team_id"], body.user_ids
        )
    except RequestNotFound:
        raise ApiError(404, HttpCode.NOT_FOUND, "No such team.") from None
    return JSONResponse({"ok": True})


async def set_route(request: HttpRequest) -> Response:
    await _admin(request)
    body = await decode_body(request, RouteBody)
    try:
        rule = await requests_store(services_of(request)).route(
            body.category,
            team_id=body.team_id,
            first_response_ms=None
            if body.first_response_hours is None
            else body.first_response_hours * 3_600_000,
            resolution_ms=None
            if body.resolution_days is None
            else body.resolution_days * 86_400_000,
        )
    except RequestNotFound:
        raise ApiError(404, HttpCode.NOT_FOUND, "No such team.") from None
    return JSONResponse({"rule": {**dataclasses.asdict(rule), "category": str(rule.category)}})


async def add_holiday(request: HttpRequest) -> Response:
    user = await _admin(request)
    body = await decode_body(request, HolidayBody)
    holiday = await actions.set_holiday(services_of(request), body.day, body.name, actor_id=user.id)
    return JSONResponse(
        {"holiday": {"day": holiday.day.isoformat(), "name": holiday.name}}, status_code=201
    )


async def delete_holiday(request: HttpRequest) -> Response:
    user = await _admin(request)
    await decode_body(request, Empty)
    try:
        day = date.fromisoformat(request.path_params["day"])
    except ValueError:
        raise ApiError(404, HttpCode.NOT_FOUND, "No such holiday.") from None
    if not await actions.remove_holiday(services_of(request), day, actor_id=user.id):
        raise ApiError(404, HttpCode.NOT_FOUND, "No such holiday.")
    return JSONResponse({"ok": True})


ROUTES = [
    Route("/api/requests", file_request, methods=["POST"]),
    Route("/api/requests/meta", meta, methods=["GET"]),
    Route("/api/requests/similar", similar, methods=["GET"]),
    Route("/api/requests/mine", mine, methods=["GET"]),
    Route("/api/requests/from-topic", from_topic, methods=["GET"]),
    Route("/api/requests/queue", queue, methods=["GET"]),
    Route("/api/requests/figures", figures, methods=["GET"]),
    Route("/api/requests/places", add_place, methods=["POST"]),
    Route("/api/requests/places/{place_id:int}", set_place, methods=["POST"]),
    Route("/api/requests/templates", add_template, methods=["POST"]),
    Route("/api/requests/templates/{template_id:int}/delete", delete_template, methods=["POST"]),
    Route("/api/requests/teams", add_team, methods=["POST"]),
    Route("/api/requests/teams/{team_id:int}/members", set_members, methods=["POST"]),
    Route("/api/requests/routes", set_route, methods=["POST"]),
    Route("/api/requests/holidays", add_holiday, methods=["POST"]),
    Route("/api/requests/holidays/{day}/delete", delete_holiday, methods=["POST"]),
    Route("/api/requests/{request_id:int}", get_request, methods=["GET"]),
    Route("/api/requests/{request_id:int}/reply", reply, methods=["POST"]),
    Route("/api/requests/{request_id:int}/follow", follow, methods=["POST"]),
    Route("/api/requests/{request_id:int}/unfollow", unfollow, methods=["POST"]),
    Route("/api/requests/{request_id:int}/reopen", reopen, methods=["POST"]),
    Route("/api/requests/{request_id:int}/rate", rate, methods=["POST"]),
    Route("/api/requests/{request_id:int}/status", change_status, methods=["POST"]),
    Route("/api/requests/{request_id:int}/note", note, methods=["POST"]),
    Route("/api/requests/{request_id:int}/assign", assign, methods=["POST"]),
    Route("/api/requests/{request_id:int}/merge", merge, methods=["POST"]),
    Route("/api/requests/{request_id:int}/photos", add_photo, methods=["POST"]),
    Route("/api/requests/{request_id:int}/photos/{position:int}", get_photo, methods=["GET"]),
    Route(
        "/api/requests/{request_id:int}/photos/{position:int}/{size:str}",
        get_photo,
        methods=["GET"],
    ),
]

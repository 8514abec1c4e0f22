"""The forum's HTTP API (``docs/protocol.md``, "Forum API"): categories, topics, posts, replies,
reactions, reading positions, follow/mute, staff changes, the accepted answer, flags and
moderation. Readers follow a topic live on its channel ``topic:<id>`` over the WebSocket.

Every route is per object: a category, topic or post the user may not read answers exactly like
one that does not exist (404 ``not_found``), so an outsider learns nothing of another
building's forum. Handlers are parse → authorise → action → serialise.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channels.names import ChannelKind, InvalidChannel, parse_channel, topic_channel
from gateway.forum.events import EVERYONE, may_read, post_body, topic_body
from linli.roles import Can, may
from persistence.blobs import blob_store
from persistence.forum import (
    MAX_IMAGES,
    REACTIONS,
    Category,
    CategoryDraft,
    CategoryExists,
    CategoryNotFound,
    Image,
    Post,
    Topic,
    TopicClosed,
    WatchLevel,
    Who,
)
from persistence.moderation import FlagReason, MessageAction, Visibility
from persistence.moderation.sql import SqlModerationStore
from persistence.store import User
from web.api import require_user
from web.forum import actions
from web.forum.actions import PAGE_SIZE, forum_store, is_staff
from web.http import ApiError, Empty, HttpCode, Reasoned, decode_body, line, services_of, set_field
from web.sessions import principal_of
from web.uploads import IMAGE_KINDS, UploadRefused, accept_upload, file_response, read_upload

TOPICS_PER_PAGE = 30
MAX_POST_CHARS = 5_000
_CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_COLOUR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")
#: An id in a body: positive, and small enough for every database's BIGINT.
Id = Annotated[int, msgspec.Meta(ge=1, le=2**53)]


def _text(value: str, name: str = "text") -> str:
    # Multi-line: keep newlines and tabs, drop other control characters.
    cleaned = "".join(ch for ch in value if ch in "\n\t" or ord(ch) >= 0x20).strip()
    if not 1 <= len(cleaned) <= MAX_POST_CHARS:
        raise ApiError(
            400,
            HttpCode.BAD_REQUEST,
            f"'{name}' must be 1 to {MAX_POST_CHARS} characters long.",
            field=name,
        )
    return cleaned


def _client_id(value: str) -> str:
    if not _CLIENT_ID_RE.match(value):
        raise ApiError(
            400,
            HttpCode.BAD_REQUEST,
            "'client_id' must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'.",
            field="client_id",
        )
    return value


class CategoryBody(msgspec.Struct, frozen=True):
    slug: str
    name_zh: str
    name_en: str
    scope: str = EVERYONE
    description: str = ""
    colour: str = "#0b5394"
    position: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 0
    start_by: Who = Who.ANYONE
    reply_by: Who = Who.ANYONE

    def __post_init__(self) -> None:
        if not _SLUG_RE.match(self.slug):
            raise ApiError(
                400, HttpCode.BAD_REQUEST, "'slug' must be 2-40 of a-z, 0-9, '-'.", field="slug"
            )
        set_field(self, "name_zh", line(self.name_zh, "name_zh", max_len=40))
        set_field(self, "name_en", line(self.name_en, "name_en", max_len=60))
        set_field(
            self, "description", line(self.description, "description", min_len=0, max_len=300)
        )
        if not _COLOUR_RE.match(self.colour):
            raise ApiError(400, HttpCode.BAD_REQUEST, "'colour' must be #rrggbb.", field="colour")
        if self.scope != EVERYONE:
            try:
                ref = parse_channel(self.scope)
            except InvalidChannel:
                ref = None
            if ref is None or ref.kind not in (ChannelKind.BUILDING, ChannelKind.GROUP):
                raise ApiError(
                    400,
                    HttpCode.BAD_REQUEST,
                    "'scope' must be all, building:<id> or group:<slug>.",
                    field="scope",
                )

    def draft(self) -> CategoryDraft:
        return CategoryDraft(
            slug=self.slug,
            name_zh=self.name_zh,
            name_en=self.name_en,
            scope=self.scope,
            description=self.description,
            colour=self.colour,
            position=self.position,
            start_by=self.start_by,
            reply_by=self.reply_by,
        )


def _images(value: list[Id]) -> None:
    if len(value) > MAX_IMAGES or len(set(value)) != len(value):
        raise ApiError(
            400, HttpCode.BAD_REQUEST, f"'images': at most {MAX_IMAGES} different pictures.",
            field="images",
        )  # fmt: skip


class TopicBody(msgspec.Struct, frozen=True):
    title: str
    text: str
    client_id: str
    images: list[Id] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        set_field(self, "title", line(self.title, "title", min_len=2, max_len=120))
        set_field(self, "text", _text(self.text))
        _client_id(self.client_id)
        _images(self.images)


class ReplyBody(msgspec.Struct, frozen=True):
    text: str
    client_id: str
    images: list[Id] = msgspec.field(default_factory=list)

    def __post_init__(self) -> None:
        set_field(self, "text", _text(self.text))
        _client_id(self.client_id)
        _images(self.images)


class EditBody(msgspec.Struct, frozen=True):
    text: str

    def __post_init__(self) -> None:
        set_field(self, "text", _text(self.text))


class ReadBody(msgspec.Struct, frozen=True):
    number: int = msgspec.field(default=0)

    def __post_init__(self) -> None:
        if not 0 <= self.number <= 2**31:
            raise ApiError(400, HttpCode.BAD_REQUEST, "'number' must be 0 or more.", field="number")


class WatchBody(msgspec.Struct, frozen=True):
    level: WatchLevel | None = None


class StaffBody(msgspec.Struct, frozen=True):
    pinned: bool | None = None
    closed: bool | None = None
    category_id: Id | None = None


class SolveBody(msgspec.Struct, frozen=True):
    #: None: the topic is not solved any more.
    post_id: Id | None = None


class ReactBody(msgspec.Struct, frozen=True):
    emoji: str
    on: bool = True

    def __post_init__(self) -> None:
        if self.emoji not in REACTIONS:
            raise ApiError(
                400,
                HttpCode.BAD_REQUEST,
                f"'emoji' must be one of {' '.join(REACTIONS)}.",
                field="emoji",
            )


class FlagBody(msgspec.Struct, frozen=True):
    reason: FlagReason
    note: str = ""

    def __post_init__(self) -> None:
        set_field(self, "note", line(self.note, "note", min_len=0, max_len=500))
        if self.reason is FlagReason.OTHER and not self.note:
            raise ApiError(
                400, HttpCode.BAD_REQUEST, "Reason 'other' needs a note saying what is wrong.",
                field="note",
            )  # fmt: skip


class ModerateBody(Reasoned, frozen=True):
    action: MessageAction = MessageAction.HIDE


# -- authorisation ------------------------------------------------------------------------------


def _not_found() -> ApiError:
    return ApiError(404, HttpCode.NOT_FOUND, "No such topic or post, or you may not read it.")


async def _readable(request: Request, user: User, category: Category | None) -> Category:
    if category is None or not await may_read(
        principal_of(user), category.draft.scope, services_of(request).store.is_member
    ):
        raise _not_found()
    return category


async def _category(request: Request, user: User) -> Category:
    store = forum_store(services_of(request))
    return await _readable(request, user, await store.get_category(_int_param(request, "id")))


async def _topic(
    request: Request, user: User, topic_id: int | None = None
) -> tuple[Topic, Category]:
    store = forum_store(services_of(request))
    topic = await store.get_topic(topic_id if topic_id is not None else _int_param(request, "id"))
    if topic is None:
        raise _not_found()
    category = await _readable(request, user, await store.get_category(topic.category_id))
    return topic, category


async def _post(request: Request, user: User) -> tuple[Post, Topic, Category]:
    post = await forum_store(services_of(request)).get_post(_int_param(request, "id"))
    if post is None:
        raise _not_found()
    topic, category = await _topic(request, user, post.topic_id)
    return post, topic, category


def _int_param(request: Request, name: str) -> int:
    value = request.path_params[name]
    assert isinstance(value, int)
    return value


async def _own_pictures(request: Request, user: User, ids: list[int]) -> list[int]:
    """``ids`` if each is a picture this user uploaded and no post has yet (else 400: nothing
    is written)."""
    store = forum_store(services_of(request))
    for image_id in ids:
        image = await store.get_image(image_id)
        if image is None or image.uploader_id != user.id or image.post_id is not None:
            raise ApiError(
                400, HttpCode.BAD_REQUEST, "A picture is not one you just uploaded.",
                field="images",
            )  # fmt: skip
    return ids


def _may_start(user: User, category: Category) -> bool:
    return category.draft.start_by is Who.ANYONE or is_staff(user)


def _may_reply(user: User, category: Category, topic: Topic) -> bool:
    if is_staff(user):
        return True
    return category.draft.reply_by is Who.ANYONE and not topic.closed


def category_json(category: Category) -> dict[str, Any]:
    d = category.draft
    return {
        "id": category.id,
        "slug": d.slug,
        "name_zh": d.name_zh,
        "name_en": d.name_en,
        "description": d.description,
        "colour": d.colour,
        "position": d.position,
        "scope": d.scope,
        "start_by": str(d.start_by),
        "reply_by": str(d.reply_by),
    }


# -- categories ---------------------------------------------------------------------------------


async def list_categories(request: Request) -> Response:
    """The categories the user may read, each with its topics and the user's unread counts."""
    user = await require_user(request)
    services = services_of(request)
    store = forum_store(services)
    unread = await store.unread_by_category(user.id)
    out = []
    for category in await store.list_categories():
        if not await may_read(principal_of(user), category.draft.scope, services.store.is_member):
            continue
        counts = unread.get(category.id)
        out.append(
            {
                **category_json(category),
                "topics": await store.count_topics(category.id),
                "unread_topics": counts.topics if counts else 0,
                "unread_posts": counts.posts if counts else 0,
                "may_start": _may_start(user, category),
            }
        )
    return JSONResponse(
        {
            "categories": out,
            "may_administer": may(user.role, Can.ADMINISTER),
            "questions_answered": await store.count_solved(),
        }
    )


async def create_category(request: Request) -> Response:
    """Admins only (``docs/design/0021-forum.md``: categories shape who reads what)."""
    user = await require_user(request)
    if not may(user.role, Can.ADMINISTER):
        raise ApiError(403, HttpCode.FORBIDDEN, "Only an admin may create categories.")
    body = await decode_body(request, CategoryBody)
    try:
        category = await actions.create_category(services_of(request), body.draft(), actor=user)
    except CategoryExists:
        raise ApiError(409, HttpCode.CATEGORY_EXISTS, "A category has this slug.") from None
    return JSONResponse({"category": category_json(category)}, status_code=201)


async def edit_category(request: Request) -> Response:
    user = await require_user(request)
    if not may(user.role, Can.ADMINISTER):
        raise ApiError(403, HttpCode.FORBIDDEN, "Only an admin may change categories.")
    body = await decode_body(request, CategoryBody)
    try:
        category = await actions.update_category(
            services_of(request), _int_param(request, "id"), body.draft(), actor=user
        )
    except CategoryExists:
        raise ApiError(409, HttpCode.CATEGORY_EXISTS, "A category has this slug.") from None
    except CategoryNotFound:
        raise _not_found() from None
    return JSONResponse({"category": category_json(category)})


async def list_topics(request: Request) -> Response:
    user = await require_user(request)
    category = await _category(request, user)
    page = _page(request)
    store = forum_store(services_of(request))
    topics = await store.list_topics(
        category.id, limit=TOPICS_PER_PAGE, offset=(page - 1) * TOPICS_PER_PAGE
    )
    total = await store.count_topics(category.id)
    unread = await store.unread_in_category(user.id, category.id)
    return JSONResponse(
        {
            "category": {**category_json(category), "may_start": _may_start(user, category)},
            "topics": [{**topic_body(t), "unread": unread.get(t.id, 0)} for t in topics],
            "page": page,
            "pages": max(1, math.ceil(total / TOPICS_PER_PAGE)),
        }
    )


def _page(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= 100_000:
        raise ApiError(400, HttpCode.BAD_REQUEST, "'page' must be a number from 1.")
    return int(raw)


def _held(held: actions.HeldForReview) -> Response:
    """202: accepted for a moderator's review, not written yet (the author's page says so)."""
    return JSONResponse(
        {
            "held": {"id": held.held_id},
            "message": "A moderator will review this first; it appears once approved.",
        },
        status_code=202,
    )


async def start_topic(request: Request) -> Response:
    user = await require_user(request)
    category = await _category(request, user)
    body = await decode_body(request, TopicBody)
    if not _may_start(user, category):
        raise ApiError(403, HttpCode.FORBIDDEN, "Only staff start topics in this category.")
    images = await _own_pictures(request, user, body.images)
    try:
        topic, written = await actions.start_topic(
            services_of(request),
            category,
            author=user,
            title=body.title,
            source=body.text,
            client_id=body.client_id,
            images=images,
        )
    except actions.HeldForReview as held:
        return _held(held)
    pictures = await forum_store(services_of(request)).images_of([written.post.id])
    return JSONResponse(
        {
            "topic": topic_body(topic, category),
            "post": post_body(written.post, images=pictures.get(written.post.id, [])),
            "duplicate": not written.created,
        },
        status_code=201 if written.created else 200,
    )


# -- one topic ----------------------------------------------------------------------------------


async def get_topic(request: Request) -> Response:
    """A page of the topic's posts (``page``; without it the page of the reader's first unread
    post, or ``n``'s page), with the reader's position before this visit (``last_read``: the
    page draws "new since your last visit" after it)."""
    user = await require_user(request)
    topic, category = await _topic(request, user)
    services = services_of(request)
    store = forum_store(services)
    last_read = await store.last_read(user.id, topic.id)
    pages = max(1, math.ceil(topic.last_number / PAGE_SIZE))
    if "page" in request.query_params:
        page = min(_page(request), pages)
    else:
        raw_n = request.query_params.get("n", "")
        target = int(raw_n) if raw_n.isdigit() else min(last_read + 1, topic.last_number)
        page = min(max(1, math.ceil(max(target, 1) / PAGE_SIZE)), pages)
    first = (page - 1) * PAGE_SIZE + 1
    posts = await store.posts(topic.id, first=first, last=first + PAGE_SIZE - 1)
    ids = [p.id for p in posts]
    reactions = await store.reactions(ids)
    pictures = await store.images_of(ids)
    states: dict[int, Visibility] = {}
    if ids:
        states = await SqlModerationStore(services.database).hidden_states(
            topic_channel(topic.id), min(ids), max(ids)
        )
    staff = is_staff(user)
    solved = None
    if topic.solved_post_id is not None:
        answer = await store.get_post(topic.solved_post_id)
        if answer is not None and answer.topic_id == topic.id:
            answer_state = (
                await SqlModerationStore(services.database).hidden_states(
                    topic_channel(topic.id), answer.id, answer.id
                )
            ).get(answer.id)
            solved = post_body(
                answer, (await store.reactions([answer.id])).get(answer.id), answer_state,
                staff=staff, images=(await store.images_of([answer.id])).get(answer.id, []),
            )  # fmt: skip
    watches = await store.watches(topic.id)
    return JSONResponse(
        {
            "topic": topic_body(topic, category),
            "posts": [
                post_body(
                    p,
                    reactions.get(p.id),
                    states.get(p.id),
                    staff=staff,
                    images=pictures.get(p.id, []),
                )
                for p in posts
            ],
            "solved": solved,
            "page": page,
            "pages": pages,
            "page_size": PAGE_SIZE,
            "last_read": last_read,
            "unread": await store.unread_in_topic(user.id, topic.id),
            "watch": str(watches[user.id]) if user.id in watches else None,
            "may_reply": _may_reply(user, category, topic),
            "may_moderate": staff,
            "may_accept": staff or topic.author_id == user.id,
            "reactions": list(REACTIONS),
        }
    )


async def reply(request: Request) -> Response:
    user = await require_user(request)
    topic, category = await _topic(request, user)
    body = await decode_body(request, ReplyBody)
    if not is_staff(user) and category.draft.reply_by is Who.STAFF:
        raise ApiError(403, HttpCode.FORBIDDEN, "Only staff reply in this category.")
    images = await _own_pictures(request, user, body.images)
    try:
        written = await actions.reply(
            services_of(request),
            category,
            topic,
            author=user,
            source=body.text,
            client_id=body.client_id,
            images=images,
        )
    except TopicClosed:
        raise ApiError(409, HttpCode.TOPIC_CLOSED, "This topic is closed to new replies.") from None
    except actions.HeldForReview as held:
        return _held(held)
    pictures = await forum_store(services_of(request)).images_of([written.post.id])
    return JSONResponse(
        {
            "post": post_body(written.post, images=pictures.get(written.post.id, [])),
            "duplicate": not written.created,
        },
        status_code=201 if written.created else 200,
    )


async def mark_read(request: Request) -> Response:
    user = await require_user(request)
    topic, _ = await _topic(request, user)
    body = await decode_body(request, ReadBody)
    last_read = await actions.mark_read(services_of(request), topic, user, body.number)
    unread = await forum_store(services_of(request)).unread_in_topic(user.id, topic.id)
    return JSONResponse({"last_read": last_read, "unread": unread})


async def watch(request: Request) -> Response:
    user = await require_user(request)
    topic, _ = await _topic(request, user)
    body = await decode_body(request, WatchBody)
    await actions.set_watch(services_of(request), topic, user, body.level)
    return JSONResponse({"watch": None if body.level is None else str(body.level)})


async def staff_change(request: Request) -> Response:
    user = await require_user(request)
    topic, _ = await _topic(request, user)
    body = await decode_body(request, StaffBody)
    if not is_staff(user):
        raise ApiError(403, HttpCode.FORBIDDEN, "Only moderators pin, close or move topics.")
    services = services_of(request)
    if body.category_id is not None:
        target = await forum_store(services).get_category(body.category_id)
        if target is None:
            raise ApiError(400, HttpCode.BAD_REQUEST, "No such category.", field="category_id")
    updated = await actions.change_topic(
        services,
        topic,
        actions.TopicChange(pinned=body.pinned, closed=body.closed, category_id=body.category_id),
        actor=user,
    )
    return JSONResponse({"topic": topic_body(updated)})


async def solve(request: Request) -> Response:
    user = await require_user(request)
    topic, _ = await _topic(request, user)
    body = await decode_body(request, SolveBody)
    if not (is_staff(user) or topic.author_id == user.id):
        raise ApiError(403, HttpCode.FORBIDDEN, "Only the topic's author or staff accept answers.")
    post = None
    if body.post_id is not None:
        post = await forum_store(services_of(request)).get_post(body.post_id)
        if post is None or post.topic_id != topic.id or post.number == 1:
            raise ApiError(
                400, HttpCode.BAD_REQUEST, "Pick a reply of this topic.", field="post_id"
            )
    updated = await actions.accept_answer(services_of(request), topic, post, actor=user)
    return JSONResponse({"topic": topic_body(updated)})


async def people(request: Request) -> Response:
    """Who may be mentioned in the topic (its category's readers) whose name or username starts
    with ``q``: the mention autocomplete."""
    user = await require_user(request)
    _, category = await _topic(request, user)
    q = request.query_params.get("q", "").strip().casefold()
    found = [
        {"id": p.id, "username": p.username, "name": p.display_name}
        for p in await forum_store(services_of(request)).people(category.draft.scope)
        if p.id != user.id
        and (p.display_name.casefold().startswith(q) or p.username.casefold().startswith(q))
    ]
    return JSONResponse({"people": found[:10]})


# -- one post -----------------------------------------------------------------------------------


def _own_or_staff(user: User, post: Post) -> None:
    if post.author_id != user.id and not is_staff(user):
        raise ApiError(403, HttpCode.FORBIDDEN, "Only the author may do this.")


async def post_source(request: Request) -> Response:
    user = await require_user(request)
    post, _, _ = await _post(request, user)
    _own_or_staff(user, post)
    return JSONResponse({"id": post.id, "text": post.source})


async def edit_post(request: Request) -> Response:
    user = await require_user(request)
    post, _, _ = await _post(request, user)
    body = await decode_body(request, EditBody)
    if post.author_id != user.id:
        raise ApiError(403, HttpCode.FORBIDDEN, "Only the author may edit a post.")
    if post.deleted:
        raise _not_found()
    edited = await actions.edit_post(services_of(request), post, editor=user, source=body.text)
    return JSONResponse({"post": post_body(edited)})


async def delete_post(request: Request) -> Response:
    user = await require_user(request)
    post, _, _ = await _post(request, user)
    await decode_body(request, Empty)
    if post.author_id != user.id:
        raise ApiError(403, HttpCode.FORBIDDEN, "Only the author may delete a post.")
    deleted = await actions.delete_post(services_of(request), post, actor=user)
    return JSONResponse({"post": post_body(deleted)})


async def post_history(request: Request) -> Response:
    """Every earlier text of a post: for its author and for staff."""
    user = await require_user(request)
    post, _, _ = await _post(request, user)
    _own_or_staff(user, post)
    history = await forum_store(services_of(request)).post_history(post.id)
    return JSONResponse(
        {
            "post_id": post.id,
            "revisions": [
                {"revision": r.revision, "html": r.html, "text": r.source, "at": r.written_at}
                for r in history
            ],
        }
    )


async def react(request: Request) -> Response:
    user = await require_user(request)
    post, _, _ = await _post(request, user)
    body = await decode_body(request, ReactBody)
    if post.deleted:
        raise _not_found()
    reactions = await actions.react(
        services_of(request), post, user=user, emoji=body.emoji, on=body.on
    )
    return JSONResponse(actions.reactions_event(reactions))


async def flag(request: Request) -> Response:
    user = await require_user(request)
    post, _, _ = await _post(request, user)
    body = await decode_body(request, FlagBody)
    if post.author_id == user.id:
        raise ApiError(400, HttpCode.BAD_REQUEST, "You cannot flag your own post.")
    fresh = await actions.flag_post(
        services_of(request), post, flagger=user, reason=body.reason, note=body.note
    )
    return JSONResponse({"post_id": post.id, "duplicate": not fresh})


async def moderate(request: Request) -> Response:
    user = await require_user(request)
    post, _, _ = await _post(request, user)
    body = await decode_body(request, ModerateBody)
    if not is_staff(user):
        raise ApiError(403, HttpCode.FORBIDDEN, "Only moderators hide posts.")
    visibility = await actions.moderate_post(
        services_of(request), post, body.action, actor=user, reason=body.reason
    )
    return JSONResponse({"post_id": post.id, "visibility": str(visibility)})


class SplitBody(msgspec.Struct, frozen=True):
    title: str
    #: None: the same category.
    category_id: Id | None = None

    def __post_init__(self) -> None:
        set_field(self, "title", line(self.title, "title", min_len=2, max_len=120))


async def split(request: Request) -> Response:
    """Staff: the reply becomes the first post of a new topic."""
    user = await require_user(request)
    post, topic, category = await _post(request, user)
    body = await decode_body(request, SplitBody)
    if not is_staff(user):
        raise ApiError(403, HttpCode.FORBIDDEN, "Only moderators split topics.")
    services = services_of(request)
    if body.category_id is not None:
        target = await forum_store(services).get_category(body.category_id)
        if target is None:
            raise ApiError(400, HttpCode.BAD_REQUEST, "No such category.", field="category_id")
        category = target
    if post.number == 1 or post.deleted:
        raise ApiError(400, HttpCode.BAD_REQUEST, "Only a reply can start a new topic.")
    made = await actions.split_post(services, post, category=category, title=body.title, actor=user)
    return JSONResponse({"topic": topic_body(made, category), "from_topic": topic.id})


# -- pictures -----------------------------------------------------------------------------------


def _image_json(image: Image) -> dict[str, Any]:
    return {
        "id": image.id,
        "width": image.width,
        "height": image.height,
        "filename": image.filename,
    }


async def upload_image(request: Request) -> Response:
    """A picture for the post being written (the raw bytes as the body, its name in ``name``):
    JPEG, PNG or WebP, checked by content (``web/uploads.py``), kept with a thumbnail. It is the
    uploader's alone until a post of theirs takes it (``images`` of a reply or topic)."""
    user = await require_user(request)
    services = services_of(request)
    limit = services.settings.upload_max_bytes
    data = await read_upload(request, limit)
    try:
        checked = await accept_upload(
            data, request.query_params.get("name", "picture"), max_bytes=limit,
            allowed=IMAGE_KINDS,
        )  # fmt: skip
    except UploadRefused as refused:
        raise refused.api_error() from None
    assert checked.thumbnail is not None and checked.width and checked.height
    blobs = blob_store(services.settings, services.database)
    now = services.clock.now_ms()
    original = await blobs.put(checked.data, now=now)
    thumb = await blobs.put(checked.thumbnail, now=now)
    image = await forum_store(services).add_image(
        blob_id=original.id, thumb_id=thumb.id, uploader_id=user.id, filename=checked.filename,
        media_type=checked.kind.media_type, width=checked.width, height=checked.height, now=now,
    )  # fmt: skip
    return JSONResponse({"image": _image_json(image)}, status_code=201)


async def get_image(request: Request) -> Response:
    """A picture (``/thumb``: its thumbnail, JPEG) for the readers of its post's topic, or for
    its uploader before it is posted; hidden with its post for residents."""
    user = await require_user(request)
    services = services_of(request)
    store = forum_store(services)
    image = await store.get_image(_int_param(request, "id"))
    if image is None:
        raise _not_found()
    if image.post_id is None:
        if image.uploader_id != user.id:
            raise _not_found()
    else:
        post = await store.get_post(image.post_id)
        if post is None:
            raise _not_found()
        await _topic(request, user, post.topic_id)
        state = (
            await SqlModerationStore(services.database).hidden_states(
                topic_channel(post.topic_id), post.id, post.id
            )
        ).get(post.id)
        if post.deleted or (
            state is not None and (state is Visibility.DELETED or not is_staff(user))
        ):
            raise _not_found()
    thumb = request.url.path.endswith("/thumb")
    data = await blob_store(services.settings, services.database).get(
        image.thumb_id if thumb else image.blob_id
    )
    if data is None:
        raise _not_found()
    return file_response(
        data,
        media_type="image/jpeg" if thumb else image.media_type,
        filename=image.filename,
    )


ROUTES = [
    Route("/api/forum/images", upload_image, methods=["POST"]),
    Route("/api/forum/images/{id:int}", get_image, methods=["GET"]),
    Route("/api/forum/images/{id:int}/thumb", get_image, methods=["GET"]),
    Route("/api/forum/categories", list_categories, methods=["GET"]),
    Route("/api/forum/categories", create_category, methods=["POST"]),
    Route("/api/forum/categories/{id:int}", edit_category, methods=["POST"]),
    Route("/api/forum/categories/{id:int}/topics", list_topics, methods=["GET"]),
    Route("/api/forum/categories/{id:int}/topics", start_topic, methods=["POST"]),
    Route("/api/forum/topics/{id:int}", get_topic, methods=["GET"]),
    Route("/api/forum/topics/{id:int}/replies", reply, methods=["POST"]),
    Route("/api/forum/topics/{id:int}/read", mark_read, methods=["POST"]),
    Route("/api/forum/topics/{id:int}/watch", watch, methods=["POST"]),
    Route("/api/forum/topics/{id:int}/staff", staff_change, methods=["POST"]),
    Route("/api/forum/topics/{id:int}/solve", solve, methods=["POST"]),
    Route("/api/forum/topics/{id:int}/people", people, methods=["GET"]),
    Route("/api/forum/posts/{id:int}", edit_post, methods=["POST"]),
    Route("/api/forum/posts/{id:int}/source", post_source, methods=["GET"]),
    Route("/api/forum/posts/{id:int}/delete", delete_post, methods=["POST"]),
    Route("/api/forum/posts/{id:int}/history", post_history, methods=["GET"]),
    Route("/api/forum/posts/{id:int}/react", react, methods=["POST"]),
    Route("/api/forum/posts/{id:int}/flag", flag, methods=["POST"]),
    Route("/api/forum/posts/{id:int}/moderate", moderate, methods=["POST"]),
    Route("/api/forum/posts/{id:int}/split", split, methods=["POST"]),
]

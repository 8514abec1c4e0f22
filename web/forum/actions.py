"""Every change the forum makes: store write + the topic channel's event + notifications +
audit, with no HTTP in sight (``web/polls/actions.py``'s pattern), so the API, the CLI and an
admin console make each change the same way.

Callers have authorised the actor (``web/forum/api.py``). Moderation is moderation's own: a
post is the message ``(topic:<id>, <post id>)`` of ``persistence/moderation`` — a flag goes on
the moderation work queue like a chat flag (the moderation worker records it, applies the
auto-hide rule and tells the moderators' feed), and a staff hide, restore or delete is
moderation's ``act_on_message`` with the post as its snapshot, audited there, its event on the
topic's channel (``docs/design/0021-forum.md``).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgpack

from channels.broker import BrokerUnavailable
from channels.names import ChannelKind, category_channel, parse_channel, topic_channel
from gateway.control import send_control
from gateway.forum.events import (
    CategoryAccessChanged,
    TopicAccessChanged,
    post_body,
    publish,
    publish_listing,
    reactions_body,
    topic_body,
)
from gateway.moderation.events import MODERATION_QUEUE, publish_feed, publish_state
from linli import richtext
from linli.feature import HeldPublisher, PlaceNamer, Services
from linli.roles import Can, may
from persistence.audit import NewEntry
from persistence.forum import (
    Category,
    CategoryDraft,
    ForumStore,
    Person,
    Post,
    Reactions,
    Topic,
    TopicClosed,
    WatchLevel,
    Written,
)
from persistence.forum.sql import SqlForumStore
from persistence.moderation import (
    FlagReason,
    HeldMessage,
    MessageAction,
    MessageSnapshot,
    Visibility,
    WordAction,
    normalise_text,
)
from persistence.moderation.sql import SqlModerationStore
from persistence.notifications import Kind
from persistence.store import User
from web.forum import search as forum_search
from web.http import ApiError, HttpCode
from web.notifications.actions import notify
from workers.chat_notify import Mentions, quote

log = logging.getLogger(__name__)

FEATURE = "forum"
#: Posts per page of a topic (a page of a long topic is one query and fits a phone's scroll).
PAGE_SIZE = 50


def forum_store(services: Services) -> ForumStore:
    return SqlForumStore(services.database)


def is_staff(user: User) -> bool:
    return may(user.role, Can.MODERATE)


async def _audit(
    services: Services, action: str, actor: User, subject: str, detail: dict[str, Any]
) -> None:
    await services.audit.append(
        NewEntry(
            feature=FEATURE,
            action=action,
            actor_id=actor.id,
            reason="",
            at=services.clock.now_ms(),
            subject=subject,
            detail=detail,
        )
    )


async def _publish(services: Services, topic_id: int, event: dict[str, Any]) -> None:
    """Tell the topic's open readers. A broker outage loses only the live copy: the change is
    stored, and a reader's next load (or a recovery that finds the gap) shows it."""
    try:
        await publish(services.broker, topic_id, event)
    except BrokerUnavailable:
        log.warning("forum event for topic %d not published", topic_id)


async def _publish_listing(
    services: Services, topic: Topic | None, category_id: int | None = None
) -> None:
    """Tell the open lists of the topic's category (or of ``category_id``, the one it left)."""
    if topic is None:
        return
    try:
        await publish_listing(services.broker, topic, category_id)
    except BrokerUnavailable:
        log.warning("forum listing event for topic %d not published", topic.id)


def render(source: str) -> str:
    try:
        return richtext.render(source)
    except ValueError as exc:
        raise ApiError(400, HttpCode.BAD_REQUEST, str(exc), field="text") from None


class HeldForReview(Exception):
    """The post is kept back for a moderator (a phrase of the word list to hold): it appears
    once approved (``publish_held``), as a held chat message does."""

    def __init__(self, held_id: int) -> None:
        super().__init__(f"held for review as {held_id}")
        self.held_id = held_id


async def check_allowed(
    services: Services, user: User, topic_id: int | None, *texts: str
) -> str | None:
    """What moderation asks of a chat message, asked of a post: no mute in force (everywhere, or
    on this topic's channel) and no phrase of the word list to block (staff are not filtered).
    Returns the phrase to hold the post for review by, if any: the caller holds it."""
    mod = SqlModerationStore(services.database)
    now = services.clock.now_ms()
    channel = topic_channel(topic_id) if topic_id is not None else "forum:new"
    for sanction in await mod.active_sanctions(user.id, now=now):
        if sanction.applies(channel, now):
            raise ApiError(
                403,
                HttpCode.MUTED,
                f"A moderator muted you: {sanction.reason}",
                until=sanction.expires_at,
            )
    if is_staff(user):
        return None
    normalised = normalise_text(" ".join(texts))
    hold: str | None = None
    for word in await mod.list_words():
        if word.pattern in normalised:
            if word.action is not WordAction.HOLD:
                raise ApiError(
                    400, HttpCode.BLOCKED_WORD, "This contains a phrase that is not allowed here."
                )
            hold = hold or word.pattern
    return hold


async def _hold(
    services: Services, channel: str, author: User, body: str, client_id: str, matched: str
) -> HeldForReview:
    """Keep the post for review in moderation's queue (once per author, place and client id: a
    retry is the same held post) and tell the moderators' feed."""
    held, new = await SqlModerationStore(services.database).hold_message(
        channel=channel,
        author_id=author.id,
        author_name=author.display_name,
        body=body,
        cmid=client_id,
        matched=matched,
        now=services.clock.now_ms(),
    )
    if new:
        try:
            await publish_feed(
                services.broker,
                {
                    "kind": "held",
                    "id": held.id,
                    "channel": held.channel,
                    "author": {"id": held.author_id, "name": held.author_name},
                    "matched": held.matched,
                    "ts": held.created_at,
                },
                idempotency_key=f"held:{held.id}",
            )
        except BrokerUnavailable:
            log.warning("held forum post %d not announced to the moderators' feed", held.id)
    return HeldForReview(held.id)


# -- categories ---------------------------------------------------------------------------------


async def create_category(services: Services, draft: CategoryDraft, *, actor: User) -> Category:
    category = await forum_store(services).create_category(draft, now=services.clock.now_ms())
    await _audit(
        services, "category_create", actor, f"forum_category:{category.id}", {"slug": draft.slug}
    )
    return category


async def update_category(
    services: Services, category_id: int, draft: CategoryDraft, *, actor: User
) -> Category:
    store = forum_store(services)
    before = await store.get_category(category_id)
    category = await store.update_category(category_id, draft)
    await _audit(
        services, "category_edit", actor, f"forum_category:{category.id}", {"slug": draft.slug}
    )
    if before is not None and before.draft.scope != draft.scope:
        # Every open reader of its list and its topics is checked again (a narrower scope
        # shuts some out).
        await send_control(services.broker, CategoryAccessChanged(category_id=category_id))
        topics = await store.list_topics(category_id, limit=10_000, offset=0)
        for topic in topics:
            await send_control(services.broker, TopicAccessChanged(topic_id=topic.id))
            await forum_search.index_topic(services, topic.id)
    return category


# -- topics and posts ---------------------------------------------------------------------------


async def start_topic(
    services: Services,
    category: Category,
    *,
    author: User,
    title: str,
    source: str,
    client_id: str,
    images: Sequence[int] = (),
) -> tuple[Topic, Written]:
    """Raises HeldForReview when the word list holds it (a held topic keeps no pictures)."""
    hold = await check_allowed(services, author, None, title, source)
    if hold is not None:
        body = f"{title}{TITLE_BREAK}{source}"
        raise await _hold(services, category_channel(category.id), author, body, client_id, hold)
    return await _start_topic(
        services, category, author=author, title=title, source=source, client_id=client_id,
        images=images,
    )  # fmt: skip


#: Between a held topic's title and its text in the held message's body (a title is one line).
TITLE_BREAK = "\n\n"


async def _start_topic(
    services: Services,
    category: Category,
    *,
    author: User,
    title: str,
    source: str,
    client_id: str,
    images: Sequence[int] = (),
) -> tuple[Topic, Written]:
    topic, written = await forum_store(services).create_topic(
        category.id,
        title=title,
        author_id=author.id,
        source=source,
        html=render(source),
        client_id=client_id,
        now=services.clock.now_ms(),
    )
    if written.created:
        await forum_store(services).attach_images(written.post.id, author.id, list(images))
        await forum_store(services).set_watch(author.id, topic.id, WatchLevel.FOLLOW)
        await forum_search.index_post(services, category, topic, written.post)
        await _publish_listing(services, topic)
        await _notify_mentions(services, category, topic, written.post, source)
    return topic, written


async def reply(
    services: Services,
    category: Category,
    topic: Topic,
    *,
    author: User,
    source: str,
    client_id: str,
    images: Sequence[int] = (),
) -> Written:
    """Raises HeldForReview when the word list holds it (a held reply keeps no pictures)."""
    hold = await check_allowed(services, author, topic.id, source)
    if hold is not None:
        if topic.closed and not is_staff(author):
            raise TopicClosed(f"topic {topic.id}")
        raise await _hold(services, topic_channel(topic.id), author, source, client_id, hold)
    return await _reply(
        services, category, topic, author=author, source=source, client_id=client_id,
        images=images,
    )  # fmt: skip


async def _reply(
    services: Services,
    category: Category,
    topic: Topic,
    *,
    author: User,
    source: str,
    client_id: str,
    images: Sequence[int] = (),
) -> Written:
    written = await forum_store(services).add_reply(
        topic.id,
        author_id=author.id,
        source=source,
        html=render(source),
        client_id=client_id,
        now=services.clock.now_ms(),
        staff=is_staff(author),
    )
    store = forum_store(services)
    if written.created and images:
        await store.attach_images(written.post.id, author.id, list(images))
    pictures = (await store.images_of([written.post.id])).get(written.post.id, [])
    # Published again on a retry too: the first attempt may have stored the post and failed
    # before the event; readers apply it once (by its number).
    body = post_body(written.post, images=pictures)
    await _publish(services, topic.id, {"kind": "post", "post": body})
    if written.created:
        await _publish_listing(services, await store.get_topic(topic.id))
        await forum_search.index_post(services, category, topic, written.post)
        mentioned = await _notify_mentions(services, category, topic, written.post, source)
        await _notify_reply(services, topic, written.post, source, skip=mentioned)
    return written


async def publish_held(services: Services, held: HeldMessage) -> int | None:
    """A moderator approved a held post: it is written now, as its author sent it (no second
    word-list check), under a client id of the held message's, so approving twice writes it
    once. The post's id, or None when its topic or category or author is gone."""
    place = parse_channel(held.channel)
    store = forum_store(services)
    author = await services.store.get_user(held.author_id)
    if author is None:
        return None
    client_id = f"held-{held.id}"
    if place.kind is ChannelKind.TOPIC:
        topic = await store.get_topic(int(place.key))
        category = await store.get_category(topic.category_id) if topic else None
        if topic is None or category is None:
            return None
        try:
            written = await _reply(
                services, category, topic, author=author, source=held.body, client_id=client_id
            )
        except TopicClosed:
            raise ApiError(
                409, HttpCode.TOPIC_CLOSED, "The topic was closed since; reply there yourself."
            ) from None
        return written.post.id
    if place.kind is ChannelKind.CATEGORY:
        category = await store.get_category(int(place.key))
        if category is None:
            return None
        title, _, source = held.body.partition(TITLE_BREAK)
        _topic, written = await _start_topic(
            services, category, author=author, title=title, source=source, client_id=client_id
        )
        return written.post.id
    return None


#: What moderation's approval calls for a held post, by the kind of its place
#: (``Feature.held_publishers``).
HELD_PUBLISHERS: dict[str, HeldPublisher] = {
    ChannelKind.TOPIC: publish_held,
    ChannelKind.CATEGORY: publish_held,
}


async def place_names(services: Services, channels: Sequence[str], locale: str) -> dict[str, str]:
    """Forum places by name: a topic's channel as「category › title」, a category's as its name
    in ``locale`` (``Feature.place_namers``). Topics or categories gone are left out."""
    store = forum_store(services)
    categories: dict[int, Category | None] = {}

    async def category_name(category_id: int) -> str | None:
        if category_id not in categories:
            categories[category_id] = await store.get_category(category_id)
        category = categories[category_id]
        if category is None:
            return None
        return category.draft.name_zh if locale.startswith("zh") else category.draft.name_en

    names: dict[str, str] = {}
    for channel in channels:
        try:
            place = parse_channel(channel)
        except ValueError:
            continue
        if place.kind is ChannelKind.TOPIC:
            topic = await store.get_topic(int(place.key))
            if topic is not None:
                where = await category_name(topic.category_id)
                names[channel] = topic.title if where is None else f"{where} › {topic.title}"
        elif place.kind is ChannelKind.CATEGORY:
            where = await category_name(int(place.key))
            if where is not None:
                names[channel] = where
    return names


#: How moderation's pages name the forum's places (``Feature.place_namers``).
PLACE_NAMERS: dict[str, PlaceNamer] = {
    ChannelKind.TOPIC: place_names,
    ChannelKind.CATEGORY: place_names,
}


async def _visibility(services: Services, post: Post) -> Visibility | None:
    message = await SqlModerationStore(services.database).get_message(
        topic_channel(post.topic_id), post.id
    )
    return None if message is None else message.visibility


async def edit_post(services: Services, post: Post, *, editor: User, source: str) -> Post:
    if await check_allowed(services, editor, post.topic_id, source) is not None:
        # An edit is not held (the post is already public): it is refused, to be put another way.
        raise ApiError(
            400,
            HttpCode.BLOCKED_WORD,
            "This contains a phrase the moderators review; please put it another way.",
        )
    edited = await forum_store(services).edit_post(
        post.id, source=source, html=render(source), now=services.clock.now_ms()
    )
    reactions = (await forum_store(services).reactions([post.id])).get(post.id)
    pictures = (await forum_store(services).images_of([post.id])).get(post.id, [])
    # The live copy is the same for every reader: a hidden post's edit goes out blank.
    body = post_body(edited, reactions, await _visibility(services, edited), images=pictures)
    await _publish(services, post.topic_id, {"kind": "edit", "post": body})
    await _index(services, edited)
    store = forum_store(services)
    topic = await store.get_topic(post.topic_id)
    category = await store.get_category(topic.category_id) if topic else None
    if topic is not None and category is not None:
        # An @name added by the edit notifies as one in a new post would.
        await _notify_mentions(services, category, topic, edited, source, before=post.source)
    return edited


async def delete_post(services: Services, post: Post, *, actor: User) -> Post:
    deleted = await forum_store(services).delete_post(post.id, now=services.clock.now_ms())
    await _publish(services, post.topic_id, {"kind": "edit", "post": post_body(deleted)})
    await _index(services, deleted)
    return deleted


async def _index(services: Services, post: Post) -> None:
    store = forum_store(services)
    topic = await store.get_topic(post.topic_id)
    category = await store.get_category(topic.category_id) if topic else None
    if topic is not None and category is not None:
        await forum_search.index_post(services, category, topic, post)


async def react(services: Services, post: Post, *, user: User, emoji: str, on: bool) -> Reactions:
    try:
        reactions, _changed = await forum_store(services).react(
            post.id, user.id, emoji, on=on, now=services.clock.now_ms()
        )
    except ValueError as exc:
        raise ApiError(400, HttpCode.BAD_REQUEST, str(exc), field="emoji") from None
    # Published even when nothing changed (a retry whose first answer was lost): a snapshot
    # with its version, which readers keep only if it is newer.
    await _publish(services, post.topic_id, reactions_event(reactions))
    return reactions


def reactions_event(reactions: Reactions) -> dict[str, Any]:
    return {
        "kind": "reactions",
        "post_id": reactions.post_id,
        "version": reactions.version,
        "reactions": reactions_body(reactions),
    }


# -- staff and the author -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopicChange:
    pinned: bool | None = None
    closed: bool | None = None
    category_id: int | None = None


async def change_topic(
    services: Services, topic: Topic, change: TopicChange, *, actor: User
) -> Topic:
    """Staff: pin, close, move."""
    store = forum_store(services)
    updated = await store.update_topic(
        topic.id, pinned=change.pinned, closed=change.closed, category_id=change.category_id
    )
    detail = {
        k: v
        for k, v in (
            ("pinned", change.pinned),
            ("closed", change.closed),
            ("category_id", change.category_id),
        )
        if v is not None
    }
    await _audit(services, "topic_change", actor, f"forum_topic:{topic.id}", detail)
    category = await store.get_category(updated.category_id)
    await _publish(services, topic.id, {"kind": "topic", "topic": topic_body(updated, category)})
    await _publish_listing(services, updated)
    if change.category_id is not None and change.category_id != topic.category_id:
        await _publish_listing(services, updated, topic.category_id)
        await send_control(services.broker, TopicAccessChanged(topic_id=topic.id))
        await forum_search.index_topic(services, topic.id)
    return updated


async def split_post(
    services: Services, post: Post, *, category: Category, title: str, actor: User
) -> Topic:
    """Staff: a reply that started another subject becomes a new topic; its old place links
    there. Its flags and moderation state stay with its old place (``docs/design/0021``)."""
    store = forum_store(services)

    def stub(topic_id: int) -> str:
        return f'<p>→ <a href="/forum/t/{topic_id}">{html.escape(title)}</a></p>\n'

    topic, old = await store.split_post(
        post.id, category_id=category.id, title=title, now=services.clock.now_ms(), stub=stub
    )
    await _audit(
        services, "topic_split", actor, f"forum_topic:{topic.id}",
        {"from_topic": post.topic_id, "post_id": post.id},
    )  # fmt: skip
    await _publish(services, post.topic_id, {"kind": "edit", "post": post_body(old)})
    # The moved post is the new topic's now (its title, category and link), and its old place
    # is a stub that links there.
    await forum_search.index_topic(services, topic.id)
    await forum_search.index_topic(services, post.topic_id)
    await _publish_listing(services, topic)
    return topic


async def accept_answer(
    services: Services, topic: Topic, post: Post | None, *, actor: User
) -> Topic:
    """The topic's author or staff mark a reply as the answer (None: not solved any more)."""
    store = forum_store(services)
    if post is None:
        updated = await store.update_topic(topic.id, unsolve=True)
    else:
        updated = await store.update_topic(topic.id, solved_post_id=post.id)
    category = await store.get_category(updated.category_id)
    await _publish(services, topic.id, {"kind": "topic", "topic": topic_body(updated, category)})
    await _publish_listing(services, updated)
    if post is not None and post.author_id != actor.id:
        await notify(
            services,
            key=f"forum:topic:{topic.id}:solved:{post.id}",
            kind=Kind.CHAT,
            text_zh=f"你在「{topic.title}」的回覆被選為答案",
            text_en=f"Your reply in “{topic.title}” was accepted as the answer",
            link=f"/forum/t/{topic.id}?n={post.number}",
            user_ids=[post.author_id],
            actor_id=actor.id,
        )
    return updated


async def set_watch(services: Services, topic: Topic, user: User, level: WatchLevel | None) -> None:
    await forum_store(services).set_watch(user.id, topic.id, level)


async def mark_read(services: Services, topic: Topic, user: User, number: int) -> int:
    return await forum_store(services).mark_read(
        user.id, topic.id, number, now=services.clock.now_ms()
    )


# -- moderation ---------------------------------------------------------------------------------


async def flag_post(
    services: Services, post: Post, *, flagger: User, reason: FlagReason, note: str
) -> bool:
    """Into the moderators' flag feed, as a chat message's flag goes (the moderation worker
    records it once per flagger). False: this person had flagged it already."""
    channel = topic_channel(post.topic_id)
    item = {
        "type": "flag",
        "channel": channel,
        "offset": post.id,
        "flagger_id": flagger.id,
        "flagger_name": flagger.display_name,
        "reason": str(reason),
        "note": note,
        "author_id": post.author_id,
        "author_name": post.author_name,
        "text": post.source,
        "ts": post.created_at,
        "at": services.clock.now_ms(),
    }
    return await services.work_queue.submit(
        MODERATION_QUEUE,
        msgpack.packb(item),
        idempotency_key=f"flag:{flagger.id}:{channel}:{post.id}",
    )


async def moderate_post(
    services: Services, post: Post, action: MessageAction, *, actor: User, reason: str
) -> Visibility:
    """Hide, restore or delete a post (moderation's action, audited there); readers of the
    topic see it at once."""
    channel = topic_channel(post.topic_id)
    now = services.clock.now_ms()
    result = await SqlModerationStore(services.database).act_on_message(
        channel,
        post.id,
        action,
        actor_id=actor.id,
        reason=reason,
        now=now,
        snapshot=MessageSnapshot(
            author_id=post.author_id,
            author_name=post.author_name,
            body=post.source,
            posted_at=post.created_at,
        ),
    )
    visibility = result.message.visibility
    try:
        await publish_state(services.broker, channel, post.id, visibility, by="moderator", now=now)
        await publish_feed(
            services.broker,
            {
                "kind": "action",
                "action": str(action),
                "channel": channel,
                "offset": post.id,
                "visibility": str(visibility),
                "review": str(result.message.review),
                "actor": {"id": actor.id, "name": actor.display_name},
                "ts": now,
            },
        )
    except BrokerUnavailable:
        raise ApiError(
            503,
            HttpCode.UNAVAILABLE,
            "The decision is saved but could not be sent to open clients; send it again.",
        ) from None
    return visibility


# -- notifications -------------------------------------------------------------------------------


def mentioned_in(text: str, people: list[Person]) -> set[int]:
    """Who ``text`` mentions with ``@`` among ``people``, by display name or username (the chat's
    rule: the longest name that follows the ``@``)."""
    if "@" not in text:
        return set()
    by_name = Mentions({p.id: p.display_name for p in people})
    by_username = Mentions({p.id: p.username for p in people})
    return by_name.find(text) | by_username.find(text)


async def _notify_mentions(
    services: Services,
    category: Category,
    topic: Topic,
    post: Post,
    source: str,
    *,
    before: str = "",
) -> set[int]:
    """Only people who may read the topic can be mentioned: the candidates are its category's
    readers. For an edit, ``before`` is the old text: only those it did not mention already are
    told (under the edit's own key, so the first notification does not swallow it). Returns who
    was notified."""
    if "@" not in source:
        return set()
    people = await forum_store(services).people(category.draft.scope)
    found = mentioned_in(source, people) - mentioned_in(before, people) - {post.author_id}
    if found:
        text = quote(richtext.plain(source))
        key = f"forum:post:{post.id}:mention" + (f":edit{post.edits}" if before else "")
        await notify(
            services,
            key=key,
            kind=Kind.MENTION,
            text_zh=f"{post.author_name}在「{topic.title}」提到你：{text}",
            text_en=f"{post.author_name} mentioned you in “{topic.title}”: {text}",
            link=f"/forum/t/{topic.id}?n={post.number}",
            user_ids=sorted(found),
            actor_id=post.author_id,
        )
    return found


async def _notify_reply(
    services: Services, topic: Topic, post: Post, source: str, *, skip: set[int]
) -> None:
    """The topic's author and whoever follows it hear of a reply (not its writer, not those
    mentioned in it, who heard already, not who muted the topic)."""
    watches = await forum_store(services).watches(topic.id)
    audience = {uid for uid, level in watches.items() if level is WatchLevel.FOLLOW}
    if watches.get(topic.author_id) is not WatchLevel.MUTE:
        audience.add(topic.author_id)
    audience -= skip | {post.author_id}
    if not audience:
        return
    text = quote(richtext.plain(source))
    await notify(
        services,
        key=f"forum:post:{post.id}:reply",
        kind=Kind.CHAT,
        text_zh=f"{post.author_name}回覆了「{topic.title}」：{text}",
        text_en=f"{post.author_name} replied to “{topic.title}”: {text}",
        link=f"/forum/t/{topic.id}?n={post.number}",
        user_ids=sorted(audience),
        actor_id=post.author_id,
    )

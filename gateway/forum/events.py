"""What of the forum crosses processes: the events on a topic's channel ``topic:<id>``, who may
read a category (the one rule, for HTTP and the WebSocket alike), and the control command that
makes every gateway check its readers of a topic again.

Events on ``topic:<id>`` are durable in the hot history (a reader who reconnects with ``since``
gets what it missed) and not persisted (``persist=False``: the forum's tables hold the posts).
``data`` (msgpack, like every publication's data) is one of::

    {"kind": "post", "post": {...}}          a new post (the body of ``post_body``)
    {"kind": "edit", "post": {...}}          an edited or deleted post, its whole new body
    {"kind": "reactions", "post_id": 9, "version": 4,
     "reactions": [{"emoji": "👍", "count": 2, "names": ["陳太", "Lee"], "user_ids": [7, 9]}, ...]}
    {"kind": "topic", "topic": {...}}        pinned, closed, moved, solved (``topic_body``)
    {"kind": "hide" | "restore" | "delete", "target": <post id>, "by": ..., "ts": ...}

The last are moderation's own events (``gateway/moderation/events.py``): a forum post is the
moderation message ``(topic:<id>, <post id>)``, so a moderator's decision, from the forum or
from the moderation page, reaches the topic's readers the same way it reaches a chat room's.

Clients apply every event idempotently: a post by its number (a list sorted by number, so the
order events arrive in does not matter), reactions and topics by their version (the higher
wins).
"""

from __future__ import annotations

import time
from typing import Any

import msgpack

from channels.access import Action, MembershipCheck, Principal, may
from channels.broker import Broker, PublishResult
from channels.names import category_channel, parse_channel, topic_channel
from gateway.control import ControlCommand
from persistence.forum import Category, Image, Post, Reactions, Topic
from persistence.moderation import Visibility

#: A category readable by every signed-in account.
EVERYONE = "all"


class TopicAccessChanged(ControlCommand, frozen=True, tag="forum_topic_access"):
    """A topic moved to another category (or a category's scope changed): every gateway checks
    its readers of the topic again and unsubscribes those who may no longer read it."""

    topic_id: int


class CategoryAccessChanged(ControlCommand, frozen=True, tag="forum_category_access"):
    """A category's scope changed: every gateway checks the readers of its topic list again."""

    category_id: int


async def may_read(principal: Principal, scope: str, is_member: MembershipCheck) -> bool:
    """Whether ``principal`` may read a category of ``scope``: everyone for ``all``; else the
    readers of the scope's chat channel (a building's residents, a group's members, and the
    moderators and admins, ``channels/access.py``)."""
    if scope == EVERYONE:
        return True
    return await may(principal, parse_channel(scope), Action.READ, is_member)


def reactions_body(reactions: Reactions | None) -> list[dict[str, Any]]:
    """By emoji: how many, and who (by name, in the order they reacted)."""
    if reactions is None:
        return []
    grouped: dict[str, list[tuple[int, str]]] = {}
    for item in reactions.items:
        grouped.setdefault(item.emoji, []).append((item.user_id, item.name))
    return [
        {
            "emoji": emoji,
            "count": len(people),
            "names": [name for _, name in people],
            "user_ids": [user_id for user_id, _ in people],
        }
        for emoji, people in grouped.items()
    ]


def post_body(
    post: Post,
    reactions: Reactions | None = None,
    visibility: Visibility | None = None,
    *,
    staff: bool = False,
    images: list[Image] | None = None,
) -> dict[str, Any]:
    """A post as readers get it: a hidden post keeps its place with its text (and pictures)
    blanked (staff still see them), a deleted one has neither. Pictures are served at
    ``/api/forum/images/<id>`` (and ``…/thumb``) to the topic's readers."""
    blank = post.deleted or (
        visibility is not None
        and visibility is not Visibility.VISIBLE
        and (visibility is Visibility.DELETED or not staff)
    )
    return {
        "id": post.id,
        "topic_id": post.topic_id,
        "number": post.number,
        "author": {"id": post.author_id, "name": post.author_name},
        "html": "" if blank else post.html,
        "created_at": post.created_at,
        "edited_at": post.edited_at,
        "edits": post.edits,
        "deleted": post.deleted,
        "moderation": None if visibility in (None, Visibility.VISIBLE) else str(visibility),
        "reactions": reactions_body(reactions),
        "reaction_version": post.reaction_version,
        "images": []
        if blank
        else [
            {"id": i.id, "width": i.width, "height": i.height, "filename": i.filename}
            for i in images or ()
        ],
    }


def topic_body(topic: Topic, category: Category | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": topic.id,
        "category_id": topic.category_id,
        "title": topic.title,
        "author": {"id": topic.author_id, "name": topic.author_name},
        "created_at": topic.created_at,
        "last_post_at": topic.last_post_at,
        "posts": topic.last_number,
        "pinned": topic.pinned,
        "closed": topic.closed,
        "solved_post_id": topic.solved_post_id,
        "version": topic.version,
    }
    if category is not None:
        body["category"] = {
            "id": category.id,
            "slug": category.draft.slug,
            "name_zh": category.draft.name_zh,
            "name_en": category.draft.name_en,
            "colour": category.draft.colour,
        }
    return body


async def publish_listing(
    broker: Broker, topic: Topic, category_id: int | None = None
) -> PublishResult:
    """The topic as a category's list shows it, on ``category:<id>`` (its own category unless
    ``category_id`` names the one it left): a new topic, a reply (its count and time), a pin, a
    close, a move. Readers of the list fetch their own unread counts again."""
    event = {"kind": "topic", "topic": topic_body(topic), "ts": int(time.time() * 1000)}
    channel = category_channel(topic.category_id if category_id is None else category_id)
    return await broker.publish(channel, msgpack.packb(event), persist=False)


async def publish(broker: Broker, topic_id: int, event: dict[str, Any]) -> PublishResult:
    """One event on the topic's channel (see the module docstring)."""
    event.setdefault("ts", int(time.time() * 1000))
    return await broker.publish(topic_channel(topic_id), msgpack.packb(event), persist=False)

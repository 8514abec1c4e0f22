"""The forum in the gateway: who may follow a topic's channel, the readers' view of its events
(a hidden post's text blanked in recovery, as moderation blanks a hidden chat message), and
the re-check of a topic's readers when it moves to another category.

Nobody writes to ``topic:<id>`` over the wire: the forum's HTTP actions and moderation publish
there (``gateway/forum/events.py``). Reading is per object: the topic's category's scope, looked
up on every subscribe (one indexed query; a topic moved a moment ago is judged by its new
category, and ``TopicAccessChanged`` unsubscribes readers who lost it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import msgpack

from channels.access import Action, Principal
from channels.broker import Publication
from channels.names import ChannelKind, ChannelRef, category_channel, parse_channel, topic_channel
from gateway.codes import ErrorCode
from gateway.control import revoke_access
from gateway.forum.events import CategoryAccessChanged, TopicAccessChanged, may_read
from gateway.gateway import Gateway, RequestError
from linli.feature import Services
from linli.types import ChannelName
from persistence.forum import ForumStore
from persistence.forum.sql import SqlForumStore
from persistence.moderation import Visibility
from persistence.moderation.sql import SqlModerationStore
from persistence.store import Store

log = logging.getLogger(__name__)


class ForumOps:
    def __init__(self, gateway: Gateway, store: Store, forum: ForumStore, services: Services):
        self.gateway = gateway
        self.store = store
        self.forum = forum
        self.moderation = SqlModerationStore(services.database)
        self._tasks: set[asyncio.Task[None]] = set()

    async def may_read_topic(self, principal: Principal, topic_id: int) -> bool:
        topic = await self.forum.get_topic(topic_id)
        if topic is None:
            return False
        category = await self.forum.get_category(topic.category_id)
        return category is not None and await may_read(
            principal, category.draft.scope, self.store.is_member
        )

    async def may_read_category(self, principal: Principal, category_id: int) -> bool:
        category = await self.forum.get_category(category_id)
        return category is not None and await may_read(
            principal, category.draft.scope, self.store.is_member
        )

    async def may_watch_category(
        self, principal: Principal, channel: ChannelRef, action: Action
    ) -> bool:
        """``category:<id>``: read-only, for whoever may read the category; a missing one and
        one the reader may not see answer alike (``not_found``)."""
        if action is not Action.READ:
            return False
        if not await self.may_read_category(principal, int(channel.key)):
            raise RequestError(ErrorCode.NOT_FOUND, f"no category {channel.key}")
        return True

    async def may_watch(self, principal: Principal, channel: ChannelRef, action: Action) -> bool:
        """``topic:<id>``: read-only, for whoever may read the topic's category. A topic that
        does not exist and one the reader may not see answer alike (``not_found``), so an
        outsider cannot tell them apart."""
        if action is not Action.READ:
            return False
        if not await self.may_read_topic(principal, int(channel.key)):
            raise RequestError(ErrorCode.NOT_FOUND, f"no topic {channel.key}")
        return True

    async def view(
        self, principal: Principal, channel: ChannelName, pubs: list[Publication]
    ) -> list[Publication]:
        """Recovery and history of a topic: a post moderators hid keeps its place with its
        text blanked for residents (the hide event follows it anyway; this keeps the text out
        of the replay)."""
        if not channel.startswith("topic:") or principal.is_staff:
            return pubs
        ids: dict[int, dict[str, object]] = {}
        bodies: list[dict[str, object] | None] = []
        for pub in pubs:
            body = msgpack.unpackb(pub.data, raw=False)
            post = body.get("post") if isinstance(body, dict) else None
            if isinstance(post, dict) and isinstance(post.get("id"), int):
                ids[post["id"]] = body
                bodies.append(body)
            else:
                bodies.append(None)
        if not ids:
            return pubs
        try:
            states = await self.moderation.hidden_states(channel, min(ids), max(ids))
        except Exception:
            log.warning("moderation states of %s unavailable", channel, exc_info=True)
            return pubs
        if not states:
            return pubs
        out = []
        for pub, body in zip(pubs, bodies, strict=True):
            post = body.get("post") if body is not None else None
            if isinstance(post, dict) and states.get(post["id"]) in (
                Visibility.HIDDEN,
                Visibility.DELETED,
            ):
                post["html"] = ""
                post["images"] = []
                post["moderation"] = str(states[post["id"]])
                pub = Publication(pub.channel, pub.offset, pub.epoch, msgpack.packb(body))
            out.append(pub)
        return out

    def on_access_changed(self, command: TopicAccessChanged) -> None:
        topic_id = command.topic_id
        self._spawn(
            self._recheck(topic_channel(topic_id), lambda p: self.may_read_topic(p, topic_id))
        )

    def on_category_access_changed(self, command: CategoryAccessChanged) -> None:
        category_id = command.category_id
        self._spawn(
            self._recheck(
                category_channel(category_id), lambda p: self.may_read_category(p, category_id)
            )
        )

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _recheck(
        self, channel: ChannelName, allowed_for: Callable[[Principal], Awaitable[bool]]
    ) -> None:
        seen: set[int] = set()
        for conn in list(self.gateway.connections.values()):
            user_id = conn.principal.user_id
            if channel not in conn.subscriptions or user_id in seen:
                continue
            seen.add(user_id)
            try:
                allowed = await allowed_for(conn.principal)
            except Exception:
                log.warning("could not re-check %s for user %d", channel, user_id, exc_info=True)
                continue
            if not allowed:
                await revoke_access(self.gateway.broker, user_id, channel)


def install(gateway: Gateway, services: Services) -> ForumOps:
    """The forum's part of a gateway (its entry in ``linli/features.py``)."""
    ops = ForumOps(gateway, services.store, SqlForumStore(services.database), services)
    gateway.access_rules[ChannelKind.TOPIC] = ops.may_watch
    gateway.access_rules[ChannelKind.CATEGORY] = ops.may_watch_category
    gateway.history.views.append(ops.view)
    gateway.control_handlers[TopicAccessChanged] = ops.on_access_changed
    gateway.control_handlers[CategoryAccessChanged] = ops.on_category_access_changed
    parse_channel(topic_channel(1))  # the kind is known to the channel names
    return ops

"""Who may watch an ``event:<id>`` channel: read-only, for the event's audience and for staff
who run events (``gateway/events/events.py`` says what it carries)."""

from __future__ import annotations

from channels.access import Action, Principal
from channels.names import ChannelKind, ChannelRef
from gateway.events.events import in_audience
from gateway.gateway import Gateway
from linli.feature import Services
from persistence.events.sql import SqlEventStore


def install(gateway: Gateway, services: Services) -> None:
    events = SqlEventStore(services.database)
    store = services.store

    async def may_watch(principal: Principal, channel: ChannelRef, action: Action) -> bool:
        if action is not Action.READ:
            return False
        event = await events.get_event(int(channel.key))
        if event is None:
            return False
        return await in_audience(
            event.draft.audience,
            user_id=principal.user_id,
            role=principal.role,
            building_id=principal.building_id,
            is_member=store.is_member,
        )

    gateway.access_rules[ChannelKind.EVENT] = may_watch

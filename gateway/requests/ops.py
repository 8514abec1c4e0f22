"""The requests feature in the gateway: who may subscribe to ``request:<id>`` (see
``persistence/requests/access.py``); nobody writes to it over the wire."""

from __future__ import annotations

from channels.access import Action, Principal
from channels.names import ChannelKind, ChannelRef
from gateway.gateway import Gateway
from linli.feature import Services
from persistence.requests.access import may_see
from persistence.requests.sql import SqlRequestStore


def install(gateway: Gateway, services: Services) -> None:
    store = SqlRequestStore(services.database)

    async def may_watch(principal: Principal, channel: ChannelRef, action: Action) -> bool:
        if action is not Action.READ or principal.user_id <= 0:
            return False
        request = await store.get_request(int(channel.key))
        if request is None:
            return False
        return await may_see(
            store, request, principal.user_id, principal.role, principal.building_id
        )

    gateway.access_rules[ChannelKind.REQUEST] = may_watch

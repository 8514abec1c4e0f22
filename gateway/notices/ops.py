"""Who may watch a notice's live reach (``notice:<id>``): the staff who post notices, read-only.
Residents never see another household's reads; nobody publishes to the channel over the wire
(``web/notices/actions.py`` does, after a read or an acknowledgement is stored)."""

from __future__ import annotations

from channels.access import Action, Principal
from channels.names import ChannelKind, ChannelRef
from gateway.gateway import Gateway
from linli.feature import Services
from linli.roles import Can, may


async def may_watch_reach(principal: Principal, channel: ChannelRef, action: Action) -> bool:
    return action is Action.READ and may(principal.role, Can.POST_NOTICES)


def install(gateway: Gateway, services: Services) -> None:
    gateway.access_rules[ChannelKind.NOTICE] = may_watch_reach

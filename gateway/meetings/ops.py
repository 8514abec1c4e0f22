"""Who may watch a ``meeting:<id>`` channel: any signed-in person (owners and residents watch
the figures; only owners and their proxies count, which the HTTP API decides), and the
meeting's projector feed. Nobody publishes to it over the wire: the figures come from the
meetings' actions (``web/meetings/actions.py``)."""

from __future__ import annotations

from channels.access import Action, Principal
from channels.names import ChannelKind, ChannelRef
from gateway.gateway import Gateway
from linli.feature import Services
from linli.types import Role

#: Prefix of the username of a projector feed's principal (a real username has no ':').
PROJECTOR_PREFIX = "meeting-projector:"


def projector_principal(meeting_id: int) -> Principal:
    """Who a meeting projector's feed is: nobody, allowed to read exactly this meeting."""
    return Principal(
        user_id=0,
        username=f"{PROJECTOR_PREFIX}{meeting_id}",
        display_name="",
        role=Role.RESIDENT,
        building_id=None,
    )


async def may_watch(principal: Principal, channel: ChannelRef, action: Action) -> bool:
    if action is not Action.READ:
        return False
    if principal.username.startswith(PROJECTOR_PREFIX):
        return principal.username == f"{PROJECTOR_PREFIX}{channel.key}"
    return principal.user_id > 0


def install(gateway: Gateway, services: Services) -> None:
    gateway.access_rules[ChannelKind.MEETING] = may_watch

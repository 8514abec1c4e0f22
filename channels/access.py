"""Who may read (subscribe, history, presence) and write (publish) each channel.

* ``building:<id>``: residents of that building read and write. Whoever holds
  ``Can.READ_EVERY_ROOM`` (moderators, management, admins) reads every building; whoever speaks
  for the management (``Can.POST_OFFICIAL``: management, admins) also writes (their posts there
  are official ones, ``gateway.gateway.is_official``).
* ``group:<slug>``: members read and write; ``Can.READ_EVERY_ROOM`` reads.
* Any other kind (``poll:<id>``, ``mod:flags``) belongs to a feature, which decides its access
  with a rule of its own registered with the gateway (``Gateway.access_rules``). ``may``
  refuses them, so nothing can open one by accident.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from channels.names import ChannelKind, ChannelRef
from linli.roles import Can, reads_every_room
from linli.roles import may as may_role
from linli.types import BuildingId, Role, UserId

#: Whether a user belongs to a group (the store's ``is_member``).
MembershipCheck = Callable[[UserId, str], Awaitable[bool]]


class Action(enum.Enum):
    READ = "read"
    WRITE = "write"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated user behind a request, as authorisation needs them."""

    user_id: UserId
    username: str
    display_name: str
    role: Role
    building_id: BuildingId | None

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.MODERATOR, Role.ADMIN)


async def may(
    principal: Principal, channel: ChannelRef, action: Action, is_member: MembershipCheck
) -> bool:
    role = principal.role
    if channel.kind is ChannelKind.BUILDING:
        if principal.building_id == channel.building_id:
            return True
        if action is Action.WRITE:
            return may_role(role, Can.POST_OFFICIAL)
        return reads_every_room(role)
    if channel.kind is ChannelKind.GROUP:
        if action is Action.READ and reads_every_room(role):
            return True
        return await is_member(principal.user_id, channel.key)
    return False

"""Who may read (subscribe, history, presence) and write (publish) each channel.

* ``building:<id>``: residents of that building read and write. Moderators and admins read every
  building (to review flagged messages in context); admins and management also write (their
  posts there are official ones, ``gateway.gateway.is_official``).
* ``group:<slug>``: members read and write. Moderators, admins and management read.
* Any other kind (``poll:<id>``, ``mod:flags``) belongs to a feature, which decides its access
  with a rule of its own registered with the gateway (``Gateway.access_rules``). ``may``
  refuses them, so nothing can open one by accident.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from channels.names import ChannelKind, ChannelRef
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
        if role in (Role.ADMIN, Role.MANAGEMENT):
            return True
        return action is Action.READ and role is Role.MODERATOR
    if channel.kind is ChannelKind.GROUP:
        if action is Action.READ and (principal.is_staff or role is Role.MANAGEMENT):
            return True
        return await is_member(principal.user_id, channel.key)
    return False

"""Who may read (subscribe, history, presence) and write (publish) each channel.

* ``building:<id>``: residents of that building read and write. Moderators and admins read every
  building (to review flagged messages in context); admins also write (management notices).
* ``group:<slug>``: members read and write. Moderators and admins read.
* ``mod:flags``: moderators and admins read; nobody publishes over the wire (the moderation
  worker does).
* ``poll:<id>``: not decided here — who may read depends on the poll's target channel, which
  only the store knows; the polls feature registers an access rule with the gateway
  (``Gateway.access_rules``). ``may`` refuses, so nothing else can open it by accident.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from channels.names import ChannelKind, ChannelRef
from linli.types import BuildingId, UserId
from persistence.store import Role

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
        if role is Role.ADMIN:
            return True
        return action is Action.READ and role is Role.MODERATOR
    if channel.kind is ChannelKind.GROUP:
        if action is Action.READ and principal.is_staff:
            return True
        return await is_member(principal.user_id, channel.key)
    if channel.kind is ChannelKind.MOD:
        return action is Action.READ and principal.is_staff
    return False

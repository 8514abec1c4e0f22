"""Who may watch a ``meeting:<id>`` channel: any signed-in person (owners and residents watch
the figures; only owners and their proxies count, which the HTTP API decides), and the
meeting's projector feed. Nobody publishes to it over the wire: the figures come from the
meetings' actions (``web/meetings/actions.py``).

And the owner's own attendance: ``AttendanceChanged`` (a control command the actions send on
every check-in and check-out) becomes the push ``meeting_attendance`` to the connections of the
users it names, and nobody else's."""

from __future__ import annotations

from collections import defaultdict

from channels.access import Action, Principal
from channels.names import ChannelKind, ChannelRef
from gateway.connection import Connection
from gateway.gateway import Gateway
from gateway.meetings.events import AttendanceChanged
from gateway.wire import PushFrames
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

    def on_attendance(command: AttendanceChanged) -> None:
        """Tell each user's connections here which of their units are checked in now."""
        by_user: defaultdict[int, list[Connection]] = defaultdict(list)
        for conn in gateway.connections.values():
            if conn.principal.user_id in command.present:
                by_user[conn.principal.user_id].append(conn)
        for user_id, conns in by_user.items():
            frames = PushFrames(
                {
                    "push": "meeting_attendance",
                    "meeting_id": command.meeting_id,
                    "present": command.present[user_id],
                }
            )
            for conn in conns:
                conn.push(frames.get(conn.fmt))

    gateway.control_handlers[AttendanceChanged] = on_attendance

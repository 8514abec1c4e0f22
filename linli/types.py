"""The small shared vocabulary: names every package imports, defined once."""

from __future__ import annotations

import enum
from typing import NewType

#: A channel's full name, e.g. ``building:3`` or ``group:gardening`` (see ``channels.names``).
ChannelName = str
#: Position of a publication in its channel: strictly increasing, dense within an epoch.
Offset = int
#: Identifies one life of a channel's offset counter (milliseconds since the Unix epoch at
#: which the counter was seeded). A new epoch means the hot history was lost and offsets
#: seen before it cannot be compared with offsets after it.
Epoch = int
UserId = int
BuildingId = int
#: An opaque id the gateway gives each WebSocket connection; unique across processes.
ConnId = NewType("ConnId", str)
#: Milliseconds since the Unix epoch: every timestamp Linli stores or sends.
Millis = int


class Role(enum.StrEnum):
    """What a user may do beyond chatting. ``admin`` may do everything; the others are side by
    side, each a job in the community (``linli/roles.py`` says which roles may do what)."""

    RESIDENT = "resident"
    #: Runs interest groups, polls and events.
    ORGANISER = "organiser"
    #: Keeps the chat civil (reports, bans).
    MODERATOR = "moderator"
    #: The management office's staff (管理處): notices, residents' requests, the door.
    MANAGEMENT = "management"
    #: A member of the management committee (管委會): notices, meetings, the figures.
    COMMITTEE = "committee"
    ADMIN = "admin"

"""Channel names: what kinds exist and how a name is spelled.

``building:<id>``   a building's room (``id`` a positive integer)
``group:<slug>``    an interest group's room (``slug``: 2–40 of ``a-z 0-9 -``, starting with a
                    letter or digit)
``mod:flags``       the moderators' live flag feed (a system channel; nobody publishes to it
                    over the wire)
``poll:<id>``       a poll's live tallies (``id`` a positive integer; only the votes worker and
                    the polls API publish to it)
``meeting:<id>``    an owners' meeting's live attendance and tallies (``id`` a positive integer;
                    only the meetings' actions publish to it)
``topic:<id>``      a forum topic's live events (``id`` a positive integer; only the forum API
                    and moderation publish to it)
``notice:<id>``     a notice's live reach, for the staff who post notices (``id`` a positive
                    integer; only the notices API publishes to it)
``request:<id>``    a resident's request's live changes (``id`` a positive integer; only the
                    requests actions publish to it; who may read it is the feature's rule)
``event:<id>``      an event's live sign-up counts (``id`` a positive integer; only the events
                    feature's actions publish to it)
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from linli.types import ChannelName

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")
_MAX_BUILDING_ID = 2**31 - 1


class ChannelKind(enum.StrEnum):
    BUILDING = "building"
    GROUP = "group"
    MOD = "mod"
    POLL = "poll"
    MEETING = "meeting"
    TOPIC = "topic"
    #: A forum category's topic list (``category:<id>``): one event per new or changed topic.
    CATEGORY = "category"
    NOTICE = "notice"
    REQUEST = "request"
    EVENT = "event"


class InvalidChannel(ValueError):
    """The string is not a channel name Linli knows."""


@dataclass(frozen=True, slots=True)
class ChannelRef:
    kind: ChannelKind
    key: str

    @property
    def name(self) -> ChannelName:
        return f"{self.kind}:{self.key}"

    @property
    def building_id(self) -> int:
        """The building's id; only for ``building`` channels."""
        if self.kind is not ChannelKind.BUILDING:
            raise ValueError(f"expected a building channel, got {self.name!r}")
        return int(self.key)


def parse_channel(name: object) -> ChannelRef:
    if not isinstance(name, str) or ":" not in name:
        raise InvalidChannel(f"not a channel name: {name!r}")
    kind_text, _, key = name.partition(":")
    try:
        kind = ChannelKind(kind_text)
    except ValueError:
        raise InvalidChannel(f"unknown channel kind {kind_text!r} in {name!r}") from None
    if kind is ChannelKind.BUILDING:
        # isdigit() accepts non-ASCII digits such as "٣"; insist on ASCII so names are canonical.
        if not (key.isascii() and key.isdigit()) or key.startswith("0"):
            raise InvalidChannel(f"building channel needs a positive id: {name!r}")
        if int(key) > _MAX_BUILDING_ID:
            raise InvalidChannel(f"building id out of range: {name!r}")
    elif kind is ChannelKind.GROUP:
        if not SLUG_RE.match(key):
            raise InvalidChannel(f"group channel needs a slug of 2-40 a-z, 0-9, '-': {name!r}")
    elif kind in (
        ChannelKind.POLL,
        ChannelKind.NOTICE,
        ChannelKind.REQUEST,
        ChannelKind.EVENT,
        ChannelKind.MEETING,
        ChannelKind.TOPIC,
        ChannelKind.CATEGORY,
    ):
        if not (key.isascii() and key.isdigit()) or key.startswith("0") or int(key) > 2**63 - 1:
            raise InvalidChannel(f"{kind} channel needs a positive id: {name!r}")
    elif kind is ChannelKind.MOD and key != "flags":
        raise InvalidChannel(f"unknown moderation channel {name!r}")
    return ChannelRef(kind, key)


def building_channel(building_id: int) -> ChannelName:
    return f"{ChannelKind.BUILDING}:{building_id}"


def group_channel(slug: str) -> ChannelName:
    return f"{ChannelKind.GROUP}:{slug}"


def poll_channel(poll_id: int) -> ChannelName:
    return f"{ChannelKind.POLL}:{poll_id}"


def topic_channel(topic_id: int) -> ChannelName:
    return f"{ChannelKind.TOPIC}:{topic_id}"


def category_channel(category_id: int) -> ChannelName:
    return f"{ChannelKind.CATEGORY}:{category_id}"


def notice_channel(notice_id: int) -> ChannelName:
    return f"{ChannelKind.NOTICE}:{notice_id}"


def request_channel(request_id: int) -> ChannelName:
    return f"{ChannelKind.REQUEST}:{request_id}"


def event_channel(event_id: int) -> ChannelName:
    return f"{ChannelKind.EVENT}:{event_id}"


MOD_FLAGS: ChannelName = "mod:flags"


def meeting_channel(meeting_id: int) -> ChannelName:
    return f"{ChannelKind.MEETING}:{meeting_id}"

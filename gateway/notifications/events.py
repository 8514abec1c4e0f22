"""What of the notifications feature crosses processes: the notify requests on the ``notify``
work queue (``workers/notify.py`` expands and delivers them) and the control command that tells
every gateway a user's unread count changed (``gateway/notifications/ops.py`` pushes it)."""

from __future__ import annotations

import msgspec

from gateway.control import ControlCommand
from persistence.notifications import Audience, Kind

#: The work queue notify requests go through, to ``workers/notify.py``.
NOTIFY_QUEUE = "notify"
#: Longest one-line text of a notification (the inbox shows one line; push shows two).
MAX_TEXT_CHARS = 300


class AudienceSpec(msgspec.Struct, frozen=True):
    user_ids: list[int] = []
    buildings: list[int] = []
    groups: list[str] = []
    roles: list[str] = []
    everyone: bool = False

    def audience(self) -> Audience:
        from linli.types import Role

        return Audience(
            user_ids=tuple(self.user_ids),
            buildings=tuple(self.buildings),
            groups=tuple(self.groups),
            roles=tuple(Role(r) for r in self.roles),
            everyone=self.everyone,
        )


class NotifyRequest(msgspec.Struct, frozen=True):
    """One notification for an audience. ``key`` makes it idempotent: a request with a key seen
    before notifies only those it has not reached yet (``source_key`` of the inbox rows)."""

    key: str
    kind: Kind
    text_zh: str
    text_en: str
    link: str
    audience: AudienceSpec
    urgent: bool = False
    #: The user whose action this is (a poster, a replier): never notified of it.
    actor_id: int | None = None


class InboxChanged(ControlCommand, frozen=True, tag="inbox_changed"):
    """Users' unread counts changed: every gateway pushes the new count to their connections.
    ``latest``: the newest notification's one line, for a page to show at once."""

    counts: dict[int, int]
    latest: dict[int, dict[str, object]] = msgspec.field(default_factory=dict)


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(NotifyRequest)


def encode_request(request: NotifyRequest) -> bytes:
    return _encoder.encode(request)


def decode_request(data: bytes) -> NotifyRequest:
    return _decoder.decode(data)

"""The notifications feature's store: the inbox, preferences and quiet hours, rooms followed or
muted, Web Push subscriptions, and every delivery with its outcome.

Guarantees (``tests/contract/test_notifications_store.py`` runs them on SQLite and PostgreSQL):

* **Idempotent inbox.** A notification is unique per ``(user, source_key)``: inserting a batch
  again (a redelivered work item) inserts nothing and returns nothing, so nobody is notified
  twice. A row and its deliveries are written in one transaction, and only the rows the call
  inserted get theirs: a writer killed half way leaves rows with all their deliveries or
  neither, never a row whose pushes a retry would skip.
* **Idempotent deliveries.** A delivery is unique per ``(notification, channel, target)``.
* **Claims are leases.** ``claim_deliveries`` takes due pending deliveries atomically (two
  senders never get the same one); ``finish_delivery`` changes a delivery only while the caller
  still holds its claim, so a sender whose lease ran out cannot overwrite another's outcome.
* **Preferences are sparse.** Only choices that differ from ``DEFAULTS`` are stored; reading
  fills in the defaults, so a new kind gets its default for everyone at once.
* Times are milliseconds passed in by the caller.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from linli.types import BuildingId, ChannelName, Millis, Role, UserId


class Kind(enum.StrEnum):
    """What a notification is about; preferences are per kind and channel."""

    NOTICE = "notice"
    URGENT = "urgent"
    MENTION = "mention"
    REQUEST = "request"
    EVENT = "event"
    SURVEY = "survey"
    POLL = "poll"
    CHAT = "chat"
    MODERATION = "moderation"


class Channel(enum.StrEnum):
    INBOX = "inbox"
    PUSH = "push"
    EMAIL = "email"


class Digest(enum.StrEnum):
    """How e-mail for non-urgent kinds is sent (urgent notices are sent at once)."""

    OFF = "off"
    DAILY = "daily"
    WEEKLY = "weekly"


class RoomMode(enum.StrEnum):
    FOLLOW = "follow"
    MUTE = "mute"


class DeliveryState(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    #: The target is gone: a push subscription the push service answered 404 or 410 for, an
    #: e-mail address its owner removed (unsubscribed) before it went out, a digest whose
    #: notifications were all read meanwhile.
    GONE = "gone"


#: (kind, channel) -> on, for anyone who has not chosen. Everything reaches the inbox; urgent
#: notices reach every channel at once; for those who gave an address, e-mail of the rest goes
#: into the digest — except chat (a followed room's every message would swamp it) and the
#: moderators' reports (they work from the live feed). Surveys and reports do not buzz phones.
DEFAULTS: Mapping[tuple[Kind, Channel], bool] = {
    (kind, channel): channel is not Channel.EMAIL or kind not in (Kind.CHAT, Kind.MODERATION)
    for kind in Kind
    for channel in Channel
} | {(Kind.SURVEY, Channel.PUSH): False, (Kind.MODERATION, Channel.PUSH): False}
#: 22:00-07:00 local time: no push for anything but urgent notices.
DEFAULT_QUIET = (22 * 60, 7 * 60)


@dataclass(frozen=True, slots=True)
class Audience:
    """Who a notification is for: the union of the named users, the residents of the buildings,
    the members of the groups, everyone (``everyone``), and the users of the roles."""

    user_ids: tuple[UserId, ...] = ()
    buildings: tuple[BuildingId, ...] = ()
    groups: tuple[str, ...] = ()
    roles: tuple[Role, ...] = ()
    everyone: bool = False


@dataclass(frozen=True, slots=True)
class Recipient:
    user_id: UserId
    role: Role
    building_id: BuildingId | None
    unit_id: int | None
    #: As the user chose it: what ``@`` mentions in chat name (``workers/chat_notify.py``).
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    """A delivery to write with its notification (``NewNotification.deliveries``)."""

    channel: Channel
    #: ``push:<subscription id>`` or ``email:<address>``.
    target: str
    due_at: Millis


@dataclass(frozen=True, slots=True)
class NewNotification:
    user_id: UserId
    source_key: str
    kind: Kind
    urgent: bool
    text_zh: str
    text_en: str
    link: str
    created_at: Millis
    #: Set for a row that must not ring the bell (its kind's inbox channel is off): read at once.
    read_at: Millis | None = None
    #: Written, pending, in the same transaction as the row, if the row is new.
    deliveries: tuple[PlannedDelivery, ...] = ()


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    user_id: UserId
    source_key: str
    kind: Kind
    urgent: bool
    text_zh: str
    text_en: str
    link: str
    created_at: Millis
    read_at: Millis | None


@dataclass(frozen=True, slots=True)
class Settings:
    quiet_start: int = DEFAULT_QUIET[0]
    quiet_end: int = DEFAULT_QUIET[1]
    email: str | None = None
    digest: Digest = Digest.DAILY
    unsubscribe_token: str | None = None
    last_digest_at: Millis | None = None


@dataclass(frozen=True, slots=True)
class PushSubscription:
    id: int
    user_id: UserId
    endpoint: str
    p256dh: str
    auth: str
    label: str
    created_at: Millis
    last_ok_at: Millis | None


@dataclass(frozen=True, slots=True)
class NewDelivery:
    notification_id: int
    channel: Channel
    #: ``push:<subscription id>`` or ``email:<address>``.
    target: str
    due_at: Millis


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    notification_id: int
    channel: Channel
    target: str
    state: DeliveryState
    due_at: Millis
    attempts: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Reach:
    """How a notification of one source reached its recipients' households: units with a
    delivery sent by push, by e-mail, and units reached by neither (their residents have it in
    the inbox only). A unit counts once however many residents it has; staff of no unit do not
    count."""

    units: int
    by_push: int
    by_email: int
    neither: int
    recipients: int
    deliveries: dict[str, int] = field(default_factory=dict)


class NotificationStore(Protocol):
    # -- audience -----------------------------------------------------------------------------
    async def audience(self, audience: Audience) -> list[Recipient]:
        """Every user the audience names, once each, by id."""

    # -- inbox --------------------------------------------------------------------------------
    async def insert(self, rows: list[NewNotification], *, now: Millis) -> list[Notification]:
        """Insert in one transaction, with the planned deliveries of the rows that are new;
        return the rows this call inserted (not those that existed already). ``now`` stamps the
        deliveries."""

    async def inbox(
        self, user_id: UserId, *, before_id: int | None = None, limit: int = 50
    ) -> list[Notification]:
        """Newest first."""

    async def get(self, notification_id: int) -> Notification | None: ...

    async def recipients(self, source_key: str) -> list[UserId]:
        """Who has a notification of this source, ascending."""

    async def unread_counts(self, user_ids: list[UserId]) -> dict[UserId, int]:
        """Every user of the list, 0 included."""

    async def mark_read(self, user_id: UserId, ids: list[int] | None, *, now: Millis) -> int:
        """Mark the user's notifications read (all when ``ids`` is None); how many changed."""

    async def unread_since(self, user_id: UserId, since: Millis) -> list[Notification]:
        """Unread notifications created at or after ``since``, oldest first (digests)."""

    async def prune(self, *, before: Millis) -> int:
        """Delete notifications (and their deliveries) created before ``before``."""

    # -- preferences --------------------------------------------------------------------------
    async def prefs(self, user_ids: list[UserId]) -> dict[UserId, dict[tuple[Kind, Channel], bool]]:
        """Every (kind, channel) of every user, defaults filled in."""

    async def set_pref(self, user_id: UserId, kind: Kind, channel: Channel, enabled: bool) -> None:
        """Stores the choice (or forgets it when it equals the default)."""

    async def settings(self, user_ids: list[UserId]) -> dict[UserId, Settings]:
        """Every user of the list; defaults for those who never saved theirs."""

    async def save_settings(
        self,
        user_id: UserId,
        *,
        quiet_start: int,
        quiet_end: int,
        email: str | None,
        digest: Digest,
        unsubscribe_token: str,
    ) -> Settings:
        """Upsert; an existing unsubscribe token is kept (links in sent mail stay valid)."""

    async def by_unsubscribe_token(self, token: str) -> UserId | None: ...

    async def set_last_digest(self, user_id: UserId, at: Millis) -> None: ...

    async def digest_users(self, digest: Digest) -> list[UserId]:
        """Users with an e-mail address and this digest setting."""

    async def set_room(self, user_id: UserId, channel: ChannelName, mode: RoomMode | None) -> None:
        """Follow, mute, or (None) go back to the default."""

    async def rooms(self, user_id: UserId) -> dict[ChannelName, RoomMode]: ...

    async def room_modes(self, channel: ChannelName) -> dict[UserId, RoomMode]: ...

    async def room_modes_of(
        self, channels: list[ChannelName]
    ) -> dict[ChannelName, dict[UserId, RoomMode]]:
        """``room_modes`` of every channel of the list in one query (an empty dict for a
        channel nobody follows or muted)."""

    async def rooms_with_modes(self) -> set[ChannelName]:
        """Every channel someone follows or muted."""

    # -- push subscriptions ---------------------------------------------------------------------
    async def add_subscription(
        self, user_id: UserId, endpoint: str, p256dh: str, auth: str, label: str, *, now: Millis
    ) -> PushSubscription:
        """Upsert by endpoint: a browser that subscribes again keeps its row (new keys, label);
        one that subscribes for another user (after a logout) replaces the old row with a new
        one (a new id), and the old row's pending deliveries become ``GONE``, so nothing queued
        for the previous user reaches the new one's screen."""

    async def subscriptions(self, user_ids: list[UserId]) -> dict[UserId, list[PushSubscription]]:
        """Each user's devices (users without any are absent)."""

    async def get_subscription(self, subscription_id: int) -> PushSubscription | None: ...

    async def remove_subscription(self, subscription_id: int, *, user_id: UserId | None) -> bool:
        """Remove it (only if it is ``user_id``'s, when given)."""

    async def subscription_ok(self, subscription_id: int, *, now: Millis) -> None: ...

    # -- deliveries -----------------------------------------------------------------------------
    async def add_deliveries(
        self, rows: list[NewDelivery], *, now: Millis, state: DeliveryState = DeliveryState.PENDING
    ) -> int:
        """Insert deliveries (existing ones are left alone); how many were new. ``PENDING`` ones
        are for a sender to claim; any other state records a delivery made otherwise (the
        notifications a digest e-mail listed, sent as one message)."""

    async def claim_deliveries(
        self, channel: Channel, *, now: Millis, owner: str, lease_ms: int, limit: int
    ) -> list[Delivery]:
        """Atomically take up to ``limit`` due pending deliveries of the channel whose lease is
        free or expired, oldest due first; each claim counts as an attempt."""

    async def finish_delivery(
        self,
        delivery_id: int,
        *,
        owner: str,
        state: DeliveryState,
        now: Millis,
        error: str | None = None,
        retry_at: Millis | None = None,
    ) -> bool:
        """Record the outcome (``PENDING`` with ``retry_at``: try again then) if ``owner`` still
        holds the claim; False when it does not."""

    async def next_delivery_due(self) -> Millis | None:
        """The earliest time a pending delivery can be claimed: its due time, or the end of
        its lease while it is claimed."""

    async def reach(self, source_key: str) -> Reach: ...

    # -- secrets ----------------------------------------------------------------------------
    async def secret(self, name: str, make: str, *, now: Millis) -> str:
        """The stored secret ``name``, storing ``make`` first when there is none (the first of
        several processes to start wins; all then use its value)."""

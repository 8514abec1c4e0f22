"""The notifications feature's actions: ``notify`` (what every other feature calls), and a
user's own changes — reading, preferences, quiet hours, e-mail, rooms, devices.

``notify`` only queues the request (one work-queue append): expanding the audience, applying
preferences and sending are the notify and delivery workers' (``workers/notify.py``,
``workers/deliver.py``), so no caller waits for a push service or a mail server.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import secrets
from collections.abc import Sequence
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.control import send_control
from gateway.notifications.events import (
    MAX_TEXT_CHARS,
    NOTIFY_QUEUE,
    AudienceSpec,
    InboxChanged,
    NotifyRequest,
    encode_request,
)
from linli.feature import Services
from linli.types import BuildingId, ChannelName, Role, UserId
from persistence.notifications import (
    Channel,
    Digest,
    Kind,
    NotificationStore,
    PushSubscription,
    RoomMode,
    Settings,
)
from persistence.notifications.sql import SqlNotificationStore
from workers.deliver_push import vapid_key

FEATURE = "notifications"


def notifications_store(services: Services) -> NotificationStore:
    return SqlNotificationStore(services.database)


def _line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_TEXT_CHARS else text[: MAX_TEXT_CHARS - 1] + "…"


async def notify(
    services: Services,
    *,
    key: str,
    kind: Kind,
    text_zh: str,
    text_en: str,
    link: str,
    user_ids: Sequence[UserId] = (),
    buildings: Sequence[BuildingId] = (),
    groups: Sequence[str] = (),
    roles: Sequence[Role] = (),
    everyone: bool = False,
    urgent: bool = False,
    actor_id: UserId | None = None,
) -> bool:
    """Notify an audience (the union of the users, buildings, groups, roles, or everyone) of
    something, in both languages, with a link to it. ``key`` names the event (``notice:42``):
    notifying with the same key again reaches nobody twice. False when the key was queued
    already."""
    request = NotifyRequest(
        key=key,
        kind=kind,
        text_zh=_line(text_zh),
        text_en=_line(text_en),
        link=link,
        audience=AudienceSpec(
            user_ids=list(user_ids),
            buildings=list(buildings),
            groups=list(groups),
            roles=[str(r) for r in roles],
            everyone=everyone,
        ),
        urgent=urgent,
        actor_id=actor_id,
    )
    return await services.work_queue.submit(
        NOTIFY_QUEUE, encode_request(request), idempotency_key=f"notify:{key}"
    )


async def mark_read(services: Services, user_id: UserId, ids: list[int] | None) -> int:
    """Mark some (or all) of the user's notifications read; every device of the user sees the
    new count at once."""
    store = notifications_store(services)
    changed = await store.mark_read(user_id, ids, now=services.clock.now_ms())
    if changed:
        counts = await store.unread_counts([user_id])
        await send_control(services.broker, InboxChanged(counts=counts))
    return changed


async def set_pref(
    services: Services, user_id: UserId, kind: Kind, channel: Channel, enabled: bool
) -> None:
    await notifications_store(services).set_pref(user_id, kind, channel, enabled)


async def save_settings(
    services: Services,
    user_id: UserId,
    *,
    quiet_start: int,
    quiet_end: int,
    email: str | None,
    digest: Digest,
) -> Settings:
    return await notifications_store(services).save_settings(
        user_id,
        quiet_start=quiet_start,
        quiet_end=quiet_end,
        email=email,
        digest=digest,
        unsubscribe_token=secrets.token_urlsafe(24),
    )


async def set_room(
    services: Services, user_id: UserId, channel: ChannelName, mode: RoomMode | None
) -> None:
    await notifications_store(services).set_room(user_id, channel, mode)


async def unsubscribe(services: Services, token: str) -> bool:
    """An unsubscribe link: no more e-mail (the address is forgotten). False for an unknown
    token."""
    store = notifications_store(services)
    user_id = await store.by_unsubscribe_token(token)
    if user_id is None:
        return False
    current = (await store.settings([user_id]))[user_id]
    await store.save_settings(
        user_id,
        quiet_start=current.quiet_start,
        quiet_end=current.quiet_end,
        email=None,
        digest=Digest.OFF,
        unsubscribe_token=token,
    )
    return True


# -- Web Push devices ---------------------------------------------------------------------------

#: A device's keys as ``PushSubscription.toJSON()`` gives them (RFC 8291 §3.2): the browser's
#: P-256 public key as an uncompressed point, and the 16-byte authentication secret.
P256DH_BYTES = 65
AUTH_BYTES = 16
#: Endpoints of the big push services are 150-400 characters; this leaves room.
MAX_ENDPOINT_CHARS = 2000
#: Devices a user keeps; subscribing one more forgets the one that worked least recently.
MAX_DEVICES = 10
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class InvalidSubscription(ValueError):
    """A push subscription Linli could not push to; ``field`` names the wrong part."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _key_bytes(text: str, field: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidSubscription(field, f"'{field}' is not base64url.") from None


def check_subscription(endpoint: str, p256dh: str, auth: str, *, allow_insecure: bool) -> None:
    """An https endpoint on a named host (plain http on this machine only with
    ``LINLI_PUSH_ALLOW_INSECURE``), a public key that is a point on P-256 and a 16-byte secret.
    Push services are named hosts: an IP address is refused, which keeps residents from having
    the delivery worker POST to addresses on the server's own network."""
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    insecure_ok = allow_insecure and parts.scheme == "http" and host in _LOOPBACK_HOSTS
    if len(endpoint) > MAX_ENDPOINT_CHARS or not (parts.scheme == "https" or insecure_ok):
        raise InvalidSubscription("endpoint", "The endpoint must be an https:// URL.")
    try:
        ipaddress.ip_address(host)
        is_address = True
    except ValueError:
        is_address = False
    if not host or parts.username or (is_address and not insecure_ok):
        raise InvalidSubscription("endpoint", "The endpoint must name a push service's host.")
    point = _key_bytes(p256dh, "p256dh")
    if len(point) != P256DH_BYTES or point[0] != 4:
        raise InvalidSubscription("p256dh", "'p256dh' must be an uncompressed P-256 point.")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise InvalidSubscription("p256dh", "'p256dh' is not a point on P-256.") from None
    if len(_key_bytes(auth, "auth")) != AUTH_BYTES:
        raise InvalidSubscription("auth", "'auth' must be 16 bytes.")


async def push_public_key(services: Services) -> str:
    """The ``applicationServerKey`` pages subscribe with (the VAPID key is made on first use)."""
    store = notifications_store(services)
    key = await vapid_key(services.settings, store, now=services.clock.now_ms())
    return key.public_key


async def add_push_subscription(
    services: Services, user_id: UserId, *, endpoint: str, p256dh: str, auth: str, label: str
) -> PushSubscription:
    """Keep a device's subscription (checked by ``check_subscription``; InvalidSubscription
    otherwise). The same endpoint again replaces its row, whoever had it."""
    p256dh, auth = p256dh.rstrip("="), auth.rstrip("=")
    check_subscription(endpoint, p256dh, auth, allow_insecure=services.settings.push_allow_insecure)
    store = notifications_store(services)
    added = await store.add_subscription(
        user_id, endpoint, p256dh, auth, label, now=services.clock.now_ms()
    )
    devices = (await store.subscriptions([user_id])).get(user_id, [])
    if len(devices) > MAX_DEVICES:
        stale = sorted(
            (d for d in devices if d.id != added.id),
            key=lambda d: (d.last_ok_at or d.created_at, d.id),
        )
        for device in stale[: len(devices) - MAX_DEVICES]:
            await store.remove_subscription(device.id, user_id=user_id)
    return added


async def push_subscriptions(services: Services, user_id: UserId) -> list[PushSubscription]:
    return (await notifications_store(services).subscriptions([user_id])).get(user_id, [])


async def remove_push_subscription(
    services: Services, user_id: UserId, subscription_id: int
) -> bool:
    """Forget one of the user's devices; False when it is not theirs (or not there)."""
    return await notifications_store(services).remove_subscription(subscription_id, user_id=user_id)

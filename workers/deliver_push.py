"""The Web Push sender: the delivery worker's ``Sender`` for ``Channel.PUSH``. One delivery is one
push to one device (target ``push:<subscription id>``): the payload is encrypted for that
device (RFC 8291, ``aes128gcm``), signed for the push service with this server's VAPID key
(RFC 8292) and POSTed to the subscription's endpoint (RFC 8030) — pywebpush's async path, on
one aiohttp session for every push of the process.

What the push service answers decides the outcome (``docs/design/0013-web-push.md``):

* 2xx (201 Created is the rule): sent, and the subscription is marked as working.
* 404 or 410: the subscription is gone (the browser unsubscribed, the app was removed): it is
  deleted, so nobody pushes to it again, and the delivery is ``gone``.
* 429 or 5xx, a timeout, a connection that fails: tried again later, when ``Retry-After`` says
  or after the worker's back-off.
* any other 4xx: it will never work as sent (a bad VAPID token, a payload too large): failed,
  with the status and the service's answer in the delivery's error.

A push resent after a crash (a delivery is sent at least once) carries the same ``Topic``, the
notification's id, so the push service replaces a copy it has not delivered yet, and the
service worker shows it with the same tag, so the phone replaces one it has shown.
"""

from __future__ import annotations

import base64
import email.utils
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from pywebpush import WebPusher, WebPushException

from linli.clock import Clock, system_clock
from linli.config import Settings
from linli.types import Millis
from persistence.notifications import (
    Channel,
    Delivery,
    Kind,
    Notification,
    NotificationStore,
    PushSubscription,
)
from workers.deliver import SEND_TIMEOUT, Outcome, Result

log = logging.getLogger(__name__)

#: The ``instance_secrets`` row that keeps a key Linli made itself.
VAPID_SECRET = "vapid_private_key"
#: How long a push service keeps a push for a device that is off (RFC 8030 §5.2): a day, after
#: which the inbox has it anyway; urgent notices (a water cut tomorrow) wait three days.
TTL_SECONDS = 86_400
URGENT_TTL_SECONDS = 3 * 86_400
#: A VAPID token's life. RFC 8292 §2 allows at most 24 hours; 12 is what pywebpush and most
#: senders use. One token per push service origin is signed and reused until an hour is left.
TOKEN_LIFETIME_S = 12 * 3600
TOKEN_RENEW_S = 3600
#: Well within the delivery worker's own timeout for a send (``SEND_TIMEOUT``).
REQUEST_TIMEOUT_S = SEND_TIMEOUT * 2 / 3
#: RFC 8291 §4: a push message is at most 4096 bytes; ``aes128gcm`` adds its 86-byte header, a
#: 16-byte tag and the padding delimiter. The rest, with a margin, is for the JSON.
MAX_PAYLOAD_BYTES = 3_900
#: The service's answer kept with a failed delivery.
ERROR_BODY_CHARS = 300
#: What the service worker shows beside the text (``web/static/icons/``, design 0013).
ICON = "/static/icons/icon-192.png"
LANGUAGES = ("zh-Hant", "en")
#: Each language's title for each kind (and ``"urgent"``), from the pages' catalogues
#: (``push.title.<kind>``); ``linli/features.py`` reads them.
Titles = Mapping[str, Mapping[str, str]]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class VapidKey:
    """This server's VAPID key pair (P-256): signs the token of every push; its public half is
    the ``applicationServerKey`` the pages subscribe with."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise ValueError(f"a VAPID key is on the P-256 curve, not {private_key.curve.name}")
        self._vapid = Vapid02(private_key=private_key)
        point = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        #: base64url of the uncompressed point: ``PushManager.subscribe``'s
        #: ``applicationServerKey`` and the ``k`` of every Authorization header.
        self.public_key = _b64url(point)

    @classmethod
    def parse(cls, text: str) -> VapidKey:
        """A PEM (its newlines kept or written as ``\\n``), or base64url of the raw 32-byte
        private value or of a DER key, as py_vapid writes them. ValueError when it is none."""
        text = text.strip()
        try:
            if "-----BEGIN" in text:
                pem = text.replace("\\n", "\n").encode()
                key = serialization.load_pem_private_key(pem, password=None)
            else:
                raw = _b64url_decode("".join(text.split()).replace("+", "-").replace("/", "_"))
                if len(raw) == 32:
                    key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
                else:
                    key = serialization.load_der_private_key(raw, password=None)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not a VAPID private key (PEM or base64url): {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("not a VAPID private key: expected an EC (P-256) key")
        return cls(key)

    @classmethod
    def parse_setting(cls, text: str) -> VapidKey:
        """``parse`` for ``LINLI_VAPID_PRIVATE_KEY``: the error names the setting."""
        try:
            return cls.parse(text)
        except ValueError as exc:
            raise ValueError(f"LINLI_VAPID_PRIVATE_KEY: {exc}") from None

    @staticmethod
    def generate() -> str:
        """A new private key, base64url of its raw 32 bytes (what ``parse`` reads back)."""
        key = ec.generate_private_key(ec.SECP256R1())
        return _b64url(key.private_numbers().private_value.to_bytes(32, "big"))

    def authorization(self, audience: str, subject: str, expires_s: int) -> str:
        """The ``Authorization: vapid t=<JWT>, k=<public key>`` value for one push service."""
        claims = {"aud": audience, "exp": expires_s, "sub": subject}
        header: str = self._vapid.sign(claims)["Authorization"]
        return header


async def vapid_key(settings: Settings, store: NotificationStore, *, now: Millis) -> VapidKey:
    """The configured key (``LINLI_VAPID_PRIVATE_KEY``), or the one Linli made on first use and
    keeps: ``secret`` stores the first process's candidate and hands every process that one."""
    if settings.vapid_private_key:
        return VapidKey.parse_setting(settings.vapid_private_key)
    return VapidKey.parse(await store.secret(VAPID_SECRET, VapidKey.generate(), now=now))


def push_target(subscription_id: int) -> str:
    return f"push:{subscription_id}"


def _subscription_id(target: str) -> int | None:
    kind, _, raw = target.partition(":")
    return int(raw) if kind == "push" and raw.isdigit() else None


def push_payload(notification: Notification, titles: Titles) -> bytes:
    """The JSON the service worker shows (``docs/protocol.md``, "The push payload"): titles and
    bodies in both languages, the link it opens, the icon; the id is its tag."""
    title_key = "urgent" if notification.urgent else str(notification.kind)
    bodies = {"zh-Hant": notification.text_zh, "en": notification.text_en}
    while True:
        payload = orjson.dumps(
            {
                "id": notification.id,
                "kind": str(notification.kind),
                "urgent": notification.urgent,
                "title": {
                    lang: titles[lang].get(title_key, titles[lang][str(Kind.NOTICE)])
                    for lang in LANGUAGES
                },
                "body": bodies,
                "link": notification.link,
                "icon": ICON,
            }
        )
        if len(payload) <= MAX_PAYLOAD_BYTES:
            return payload
        # Only a very long link could get here (the texts are at most 300 characters each):
        # shorten the bodies; the inbox has the whole text.
        bodies = {lang: text[: max(len(text) * 3 // 4, 1)] + "…" for lang, text in bodies.items()}
        if all(len(text) <= 2 for text in bodies.values()):
            return payload


def _retry_after_ms(value: str | None, now: Millis) -> int | None:
    """``Retry-After`` as milliseconds from now: seconds, or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value) * 1000
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(int(when.timestamp() * 1000) - now, 0)


@dataclass
class _Token:
    header: str
    expires_s: int


class PushSender:
    """Sends ``Channel.PUSH`` deliveries (``workers.deliver.Sender``)."""

    channel: Channel = Channel.PUSH

    def __init__(
        self,
        store: NotificationStore,
        settings: Settings,
        titles: Titles,
        *,
        clock: Clock = system_clock,
        key: VapidKey | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.titles = titles
        self.clock = clock
        if key is None and settings.vapid_private_key:
            # A configured key that does not parse stops the worker at start, not at a push.
            key = VapidKey.parse_setting(settings.vapid_private_key)
        self._key = key
        self._tokens: dict[str, _Token] = {}
        self._session: aiohttp.ClientSession | None = None

    async def key(self) -> VapidKey:
        if self._key is None:
            self._key = await vapid_key(self.settings, self.store, now=self.clock.now_ms())
        return self._key

    def _session_now(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running loop (aiohttp binds a session to its loop).
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
                # A push service's answer has no cookies for us; keep none between devices.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def _authorization(self, endpoint: str) -> str:
        """A VAPID token for the endpoint's push service (its origin is the audience)."""
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        now_s = self.clock.now_ms() // 1000
        token = self._tokens.get(audience)
        if token is None or token.expires_s - now_s < TOKEN_RENEW_S:
            expires = now_s + TOKEN_LIFETIME_S
            key = await self.key()
            header = key.authorization(audience, self.settings.vapid_subject, expires)
            token = _Token(header, expires)
            self._tokens[audience] = token
        return token.header

    async def send(self, delivery: Delivery, notification: Notification) -> Result:
        subscription_id = _subscription_id(delivery.target)
        if subscription_id is None:
            return Result(Outcome.FAILED, f"not a push target: {delivery.target!r}")
        subscription = await self.store.get_subscription(subscription_id)
        if subscription is None or subscription.user_id != notification.user_id:
            # Removed meanwhile (by its owner, or after a 410), or the browser subscribed
            # again for another user: not this notification's device any more.
            return Result(Outcome.GONE, "the subscription no longer exists")
        return await self._push(subscription, notification)

    async def _push(self, subscription: PushSubscription, notification: Notification) -> Result:
        headers = {
            "Authorization": await self._authorization(subscription.endpoint),
            # RFC 8030 §5.3 and §5.4: an urgent notice wakes a phone that saves its battery;
            # the topic lets the service replace a copy of this push it still holds.
            "Urgency": "high" if notification.urgent else "normal",
            "Topic": str(notification.id),
        }
        try:
            pusher = WebPusher(
                {
                    "endpoint": subscription.endpoint,
                    "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
                },
                aiohttp_session=self._session_now(),
            )
            response = await pusher.send_async(
                push_payload(notification, self.titles),
                headers,
                ttl=URGENT_TTL_SECONDS if notification.urgent else TTL_SECONDS,
                content_encoding="aes128gcm",
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
            )
        except (WebPushException, ValueError) as exc:  # keys that do not decode or not a point
            reason = exc.message if isinstance(exc, WebPushException) else str(exc)
            return Result(Outcome.FAILED, f"cannot encrypt for this subscription: {reason}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Result(Outcome.RETRY, f"push service unreachable: {type(exc).__name__} {exc}")
        assert isinstance(response, aiohttp.ClientResponse)
        return await self._outcome(subscription, response)

    async def _outcome(
        self, subscription: PushSubscription, response: aiohttp.ClientResponse
    ) -> Result:
        status = response.status
        now = self.clock.now_ms()
        if 200 <= status < 300:
            await self.store.subscription_ok(subscription.id, now=now)
            return Result(Outcome.SENT)
        body = (await response.text(errors="replace"))[:ERROR_BODY_CHARS]
        error = f"push service answered {status}: {body}".rstrip(": ")
        if status in (404, 410):
            await self.store.remove_subscription(subscription.id, user_id=None)
            log.info("push subscription %d is gone (%d): removed", subscription.id, status)
            return Result(Outcome.GONE, error)
        if status == 429 or status >= 500:
            retry_after = _retry_after_ms(response.headers.get("Retry-After"), now)
            return Result(Outcome.RETRY, error, retry_after_ms=retry_after)
        return Result(Outcome.FAILED, error)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

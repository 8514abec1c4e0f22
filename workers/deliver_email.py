"""The e-mail ``Sender`` of the delivery worker (``workers/deliver.py``): one message per
delivery, built by ``workers.mail.compose`` and sent by ``workers.mail.smtp``.

Two kinds of delivery come here, told apart by the target:

* ``email:<address>`` — one notification, sent at once (urgent notices; ``workers/notify.py``).
* ``digest:<since>-<until>:<address>`` — a digest (``workers/notify_timers.py``): the
  recipient's notifications made in ``[since, until)`` that are still unread when it goes out,
  of the kinds they get by e-mail. The delivery hangs on the newest of them; once the mail is
  accepted, every other one listed gets a delivery row of its own (state sent, same target), so
  each notification's reach counts the e-mail that told of it.

Before anything is sent, the address must still be the recipient's: after an unsubscribe (or a
change of address) a delivery still pending — a retry, a digest made a moment before — is
``GONE`` instead of mailing an address its owner took back.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage

from linli.clock import Clock, system_clock
from linli.types import Millis
from persistence.notifications import (
    Channel,
    Delivery,
    DeliveryState,
    Digest,
    Kind,
    NewDelivery,
    Notification,
    NotificationStore,
)
from workers.deliver import Outcome, Result
from workers.mail.compose import Composer
from workers.mail.smtp import MailTransport


@dataclass(frozen=True, slots=True)
class EmailTarget:
    address: str
    #: The digest's window, or None for a single notification.
    window: tuple[Millis, Millis] | None = None

    def __str__(self) -> str:
        if self.window is None:
            return f"email:{self.address}"
        return f"digest:{self.window[0]}-{self.window[1]}:{self.address}"

    @classmethod
    def parse(cls, target: str) -> EmailTarget | None:
        scheme, _, rest = target.partition(":")
        if scheme == "email" and rest:
            return cls(rest)
        if scheme == "digest":
            window, _, address = rest.partition(":")
            since, _, until = window.partition("-")
            if since.isdigit() and until.isdigit() and address:
                return cls(address, (int(since), int(until)))
        return None


def in_digest(n: Notification, prefs: dict[tuple[Kind, Channel], bool]) -> bool:
    """Whether a notification belongs in its recipient's digest: not urgent (those were mailed
    at once, or the recipient turned urgent e-mail off) and of a kind they get by e-mail."""
    if n.urgent or n.kind is Kind.URGENT:
        return False
    return prefs[(n.kind, Channel.EMAIL)]


class EmailSender:
    def __init__(
        self,
        store: NotificationStore,
        transport: MailTransport,
        composer: Composer,
        *,
        clock: Clock = system_clock,
    ) -> None:
        self.channel = Channel.EMAIL
        self.store = store
        self.transport = transport
        self.composer = composer
        self.clock = clock

    async def send(self, delivery: Delivery, notification: Notification) -> Result:
        target = EmailTarget.parse(delivery.target)
        if target is None:
            return Result(Outcome.FAILED, f"not an e-mail target: {delivery.target!r}")
        user_id = notification.user_id
        settings = (await self.store.settings([user_id]))[user_id]
        if settings.email != target.address:
            return Result(Outcome.GONE, "the address was removed or changed since")
        now = self.clock.now_ms()
        if target.window is None:
            message = self.composer.notification(
                notification,
                to=target.address,
                unsubscribe_token=settings.unsubscribe_token,
                delivery_id=delivery.id,
                now=now,
            )
            return await self._send(message, target)
        if settings.digest is Digest.OFF:
            return Result(Outcome.GONE, "digests were turned off since")
        since, until = target.window
        prefs = (await self.store.prefs([user_id]))[user_id]
        items = [
            n
            for n in await self.store.unread_since(user_id, since)
            if n.created_at < until and in_digest(n, prefs)
        ]
        if not items:
            return Result(Outcome.GONE, "every notification of the digest was read meanwhile")
        message = self.composer.digest(
            items,
            digest=settings.digest,
            to=target.address,
            unsubscribe_token=settings.unsubscribe_token,
            delivery_id=delivery.id,
            now=now,
        )
        result = await self._send(message, target)
        if result.outcome is Outcome.SENT:
            listed = [
                NewDelivery(n.id, Channel.EMAIL, str(target), now)
                for n in items
                if n.id != delivery.notification_id
            ]
            await self.store.add_deliveries(listed, now=now, state=DeliveryState.SENT)
        return result

    async def _send(self, message: EmailMessage, target: EmailTarget) -> Result:
        return await self.transport.send(
            message, sender=self.composer.envelope_from, recipient=target.address
        )

    async def close(self) -> None:
        await self.transport.close()

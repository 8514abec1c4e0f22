"""Sending a message over SMTP (``aiosmtplib``) and reading the server's answer as a delivery
outcome (``workers.deliver.Outcome``):

* accepted (250) → ``SENT``;
* the recipient refused for good (5xx to RCPT TO: no such mailbox, 550/551/553) or the message
  refused for good (5xx after DATA: too large, rejected as spam) → ``FAILED``, with the server's
  answer as the reason;
* anything temporary → ``RETRY``: a 4xx answer (451 greylisting, 452 mailbox full, 421 the
  server closing), a connection that fails, drops or times out, and also a 5xx to the login, the
  greeting or MAIL FROM — those say the server or Linli's settings are wrong, not this
  recipient, and every message would fail alike; retried, they go out once it is fixed (the
  delivery worker retries for about a day).

A few connections are kept open and reused (``CONNECTIONS``): a notice to a thousand addresses
is then a thousand transactions on a handful of connections instead of a thousand TLS
handshakes, and the server sees the few parallel connections it allows a client. A reused
connection the server has closed meanwhile (idle too long) is replaced once before the message
counts as failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from email.message import EmailMessage
from typing import Final, Protocol

import aiosmtplib

from workers.deliver import Outcome, Result

log = logging.getLogger(__name__)

#: Connections open at once. Submission servers limit parallel connections per client (often to
#: a few); four keep a nearby relay busy without tripping such a limit.
CONNECTIONS: Final = 4
#: Seconds any one SMTP step (connect, each command, the data) may take; below the delivery
#: worker's ``SEND_TIMEOUT`` (30 s) for a whole send, so a slow server is reported as such.
SMTP_TIMEOUT: Final = 20.0
#: Longest reason kept (the server's answer can be a paragraph).
MAX_REASON_CHARS: Final = 500


class MailTransport(Protocol):
    """Sends one message to one recipient."""

    async def send(self, message: EmailMessage, *, sender: str, recipient: str) -> Result: ...

    async def close(self) -> None: ...


def _reason(code: int, text: str) -> str:
    return f"{code} {' '.join(text.split())}"[:MAX_REASON_CHARS]


def outcome_of(exc: Exception) -> Result:
    """What a failed send means for the delivery (see the module docstring)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        # One recipient per message, so one refusal.
        refused = exc.recipients[0] if exc.recipients else None
        if refused is None:
            return Result(Outcome.RETRY, "the server refused the recipient without a code")
        permanent = 500 <= refused.code < 600
        reason = _reason(refused.code, refused.message)
        return Result(Outcome.FAILED if permanent else Outcome.RETRY, reason)
    if isinstance(exc, aiosmtplib.SMTPDataError):
        outcome = Outcome.FAILED if 500 <= exc.code < 600 else Outcome.RETRY
        return Result(outcome, _reason(exc.code, exc.message))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        # The greeting, the login, MAIL FROM: the server's or our set-up, never this recipient's.
        return Result(Outcome.RETRY, _reason(exc.code, exc.message))
    reason = f"{type(exc).__name__}: {exc}"[:MAX_REASON_CHARS]
    if isinstance(exc, aiosmtplib.SMTPException | OSError | TimeoutError):
        return Result(Outcome.RETRY, reason)
    # The message itself cannot be sent (an address aiosmtplib cannot encode, say): it never
    # will be.
    return Result(Outcome.FAILED, reason)


class SmtpTransport:
    """``MailTransport`` over ``aiosmtplib``, with up to ``connections`` kept open."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str = "",
        password: str = "",
        tls: str = "starttls",
        timeout: float = SMTP_TIMEOUT,
        connections: int = CONNECTIONS,
    ) -> None:
        if tls not in ("starttls", "tls", "none"):
            raise ValueError(f"tls must be starttls, tls or none, got {tls!r}")
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.tls = tls
        self.timeout = timeout
        self._slots = asyncio.Semaphore(connections)
        self._idle: list[aiosmtplib.SMTP] = []
        #: After ``close`` (a stopping worker that still drains what is due) a connection is
        #: closed after its message instead of kept.
        self._closed = False
        #: Messages the server accepted, since the transport was made.
        self.accepted = 0

    def _client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username or None,
            password=self.password or None,
            use_tls=self.tls == "tls",
            # True, not None ("if offered"): with "starttls" a server that does not offer it is
            # an error, not a reason to send the password in clear.
            start_tls=self.tls == "starttls",
            timeout=self.timeout,
        )

    async def send(self, message: EmailMessage, *, sender: str, recipient: str) -> Result:
        async with self._slots:
            client = self._idle.pop() if self._idle else None
            if client is not None and not client.is_connected:
                client = None
            try:
                return await self._send_on(client, message, sender, recipient)
            except aiosmtplib.SMTPServerDisconnected:
                if client is None:
                    return Result(Outcome.RETRY, "the server closed the connection")
                # The kept connection had been closed by the server (idle): once more, fresh.
                return await self._send_on(None, message, sender, recipient)

    async def _send_on(
        self, client: aiosmtplib.SMTP | None, message: EmailMessage, sender: str, recipient: str
    ) -> Result:
        """Send on ``client`` (a new connection when None). Raises ``SMTPServerDisconnected``
        only for a reused connection, for the caller to try a fresh one."""
        reused = client is not None
        if client is None:
            client = self._client()
        try:
            if not reused:
                await client.connect()
            await client.send_message(message, sender=sender, recipients=[recipient])
        except aiosmtplib.SMTPServerDisconnected:
            client.close()
            if reused:
                raise
            return Result(Outcome.RETRY, "the server closed the connection")
        except Exception as exc:
            # A failed transaction leaves the session in a state not worth reasoning about:
            # drop the connection, the next message opens another.
            client.close()
            return outcome_of(exc)
        except BaseException:  # cancelled mid-send (the worker's timeout, a shutdown)
            client.close()
            raise
        self.accepted += 1
        if self._closed:
            await self._quit(client)
        else:
            self._idle.append(client)
        return Result(Outcome.SENT)

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for client in idle:
            await self._quit(client)

    @staticmethod
    async def _quit(client: aiosmtplib.SMTP) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.quit(), 5)
        client.close()

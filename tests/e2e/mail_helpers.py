"""A real SMTP server for the e-mail tests: ``aiosmtpd``'s ``Controller`` on a free 127.0.0.1
port (its own thread and event loop), keeping every message it accepts and answering RCPT TO
as a test scripts it — ``451`` a few times, ``550`` for good — the way a mail server answers
greylisting or an unknown mailbox."""

from __future__ import annotations

import contextlib
import email
import email.policy
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.conftest import free_port


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage

    def part(self, subtype: str) -> str:
        body = self.message.get_body((subtype,))
        assert body is not None, f"no text/{subtype} part"
        content: str = body.get_content()
        return content


@dataclass
class MailServer:
    host: str
    port: int
    received: list[Received] = field(default_factory=list)
    #: address -> answers to its next RCPT TOs, first first (then 250).
    scripted: dict[str, list[str]] = field(default_factory=dict)
    #: address -> the answer to every RCPT TO for it.
    refused: dict[str, str] = field(default_factory=dict)
    rcpt_answers: list[tuple[str, str]] = field(default_factory=list)
    #: EHLOs seen: one per connection a client opened.
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    controller: Controller | None = None

    def restart(self) -> None:
        """Stop and start again on the same port: every open connection is dropped, as a
        server does to idle ones."""
        self.stop()
        self.start()

    def start(self) -> None:
        # A stopped Controller's event loop is closed: each start gets a new one.
        self.controller = Controller(self, hostname=self.host, port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if address in r.recipients]

    def all(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    # -- aiosmtpd's handler hooks (called on the controller's thread) ---------------------------
    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname  # the handler's job once it has this hook
        with self.lock:
            self.connections += 1
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        with self.lock:
            queue = self.scripted.get(address)
            answer = queue.pop(0) if queue else self.refused.get(address, "250 OK")
            self.rcpt_answers.append((address, answer))
        if answer.startswith("250"):
            envelope.rcpt_tos.append(address)
        return answer

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


@contextlib.contextmanager
def mail_server() -> Iterator[MailServer]:
    server = MailServer("127.0.0.1", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()

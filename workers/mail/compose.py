"""The e-mail a notification or a digest becomes: ``multipart/alternative`` with a plain-text
and an HTML part, each in 繁體中文 first and then English (a reader's language is not known
outside a request, and a neighbourhood reads both), a link to the thing, and an unsubscribe link
in every mail (RFC 8058 headers as well).

Sans-I/O: notifications and settings in, an ``email.message.EmailMessage`` out. The words are
the ``mail.*`` entries of the pages' catalogues (``web/locales/*.json``), read as data: the
workers may not import ``web/``, and one catalogue keeps every user-facing string where the
translators look. The templates are ``workers/mail/templates/``; HTML is autoescaped, so a
notification's text (which a resident may have written) is never markup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from linli.catalogue import messages_of
from linli.types import Millis
from persistence.notifications import Digest, Notification

#: 繁體中文 first: the order of every mail's parts, as of the pages' catalogues.
LANGUAGES: Final = ("zh-Hant", "en")
#: Most notifications a digest lists; the rest are counted ("12 more in Linli"). A digest is a
#: reminder to look, not a copy of the inbox.
MAX_DIGEST_ITEMS: Final = 50
TEMPLATES: Final = Path(__file__).resolve().parent / "templates"

Translate = Callable[..., str]


def catalogue(locale: str) -> dict[str, str]:
    """The pages' catalogue of ``locale`` (``linli/catalogue.py``), 繁體中文 filling any gap as
    on the pages."""
    return messages_of(locale)


def translator(locale: str) -> Translate:
    messages = catalogue(locale)

    def t(key: str, **values: Any) -> str:
        text = messages[key]  # a missing key is a bug the template tests catch
        return text.format(**values) if values else text

    return t


def _environment(html: bool) -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=html,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


_TEXT = _environment(html=False)
_HTML = _environment(html=True)


@dataclass(frozen=True, slots=True)
class Item:
    """One notification as a mail shows it."""

    text: dict[str, str]
    url: str
    when: str
    urgent: bool


@dataclass(frozen=True, slots=True)
class Composer:
    mail_from: str
    public_url: str
    #: The zone of the mails' dates, or how to ask for it at each mail (``linli.live.zone_of``:
    #: an admin's change applies without a restart).
    zone_source: ZoneInfo | Callable[[], ZoneInfo]

    @property
    def zone(self) -> ZoneInfo:
        source = self.zone_source
        return source() if callable(source) else source

    @property
    def envelope_from(self) -> str:
        """The bare address of ``mail_from`` (SMTP's MAIL FROM)."""
        return parseaddr(self.mail_from)[1]

    def absolute(self, link: str) -> str:
        """A notification's link (a path of the site) as an address to follow from a mail;
        anything but a path (a link elsewhere, ``javascript:``) becomes the site's front page."""
        base = self.public_url.rstrip("/")
        if link.startswith("/") and not link.startswith("//"):
            return base + link
        return base + "/"

    def unsubscribe_url(self, token: str) -> str:
        return f"{self.public_url.rstrip('/')}/unsubscribe/{quote(token, safe='')}"

    def message_id(self, delivery_id: int) -> str:
        """Stable for a delivery: a retry after a lost answer sends the same Message-ID, which
        lets mail systems and readers drop the second copy."""
        domain = self.envelope_from.rpartition("@")[2] or "localhost"
        return f"<linli.delivery.{delivery_id}@{domain}>"

    def item(self, n: Notification) -> Item:
        when = datetime.fromtimestamp(n.created_at / 1000, self.zone).strftime("%Y-%m-%d %H:%M")
        return Item(
            text={"zh-Hant": n.text_zh, "en": n.text_en},
            url=self.absolute(n.link),
            when=when,
            urgent=n.urgent,
        )

    # -- the two kinds of mail -------------------------------------------------------------------
    def notification(
        self,
        n: Notification,
        *,
        to: str,
        unsubscribe_token: str | None,
        delivery_id: int,
        now: Millis,
    ) -> EmailMessage:
        """One notification, sent at once (urgent notices)."""
        key = "mail.subject_urgent" if n.urgent else "mail.subject"
        text = {"zh-Hant": _one_line(n.text_zh), "en": _one_line(n.text_en)}
        subject = _both(lambda lang, t: t(key, text=text[lang]))
        return self._message(
            "notification",
            subject=subject,
            to=to,
            unsubscribe_token=unsubscribe_token,
            delivery_id=delivery_id,
            now=now,
            item=self.item(n),
        )

    def digest(
        self,
        items: Sequence[Notification],
        *,
        digest: Digest,
        to: str,
        unsubscribe_token: str | None,
        delivery_id: int,
        now: Millis,
    ) -> EmailMessage:
        """The unread notifications since the last digest, oldest first; at most
        ``MAX_DIGEST_ITEMS`` listed, the rest counted."""
        count = len(items)
        period = "weekly" if digest is Digest.WEEKLY else "daily"
        subject = _both(lambda lang, t: t(f"mail.digest_subject_{period}", count=count))
        return self._message(
            "digest",
            subject=subject,
            to=to,
            unsubscribe_token=unsubscribe_token,
            delivery_id=delivery_id,
            now=now,
            items=[self.item(n) for n in items[:MAX_DIGEST_ITEMS]],
            count=count,
            more=max(count - MAX_DIGEST_ITEMS, 0),
            period=period,
            inbox_url=self.absolute("/"),
        )

    def _message(
        self,
        template: str,
        *,
        subject: str,
        to: str,
        unsubscribe_token: str | None,
        delivery_id: int,
        now: Millis,
        **context: Any,
    ) -> EmailMessage:
        unsubscribe = self.unsubscribe_url(unsubscribe_token) if unsubscribe_token else None
        context |= {
            "languages": [(lang, translator(lang)) for lang in LANGUAGES],
            "unsubscribe_url": unsubscribe,
        }
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = self.mail_from
        message["To"] = Address(addr_spec=to)
        message["Date"] = format_datetime(datetime.fromtimestamp(now / 1000, self.zone))
        message["Message-ID"] = self.message_id(delivery_id)
        message["Content-Language"] = ", ".join(LANGUAGES)
        # RFC 3834: a machine wrote this; auto-responders (out of office) should not answer.
        message["Auto-Submitted"] = "auto-generated"
        if unsubscribe is not None:
            # RFC 2369 and RFC 8058: mail programs show an "unsubscribe" button that POSTs
            # "List-Unsubscribe=One-Click" to the address, with no page and no login.
            message["List-Unsubscribe"] = f"<{unsubscribe}>"
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(_TEXT.get_template(f"{template}.txt").render(**context))
        message.add_alternative(
            _HTML.get_template(f"{template}.html").render(**context), subtype="html"
        )
        return message


def _one_line(text: str) -> str:
    """A header carries no line breaks (``EmailMessage`` refuses them)."""
    return " ".join(text.split())


def _both(make: Callable[[str, Translate], str]) -> str:
    """A line in both languages, 繁體中文 first; once when the two are the same."""
    parts: list[str] = []
    for lang in LANGUAGES:
        line = make(lang, translator(lang))
        if line not in parts:
            parts.append(line)
    return " / ".join(parts)

"""E-mail without a server: the messages (both languages, escaping, links, headers), the SMTP
answers as outcomes, delivery targets, the digest clock, and the mail settings."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

import aiosmtplib
import pytest

from linli.config import load_settings
from persistence.notifications import DEFAULTS, Channel, Digest, Kind, Notification
from web.pages import WEB_DIR
from workers.deliver import Outcome, Result
from workers.deliver_email import EmailTarget, in_digest
from workers.mail.compose import LANGUAGES, MAX_DIGEST_ITEMS, Composer, catalogue
from workers.mail.smtp import outcome_of
from workers.notify_timers import NotificationTimers, next_local_time

TAIPEI = ZoneInfo("Asia/Taipei")
AT = int(datetime(2024, 1, 8, 9, 30, tzinfo=TAIPEI).timestamp() * 1000)
COMPOSER = Composer("鄰里 Linli <noreply@linli.example>", "https://linli.example/", TAIPEI)


def _note(n: int = 1, *, urgent: bool = False, link: str = "/notices/1") -> Notification:
    return Notification(
        id=n,
        user_id=5,
        source_key=f"notice:{n}",
        kind=Kind.NOTICE,
        urgent=urgent,
        text_zh=f"第{n}則 <script>alert(1)</script> & 通知",
        text_en=f"Number {n} <script>alert(1)</script> & notice",
        link=link,
        created_at=AT,
        read_at=None,
    )


def test_a_notification_mail_has_both_languages_escaped_and_the_headers() -> None:
    message = COMPOSER.notification(
        _note(urgent=True), to="ann@example.test", unsubscribe_token="t0k-_", delivery_id=42, now=AT
    )
    assert message["Subject"] == (
        "【緊急】第1則 <script>alert(1)</script> & 通知 / "
        "[Urgent] Number 1 <script>alert(1)</script> & notice"
    )
    assert message["To"] == "ann@example.test"
    assert message["Message-ID"] == "<linli.delivery.42@linli.example>"
    assert message["Date"] == "Mon, 08 Jan 2024 09:30:00 +0800"
    assert message["List-Unsubscribe"] == "<https://linli.example/unsubscribe/t0k-_>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    plain = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert plain.index("緊急通知") < plain.index("第1則") < plain.index("Urgent notice")
    assert "<script>alert(1)</script>" in plain  # plain text is not HTML: shown as written
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; 通知" in html
    assert html.index('lang="zh-Hant"') < html.index('lang="en"')
    for part in (plain, html):
        assert "https://linli.example/notices/1" in part
        assert "https://linli.example/unsubscribe/t0k-_" in part
        assert "2024-01-08 09:30" in part


def test_a_non_urgent_subject_and_identical_texts_once() -> None:
    same = replace(_note(), text_zh="Linli", text_en="Linli")
    message = COMPOSER.notification(
        same, to="a@b.example", unsubscribe_token=None, delivery_id=1, now=AT
    )
    assert message["Subject"] == "鄰里：Linli / Linli: Linli"
    assert message["List-Unsubscribe"] is None  # no token, no header (and no link)


@pytest.mark.parametrize(
    ("link", "url"),
    [
        ("/polls/3", "https://linli.example/polls/3"),
        ("//evil.example/x", "https://linli.example/"),
        ("javascript:alert(1)", "https://linli.example/"),
        ("https://evil.example/", "https://linli.example/"),
    ],
)
def test_links_are_paths_of_the_site(link: str, url: str) -> None:
    assert COMPOSER.absolute(link) == url


def test_a_long_digest_lists_the_first_and_counts_the_rest() -> None:
    notes = [_note(n) for n in range(1, MAX_DIGEST_ITEMS + 4)]
    message = COMPOSER.digest(
        notes, digest=Digest.DAILY, to="a@b.example", unsubscribe_token="x", delivery_id=3, now=AT
    )
    assert message["Subject"] == "鄰里每日摘要：53 則未讀通知 / Linli daily digest: 53 unread"
    plain = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"第{MAX_DIGEST_ITEMS}則" in plain and f"第{MAX_DIGEST_ITEMS + 1}則" not in plain
    assert "另有 3 則，請在鄰里查看。" in plain and "3 more in Linli." in plain


def test_every_mail_key_is_in_both_catalogues() -> None:
    keys = {
        locale: {k for k in json.loads((WEB_DIR / "locales" / f"{locale}.json").read_text())}
        for locale in LANGUAGES
    }
    assert {k for k in keys["en"] if k.startswith("mail.")} == {
        k for k in keys["zh-Hant"] if k.startswith("mail.")
    }
    assert {k for k in catalogue("en") if k.startswith("mail.")} <= keys["en"]
    for digest in (Digest.DAILY, Digest.WEEKLY):  # keys built in code, not seen by the scan
        COMPOSER.digest(
            [_note()], digest=digest, to="a@b.example", unsubscribe_token="x", delivery_id=1, now=AT
        )


def test_smtp_answers_as_outcomes() -> None:
    refused = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(550, "5.1.1 No  such\nuser", "a@b.example")]
    )
    assert outcome_of(refused) == Result(Outcome.FAILED, "550 5.1.1 No such user")
    later = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(451, "4.7.1 Greylisted", "a@b.example")]
    )
    assert outcome_of(later) == Result(Outcome.RETRY, "451 4.7.1 Greylisted")
    assert outcome_of(aiosmtplib.SMTPDataError(552, "Too big")).outcome is Outcome.FAILED
    assert outcome_of(aiosmtplib.SMTPDataError(451, "Local error")).outcome is Outcome.RETRY
    # Our login or sender refused: every message would fail alike; retried until it is fixed.
    assert outcome_of(aiosmtplib.SMTPAuthenticationError(535, "Bad")).outcome is Outcome.RETRY
    sender = aiosmtplib.SMTPSenderRefused(553, "Not yours", "noreply@linli.example")
    assert outcome_of(sender).outcome is Outcome.RETRY
    assert outcome_of(ConnectionRefusedError(111, "refused")).outcome is Outcome.RETRY
    assert outcome_of(aiosmtplib.SMTPReadTimeoutError("slow")).outcome is Outcome.RETRY
    assert outcome_of(ValueError("bad address")).outcome is Outcome.FAILED


@pytest.mark.parametrize(
    "target",
    ["email:ann@example.test", "digest:1700000000000-1700086400000:ann@example.test"],
)
def test_targets_round_trip(target: str) -> None:
    parsed = EmailTarget.parse(target)
    assert parsed is not None and str(parsed) == target
    assert parsed.address == "ann@example.test"


@pytest.mark.parametrize("target", ["push:3", "email:", "digest:1-x:a@b", "digest:1-2:"])
def test_other_targets_are_not_email(target: str) -> None:
    assert EmailTarget.parse(target) is None


def test_what_a_digest_takes() -> None:
    prefs = dict(DEFAULTS)
    assert in_digest(_note(), prefs)  # notices go into the digest by default
    prefs[(Kind.NOTICE, Channel.EMAIL)] = False
    assert not in_digest(_note(), prefs)
    prefs[(Kind.NOTICE, Channel.EMAIL)] = True
    assert not in_digest(_note(urgent=True), prefs)  # mailed at once instead


def test_next_local_time() -> None:
    eight = int(datetime(2024, 1, 8, 8, 0, tzinfo=TAIPEI).timestamp() * 1000)
    assert next_local_time(eight - 1, TAIPEI, 8, 0) == eight
    assert next_local_time(eight, TAIPEI, 8, 0) == eight + 86_400_000  # strictly after
    london = ZoneInfo("Europe/London")
    # 31 March 2024: the clocks go from 01:00 to 02:00, so that day is 23 hours long.
    before = int(datetime(2024, 3, 30, 9, 0, tzinfo=london).timestamp() * 1000)
    due = next_local_time(before, london, 8, 0)
    assert datetime.fromtimestamp(due / 1000, london).isoformat() == "2024-03-31T08:00:00+01:00"
    assert due - before == 22 * 3_600_000


def test_mail_settings() -> None:
    settings = load_settings({})
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_tls) == ("", 587, "starttls")
    assert not settings.email_enabled and settings.notification_days == 180
    assert settings.public_url == "http://127.0.0.1:8000"
    configured = load_settings(
        {
            "LINLI_SMTP_HOST": "smtp.example",
            "LINLI_SMTP_PASSWORD": "secret",
            "LINLI_SMTP_TLS": "tls",
        }
    )
    assert configured.email_enabled and "secret" not in repr(configured)
    for env, name in (
        ({"LINLI_SMTP_TLS": "ssl"}, "LINLI_SMTP_TLS"),
        ({"LINLI_SMTP_PORT": "0"}, "LINLI_SMTP_PORT"),
        ({"LINLI_PUBLIC_URL": "linli.example"}, "LINLI_PUBLIC_URL"),
        ({"LINLI_MAIL_FROM": "nobody"}, "LINLI_MAIL_FROM"),
        ({"LINLI_NOTIFICATION_DAYS": "0"}, "LINLI_NOTIFICATION_DAYS"),
    ):
        with pytest.raises(ValueError, match=name):
            load_settings(env)


def test_mail_dates_and_digest_times_follow_the_zone_at_each_use() -> None:
    """A worker made before the admin changes the time zone writes the new zone's dates and
    plans the next digest at the new zone's 08:00 (issue 21: they were read at start)."""
    zone = [TAIPEI]
    composer = Composer("Linli <noreply@linli.example>", "https://linli.example/", lambda: zone[0])
    timers: Any = NotificationTimers(
        cast(Any, None), cast(Any, None), zone=lambda: zone[0], email=False, retention_days=30
    )
    assert timers.next_digest(AT) == int(datetime(2024, 1, 9, 8, tzinfo=TAIPEI).timestamp() * 1000)
    zone[0] = ZoneInfo("America/New_York")
    message = composer.notification(
        _note(), to="ann@example.test", unsubscribe_token="t", delivery_id=1, now=AT
    )
    assert message["Date"] == "Sun, 07 Jan 2024 20:30:00 -0500"
    assert "2024-01-07 20:30" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    eight = datetime(2024, 1, 8, 8, tzinfo=zone[0])
    assert timers.next_digest(AT) == int(eight.timestamp() * 1000)
    assert timers.digests_due(int(eight.timestamp() * 1000)) == [Digest.DAILY, Digest.WEEKLY]

"""Web Push's pure parts: the VAPID key in each form an operator may give it, the subscription
checks, Retry-After, the payload's size bound, and the settings."""

from __future__ import annotations

import base64
import email.utils
import json
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from linli.config import load_settings
from persistence.notifications import Kind, Notification
from web.notifications.actions import InvalidSubscription, check_subscription
from web.notifications.push_api import push_titles
from workers.deliver_push import (
    MAX_PAYLOAD_BYTES,
    VapidKey,
    _retry_after_ms,
    push_payload,
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _point() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return b64url(
        key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )


def test_the_vapid_key_reads_every_form_and_means_the_same_key() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    raw = b64url(key.private_numbers().private_value.to_bytes(32, "big"))
    forms = [pem, pem.replace("\n", "\\n"), raw, b64url(der), base64.b64encode(der).decode()]
    public = {VapidKey.parse(form).public_key for form in forms}
    assert len(public) == 1
    [only] = public
    assert len(base64.urlsafe_b64decode(only + "=")) == 65  # an uncompressed point

    made = VapidKey.generate()
    assert VapidKey.parse(made).public_key != only
    with pytest.raises(ValueError, match="LINLI_VAPID_PRIVATE_KEY: not a VAPID private key"):
        VapidKey.parse_setting("not a key")
    other_curve = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError, match="P-256"):
        VapidKey.parse(other_curve.decode())


def test_a_vapid_token_names_the_audience_and_subject() -> None:
    key = VapidKey.parse(VapidKey.generate())
    header = key.authorization("https://push.example.net", "mailto:ops@example.org", 1_900_000_000)
    scheme, params = header.split(" ", 1)
    parts = dict(p.split("=", 1) for p in params.split(","))
    assert scheme == "vapid" and parts["k"] == key.public_key
    claims_b64 = parts["t"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(claims_b64 + "=" * (-len(claims_b64) % 4)))
    assert claims == {
        "aud": "https://push.example.net",
        "exp": 1_900_000_000,
        "sub": "mailto:ops@example.org",
    }


@pytest.mark.parametrize(
    ("endpoint", "insecure", "field"),
    [
        ("https://fcm.googleapis.com/fcm/send/abc", False, None),
        ("https://web.push.apple.com/QGx", False, None),
        ("http://127.0.0.1:9/push/x", False, "endpoint"),  # off by default
        ("http://127.0.0.1:9/push/x", True, None),
        ("http://localhost:9/push/x", True, None),
        ("http://push.example.com/x", True, "endpoint"),  # plain http elsewhere: never
        ("https://192.168.1.1/x", False, "endpoint"),  # an address, not a push service
        ("https://[::1]/x", False, "endpoint"),
        ("https://user@push.example.com/x", False, "endpoint"),
        ("https:///nohost", False, "endpoint"),
        ("https://push.example.com/" + "x" * 2000, False, "endpoint"),
    ],
)
def test_endpoints(endpoint: str, insecure: bool, field: str | None) -> None:
    auth = b64url(os.urandom(16))
    if field is None:
        check_subscription(endpoint, _point(), auth, allow_insecure=insecure)
        return
    with pytest.raises(InvalidSubscription) as refused:
        check_subscription(endpoint, _point(), auth, allow_insecure=insecure)
    assert refused.value.field == field


def test_keys_are_checked_by_decoding() -> None:
    endpoint = "https://push.example.com/x"
    good_auth = b64url(os.urandom(16))
    for p256dh, auth, field in (
        (_point()[:-2], good_auth, "p256dh"),  # 64 bytes
        (b64url(b"\x02" + os.urandom(64)), good_auth, "p256dh"),  # not uncompressed
        (b64url(b"\x04" + b"\x01" * 64), good_auth, "p256dh"),  # not on the curve
        ("@@@@", good_auth, "p256dh"),
        (_point(), b64url(os.urandom(15)), "auth"),
        (_point(), b64url(os.urandom(32)), "auth"),
    ):
        with pytest.raises(InvalidSubscription) as refused:
            check_subscription(endpoint, p256dh, auth, allow_insecure=False)
        assert refused.value.field == field, (p256dh, auth)


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = 1_700_000_000_000
    assert _retry_after_ms("120", now) == 120_000
    later = email.utils.formatdate((now + 90_000) / 1000, usegmt=True)
    assert _retry_after_ms(later, now) == 90_000
    earlier = email.utils.formatdate((now - 90_000) / 1000, usegmt=True)
    assert _retry_after_ms(earlier, now) == 0
    assert _retry_after_ms(None, now) is None
    assert _retry_after_ms("soon", now) is None


def _notification(text_zh: str, text_en: str, link: str, *, urgent: bool = False) -> Notification:
    return Notification(
        id=7,
        user_id=1,
        source_key="notice:7",
        kind=Kind.EVENT,
        urgent=urgent,
        text_zh=text_zh,
        text_en=text_en,
        link=link,
        created_at=0,
        read_at=None,
    )


def test_the_payload_fits_a_push_message() -> None:
    titles = push_titles()
    short = json.loads(
        push_payload(_notification("週六燒烤", "BBQ on Saturday", "/events/3"), titles)
    )
    assert short == {
        "id": 7,
        "kind": "event",
        "urgent": False,
        "title": {"zh-Hant": "鄰里 · 活動", "en": "Linli · Event"},
        "body": {"zh-Hant": "週六燒烤", "en": "BBQ on Saturday"},
        "link": "/events/3",
        "icon": "/static/icons/icon-192.png",
    }
    urgent = json.loads(push_payload(_notification("停水", "Water off", "/", urgent=True), titles))
    assert urgent["title"] == {"zh-Hant": "鄰里 · 緊急通告", "en": "Linli · Urgent notice"}
    # The longest texts (300 characters, three bytes each in UTF-8) with a long link.
    long = push_payload(_notification("停" * 300, "W" * 300, "/" + "x" * 3000), titles)
    assert len(long) <= MAX_PAYLOAD_BYTES
    body = json.loads(long)["body"]
    assert body["zh-Hant"].startswith("停") and body["zh-Hant"].endswith("…")
    full = push_payload(_notification("停" * 300, "W" * 300, "/events/3"), titles)
    assert json.loads(full)["body"] == {"zh-Hant": "停" * 300, "en": "W" * 300}


def test_push_settings() -> None:
    settings = load_settings({})
    assert settings.vapid_private_key == "" and settings.vapid_subject == "mailto:admin@localhost"
    assert settings.push_allow_insecure is False
    key = VapidKey.generate()
    configured = load_settings(
        {
            "LINLI_VAPID_PRIVATE_KEY": key,
            "LINLI_VAPID_SUBJECT": "https://linli.example.org",
            "LINLI_PUSH_ALLOW_INSECURE": "true",
        }
    )
    assert configured.vapid_private_key == key and configured.push_allow_insecure
    assert key not in repr(configured)  # settings get logged
    for bad in ("admin@example.org", "http://example.org", "mailto:"):
        with pytest.raises(ValueError, match="LINLI_VAPID_SUBJECT"):
            load_settings({"LINLI_VAPID_SUBJECT": bad})

"""Login and invite throttling that an attacker cannot turn into a lock-out (issue 24,
docs/design/0024-reliability-round-2.md).

* **Reserved before the check.** Each attempt is recorded as a failure *before* the slow
  password check (``Store.reserve_login_attempt``, atomic across processes) and given back when
  it succeeds, so parallel guesses cannot all pass one count.
* **Delays, not locks.** A key's first ``free`` failures in the window cost nothing; after that
  each attempt must wait ``BASE_DELAY_MS`` x 2^(failures - free) after the latest failure, at most
  ``MAX_DELAY_MS``. The right password is accepted whenever the wait is over: an attacker slows
  an account or an address down, and cannot shut it out.
* **Known devices.** A browser that logged in to an account before carries a signed device
  cookie for it (OWASP's "device cookies"); its attempts for that account are counted against
  the device alone, so a guessing attack on the account or from the same Wi-Fi does not delay
  its owner.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from linli.config import Settings
from linli.metrics import metrics
from linli.types import Millis
from persistence.store import Store

#: The first delay after the free failures, doubling with every further failure in the window.
BASE_DELAY_MS = 1_000
#: The longest delay: a resident who mistyped many times waits a minute at most; a guesser gets
#: about one try a minute (some 20 an hour per account, per address and per device).
MAX_DELAY_MS = 60_000
#: Free failures per address, as a multiple of ``login_max_failures`` (per account): residents
#: behind one building Wi-Fi share an address.
ADDRESS_FACTOR = 4

DEVICE_COOKIE = "linli_device"
#: A device cookie lasts this long (OWASP suggests long-lived; a year of weekly logins).
DEVICE_DAYS = 365
_SECRET_NAME = "device-cookie-key"

#: Key kinds, the first part of a throttle key; ``/metrics`` labels refusals with them.
ACCOUNT, ADDRESS, DEVICE, INVITE = "user", "ip", "device", "invite-ip"
#: Password reset codes per username (``web/admin/api.py``; the address is counted as ``ip``).
RESET = "reset"
KINDS = (ACCOUNT, ADDRESS, DEVICE, INVITE, RESET)


def free_failures(settings: Settings, key: str) -> int:
    kind = key.split(":", 1)[0]
    if kind == ADDRESS:
        return ADDRESS_FACTOR * settings.login_max_failures
    return settings.login_max_failures


def delay_ms(settings: Settings, key: str, failures: int) -> int:
    """How long after its latest failure a key's next attempt must wait."""
    over = failures - free_failures(settings, key)
    if over < 0:
        return 0
    return min(BASE_DELAY_MS << min(over, 20), MAX_DELAY_MS)


async def reserve(store: Store, settings: Settings, keys: list[str], now: Millis) -> int:
    """Reserve an attempt for ``keys``: 0, or the milliseconds to wait (nothing recorded)."""
    wait, slowest = await store.reserve_login_attempt(
        keys,
        now=now,
        window_ms=settings.login_window_seconds * 1000,
        wait_ms=lambda key, n: delay_ms(settings, key, n),
    )
    if wait:
        metrics().login_delayed.labels(kind=slowest.split(":", 1)[0]).inc()
    return wait


def checked(outcome: str) -> None:
    """Count a checked attempt: ``ok``, ``wrong``, ``invite_ok`` or ``invite_wrong``."""
    m = metrics()
    m.login_checks.labels(outcome=outcome).inc()
    if outcome == "wrong":
        m.login_failures.inc()


def known_device_login() -> None:
    metrics().login_known_device.inc()


# -- device cookies -----------------------------------------------------------------------------


async def _key(store: Store, now: Millis) -> bytes:
    value = await store.instance_secret(_SECRET_NAME, secrets.token_urlsafe(32), now=now)
    return value.encode()


def _mac(key: bytes, message: str) -> str:
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


async def new_device_cookie(store: Store, username: str, now: Millis) -> str:
    """A cookie naming a new device id and the account it logged in to, signed."""
    device = secrets.token_urlsafe(12)
    message = f"{device}.{username}"
    return f"{message}.{_mac(await _key(store, now), message)}"


async def known_device(store: Store, cookie: str | None, username: str, now: Millis) -> str | None:
    """The device id when ``cookie`` is a valid device cookie for ``username``, else None."""
    if not cookie or cookie.count(".") < 2:
        return None
    message, mac = cookie.rsplit(".", 1)
    device, _, name = message.partition(".")
    if name != username or not device:
        return None
    if not hmac.compare_digest(mac, _mac(await _key(store, now), message)):
        return None
    return device

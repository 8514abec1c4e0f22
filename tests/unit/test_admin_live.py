"""The run-time settings holder and the gateway's rate limiter following it: an unset or bad
value is the environment's, a set one replaces it, and every listener hears each change."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from gateway.admin.events import SettingsChanged
from gateway.admin.ops import GatewaySettings
from gateway.control import decode_command, encode_command
from gateway.ratelimit import RateLimiter
from linli.config import Settings
from linli.live import LiveSettings
from linli.types import UserId


def _gateway_settings() -> tuple[GatewaySettings, RateLimiter, LiveSettings]:
    limiter = RateLimiter(5.0, 20)
    live = LiveSettings()
    gateway: Any = SimpleNamespace(rate_limiter=limiter, control_handlers={})
    services: Any = SimpleNamespace(
        settings=Settings(publish_rate=5.0, publish_burst=20), live=live, database=None
    )
    settings = GatewaySettings(gateway, services)
    live.listeners.append(settings.apply)
    return settings, limiter, live


def test_the_limiter_follows_the_settings() -> None:
    _, limiter, live = _gateway_settings()
    live.replace({"publish_rate": "1", "publish_burst": "2"})
    assert (limiter.rate, limiter.burst) == (1.0, 2)
    user = UserId(7)
    assert [limiter.allow(user, 100.0) for _ in range(3)] == [True, True, False]
    live.replace({"publish_rate": "oops", "publish_burst": "0"})  # never stored, but safe
    assert (limiter.rate, limiter.burst) == (5.0, 20)
    live.replace({})
    assert (limiter.rate, limiter.burst) == (5.0, 20)


def test_the_command_round_trips_and_replaces_the_holder() -> None:
    settings, limiter, live = _gateway_settings()
    command = decode_command(encode_command(SettingsChanged(values={"publish_burst": "3"})))
    assert command == SettingsChanged(values={"publish_burst": "3"})
    settings._on_changed(command)
    assert live.values == {"publish_burst": "3"} and limiter.burst == 3

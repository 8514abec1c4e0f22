"""The run-time settings in a gateway process: loaded at start, replaced by every
``SettingsChanged`` command, read again every ``REFRESH_SECONDS`` (a missed command is only
late). The per-user publish limits (``publish_rate``, ``publish_burst``) are applied to the
gateway's rate limiter as they change; an unset one is the environment's
(``LINLI_PUBLISH_RATE``, ``LINLI_PUBLISH_BURST``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from gateway.admin.events import SettingsChanged
from gateway.control import ControlCommand
from gateway.gateway import Gateway
from linli.feature import Services
from linli.live import REFRESH_SECONDS
from persistence.admin.sql import SqlAdminStore

log = logging.getLogger(__name__)


def _number(values: Mapping[str, str], key: str, default: float) -> float:
    try:
        value = float(values[key])
    except (KeyError, ValueError):
        return default
    return value if value > 0 else default


class GatewaySettings:
    def __init__(self, gateway: Gateway, services: Services) -> None:
        self.gateway, self.services = gateway, services
        self.store = SqlAdminStore(services.database)

    def install(self) -> None:
        self.gateway.control_handlers[SettingsChanged] = self._on_changed
        self.services.live.listeners.append(self.apply)
        self.gateway.add_task(self._refresh_forever(), "admin-settings")

    def apply(self, values: Mapping[str, str]) -> None:
        env = self.services.settings
        limiter = self.gateway.rate_limiter
        limiter.rate = _number(values, "publish_rate", env.publish_rate)
        limiter.burst = int(_number(values, "publish_burst", env.publish_burst))

    def _on_changed(self, command: ControlCommand) -> None:
        assert isinstance(command, SettingsChanged)
        self.services.live.replace(command.values)

    async def refresh(self) -> None:
        try:
            values = await self.store.settings()
        except Exception:  # the database is away: keep what was known
            log.warning("admin settings unavailable; keeping what was known", exc_info=True)
            return
        self.services.live.replace(values)

    async def _refresh_forever(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(REFRESH_SECONDS)


def install(gateway: Gateway, services: Services) -> GatewaySettings:
    """The admin feature of a gateway (its entry in ``linli/features.py``)."""
    settings = GatewaySettings(gateway, services)
    settings.install()
    return settings

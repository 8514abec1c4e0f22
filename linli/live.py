"""The settings an admin changes at run time (the console's settings page), as this process
last heard them: the rows of ``admin_settings`` (``persistence/admin``), raw.

Every process holds one (``Runtime.live``). The gateway's admin part (``gateway/admin/ops.py``)
fills it at start, replaces it whenever a ``SettingsChanged`` control command arrives (sent by
the action that changed them, to every process) and reads it afresh every
``REFRESH_SECONDS`` in case a command was missed (control is at most once). Readers apply
their own defaults for keys that were never set.

Vocabulary: imports no first-party package.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from linli.feature import Services

#: How long a process goes at most without reading the stored settings again.
REFRESH_SECONDS: Final = 60.0


class LiveSettings:
    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self.listeners: list[Callable[[Mapping[str, str]], None]] = []

    @property
    def values(self) -> Mapping[str, str]:
        return self._values

    def get(self, key: str, default: str | None = None) -> str | None:
        return self._values.get(key, default)

    def replace(self, values: Mapping[str, str]) -> None:
        """The stored settings as they now are; tells every listener."""
        self._values = dict(values)
        for listener in self.listeners:
            listener(self._values)


def zone_name(live: LiveSettings | None, default: str) -> str:
    """The neighbourhood's IANA time zone: the admin's ``time_zone`` when set and known, else
    ``default`` (the environment's ``LINLI_TIME_ZONE``)."""
    name = live.get("time_zone") if live is not None else None
    if not name:
        return default
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return default
    return name


def zone_of(services: Services) -> ZoneInfo:
    """The neighbourhood's time zone as this process last heard it: the admin's (the settings
    page) or else the environment's ``LINLI_TIME_ZONE``. Read it at each use, never keep it, so
    a change applies without a restart."""
    live = getattr(services, "live", None)  # a test's stand-in may have no live settings
    return ZoneInfo(zone_name(live, services.settings.time_zone))

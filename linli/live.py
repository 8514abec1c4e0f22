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
from typing import Final

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

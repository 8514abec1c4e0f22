"""What crosses processes when an admin changes a setting (``web/admin/actions.py`` sends it):
every process replaces its ``LiveSettings`` (``linli/live.py``) with the values carried, so a
page's top bar, the publish rate limit and the rest follow at once, in both modes."""

from __future__ import annotations

from channels.broker import Broker
from gateway.control import ControlCommand, send_control


class SettingsChanged(ControlCommand, frozen=True, tag="admin_settings_changed"):
    """The stored settings after a change: every row of ``admin_settings``, raw."""

    values: dict[str, str]


async def settings_changed(broker: Broker, values: dict[str, str]) -> None:
    await send_control(broker, SettingsChanged(values=values))

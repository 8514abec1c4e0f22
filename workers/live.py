"""The admin's run-time settings in a process with no gateway (``linli worker <name>``): what
``gateway/admin/ops.py`` does for a gateway, for the workers' ``LiveSettings``.

It loads the stored settings before the worker starts (so a timers worker plans its daily jobs
in the admin's time zone, not the environment's), listens on the control channel for
``SettingsChanged`` (sent by the action that changed them) and reads the table again every
``REFRESH_SECONDS``, since control is at most once: a missed command is only late.

In the embedded mode (and a scaled web process running its workers, ``LINLI_RUN_WORKERS``) the
workers share the gateway's ``LiveSettings`` and need none of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from channels.broker import Broker, Publication
from gateway.admin.events import SettingsChanged
from gateway.control import CONTROL_CHANNEL, decode_command
from linli.live import REFRESH_SECONDS, LiveSettings
from linli.types import ChannelName
from persistence.admin import AdminStore

log = logging.getLogger(__name__)


class LiveFollower:
    """Keeps ``live`` as the stored settings are; the broker's events receiver of its process
    (a worker process subscribes to nothing else)."""

    def __init__(
        self,
        live: LiveSettings,
        store: AdminStore,
        broker: Broker,
        *,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self.live, self.store, self.broker = live, store, broker
        self.refresh_seconds = refresh_seconds

    async def refresh(self) -> bool:
        """Read the stored settings into ``live``; False (logged, ``live`` kept) when the
        database does not answer."""
        try:
            values = await self.store.settings()
        except Exception:
            log.warning("admin settings unavailable; keeping what was known", exc_info=True)
            return False
        self.live.replace(values)
        return True

    async def start(self) -> None:
        """Load the settings and start hearing changes: call before making the worker."""
        await self.broker.start(self)
        await self.broker.subscribe(CONTROL_CHANNEL)
        await self.refresh()

    async def run(self, stop: asyncio.Event) -> None:
        """Read the table again every ``refresh_seconds`` until ``stop``."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.refresh_seconds)
            if not stop.is_set():
                await self.refresh()

    # -- BrokerEvents ---------------------------------------------------------------------------

    def on_publication(self, publication: Publication) -> None:
        """Nothing durable is subscribed to in a worker process."""

    def on_ephemeral(self, channel: ChannelName, data: bytes) -> None:
        if channel != CONTROL_CHANNEL:
            return
        command = decode_command(data)
        if isinstance(command, SettingsChanged):
            self.live.replace(command.values)

    def on_reconnect(self) -> None:
        """Commands sent while the link was down are lost: read the table now."""
        task = asyncio.get_running_loop().create_task(self.refresh())
        _pending.add(task)
        task.add_done_callback(_pending.discard)


#: Refreshes started from a callback, held until done (the loop keeps only weak references).
_pending: set[asyncio.Task[bool]] = set()

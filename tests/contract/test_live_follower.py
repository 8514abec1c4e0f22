"""A worker process's live settings (``workers/live.py``): loaded before the worker is made,
replaced by a ``SettingsChanged`` command, and read again from the table on the refresh — the
path that covers a command missed (control is at most once)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from channels.broker_memory import MemoryBroker
from gateway.admin.events import settings_changed
from linli.live import LiveSettings, zone_name
from persistence.admin.sql import SqlAdminStore
from persistence.db import Database
from persistence.factory import open_store
from persistence.migrate import migrate
from workers.live import LiveFollower

pytestmark = pytest.mark.timeout(30)


async def _store_zone(db: Database, name: str) -> None:
    await db.execute(
        "INSERT INTO admin_settings (key, value, updated_at, updated_by) "
        "VALUES ('time_zone', $1, 0, NULL) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        name,
    )


async def test_loaded_at_start_then_commands_then_the_refresh(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/linli.sqlite3"
    await migrate(url)
    store = await open_store(url)
    broker = MemoryBroker(store.max_offset)
    try:
        await _store_zone(store.database, "Europe/London")
        live = LiveSettings()
        follower = LiveFollower(live, SqlAdminStore(store.database), broker, refresh_seconds=0.05)
        await follower.start()
        assert zone_name(live, "Asia/Taipei") == "Europe/London"  # before any worker is made

        # The command every process hears (the settings action sends it).
        await settings_changed(broker, {"time_zone": "America/New_York"})
        assert zone_name(live, "Asia/Taipei") == "America/New_York"

        # A change whose command was missed arrives with the next refresh.
        await _store_zone(store.database, "Asia/Hong_Kong")
        stop = asyncio.Event()
        refreshing = asyncio.create_task(follower.run(stop))
        try:
            for _ in range(100):
                if zone_name(live, "Asia/Taipei") == "Asia/Hong_Kong":
                    break
                await asyncio.sleep(0.02)
            assert zone_name(live, "Asia/Taipei") == "Asia/Hong_Kong"
        finally:
            stop.set()
            await asyncio.wait_for(refreshing, 5)
    finally:
        await broker.close()
        await store.close()

"""The demo neighbourhood's name (``linli demo``): the top bar of every page shows it."""

from __future__ import annotations

from linli.feature import Demo
from persistence.admin.sql import SqlAdminStore
from persistence.audit import NewEntry

DEMO_NAME_ZH = "幸福里示範社區"
DEMO_NAME_EN = "Happy Lane demo community"


async def seed_admin(demo: Demo) -> None:
    values = {"community_name_zh": DEMO_NAME_ZH, "community_name_en": DEMO_NAME_EN}
    await SqlAdminStore(demo.store.database).set_settings(
        values,
        by=None,
        now=demo.now,
        audit=NewEntry(
            feature="admin",
            action="settings_change",
            actor_id=None,
            reason="demo",
            at=demo.now,
            detail={"changed": {k: [None, v] for k, v in values.items()}},
        ),
    )

"""``linli admin`` makes the same changes as the HTTP API, through the same actions: the
building, the invite and the role change are in the store and in the one audit log."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from persistence.audit.sql import SqlAuditLog
from persistence.factory import open_store
from persistence.migrate import migrate
from persistence.store import Role


def _linli(db: str, *args: str) -> str:
    env = {**os.environ, "LINLI_DATABASE_URL": db}
    env.pop("LINLI_REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "linli", "admin", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_admin_commands_go_through_the_actions(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/linli.sqlite3"
    await migrate(db)
    out = _linli(db, "create-building", "A座")
    match = re.fullmatch(r"Building (\d+): A座\n", out)
    assert match, out
    building_id = int(match.group(1))
    out = _linli(db, "invite", str(building_id), "--uses", "3", "--days", "7")
    code = re.fullmatch(r"Invite code: ([A-Z0-9]{8}) \(building \d+, 3 use\(s\), 7 days\)\n", out)
    assert code, out
    store = await open_store(db)
    try:
        invite = await store.get_invite(code.group(1))
        assert invite is not None and invite.uses_left == 3
        assert invite.building_id == building_id
        user = await store.create_user(
            username="lee",
            display_name="李伯",
            password_hash="-",
            role=Role.RESIDENT,
            building_id=building_id,
            unit_label="3B",
            now=1,
        )
        _linli(db, "set-role", "lee", "organiser")
        changed = await store.get_user(user.id)
        assert changed is not None and changed.role is Role.ORGANISER
        entries = await SqlAuditLog(store.database).entries(feature="core")
        assert [(e.action, e.actor_id) for e in entries] == [
            ("role_set", None),
            ("invite_create", None),
            ("building_create", None),
        ]
        assert entries[0].target_user_id == user.id and entries[0].detail == {"role": "organiser"}
        assert entries[1].subject == f"building:{building_id}"
    finally:
        await store.close()

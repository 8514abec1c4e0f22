"""``linli admin`` reaches the admin console's actions: a units CSV checked (each line's error,
nothing written) and imported, exported again; a reset code that the store accepts once; an
account disabled and enabled; an invite for one unit, revoked; each change in the audit log."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from persistence.admin.sql import SqlAdminStore
from persistence.audit.sql import SqlAuditLog
from persistence.factory import open_store
from persistence.migrate import migrate
from persistence.store import Role
from web.admin.actions import reset_code_hash


def _linli(db: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LINLI_DATABASE_URL": db}
    env.pop("LINLI_REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "linli", "admin", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode == 0) is ok, (result.stdout, result.stderr)
    return result


async def test_console_commands(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/linli.sqlite3"
    await migrate(db)
    store = await open_store(db)
    try:
        a = await store.create_building("A棟", now=1)
        lee = await store.create_user(
            username="lee", display_name="李伯", password_hash="-", role=Role.RESIDENT,
            building_id=a.id, unit_label="3B", now=1,
        )  # fmt: skip
    finally:
        await store.close()

    bad = tmp_path / "bad.csv"
    bad.write_text("棟,樓,戶號,持分‰,人數\nA棟,3,3B,10,2\nZ棟,4,4A,10,2\nA棟,5,5A,10,99\n")
    result = _linli(db, "import-units", str(bad), "--commit", ok=False)
    assert "line 3: No such building" in result.stderr
    assert "line 4: The household size must be" in result.stderr
    assert "Nothing was written." in result.stderr
    good = tmp_path / "good.csv"
    good.write_text("\ufeff棟,樓,戶號,持分‰,人數\nA棟,3,3B,10,2\nA棟,5,5A,20.5,1\n", "utf-8")
    assert "1 new, 1 updated" in _linli(db, "import-units", str(good)).stdout
    assert "Imported: 1 new, 1 updated." in _linli(db, "import-units", str(good), "--commit").stdout
    exported = _linli(db, "export-units").stdout.splitlines()
    assert exported == ["棟,樓,戶號,持分‰,人數", "A棟,3,3B,10,2", "A棟,5,5A,20.5,1"]

    out = _linli(db, "reset-code", "lee").stdout
    match = re.fullmatch(r"Reset code for lee: ([A-Z2-9]{5}-[A-Z2-9]{5})\n", out)
    assert match, out
    _linli(db, "disable", "lee", "--reason", "moved out")
    _linli(db, "enable", "lee")
    _linli(db, "reset-code", "nobody", ok=False)
    out = _linli(db, "invite", str(a.id), "--unit", "7C", "--uses", "2").stdout
    code = re.fullmatch(
        r"Invite code: ([A-Z0-9]{8}) \(building \d+, unit 7C, 2 use\(s\), 30 days\)\n", out
    )
    assert code, out
    _linli(db, "revoke-invite", code.group(1).lower())
    _linli(db, "rename-building", str(a.id), "甲棟")

    store = await open_store(db)
    try:
        admin = SqlAdminStore(store.database)
        assert await admin.has_reset_code(lee.id, reset_code_hash(lee.id, match.group(1)), now=2)
        assert not await admin.is_disabled(lee.id)
        (invite,) = await admin.invites()
        assert (invite.unit_label, invite.uses, invite.revoked_at is not None) == ("7C", 2, True)
        building = await store.get_building(a.id)
        assert building is not None and building.name == "甲棟"
        entries = await SqlAuditLog(store.database).entries(feature="admin")
        assert [(e.action, e.actor_id) for e in reversed(entries)] == [
            ("units_import", None),
            ("reset_code_issue", None),
            ("user_disable", None),
            ("user_enable", None),
            ("invite_create", None),
            ("invite_revoke", None),
            ("building_rename", None),
        ]
    finally:
        await store.close()

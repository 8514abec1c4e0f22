"""``AdminStore`` in SQL for SQLite and PostgreSQL alike (the dialects' common subset)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from linli.types import BuildingId, Millis, Role, UserId
from persistence.admin import (
    InviteRow,
    ResidentRow,
    SessionRow,
    UnitImport,
    UnitLabelTaken,
    UnitRow,
)
from persistence.audit import NewEntry
from persistence.audit.sql import write_entry
from persistence.db import Database, Executor, UniqueViolation
from persistence.errors import NotFound
from persistence.store_sql import label_key, normalise_label

#: How many characters of a session's token hash name it in the console.
SESSION_REF_CHARS = 10


async def _unit_id(tx: Executor, building_id: BuildingId, label: str) -> int | None:
    found = await tx.fetchval(
        "SELECT id FROM units WHERE building_id = $1 AND label_key = $2",
        building_id,
        label_key(label),
    )
    return None if found is None else int(found)


async def _ensure_unit(tx: Executor, building_id: BuildingId, label: str) -> int:
    found = await _unit_id(tx, building_id, label)
    if found is not None:
        return found
    made = await tx.fetchval(
        "INSERT INTO units (building_id, label, label_key) VALUES ($1, $2, $3) RETURNING id",
        building_id,
        normalise_label(label),
        label_key(label),
    )
    return int(made)


async def _save_details(
    tx: Executor, unit_id: int, floor: str, share_ppm: int, household_size: int, now: Millis
) -> None:
    await tx.execute(
        "INSERT INTO admin_units (unit_id, floor, share_ppm, household_size, updated_at) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (unit_id) DO UPDATE SET floor = excluded.floor, "
        "share_ppm = excluded.share_ppm, household_size = excluded.household_size, "
        "updated_at = excluded.updated_at",
        unit_id,
        floor,
        share_ppm,
        household_size,
        now,
    )
    if share_ppm > 0:
        # The owners' register counts the same share (meetings feature): keep it in step.
        await tx.execute(
            "UPDATE meeting_units SET share = $1 WHERE unit_id = $2", share_ppm, unit_id
        )


class SqlAdminStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- buildings and units -------------------------------------------------------------------
    async def units(self) -> list[UnitRow]:
        rows = await self._db.fetch(
            "SELECT u.id, u.building_id, b.name, u.label, a.floor, a.share_ppm, "
            "a.household_size, (SELECT COUNT(*) FROM users r WHERE r.unit_id = u.id) AS residents "
            "FROM units u JOIN buildings b ON b.id = u.building_id "
            "LEFT JOIN admin_units a ON a.unit_id = u.id ORDER BY b.name, b.id, u.label_key"
        )
        return [
            UnitRow(
                unit_id=int(r[0]),
                building_id=BuildingId(int(r[1])),
                building_name=r[2],
                label=r[3],
                floor=r[4],
                share_ppm=None if r[5] is None else int(r[5]),
                household_size=None if r[6] is None else int(r[6]),
                residents=int(r[7]),
            )
            for r in rows
        ]

    async def rename_building(self, building_id: BuildingId, name: str, audit: NewEntry) -> None:
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE buildings SET name = $1 WHERE id = $2", name, building_id
            )
            if not changed:
                raise NotFound(f"building {building_id}")
            await write_entry(tx, audit)

    async def save_unit(
        self,
        building_id: BuildingId,
        unit_id: int | None,
        *,
        label: str,
        floor: str,
        share_ppm: int,
        household_size: int,
        now: Millis,
        audit: NewEntry,
    ) -> int:
        try:
            async with self._db.transaction() as tx:
                if await tx.fetchval("SELECT 1 FROM buildings WHERE id = $1", building_id) is None:
                    raise NotFound(f"building {building_id}")
                taken = await _unit_id(tx, building_id, label)
                if taken is not None and taken != unit_id:
                    raise UnitLabelTaken(label)
                if unit_id is None:
                    unit_id = await _ensure_unit(tx, building_id, label)
                else:
                    changed = await tx.execute(
                        "UPDATE units SET label = $1, label_key = $2 "
                        "WHERE id = $3 AND building_id = $4",
                        normalise_label(label),
                        label_key(label),
                        unit_id,
                        building_id,
                    )
                    if not changed:
                        raise NotFound(f"unit {unit_id}")
                await _save_details(tx, unit_id, floor, share_ppm, household_size, now)
                await write_entry(
                    tx,
                    replace(audit, subject=f"unit:{unit_id}"),
                )
                return unit_id
        except UniqueViolation:
            raise UnitLabelTaken(label) from None

    async def import_units(
        self, rows: Sequence[UnitImport], *, now: Millis, audit: NewEntry
    ) -> tuple[int, int]:
        created = updated = 0
        async with self._db.transaction() as tx:
            for row in rows:
                found = await _unit_id(tx, row.building_id, row.label)
                if found is None:
                    found = await _ensure_unit(tx, row.building_id, row.label)
                    created += 1
                else:
                    updated += 1
                await _save_details(tx, found, row.floor, row.share_ppm, row.household_size, now)
            detail = {**audit.detail, "created": created, "updated": updated}
            await write_entry(tx, replace(audit, detail=detail))
        return created, updated

    # -- residents -----------------------------------------------------------------------------
    async def residents(
        self,
        *,
        query: str = "",
        building_id: BuildingId | None = None,
        role: Role | None = None,
        disabled: bool | None = None,
        now: Millis,
        limit: int = 200,
    ) -> list[ResidentRow]:
        where = ["1 = 1"]
        args: list[object] = [now]
        if query:
            args.append(f"%{query.casefold()}%")
            args.append(f"%{query}%")
            where.append(
                f"(u.username_lower LIKE ${len(args) - 1} OR u.display_name LIKE ${len(args)})"
            )
        if building_id is not None:
            args.append(building_id)
            where.append(f"u.building_id = ${len(args)}")
        if role is not None:
            args.append(str(role))
            where.append(f"u.role = ${len(args)}")
        if disabled is not None:
            where.append("d.user_id IS NOT NULL" if disabled else "d.user_id IS NULL")
        args.append(limit)
        rows = await self._db.fetch(
            "SELECT u.id, u.username, u.display_name, u.role, u.building_id, b.name, u.unit_id, "
            "n.label, d.user_id, u.created_at, "
            "(SELECT COUNT(*) FROM sessions s WHERE s.user_id = u.id AND s.expires_at > $1) "
            "FROM users u LEFT JOIN buildings b ON b.id = u.building_id "
            "LEFT JOIN units n ON n.id = u.unit_id "
            "LEFT JOIN admin_disabled_users d ON d.user_id = u.id "
            f"WHERE {' AND '.join(where)} ORDER BY u.username_lower LIMIT ${len(args)}",
            *args,
        )
        return [
            ResidentRow(
                id=UserId(int(r[0])),
                username=r[1],
                display_name=r[2],
                role=Role(r[3]),
                building_id=None if r[4] is None else BuildingId(int(r[4])),
                building_name=r[5],
                unit_id=None if r[6] is None else int(r[6]),
                unit_label=r[7],
                disabled=r[8] is not None,
                created_at=Millis(int(r[9])),
                sessions=int(r[10]),
            )
            for r in rows
        ]

    async def move_user(
        self, user_id: UserId, building_id: BuildingId, unit_label: str, audit: NewEntry
    ) -> None:
        async with self._db.transaction() as tx:
            if await tx.fetchval("SELECT 1 FROM buildings WHERE id = $1", building_id) is None:
                raise NotFound(f"building {building_id}")
            unit_id = await _ensure_unit(tx, building_id, unit_label)
            changed = await tx.execute(
                "UPDATE users SET building_id = $1, unit_id = $2 WHERE id = $3",
                building_id,
                unit_id,
                user_id,
            )
            if not changed:
                raise NotFound(f"user {user_id}")
            await write_entry(tx, audit)

    async def set_disabled(
        self, user_id: UserId, disabled: bool, *, reason: str, now: Millis, audit: NewEntry
    ) -> bool:
        async with self._db.transaction() as tx:
            if await tx.fetchval("SELECT 1 FROM users WHERE id = $1", user_id) is None:
                raise NotFound(f"user {user_id}")
            if disabled:
                changed = await tx.execute(
                    "INSERT INTO admin_disabled_users (user_id, disabled_at, disabled_by, reason) "
                    "VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO NOTHING",
                    user_id,
                    now,
                    audit.actor_id,
                    reason,
                )
                await tx.execute("DELETE FROM sessions WHERE user_id = $1", user_id)
            else:
                changed = await tx.execute(
                    "DELETE FROM admin_disabled_users WHERE user_id = $1", user_id
                )
            if changed:
                await write_entry(tx, audit)
            return bool(changed)

    async def is_disabled(self, user_id: UserId) -> bool:
        found = await self._db.fetchval(
            "SELECT 1 FROM admin_disabled_users WHERE user_id = $1", user_id
        )
        return found is not None

    async def sessions(self, user_id: UserId, *, now: Millis) -> list[SessionRow]:
        rows = await self._db.fetch(
            "SELECT token_hash, created_at, expires_at FROM sessions "
            "WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at DESC",
            user_id,
            now,
        )
        return [
            SessionRow(r[0][:SESSION_REF_CHARS], Millis(int(r[1])), Millis(int(r[2]))) for r in rows
        ]

    async def end_sessions(self, user_id: UserId, ref: str | None, audit: NewEntry) -> list[str]:
        async with self._db.transaction() as tx:
            rows = await tx.fetch("SELECT token_hash FROM sessions WHERE user_id = $1", user_id)
            hashes = [r[0] for r in rows if ref is None or r[0][:SESSION_REF_CHARS] == ref]
            for token_hash in hashes:
                await tx.execute("DELETE FROM sessions WHERE token_hash = $1", token_hash)
            if hashes:
                detail = {**audit.detail, "sessions": len(hashes)}
                await write_entry(tx, replace(audit, detail=detail))
            return hashes

    async def issue_reset_code(
        self, user_id: UserId, code_hash: str, *, expires_at: Millis, now: Millis, audit: NewEntry
    ) -> None:
        async with self._db.transaction() as tx:
            if await tx.fetchval("SELECT 1 FROM users WHERE id = $1", user_id) is None:
                raise NotFound(f"user {user_id}")
            await tx.execute(
                "DELETE FROM admin_reset_codes WHERE user_id = $1 AND used_at IS NULL", user_id
            )
            await tx.execute(
                "INSERT INTO admin_reset_codes (user_id, code_hash, expires_at, created_by, "
                "created_at) VALUES ($1, $2, $3, $4, $5)",
                user_id,
                code_hash,
                expires_at,
                audit.actor_id,
                now,
            )
            await write_entry(tx, audit)

    async def has_reset_code(self, user_id: UserId, code_hash: str, *, now: Millis) -> bool:
        found = await self._db.fetchval(
            "SELECT 1 FROM admin_reset_codes WHERE user_id = $1 AND code_hash = $2 "
            "AND used_at IS NULL AND expires_at > $3",
            user_id,
            code_hash,
            now,
        )
        return found is not None

    async def redeem_reset_code(
        self, user_id: UserId, code_hash: str, password_hash: str, *, now: Millis, audit: NewEntry
    ) -> list[str]:
        async with self._db.transaction() as tx:
            used = await tx.execute(
                "UPDATE admin_reset_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 "
                "AND used_at IS NULL AND expires_at > $1",
                now,
                user_id,
                code_hash,
            )
            if not used:
                raise NotFound("reset code")
            await tx.execute(
                "UPDATE users SET password_hash = $1 WHERE id = $2", password_hash, user_id
            )
            rows = await tx.fetch("SELECT token_hash FROM sessions WHERE user_id = $1", user_id)
            await tx.execute("DELETE FROM sessions WHERE user_id = $1", user_id)
            await write_entry(tx, audit)
            return [r[0] for r in rows]

    # -- invites -------------------------------------------------------------------------------
    async def record_invite(
        self, code: str, *, unit_id: int | None, uses: int, audit: NewEntry
    ) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO admin_invites (code, unit_id, uses, created_by) "
                "VALUES ($1, $2, $3, $4)",
                code,
                unit_id,
                uses,
                audit.actor_id,
            )
            await write_entry(tx, audit)

    async def invites(self) -> list[InviteRow]:
        rows = await self._db.fetch(
            "SELECT i.code, i.building_id, b.name, a.unit_id, n.label, a.uses, i.uses_left, "
            "i.expires_at, i.created_at, a.revoked_at FROM invites i "
            "JOIN buildings b ON b.id = i.building_id "
            "LEFT JOIN admin_invites a ON a.code = i.code "
            "LEFT JOIN units n ON n.id = a.unit_id ORDER BY i.created_at DESC, i.code"
        )
        uses = await self._db.fetch(
            "SELECT x.code, u.id, u.username, u.display_name, x.used_at "
            "FROM admin_invite_uses x JOIN users u ON u.id = x.user_id ORDER BY x.used_at, u.id"
        )
        by_code: dict[str, list[tuple[UserId, str, str, Millis]]] = {}
        for r in uses:
            by_code.setdefault(r[0], []).append((UserId(int(r[1])), r[2], r[3], Millis(int(r[4]))))
        return [
            InviteRow(
                code=r[0],
                building_id=BuildingId(int(r[1])),
                building_name=r[2],
                unit_id=None if r[3] is None else int(r[3]),
                unit_label=r[4],
                uses=None if r[5] is None else int(r[5]),
                uses_left=int(r[6]),
                expires_at=Millis(int(r[7])),
                created_at=Millis(int(r[8])),
                revoked_at=None if r[9] is None else Millis(int(r[9])),
                used_by=tuple(by_code.get(r[0], ())),
            )
            for r in rows
        ]

    async def revoke_invite(self, code: str, *, now: Millis, audit: NewEntry) -> bool:
        async with self._db.transaction() as tx:
            row = await tx.fetchrow("SELECT uses_left FROM invites WHERE code = $1", code)
            if row is None:
                raise NotFound(f"invite {code}")
            await tx.execute(
                "INSERT INTO admin_invites (code, unit_id, uses, created_by) "
                "VALUES ($1, NULL, $2, NULL) ON CONFLICT (code) DO NOTHING",
                code,
                int(row[0]),
            )
            revoked = await tx.execute(
                "UPDATE admin_invites SET revoked_at = $1, revoked_by = $2 "
                "WHERE code = $3 AND revoked_at IS NULL",
                now,
                audit.actor_id,
                code,
            )
            await tx.execute("UPDATE invites SET uses_left = 0 WHERE code = $1", code)
            if revoked:
                await write_entry(tx, audit)
            return bool(revoked)

    async def invite_unit(self, code: str) -> tuple[int, str] | None:
        row = await self._db.fetchrow(
            "SELECT n.id, n.label FROM admin_invites a JOIN units n ON n.id = a.unit_id "
            "WHERE a.code = $1",
            code,
        )
        return None if row is None else (int(row[0]), row[1])

    async def record_invite_use(self, code: str, user_id: UserId, *, now: Millis) -> None:
        await self._db.execute(
            "INSERT INTO admin_invite_uses (code, user_id, used_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (code, user_id) DO NOTHING",
            code,
            user_id,
            now,
        )

    # -- settings ------------------------------------------------------------------------------
    async def settings(self) -> dict[str, str]:
        rows = await self._db.fetch("SELECT key, value FROM admin_settings")
        return {r[0]: r[1] for r in rows}

    async def set_settings(
        self, values: Mapping[str, str], *, by: UserId | None, now: Millis, audit: NewEntry
    ) -> None:
        async with self._db.transaction() as tx:
            for key, value in values.items():
                await tx.execute(
                    "INSERT INTO admin_settings (key, value, updated_at, updated_by) "
                    "VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO UPDATE SET "
                    "value = excluded.value, updated_at = excluded.updated_at, "
                    "updated_by = excluded.updated_by",
                    key,
                    value,
                    now,
                    by,
                )
            await write_entry(tx, audit)

"""``OnboardStore`` in SQL for SQLite and PostgreSQL alike (the dialects' common subset)."""

from __future__ import annotations

from linli.types import BuildingId, Millis, UserId
from persistence.audit import NewEntry
from persistence.audit.sql import write_entry
from persistence.db import Database, Row
from persistence.errors import NotFound
from persistence.onboard import (
    ActRow,
    DeskRegistration,
    FirstLogin,
    HelperRow,
    SourceCount,
    SourceRegistrations,
)
from persistence.store_sql import label_key

_HELPER = (
    "SELECT h.id, h.resident_id, r.display_name, h.helper_id, p.display_name, h.created_by, "
    "h.created_at FROM onboard_helpers h JOIN users r ON r.id = h.resident_id "
    "JOIN users p ON p.id = h.helper_id WHERE h.ended_at IS NULL"
)
_ACT = (
    "SELECT a.kind, a.object_id, a.resident_id, a.helper_id, p.display_name, a.at "
    "FROM onboard_acts a JOIN users p ON p.id = a.helper_id"
)


def _helper(row: Row) -> HelperRow:
    return HelperRow(
        int(row[0]),
        UserId(int(row[1])),
        str(row[2]),
        UserId(int(row[3])),
        str(row[4]),
        None if row[5] is None else UserId(int(row[5])),
        Millis(int(row[6])),
    )


def _act(row: Row) -> ActRow:
    return ActRow(
        str(row[0]),
        int(row[1]),
        UserId(int(row[2])),
        UserId(int(row[3])),
        str(row[4]),
        Millis(int(row[5])),
    )


class SqlOnboardStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def poster_invite(self, building_id: BuildingId, *, now: Millis) -> str | None:
        found = await self._db.fetchval(
            "SELECT p.invite_code FROM onboard_posters p "
            "JOIN invites i ON i.code = p.invite_code "
            "LEFT JOIN admin_invites a ON a.code = p.invite_code "
            "WHERE p.building_id = $1 AND i.uses_left > 0 AND i.expires_at > $2 "
            "AND a.revoked_at IS NULL ORDER BY p.created_at DESC, p.invite_code LIMIT 1",
            building_id,
            now,
        )
        return None if found is None else str(found)

    async def record_poster(self, code: str, building_id: BuildingId, audit: NewEntry) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO onboard_posters (invite_code, building_id, created_by, created_at) "
                "VALUES ($1, $2, $3, $4)",
                code,
                building_id,
                audit.actor_id,
                audit.at,
            )
            await write_entry(tx, audit)

    async def sources(self) -> list[SourceCount]:
        # admin_invite_uses says which code each registration used (web/api.py records it).
        rows = await self._db.fetch(
            "SELECT i.building_id, "
            "SUM(CASE WHEN p.invite_code IS NULL THEN 0 ELSE 1 END), "
            "SUM(CASE WHEN p.invite_code IS NULL THEN 1 ELSE 0 END) "
            "FROM admin_invite_uses u JOIN invites i ON i.code = u.code "
            "LEFT JOIN onboard_posters p ON p.invite_code = u.code GROUP BY i.building_id"
        )
        desk = await self._db.fetch(
            "SELECT r.building_id, COUNT(*) FROM onboard_desk d JOIN users r ON r.id = d.user_id "
            "WHERE r.building_id IS NOT NULL GROUP BY r.building_id"
        )
        counts: dict[int, list[int]] = {}
        for row in rows:
            counts[int(row[0])] = [int(row[1] or 0), int(row[2] or 0), 0]
        for row in desk:
            counts.setdefault(int(row[0]), [0, 0, 0])[2] = int(row[1])
        return [
            SourceCount(BuildingId(b), poster, invite, by_desk)
            for b, (poster, invite, by_desk) in sorted(counts.items())
        ]

    async def registrations(
        self, *, start: Millis, end: Millis, building: BuildingId | None
    ) -> list[SourceRegistrations]:
        # One row per resident: the desk's row first, else the code it registered with
        # (admin_invite_uses, web/api.py records it), else none. A building id is never
        # negative, so -1 stands for "everywhere" (PostgreSQL could not type "$3 IS NULL").
        rows = await self._db.fetch(
            "SELECT CASE WHEN d.user_id IS NOT NULL THEN 'desk' "
            "WHEN x.code IS NULL THEN 'other' "
            "WHEN p.invite_code IS NOT NULL THEN 'poster' ELSE 'invite' END, "
            "x.code, i.building_id, n.label, count(*) "
            "FROM users u LEFT JOIN onboard_desk d ON d.user_id = u.id "
            "LEFT JOIN (SELECT user_id, min(code) AS code FROM admin_invite_uses "
            "GROUP BY user_id) x ON x.user_id = u.id AND d.user_id IS NULL "
            "LEFT JOIN onboard_posters p ON p.invite_code = x.code "
            "LEFT JOIN invites i ON i.code = x.code "
            "LEFT JOIN admin_invites a ON a.code = x.code "
            "LEFT JOIN units n ON n.id = a.unit_id "
            "WHERE u.role = 'resident' AND u.created_at >= $1 AND u.created_at < $2 "
            "AND ($3 = -1 OR u.building_id = $3) "
            "GROUP BY 1, 2, 3, 4",
            start,
            end,
            -1 if building is None else building,
        )
        order = {"poster": 0, "invite": 1, "desk": 2, "other": 3}
        found = [
            SourceRegistrations(
                str(r[0]),
                None if r[1] is None else str(r[1]),
                None if r[2] is None else BuildingId(int(r[2])),
                None if r[3] is None else str(r[3]),
                int(r[4]),
            )
            for r in rows
        ]
        return sorted(found, key=lambda s: (order[s.kind], s.building_id or 0, s.code or ""))

    async def poster_codes(self, building: BuildingId | None) -> list[tuple[str, BuildingId]]:
        rows = await self._db.fetch(
            "SELECT invite_code, building_id FROM onboard_posters "
            "WHERE ($1 = -1 OR building_id = $1) ORDER BY building_id, invite_code",
            -1 if building is None else building,
        )
        return [(str(r[0]), BuildingId(int(r[1]))) for r in rows]

    async def unit_exists(self, building_id: BuildingId, label: str) -> bool:
        found = await self._db.fetchval(
            "SELECT 1 FROM units WHERE building_id = $1 AND label_key = $2",
            building_id,
            label_key(label),
        )
        return found is not None

    async def record_desk(
        self,
        user_id: UserId,
        *,
        mode: str,
        consent_how: str,
        notice_version: str,
        code_hash: str | None,
        expires_at: Millis | None,
        now: Millis,
        audit: NewEntry,
    ) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO onboard_desk (user_id, by_user_id, mode, consent_how, at) "
                "VALUES ($1, $2, $3, $4, $5)",
                user_id,
                audit.actor_id,
                mode,
                consent_how,
                now,
            )
            await tx.execute(
                "INSERT INTO onboard_first_login (user_id, code_hash, expires_at, created_at) "
                "VALUES ($1, $2, $3, $4)",
                user_id,
                code_hash,
                expires_at,
                now,
            )
            # The privacy feature's consent row (design 0028 left how/by_user_id for this): on
            # this transaction, so the desk never registers anyone without the recorded consent.
            await tx.execute(
                "INSERT INTO privacy_consents (user_id, notice_version, at, how, by_user_id) "
                "VALUES ($1, $2, $3, $4, $5)",
                user_id,
                notice_version,
                now,
                f"desk:{consent_how}",
                audit.actor_id,
            )
            await write_entry(tx, audit)

    async def desk_registration(self, user_id: UserId) -> DeskRegistration | None:
        row = await self._db.fetchrow(
            "SELECT user_id, by_user_id, mode, consent_how, at FROM onboard_desk "
            "WHERE user_id = $1",
            user_id,
        )
        if row is None:
            return None
        return DeskRegistration(
            UserId(int(row[0])),
            None if row[1] is None else UserId(int(row[1])),
            str(row[2]),
            str(row[3]),
            Millis(int(row[4])),
        )

    async def first_login(self, user_id: UserId) -> FirstLogin | None:
        row = await self._db.fetchrow(
            "SELECT user_id, code_hash, expires_at FROM onboard_first_login WHERE user_id = $1",
            user_id,
        )
        if row is None:
            return None
        return FirstLogin(
            UserId(int(row[0])),
            None if row[1] is None else str(row[1]),
            None if row[2] is None else Millis(int(row[2])),
        )

    async def complete_first_login(
        self,
        user_id: UserId,
        password_hash: str,
        *,
        code_hash: str | None,
        now: Millis,
        audit: NewEntry,
    ) -> list[str]:
        async with self._db.transaction() as tx:
            if code_hash is None:
                # The caller checked the account's password.
                done = await tx.execute(
                    "DELETE FROM onboard_first_login WHERE user_id = $1", user_id
                )
            else:
                done = await tx.execute(
                    "DELETE FROM onboard_first_login WHERE user_id = $1 AND code_hash = $2 "
                    "AND expires_at > $3",
                    user_id,
                    code_hash,
                    now,
                )
            if not done:
                raise NotFound("first login")
            await tx.execute(
                "UPDATE users SET password_hash = $1 WHERE id = $2", password_hash, user_id
            )
            rows = await tx.fetch("SELECT token_hash FROM sessions WHERE user_id = $1", user_id)
            await tx.execute("DELETE FROM sessions WHERE user_id = $1", user_id)
            await write_entry(tx, audit)
            return [r[0] for r in rows]

    # -- helpers -------------------------------------------------------------------------------
    async def add_helper(self, resident_id: UserId, helper_id: UserId, audit: NewEntry) -> int:
        async with self._db.transaction() as tx:
            live = await tx.fetchval(
                "SELECT id FROM onboard_helpers WHERE resident_id = $1 AND helper_id = $2 "
                "AND ended_at IS NULL",
                resident_id,
                helper_id,
            )
            if live is not None:
                return int(live)
            made = await tx.fetchval(
                "INSERT INTO onboard_helpers (resident_id, helper_id, created_by, created_at) "
                "VALUES ($1, $2, $3, $4) RETURNING id",
                resident_id,
                helper_id,
                audit.actor_id,
                audit.at,
            )
            await write_entry(tx, audit)
            return int(made)

    async def end_helper(self, row_id: int, *, now: Millis, audit: NewEntry) -> bool:
        async with self._db.transaction() as tx:
            ended = await tx.execute(
                "UPDATE onboard_helpers SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL",
                now,
                row_id,
            )
            if ended:
                await write_entry(tx, audit)
            return bool(ended)

    async def helper_row(self, row_id: int) -> HelperRow | None:
        row = await self._db.fetchrow(f"{_HELPER} AND h.id = $1", row_id)
        return None if row is None else _helper(row)

    async def helpers_of(self, resident_id: UserId) -> list[HelperRow]:
        rows = await self._db.fetch(
            f"{_HELPER} AND h.resident_id = $1 ORDER BY h.created_at, h.id", resident_id
        )
        return [_helper(r) for r in rows]

    async def helping(self, helper_id: UserId) -> list[HelperRow]:
        rows = await self._db.fetch(
            f"{_HELPER} AND h.helper_id = $1 ORDER BY h.created_at, h.id", helper_id
        )
        return [_helper(r) for r in rows]

    async def is_helper(self, resident_id: UserId, helper_id: UserId) -> bool:
        found = await self._db.fetchval(
            "SELECT 1 FROM onboard_helpers WHERE resident_id = $1 AND helper_id = $2 "
            "AND ended_at IS NULL",
            resident_id,
            helper_id,
        )
        return found is not None

    async def record_act(
        self, kind: str, object_id: int, resident_id: UserId, helper_id: UserId, audit: NewEntry
    ) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO onboard_acts (kind, object_id, resident_id, helper_id, at) "
                "VALUES ($1, $2, $3, $4, $5)",
                kind,
                object_id,
                resident_id,
                helper_id,
                audit.at,
            )
            await write_entry(tx, audit)

    async def acted_by(self, kind: str, object_id: int) -> ActRow | None:
        row = await self._db.fetchrow(
            f"{_ACT} WHERE a.kind = $1 AND a.object_id = $2", kind, object_id
        )
        return None if row is None else _act(row)

    async def acts_for(self, resident_id: UserId, *, limit: int = 50) -> list[ActRow]:
        rows = await self._db.fetch(
            f"{_ACT} WHERE a.resident_id = $1 ORDER BY a.at DESC, a.object_id DESC LIMIT $2",
            resident_id,
            limit,
        )
        return [_act(r) for r in rows]

    # -- the tour ------------------------------------------------------------------------------
    async def tour_seen(self, user_id: UserId) -> bool:
        found = await self._db.fetchval(
            "SELECT 1 FROM onboard_tour_seen WHERE user_id = $1", user_id
        )
        return found is not None

    async def see_tour(self, user_id: UserId, *, now: Millis) -> None:
        await self._db.execute(
            "INSERT INTO onboard_tour_seen (user_id, seen_at) VALUES ($1, $2) "
            "ON CONFLICT (user_id) DO NOTHING",
            user_id,
            now,
        )

"""``AuditLog`` in SQL for both databases, and ``write_entry`` for the features' stores, which
write an entry on the transaction of the change it records."""

from __future__ import annotations

from typing import Final

import orjson

from persistence.audit import AuditEntry, AuditFacets, AuditQuery, NewEntry
from persistence.db import Database, Executor, Row

_INSERT: Final = (
    'INSERT INTO audit_log (at, feature, actor_id, action, channel, "offset", target_user_id, '
    "subject, reason, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id"
)
_COLUMNS: Final = (
    "SELECT a.id, a.at, a.feature, a.actor_id, u.display_name AS actor_name, a.action, "
    'a.channel, a."offset", a.target_user_id, a.subject, a.reason, a.detail FROM audit_log a '
    "LEFT JOIN users u ON u.id = a.actor_id "
)
#: Each filter of ``AuditQuery``: the condition, holding when its parameter is NULL.
_SEARCH: Final = (
    _COLUMNS + "WHERE (CAST($1 AS TEXT) IS NULL OR a.feature = $1) "
    "AND (CAST($2 AS BIGINT) IS NULL OR a.actor_id = $2) "
    "AND (CAST($3 AS TEXT) IS NULL OR a.action = $3) "
    "AND (CAST($4 AS TEXT) IS NULL OR a.channel = $4) "
    'AND (CAST($5 AS BIGINT) IS NULL OR a."offset" = $5) '
    "AND (CAST($6 AS BIGINT) IS NULL OR a.target_user_id = $6) "
    "AND (CAST($7 AS BIGINT) IS NULL OR a.at >= $7) "
    "AND (CAST($8 AS BIGINT) IS NULL OR a.at < $8) "
    "AND (CAST($9 AS BIGINT) IS NULL OR a.id < $9) ORDER BY a.id DESC LIMIT $10"
)
_FEATURE: Final = "WHERE (CAST($1 AS TEXT) IS NULL OR a.feature = $1) "
_SELECT: Final = (
    "SELECT a.id, a.at, a.feature, a.actor_id, u.display_name AS actor_name, a.action, "
    'a.channel, a."offset", a.target_user_id, a.subject, a.reason, a.detail FROM audit_log a '
    "LEFT JOIN users u ON u.id = a.actor_id "
    "WHERE (CAST($1 AS BIGINT) IS NULL OR a.id < $1) "
    "AND (CAST($2 AS TEXT) IS NULL OR a.feature = $2) ORDER BY a.id DESC LIMIT $3"
)


async def write_entry(tx: Executor, entry: NewEntry) -> int:
    """Record ``entry`` on ``tx`` (the transaction of the change it describes); its id."""
    audit_id = await tx.fetchval(
        _INSERT,
        entry.at,
        entry.feature,
        entry.actor_id,
        entry.action,
        entry.channel,
        entry.offset,
        entry.target_user_id,
        entry.subject,
        entry.reason,
        orjson.dumps(entry.detail).decode(),
    )
    return int(audit_id)


class SqlAuditLog:
    """Implements ``persistence.audit.AuditLog`` over the shared database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def append(self, entry: NewEntry) -> int:
        async with self._db.transaction() as tx:
            return await write_entry(tx, entry)

    async def entries(
        self, *, feature: str | None = None, before_id: int | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        rows = await self._db.fetch(_SELECT, before_id, feature, limit)
        return _entries(rows)

    async def search(self, query: AuditQuery) -> list[AuditEntry]:
        q = query
        rows = await self._db.fetch(
            _SEARCH,
            q.feature,
            q.actor_id,
            q.action,
            q.channel,
            q.offset,
            q.target_user_id,
            q.since,
            q.until,
            q.before_id,
            q.limit,
        )
        return _entries(rows)

    async def facets(self, *, feature: str | None = None) -> AuditFacets:
        actors = await self._db.fetch(
            "SELECT DISTINCT a.actor_id, u.display_name FROM audit_log a "
            f"JOIN users u ON u.id = a.actor_id {_FEATURE}ORDER BY u.display_name",
            feature,
        )
        actions = await self._db.fetch(
            f"SELECT DISTINCT a.action FROM audit_log a {_FEATURE}ORDER BY a.action", feature
        )
        targets = await self._db.fetch(
            "SELECT DISTINCT a.target_user_id, u.display_name FROM audit_log a "
            f"JOIN users u ON u.id = a.target_user_id {_FEATURE}ORDER BY u.display_name",
            feature,
        )
        channels = await self._db.fetch(
            f"SELECT DISTINCT a.channel FROM audit_log a {_FEATURE}"
            "AND a.channel IS NOT NULL ORDER BY a.channel",
            feature,
        )
        return AuditFacets(
            actors=[(r["actor_id"], r["display_name"]) for r in actors],
            actions=[r["action"] for r in actions],
            targets=[(r["target_user_id"], r["display_name"]) for r in targets],
            channels=[r["channel"] for r in channels],
        )


def _entries(rows: list[Row]) -> list[AuditEntry]:
    return [
        AuditEntry(
            id=r["id"],
            at=r["at"],
            feature=r["feature"],
            actor_id=r["actor_id"],
            actor_name=r["actor_name"],
            action=r["action"],
            channel=r["channel"],
            offset=r["offset"],
            target_user_id=r["target_user_id"],
            subject=r["subject"],
            reason=r["reason"],
            detail=orjson.loads(r["detail"]),
        )
        for r in rows
    ]

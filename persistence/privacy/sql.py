"""``PrivacyStore`` in SQL for SQLite and PostgreSQL alike (the dialects' common subset).

The export and the erasure read and write other features' tables by their columns (the
migrations are their contract): a resident's data is spread over all of them, and one place that
knows every table holding a user id or a copy of a name is what lets a test check "everywhere".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import msgpack
import orjson

from linli.types import Millis, UserId
from persistence.db import Database, Executor
from persistence.privacy import (
    DELETED_NAME,
    RETENTION_DEFAULTS,
    Consent,
    RetentionKind,
)

#: Chat's kind in the search index (persistence/search CHAT_KIND).
_CHAT_DOCS: Final = "chat"
#: A password hash no password verifies (argon2 hashes start with "$").
_NO_PASSWORD: Final = "!deleted"


def _marks(count: int, first: int = 1) -> str:
    return ", ".join(f"${i}" for i in range(first, first + count))


def _json(value: Any) -> Any:
    """A JSON column's text as data (both dialects store it as TEXT)."""
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _renamed(data: bytes, user_id: int) -> bytes | None:
    """A stored chat body with its author's name replaced and its photo reference dropped, or
    None if it is not theirs (or is so already)."""
    try:
        body = msgpack.unpackb(data, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException):
        return None
    if not isinstance(body, dict):
        return None
    author = body.get("author")
    if not isinstance(author, dict) or author.get("id") != user_id:
        return None
    if author.get("name") == DELETED_NAME and "photo" not in body:
        return None
    body["author"] = {**author, "name": DELETED_NAME}
    body.pop("photo", None)  # its photo is deleted with the account (design 0032)
    return msgpack.packb(body)  # type: ignore[no-any-return]


def _message_text(data: bytes) -> tuple[str, str]:
    try:
        body = msgpack.unpackb(data, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException):
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    text = body.get("text")
    return str(body.get("kind", "")), text if isinstance(text, str) else ""


class SqlPrivacyStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    # -- consent -------------------------------------------------------------------------------
    async def record_consent(
        self,
        user_id: UserId,
        notice_version: str,
        *,
        at: Millis,
        how: str = "register",
        by_user_id: UserId | None = None,
    ) -> None:
        await self._db.execute(
            "INSERT INTO privacy_consents (user_id, notice_version, at, how, by_user_id) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, notice_version) DO NOTHING",
            user_id,
            notice_version,
            at,
            how,
            by_user_id,
        )

    async def consents(self, user_id: UserId) -> list[Consent]:
        rows = await self._db.fetch(
            "SELECT user_id, notice_version, at, how, by_user_id FROM privacy_consents "
            "WHERE user_id = $1 ORDER BY at",
            user_id,
        )
        return [
            Consent(r["user_id"], r["notice_version"], r["at"], r["how"], r["by_user_id"])
            for r in rows
        ]

    # -- deleted accounts ----------------------------------------------------------------------
    async def deleted_among(self, user_ids: Iterable[int]) -> set[int]:
        ids = sorted(set(user_ids))
        found: set[int] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = await self._db.fetch(
                f"SELECT user_id FROM privacy_deletions WHERE user_id IN ({_marks(len(chunk))})",
                *chunk,
            )
            found.update(int(r["user_id"]) for r in rows)
        return found

    async def erase_account(self, user_id: UserId, *, at: Millis) -> bool:
        async with self._db.transaction() as tx:
            row = await tx.fetchrow("SELECT username FROM users WHERE id = $1", user_id)
            if row is None:
                return False
            old_username = str(row["username"]).lower()
            tombstone = f"deleted-{user_id}"
            await tx.execute(
                "UPDATE users SET display_name = $2, username = $3, username_lower = $3, "
                "unit_id = NULL, password_hash = $4 WHERE id = $1",
                user_id,
                DELETED_NAME,
                tombstone,
                _NO_PASSWORD,
            )
            for statement in (
                "DELETE FROM sessions WHERE user_id = $1",
                "DELETE FROM push_subscriptions WHERE user_id = $1",
                "DELETE FROM event_feed_tokens WHERE user_id = $1",
                "DELETE FROM group_members WHERE user_id = $1",
                "DELETE FROM notify_deliveries WHERE notification_id IN "
                "(SELECT id FROM notifications WHERE user_id = $1)",
                "DELETE FROM notifications WHERE user_id = $1",
                "UPDATE notify_settings SET email = NULL WHERE user_id = $1",
                # Onboarding (design 0031): a pending first login, the tour's mark.
                "DELETE FROM onboard_first_login WHERE user_id = $1",
                "DELETE FROM onboard_tour_seen WHERE user_id = $1",
            ):
                await tx.execute(statement, user_id)
            # Nobody acts for a deleted account, nor does it act for anyone (the past acts stay,
            # on requests that show the tombstone's name).
            await tx.execute(
                "UPDATE onboard_helpers SET ended_at = $2 WHERE (resident_id = $1 "
                "OR helper_id = $1) AND ended_at IS NULL",
                user_id,
                at,
            )
            if old_username != tombstone:
                key = f"user:{old_username}"
                await tx.execute("DELETE FROM login_failures WHERE key = $1", key)
            for statement in (
                "UPDATE mod_messages SET author_name = $2 WHERE author_id = $1",
                "UPDATE mod_held SET author_name = $2 WHERE author_id = $1",
                "UPDATE search_docs SET author_name = $2 WHERE author_id = $1",
            ):
                await tx.execute(statement, user_id, DELETED_NAME)
            await self._rename_messages(tx, user_id)
            await tx.execute(
                "INSERT INTO privacy_deletions (user_id, at) VALUES ($1, $2) "
                "ON CONFLICT (user_id) DO NOTHING",
                user_id,
                at,
            )
        return True

    async def _rename_messages(self, tx: Executor, user_id: UserId) -> None:
        rows = await tx.fetch(
            'SELECT channel, "offset", data FROM messages WHERE author_id = $1', user_id
        )
        changes = []
        for r in rows:
            data = _renamed(bytes(r["data"]), user_id)
            if data is not None:
                changes.append((data, r["channel"], r["offset"]))
        if changes:
            await tx.executemany(
                'UPDATE messages SET data = $1 WHERE channel = $2 AND "offset" = $3', changes
            )

    # -- retention -----------------------------------------------------------------------------
    async def retention(self) -> dict[RetentionKind, int | None]:
        found = dict(RETENTION_DEFAULTS)
        for r in await self._db.fetch("SELECT kind, days FROM privacy_retention"):
            try:
                found[RetentionKind(r["kind"])] = None if r["days"] is None else int(r["days"])
            except ValueError:
                continue
        return found

    async def set_retention(self, kind: RetentionKind, days: int | None, *, at: Millis) -> None:
        await self._db.execute(
            "INSERT INTO privacy_retention (kind, days, updated_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (kind) DO UPDATE SET days = excluded.days, "
            "updated_at = excluded.updated_at",
            str(kind),
            days,
            at,
        )

    async def purge(self, kind: RetentionKind, *, before: Millis) -> int:
        async with self._db.transaction() as tx:
            if kind is RetentionKind.CHAT:
                docs = "SELECT id FROM search_docs WHERE kind = $1 AND at < $2"
                await tx.execute(
                    f"DELETE FROM search_terms WHERE doc_id IN ({docs})", _CHAT_DOCS, before
                )
                await tx.execute(
                    "DELETE FROM search_docs WHERE kind = $1 AND at < $2", _CHAT_DOCS, before
                )
                return await tx.execute("DELETE FROM messages WHERE created_at < $1", before)
            if kind is RetentionKind.AUDIT:
                # The delete guard (migration 0024) lets through rows older than purge_before.
                await tx.execute(
                    "INSERT INTO audit_purge (id, purge_before) VALUES (1, $1) "
                    "ON CONFLICT (id) DO UPDATE SET purge_before = excluded.purge_before",
                    before,
                )
                return await tx.execute("DELETE FROM audit_log WHERE at < $1", before)
            if kind is RetentionKind.ACTIVITY:
                return await tx.execute("DELETE FROM activity_events WHERE at < $1", before)
            await tx.execute(
                "DELETE FROM notify_deliveries WHERE notification_id IN "
                "(SELECT id FROM notifications WHERE created_at < $1)",
                before,
            )
            return await tx.execute("DELETE FROM notifications WHERE created_at < $1", before)

    # -- export --------------------------------------------------------------------------------
    async def export(self, user_id: UserId) -> dict[str, list[dict[str, Any]]]:
        db = self._db
        out: dict[str, list[dict[str, Any]]] = {}
        profile = await db.fetch(
            "SELECT u.id, u.username, u.display_name, u.role, b.name AS building, "
            "n.label AS unit, u.created_at, s.email, s.quiet_start, s.quiet_end, s.digest "
            "FROM users u LEFT JOIN buildings b ON b.id = u.building_id "
            "LEFT JOIN units n ON n.id = u.unit_id "
            "LEFT JOIN notify_settings s ON s.user_id = u.id WHERE u.id = $1",
            user_id,
        )
        out["profile"] = [dict(_row(r)) for r in profile]
        groups = await db.fetch(
            "SELECT slug, joined_at FROM group_members WHERE user_id = $1 ORDER BY slug", user_id
        )
        out["groups"] = [_row(r) for r in groups]
        devices = await db.fetch(
            "SELECT label, created_at, last_ok_at FROM push_subscriptions WHERE user_id = $1 "
            "ORDER BY id",
            user_id,
        )
        out["push_devices"] = [_row(r) for r in devices]
        out["consents"] = [
            {"notice_version": c.notice_version, "at": c.at, "how": c.how}
            for c in await self.consents(user_id)
        ]
        messages = []
        for r in await db.fetch(
            'SELECT channel, "offset", data, created_at FROM messages WHERE author_id = $1 '
            'ORDER BY created_at, channel, "offset"',
            user_id,
        ):
            kind, text = _message_text(bytes(r["data"]))
            messages.append(
                {
                    "channel": r["channel"],
                    "offset": r["offset"],
                    "kind": kind,
                    "text": text,
                    "created_at": r["created_at"],
                }
            )
        out["messages"] = messages
        out["forum_topics"] = [
            _row(r)
            for r in await db.fetch(
                "SELECT id, category_id, title, created_at FROM forum_topics "
                "WHERE author_id = $1 ORDER BY id",
                user_id,
            )
        ]
        out["forum_posts"] = [
            _row(r)
            for r in await db.fetch(
                "SELECT id, topic_id, number, source, created_at, edited_at, deleted "
                "FROM forum_posts WHERE author_id = $1 ORDER BY id",
                user_id,
            )
        ]
        votes = []
        for r in await db.fetch(
            "SELECT v.poll_id, p.question, p.options, v.voter_key, v.cast_at FROM poll_votes v "
            "JOIN polls p ON p.id = v.poll_id WHERE v.user_id = $1 AND p.anonymous = 0 "
            "ORDER BY v.cast_at, v.poll_id",
            user_id,
        ):
            options = _json(r["options"])
            picks = await db.fetch(
                "SELECT choice FROM poll_choices WHERE poll_id = $1 AND voter_key = $2 "
                "ORDER BY choice",
                r["poll_id"],
                r["voter_key"],
            )
            chosen = [int(c["choice"]) for c in picks]
            votes.append(
                {
                    "poll_id": r["poll_id"],
                    "question": r["question"],
                    "choices": [
                        options[i] if isinstance(options, list) and i < len(options) else i
                        for i in chosen
                    ],
                    "cast_at": r["cast_at"],
                }
            )
        out["votes"] = votes
        out["requests"] = [
            _row(r)
            for r in await db.fetch(
                "SELECT id, category, status, private, text, created_at, updated_at, "
                "resolved_at, closed_at FROM requests WHERE author_id = $1 ORDER BY id",
                user_id,
            )
        ]
        out["request_updates"] = [
            _row(r)
            for r in await db.fetch(
                "SELECT e.request_id, e.kind, e.status, e.text, e.at FROM request_events e "
                "JOIN requests q ON q.id = e.request_id "
                "WHERE q.author_id = $1 AND e.internal = 0 ORDER BY e.id",
                user_id,
            )
        ]
        signups = []
        for r in await db.fetch(
            "SELECT g.event_id, e.title, g.session_id, g.seats, g.state, g.answers, "
            "g.created_at, g.confirmed_at, g.ended_at, g.checked_in_at "
            "FROM event_signups g JOIN events e ON e.id = g.event_id "
            "WHERE g.user_id = $1 ORDER BY g.id",
            user_id,
        ):
            row = _row(r)
            row["answers"] = _json(row["answers"])
            signups.append(row)
        out["event_signups"] = signups
        # Onboarding (design 0031): who helps the resident or whom they help, and what helpers
        # did for them.
        out["helpers"] = [
            _row(r)
            for r in await db.fetch(
                "SELECT h.resident_id, r.display_name AS resident, h.helper_id, "
                "p.display_name AS helper, h.created_at, h.ended_at FROM onboard_helpers h "
                "JOIN users r ON r.id = h.resident_id JOIN users p ON p.id = h.helper_id "
                "WHERE h.resident_id = $1 OR h.helper_id = $1 ORDER BY h.id",
                user_id,
            )
        ]
        out["done_for_me"] = [
            _row(r)
            for r in await db.fetch(
                "SELECT a.kind, a.object_id, a.helper_id, p.display_name AS helper, a.at "
                "FROM onboard_acts a JOIN users p ON p.id = a.helper_id "
                "WHERE a.resident_id = $1 ORDER BY a.at, a.object_id",
                user_id,
            )
        ]
        out["survey_answers"] = [
            {**_row(r), "value": r["value"]}
            for r in await db.fetch(
                "SELECT r.survey_id, s.title, a.question, a.value, a.text "
                "FROM survey_responses r JOIN surveys s ON s.id = r.survey_id "
                "JOIN survey_answers a ON a.survey_id = r.survey_id AND a.token = r.token "
                "WHERE r.user_id = $1 AND s.anonymous = 0 "
                "ORDER BY r.survey_id, a.question, a.value",
                user_id,
            )
        ]
        out["notifications"] = [
            _row(r)
            for r in await db.fetch(
                "SELECT id, kind, text_zh, text_en, link, created_at, read_at FROM notifications "
                "WHERE user_id = $1 ORDER BY id",
                user_id,
            )
        ]
        return out


def _row(row: Any) -> dict[str, Any]:
    """A database row as a plain dict (both drivers' rows map column names to values)."""
    return {key: row[key] for key in row.keys()}

"""``ModerationStore`` in SQL, once for SQLite and PostgreSQL (the common subset, as in
``persistence/store_sql.py``). Each audited change and its ``audit_log`` row share a transaction.
"""

from __future__ import annotations

from typing import Any, Final

from linli.types import ChannelName, Millis, Offset, UserId
from persistence.audit import AuditEntry, AuditQuery, NewEntry
from persistence.audit.sql import SqlAuditLog, write_entry
from persistence.db import Database, Executor, Row
from persistence.errors import NotFound
from persistence.moderation import (
    ActionResult,
    AlreadyAppealed,
    Appeal,
    AppealOutcome,
    AppealState,
    Flag,
    FlagReason,
    FlagResult,
    HandlingRow,
    HeldMessage,
    HeldState,
    MessageAction,
    MessageSnapshot,
    ModeratedMessage,
    NewFlag,
    Review,
    Sanction,
    SanctionKind,
    Visibility,
    Word,
    WordAction,
    normalise_text,
)

_MESSAGE_COLUMNS: Final = (
    'channel, "offset", author_id, author_name, body, posted_at, visibility, review, flag_count, '
    "auto_hidden, first_flag_at, last_flag_at, first_action_at"
)
#: What is read back: the written columns and the deletion's time and purge (migration 0021).
_READ_COLUMNS: Final = f"{_MESSAGE_COLUMNS}, deleted_at, text_purged_at"
_HELD_COLUMNS: Final = (
    "id, channel, author_id, author_name, body, cmid, matched, state, published_offset, created_at"
)
_SANCTION_COLUMNS: Final = (
    "id, user_id, kind, channel, reason, created_by, created_at, expires_at, source_channel, "
    "source_offset"
)
_APPEAL_SELECT: Final = (
    "SELECT a.id, a.user_id, COALESCE(u.display_name, '') AS user_name, a.subject, a.summary, "
    "a.note, a.state, a.created_at, a.handled_by, a.handled_at, a.answer, a.outcome, a.seen_at "
    "FROM mod_appeals a LEFT JOIN users u ON u.id = a.user_id"
)

#: What each action does to (visibility, restored); None keeps the current value.
_TRANSITIONS: Final = {
    MessageAction.HIDE: Visibility.HIDDEN,
    MessageAction.RESTORE: Visibility.VISIBLE,
    MessageAction.DELETE: Visibility.DELETED,
}


def _moderated(row: Row) -> ModeratedMessage:
    return ModeratedMessage(
        channel=row["channel"],
        offset=row["offset"],
        author_id=row["author_id"],
        author_name=row["author_name"],
        body=row["body"],
        posted_at=row["posted_at"],
        visibility=Visibility(row["visibility"]),
        review=Review(row["review"]),
        flag_count=int(row["flag_count"]),
        auto_hidden=bool(row["auto_hidden"]),
        first_flag_at=row["first_flag_at"],
        last_flag_at=row["last_flag_at"],
        first_action_at=row["first_action_at"],
        deleted_at=row["deleted_at"],
        text_purged=row["text_purged_at"] is not None,
    )


def _held(row: Row) -> HeldMessage:
    return HeldMessage(
        id=row["id"],
        channel=row["channel"],
        author_id=row["author_id"],
        author_name=row["author_name"],
        body=row["body"],
        cmid=row["cmid"],
        matched=row["matched"],
        state=HeldState(row["state"]),
        published_offset=row["published_offset"],
        created_at=row["created_at"],
    )


def _sanction(row: Row) -> Sanction:
    return Sanction(
        id=row["id"],
        user_id=row["user_id"],
        kind=SanctionKind(row["kind"]),
        channel=row["channel"],
        reason=row["reason"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        source_channel=row["source_channel"],
        source_offset=row["source_offset"],
    )


def _appeal(row: Row) -> Appeal:
    return Appeal(
        id=row["id"],
        user_id=row["user_id"],
        user_name=row["user_name"],
        subject=row["subject"],
        summary=row["summary"],
        note=row["note"],
        state=AppealState(row["state"]),
        created_at=row["created_at"],
        handled_by=row["handled_by"],
        handled_at=row["handled_at"],
        answer=row["answer"],
        outcome=AppealOutcome(row["outcome"]) if row["outcome"] else None,
        seen_at=row["seen_at"],
    )


async def _audit(
    tx: Executor,
    action: str,
    *,
    actor_id: UserId | None,
    reason: str,
    now: Millis,
    channel: ChannelName | None = None,
    offset: Offset | None = None,
    target_user_id: UserId | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    return await write_entry(
        tx,
        NewEntry(
            feature="moderation",
            action=action,
            actor_id=actor_id,
            reason=reason,
            at=now,
            channel=channel,
            offset=offset,
            target_user_id=target_user_id,
            detail=detail or {},
        ),
    )


class SqlModerationStore:
    """Implements ``persistence.moderation.ModerationStore``."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- flags and message states -------------------------------------------------------------
    async def record_flag(self, flag: NewFlag, *, now: Millis) -> FlagResult:
        async with self._db.transaction() as tx:
            inserted = await tx.fetchval(
                'INSERT INTO mod_flags (channel, "offset", flagger_id, reason, note, created_at) '
                "VALUES ($1, $2, $3, $4, $5, $6) "
                'ON CONFLICT (channel, "offset", flagger_id) DO NOTHING RETURNING id',
                flag.channel,
                flag.offset,
                flag.flagger_id,
                str(flag.reason),
                flag.note,
                now,
            )
            if inserted is not None:
                await tx.execute(
                    f"INSERT INTO mod_messages ({_MESSAGE_COLUMNS}, restored, updated_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6, 'visible', 'open', 1, 0, $7, $7, NULL, 0, $7) "
                    'ON CONFLICT (channel, "offset") DO UPDATE SET '
                    "flag_count = mod_messages.flag_count + 1, review = 'open', "
                    "first_flag_at = COALESCE(mod_messages.first_flag_at, excluded.first_flag_at), "
                    "last_flag_at = excluded.last_flag_at, updated_at = excluded.updated_at",
                    flag.channel,
                    flag.offset,
                    flag.author_id,
                    flag.author_name,
                    flag.body,
                    flag.posted_at,
                    now,
                )
            row = await tx.fetchrow(
                "SELECT flag_count, visibility FROM mod_messages "
                'WHERE channel = $1 AND "offset" = $2',
                flag.channel,
                flag.offset,
            )
        assert row is not None
        return FlagResult(
            inserted is not None, int(row["flag_count"]), Visibility(row["visibility"])
        )

    async def auto_hide(
        self, channel: ChannelName, offset: Offset, *, threshold: int, now: Millis
    ) -> bool:
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE mod_messages SET visibility = 'hidden', auto_hidden = 1, updated_at = $3 "
                "WHERE channel = $1 AND \"offset\" = $2 AND visibility = 'visible' "
                "AND restored = 0 AND flag_count >= $4",
                channel,
                offset,
                now,
                threshold,
            )
            if changed:
                await _audit(
                    tx,
                    "auto_hide",
                    actor_id=None,
                    reason=f"flagged by {threshold} or more residents",
                    now=now,
                    channel=channel,
                    offset=offset,
                    detail={"threshold": threshold},
                )
        return bool(changed)

    async def act_on_message(
        self,
        channel: ChannelName,
        offset: Offset,
        action: MessageAction,
        *,
        actor_id: UserId,
        reason: str,
        now: Millis,
        snapshot: MessageSnapshot | None = None,
    ) -> ActionResult:
        async with self._db.transaction() as tx:
            row = await tx.fetchrow(
                f"SELECT {_READ_COLUMNS}, restored FROM mod_messages "
                'WHERE channel = $1 AND "offset" = $2',
                channel,
                offset,
            )
            if row is None:
                if snapshot is None:
                    raise NotFound(f"message {channel}@{offset}")
                await tx.execute(
                    f"INSERT INTO mod_messages ({_MESSAGE_COLUMNS}, restored, updated_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6, 'visible', 'handled', 0, 0, NULL, NULL, "
                    "NULL, 0, $7)",
                    channel,
                    offset,
                    snapshot.author_id,
                    snapshot.author_name,
                    snapshot.body,
                    snapshot.posted_at,
                    now,
                )
                row = await tx.fetchrow(
                    f"SELECT {_READ_COLUMNS}, restored FROM mod_messages "
                    'WHERE channel = $1 AND "offset" = $2',
                    channel,
                    offset,
                )
                assert row is not None
            before = _moderated(row)
            visibility = before.visibility
            auto_hidden = before.auto_hidden
            restored = bool(row["restored"])
            if action is MessageAction.DISMISS:
                if visibility is Visibility.HIDDEN and auto_hidden:
                    visibility, restored = Visibility.VISIBLE, True
            elif visibility is not Visibility.DELETED:  # a deletion is final
                visibility = _TRANSITIONS[action]
                if action is MessageAction.RESTORE:
                    restored = True
                auto_hidden = False  # a moderator's decision now
            if visibility is not Visibility.HIDDEN:
                auto_hidden = False
            changed = visibility is not before.visibility or before.review is Review.OPEN
            if changed:
                await tx.execute(
                    "UPDATE mod_messages SET visibility = $3, review = 'handled', "
                    "auto_hidden = $4, restored = $5, updated_at = $6, "
                    "first_action_at = COALESCE(first_action_at, $6), "
                    "deleted_at = CASE WHEN $3 = 'deleted' THEN COALESCE(deleted_at, $6) "
                    "ELSE deleted_at END "
                    'WHERE channel = $1 AND "offset" = $2',
                    channel,
                    offset,
                    str(visibility),
                    int(auto_hidden),
                    int(restored),
                    now,
                )
                await _audit(
                    tx,
                    str(action),
                    actor_id=actor_id,
                    reason=reason,
                    now=now,
                    channel=channel,
                    offset=offset,
                    target_user_id=before.author_id,
                    detail={"from": str(before.visibility), "to": str(visibility)},
                )
            after = await tx.fetchrow(
                f'SELECT {_READ_COLUMNS} FROM mod_messages WHERE channel = $1 AND "offset" = $2',
                channel,
                offset,
            )
        assert after is not None
        return ActionResult(changed, _moderated(after))

    async def get_message(self, channel: ChannelName, offset: Offset) -> ModeratedMessage | None:
        row = await self._db.fetchrow(
            f'SELECT {_READ_COLUMNS} FROM mod_messages WHERE channel = $1 AND "offset" = $2',
            channel,
            offset,
        )
        return None if row is None else _moderated(row)

    async def hidden_states(
        self, channel: ChannelName, first: Offset, last: Offset
    ) -> dict[Offset, Visibility]:
        rows = await self._db.fetch(
            'SELECT "offset", visibility FROM mod_messages WHERE channel = $1 '
            'AND "offset" >= $2 AND "offset" <= $3 AND visibility <> \'visible\'',
            channel,
            first,
            last,
        )
        return {int(r["offset"]): Visibility(r["visibility"]) for r in rows}

    async def queue(
        self, *, review: Review | None, channel_prefix: str | None, limit: int
    ) -> list[ModeratedMessage]:
        rows = await self._db.fetch(
            f"SELECT {_READ_COLUMNS} FROM mod_messages "
            "WHERE first_flag_at IS NOT NULL AND (CAST($1 AS TEXT) IS NULL OR review = $1) "
            "AND (CAST($2 AS TEXT) IS NULL OR channel = $2 "
            "OR substr(channel, 1, length(CAST($2 AS TEXT)) + 1) = CAST($2 AS TEXT) || ':') "
            'ORDER BY last_flag_at DESC, flag_count DESC, channel, "offset" LIMIT $3',
            None if review is None else str(review),
            channel_prefix,
            limit,
        )
        return [_moderated(r) for r in rows]

    async def flags_of(self, channel: ChannelName, offset: Offset) -> list[Flag]:
        rows = await self._db.fetch(
            "SELECT f.channel, f.\"offset\", f.flagger_id, COALESCE(u.display_name, '') AS name, "
            "f.reason, f.note, f.created_at FROM mod_flags f "
            "LEFT JOIN users u ON u.id = f.flagger_id "
            'WHERE f.channel = $1 AND f."offset" = $2 ORDER BY f.created_at, f.id',
            channel,
            offset,
        )
        return [
            Flag(
                channel=r["channel"],
                offset=r["offset"],
                flagger_id=r["flagger_id"],
                flagger_name=r["name"],
                reason=FlagReason(r["reason"]),
                note=r["note"],
                created_at=r["created_at"],
            )
            for r in rows
        ]

    async def flagged_by(self, user_id: UserId, channel: ChannelName) -> list[Offset]:
        rows = await self._db.fetch(
            'SELECT "offset" FROM mod_flags WHERE flagger_id = $1 AND channel = $2 '
            'ORDER BY "offset"',
            user_id,
            channel,
        )
        return [int(r["offset"]) for r in rows]

    # -- held messages ------------------------------------------------------------------------
    async def hold_message(
        self,
        *,
        channel: ChannelName,
        author_id: UserId,
        author_name: str,
        body: str,
        cmid: str,
        matched: str,
        now: Millis,
    ) -> tuple[HeldMessage, bool]:
        async with self._db.transaction() as tx:
            new_id = await tx.fetchval(
                "INSERT INTO mod_held (channel, author_id, author_name, body, cmid, matched, "
                "state, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'held', $7) "
                "ON CONFLICT (author_id, channel, cmid) DO NOTHING RETURNING id",
                channel,
                author_id,
                author_name,
                body,
                cmid,
                matched,
                now,
            )
            row = await tx.fetchrow(
                f"SELECT {_HELD_COLUMNS} FROM mod_held "
                "WHERE author_id = $1 AND channel = $2 AND cmid = $3",
                author_id,
                channel,
                cmid,
            )
        assert row is not None
        return _held(row), new_id is not None

    async def get_held(self, held_id: int) -> HeldMessage | None:
        row = await self._db.fetchrow(
            f"SELECT {_HELD_COLUMNS} FROM mod_held WHERE id = $1", held_id
        )
        return None if row is None else _held(row)

    async def list_held(
        self, *, state: HeldState | None, author_id: UserId | None = None, limit: int = 100
    ) -> list[HeldMessage]:
        rows = await self._db.fetch(
            f"SELECT {_HELD_COLUMNS} FROM mod_held WHERE (CAST($1 AS TEXT) IS NULL OR state = $1) "
            "AND (CAST($2 AS BIGINT) IS NULL OR author_id = $2) "
            "ORDER BY created_at DESC, id DESC LIMIT $3",
            None if state is None else str(state),
            author_id,
            limit,
        )
        return [_held(r) for r in rows]

    async def decide_held(
        self,
        held_id: int,
        *,
        approve: bool,
        actor_id: UserId,
        reason: str,
        now: Millis,
        published_offset: Offset | None = None,
    ) -> bool:
        state = HeldState.APPROVED if approve else HeldState.REJECTED
        async with self._db.transaction() as tx:
            row = await tx.fetchrow(f"SELECT {_HELD_COLUMNS} FROM mod_held WHERE id = $1", held_id)
            if row is None:
                raise NotFound(f"held message {held_id}")
            held = _held(row)
            if held.state is not HeldState.HELD:
                return False
            await tx.execute(
                "UPDATE mod_held SET state = $2, published_offset = $3, decided_at = $4 "
                "WHERE id = $1",
                held_id,
                str(state),
                published_offset,
                now,
            )
            await _audit(
                tx,
                "approve" if approve else "reject",
                actor_id=actor_id,
                reason=reason,
                now=now,
                channel=held.channel,
                offset=published_offset,
                target_user_id=held.author_id,
                detail={"held_id": held_id, "matched": held.matched},
            )
        return True

    # -- sanctions ----------------------------------------------------------------------------
    async def add_sanction(
        self,
        user_id: UserId,
        kind: SanctionKind,
        *,
        channel: ChannelName | None,
        expires_at: Millis | None,
        actor_id: UserId,
        reason: str,
        now: Millis,
        channel_context: tuple[ChannelName, Offset] | None = None,
    ) -> Sanction:
        async with self._db.transaction() as tx:
            row = await tx.fetchrow(
                "INSERT INTO mod_sanctions (user_id, kind, channel, reason, created_by, "
                "created_at, expires_at, source_channel, source_offset) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                f"RETURNING {_SANCTION_COLUMNS}",
                user_id,
                str(kind),
                channel,
                reason,
                actor_id,
                now,
                expires_at,
                channel_context[0] if channel_context else None,
                channel_context[1] if channel_context else None,
            )
            assert row is not None
            await _audit(
                tx,
                str(kind),
                actor_id=actor_id,
                reason=reason,
                now=now,
                channel=channel_context[0] if channel_context else channel,
                offset=channel_context[1] if channel_context else None,
                target_user_id=user_id,
                detail={"scope": channel or "everywhere", "expires_at": expires_at},
            )
        return _sanction(row)

    async def lift_sanctions(
        self,
        user_id: UserId,
        kind: SanctionKind,
        *,
        actor_id: UserId,
        reason: str,
        now: Millis,
    ) -> int:
        async with self._db.transaction() as tx:
            lifted = await tx.execute(
                "UPDATE mod_sanctions SET lifted_at = $3 WHERE user_id = $1 AND kind = $2 "
                "AND lifted_at IS NULL AND (expires_at IS NULL OR expires_at > $3)",
                user_id,
                str(kind),
                now,
            )
            if lifted:
                await _audit(
                    tx,
                    f"un{kind}",
                    actor_id=actor_id,
                    reason=reason,
                    now=now,
                    target_user_id=user_id,
                    detail={"lifted": lifted},
                )
        return lifted

    async def active_sanctions(self, user_id: UserId, *, now: Millis) -> list[Sanction]:
        rows = await self._db.fetch(
            f"SELECT {_SANCTION_COLUMNS} FROM mod_sanctions WHERE user_id = $1 "
            "AND kind IN ('mute', 'ban') AND lifted_at IS NULL "
            "AND (expires_at IS NULL OR expires_at > $2) ORDER BY created_at, id",
            user_id,
            now,
        )
        return [_sanction(r) for r in rows]

    # -- word list ----------------------------------------------------------------------------
    async def list_words(self) -> list[Word]:
        rows = await self._db.fetch("SELECT id, pattern, action FROM mod_words")
        words = [Word(r["id"], r["pattern"], WordAction(r["action"])) for r in rows]
        return sorted(words, key=lambda w: w.pattern)

    async def add_word(
        self, pattern: str, action: WordAction, *, actor_id: UserId, reason: str, now: Millis
    ) -> Word:
        normalised = normalise_text(pattern).strip()
        if not normalised:
            raise ValueError("an empty pattern would match every message")
        async with self._db.transaction() as tx:
            word_id = await tx.fetchval(
                "INSERT INTO mod_words (pattern, action, created_by, created_at) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (pattern) DO UPDATE SET action = "
                "excluded.action RETURNING id",
                normalised,
                str(action),
                actor_id,
                now,
            )
            await _audit(
                tx,
                "add_word",
                actor_id=actor_id,
                reason=reason,
                now=now,
                detail={"pattern": normalised, "action": str(action)},
            )
        return Word(int(word_id), normalised, action)

    async def remove_word(
        self, word_id: int, *, actor_id: UserId, reason: str, now: Millis
    ) -> bool:
        async with self._db.transaction() as tx:
            pattern = await tx.fetchval("SELECT pattern FROM mod_words WHERE id = $1", word_id)
            if pattern is None:
                return False
            await tx.execute("DELETE FROM mod_words WHERE id = $1", word_id)
            await _audit(
                tx,
                "remove_word",
                actor_id=actor_id,
                reason=reason,
                now=now,
                detail={"pattern": pattern},
            )
        return True

    # -- settings and rules -------------------------------------------------------------------
    async def get_setting(self, key: str) -> str | None:
        value = await self._db.fetchval("SELECT value FROM mod_settings WHERE key = $1", key)
        return None if value is None else str(value)

    async def set_setting(
        self, key: str, value: str, *, actor_id: UserId, reason: str, now: Millis
    ) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO mod_settings (key, value) VALUES ($1, $2) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                key,
                value,
            )
            await _audit(
                tx,
                "set_setting",
                actor_id=actor_id,
                reason=reason,
                now=now,
                detail={"key": key, "value": value},
            )

    async def get_rules(self, locale: str) -> tuple[str, Millis] | None:
        row = await self._db.fetchrow(
            "SELECT body, updated_at FROM mod_rules WHERE locale = $1", locale
        )
        return None if row is None else (row["body"], row["updated_at"])

    async def set_rules(
        self, locale: str, body: str, *, actor_id: UserId, reason: str, now: Millis
    ) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO mod_rules (locale, body, updated_by, updated_at) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (locale) DO UPDATE SET body = excluded.body, "
                "updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                locale,
                body,
                actor_id,
                now,
            )
            await _audit(
                tx,
                "edit_rules",
                actor_id=actor_id,
                reason=reason,
                now=now,
                detail={"locale": locale, "chars": len(body)},
            )

    # -- audit and figures --------------------------------------------------------------------
    async def add_audit(
        self,
        action: str,
        *,
        actor_id: UserId | None,
        reason: str,
        now: Millis,
        channel: ChannelName | None = None,
        offset: Offset | None = None,
        target_user_id: UserId | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int:
        async with self._db.transaction() as tx:
            return await _audit(
                tx,
                action,
                actor_id=actor_id,
                reason=reason,
                now=now,
                channel=channel,
                offset=offset,
                target_user_id=target_user_id,
                detail=detail,
            )

    # -- what the author is told ------------------------------------------------------------
    async def decision_reasons(
        self, channel: ChannelName, offsets: list[Offset]
    ) -> dict[Offset, str]:
        if not offsets:
            return {}
        rows = await self._db.fetch(
            'SELECT "offset", action, reason FROM audit_log WHERE feature = $1 AND channel = $2 '
            'AND "offset" >= $3 AND "offset" <= $4 '
            "AND action IN ('hide', 'delete', 'auto_hide') ORDER BY id",
            "moderation",
            channel,
            min(offsets),
            max(offsets),
        )
        wanted = set(offsets)
        found: dict[Offset, str] = {}
        for r in rows:  # oldest first: the latest decision wins
            if r["offset"] in wanted:
                found[r["offset"]] = "auto" if r["action"] == "auto_hide" else r["reason"]
        return found

    async def warnings_of(self, user_id: UserId, *, since: Millis) -> list[AuditEntry]:
        rows = await self._db.fetch(
            "SELECT id FROM audit_log WHERE feature = 'moderation' AND action = 'warn' "
            "AND target_user_id = $1 AND at >= $2 ORDER BY id DESC LIMIT 20",
            user_id,
            since,
        )
        found = [await self.get_warning(r["id"]) for r in rows]
        return [entry for entry in found if entry is not None]

    async def get_warning(self, audit_id: int) -> AuditEntry | None:
        for entry in await SqlAuditLog(self._db).entries(
            feature="moderation", before_id=audit_id + 1, limit=1
        ):
            if entry.id == audit_id and entry.action == "warn":
                return entry
        return None

    async def get_sanction(self, sanction_id: int) -> Sanction | None:
        row = await self._db.fetchrow(
            f"SELECT {_SANCTION_COLUMNS} FROM mod_sanctions WHERE id = $1", sanction_id
        )
        return _sanction(row) if row else None

    async def add_appeal(
        self, user_id: UserId, subject: str, *, summary: str, note: str, now: Millis
    ) -> Appeal:
        async with self._db.transaction() as tx:
            appeal_id = await tx.fetchval(
                "INSERT INTO mod_appeals (user_id, subject, summary, note, state, created_at) "
                "VALUES ($1, $2, $3, $4, 'open', $5) "
                "ON CONFLICT (user_id, subject) DO NOTHING RETURNING id",
                user_id,
                subject,
                summary,
                note,
                now,
            )
            if appeal_id is None:
                raise AlreadyAppealed(subject)
            await _audit(
                tx,
                "appeal",
                actor_id=user_id,
                reason=note,
                now=now,
                target_user_id=user_id,
                detail={"appeal_id": int(appeal_id), "subject": subject},
            )
            row = await tx.fetchrow(f"{_APPEAL_SELECT} WHERE a.id = $1", appeal_id)
        assert row is not None
        return _appeal(row)

    async def appeals(
        self, *, state: AppealState | None, user_id: UserId | None = None, limit: int = 100
    ) -> list[Appeal]:
        rows = await self._db.fetch(
            f"{_APPEAL_SELECT} WHERE (CAST($1 AS TEXT) IS NULL OR a.state = $1) "
            "AND (CAST($2 AS BIGINT) IS NULL OR a.user_id = $2) "
            "ORDER BY a.created_at DESC, a.id DESC LIMIT $3",
            None if state is None else str(state),
            user_id,
            limit,
        )
        return [_appeal(r) for r in rows]

    async def close_appeal(
        self,
        appeal_id: int,
        *,
        actor_id: UserId,
        answer: str,
        outcome: AppealOutcome,
        now: Millis,
    ) -> Appeal:
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE mod_appeals SET state = 'closed', handled_by = $2, handled_at = $3, "
                "answer = $4, outcome = $5 WHERE id = $1 AND state = 'open'",
                appeal_id,
                actor_id,
                now,
                answer,
                str(outcome),
            )
            row = await tx.fetchrow(f"{_APPEAL_SELECT} WHERE a.id = $1", appeal_id)
            if row is None:
                raise NotFound(f"no appeal {appeal_id}")
            if changed:
                await _audit(
                    tx,
                    "appeal_closed",
                    actor_id=actor_id,
                    reason=answer,
                    now=now,
                    target_user_id=row["user_id"],
                    detail={
                        "appeal_id": appeal_id,
                        "subject": row["subject"],
                        "outcome": str(outcome),
                    },
                )
        return _appeal(row)

    async def appeal_seen(self, appeal_id: int, user_id: UserId, *, now: Millis) -> Appeal:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE mod_appeals SET seen_at = $3 "
                "WHERE id = $1 AND user_id = $2 AND state = 'closed' AND seen_at IS NULL",
                appeal_id,
                user_id,
                now,
            )
            row = await tx.fetchrow(
                f"{_APPEAL_SELECT} WHERE a.id = $1 AND a.user_id = $2 AND a.state = 'closed'",
                appeal_id,
                user_id,
            )
        if row is None:
            raise NotFound(f"no answered appeal {appeal_id} of user {user_id}")
        return _appeal(row)

    async def audit_log(
        self, *, before_id: int | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        return await SqlAuditLog(self._db).entries(
            feature="moderation", before_id=before_id, limit=limit
        )

    async def message_history(self, channel: ChannelName, offset: Offset) -> list[AuditEntry]:
        return await SqlAuditLog(self._db).search(
            AuditQuery(feature="moderation", channel=channel, offset=offset, limit=200)
        )

    async def purge_deleted_text(self, *, before: Millis, now: Millis) -> int:
        async with self._db.transaction() as tx:
            rows = await tx.fetch(
                "SELECT channel, \"offset\" FROM mod_messages WHERE visibility = 'deleted' "
                "AND deleted_at IS NOT NULL AND deleted_at < $1 AND text_purged_at IS NULL",
                before,
            )
            await tx.execute(
                "UPDATE mod_messages SET body = '', text_purged_at = $2 "
                "WHERE visibility = 'deleted' AND deleted_at IS NOT NULL AND deleted_at < $1 "
                "AND text_purged_at IS NULL",
                before,
                now,
            )
        return len(rows)

    async def handling_rows(self, *, since: Millis, until: Millis) -> list[HandlingRow]:
        rows = await self._db.fetch(
            "SELECT first_flag_at, first_action_at FROM mod_messages "
            "WHERE first_flag_at >= $1 AND first_flag_at < $2 ORDER BY first_flag_at",
            since,
            until,
        )
        return [HandlingRow(r["first_flag_at"], r["first_action_at"]) for r in rows]

    async def count_flags(self, *, since: Millis, until: Millis) -> int:
        value = await self._db.fetchval(
            "SELECT count(*) FROM mod_flags WHERE created_at >= $1 AND created_at < $2",
            since,
            until,
        )
        return int(value)

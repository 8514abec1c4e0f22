"""``Store`` in SQL, written once for SQLite and PostgreSQL over ``persistence.db.Database``.

The SQL is the common subset of both dialects (``RETURNING`` and ``ON CONFLICT … DO UPDATE``
exist in SQLite ≥ 3.35 and PostgreSQL alike). The one statement that differs is the bulk insert
of messages, where PostgreSQL takes whole arrays in one statement; see ``insert_messages``.

Sorting of names is done in Python: ``ORDER BY`` on text follows the database's collation, which
differs between SQLite (bytewise) and a PostgreSQL database (locale), and the contract suite must
see the same order from both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from linli.types import BuildingId, ChannelName, Epoch, Millis, Offset, UserId
from persistence.db import Database, Executor, ForeignKeyViolation, Row, UniqueViolation
from persistence.store import (
    Building,
    Group,
    GroupSlugTaken,
    Invite,
    InviteInvalid,
    NotFound,
    Role,
    StoredMessage,
    Unit,
    User,
    UsernameTaken,
    WaitRule,
)

#: Above any offset, for a history query without an upper bound (one statement instead of two).
_MAX_BIGINT: Final = 2**63 - 1

_USER_COLUMNS: Final = "id, username, display_name, role, building_id, unit_id, created_at"
_GROUP_SELECT: Final = """
    SELECT g.slug, g.name, g.description, g.created_by, g.created_at,
           (SELECT count(*) FROM group_members m WHERE m.slug = g.slug) AS member_count
    FROM groups g
"""
_MESSAGE_COLUMNS: Final = 'channel, "offset", epoch, data, author_id, created_at, client_msg_id'

# A row of the same or an older epoch is left alone; a newer epoch replaces the stored row.
_UPSERT_ACTION: Final = """
    ON CONFLICT (channel, "offset") DO UPDATE
    SET epoch = excluded.epoch, data = excluded.data, author_id = excluded.author_id,
        created_at = excluded.created_at, client_msg_id = excluded.client_msg_id
    WHERE messages.epoch < excluded.epoch
"""
# One chat message is one row (design 0033): a copy at another offset of the same message
# (channel, author, client_msg_id) from an older epoch is deleted before the newer is inserted,
# and a row whose message is stored at another offset already (same or newer epoch) is skipped.
_DELETE_OLDER_COPY: Final = """
    DELETE FROM messages
    WHERE channel = $1 AND author_id = $2 AND client_msg_id = $3 AND "offset" <> $4 AND epoch < $5
"""
_INSERT_MESSAGE: Final = f"""
    INSERT INTO messages ({_MESSAGE_COLUMNS}) SELECT $1, $2, $3, $4, $5, $6, $7
    WHERE $7 IS NULL OR NOT EXISTS (
        SELECT 1 FROM messages m
        WHERE m.channel = $1 AND m.author_id = $5 AND m.client_msg_id = $7 AND m."offset" <> $2
    )
    {_UPSERT_ACTION}
"""
# PostgreSQL only: the whole batch as arrays in one statement, one round trip and one plan
# (here ~120k rows/s against ~80k/s for executemany of the same batches of 500). The command tag
# counts inserted plus updated rows, not the ones the WHERE of the conflict action skipped.
_UNNEST: Final = """unnest($1::text[], $2::bigint[], $3::bigint[], $4::bytea[], $5::bigint[],
                 $6::bigint[], $7::text[])
    AS u(channel, "offset", epoch, data, author_id, created_at, client_msg_id)"""
# The older copies a batch replaces, found row by row through the unique index (the LATERAL
# with LIMIT keeps the planner from joining the whole table: a DELETE ... USING unnest(...) was a
# hash join over a sequential scan of messages, ~0.5 s per batch at 100,000 rows). Almost
# always empty; the rows found are then deleted by primary key.
_FIND_OLDER_COPIES_UNNEST: Final = f"""
    SELECT x.channel, x."offset" FROM {_UNNEST}
    CROSS JOIN LATERAL (
        SELECT m.channel, m."offset" FROM messages m
        WHERE m.channel = u.channel AND m.author_id = u.author_id
          AND m.client_msg_id = u.client_msg_id AND m."offset" <> u."offset" AND m.epoch < u.epoch
        LIMIT 1
    ) x
    WHERE u.client_msg_id IS NOT NULL
"""
_DELETE_MESSAGE: Final = 'DELETE FROM messages WHERE channel = $1 AND "offset" = $2'
_INSERT_MESSAGES_UNNEST: Final = f"""
    INSERT INTO messages ({_MESSAGE_COLUMNS})
    SELECT u.* FROM {_UNNEST}
    WHERE u.client_msg_id IS NULL OR NOT EXISTS (
        SELECT 1 FROM messages m
        WHERE m.channel = u.channel AND m.author_id = u.author_id
          AND m.client_msg_id = u.client_msg_id AND m."offset" <> u."offset"
          AND m.epoch >= u.epoch
    )
    {_UPSERT_ACTION}
"""


def normalise_label(label: str) -> str:
    """A unit label as stored and shown: outer spaces stripped, inner runs of whitespace one
    space."""
    return " ".join(label.split())


def label_key(label: str) -> str:
    """What makes two unit labels the same unit: the normalised label, case folded."""
    return normalise_label(label).casefold()


def username_key(username: str) -> str:
    """What makes two usernames the same user. ``casefold`` rather than SQL ``lower()``: SQLite's
    ``lower()`` only knows ASCII, and the key must be the same whichever database stores it."""
    return username.casefold()


def _building(row: Row) -> Building:
    return Building(id=row["id"], name=row["name"], created_at=row["created_at"])


def _user(row: Row) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        display_name=row["display_name"],
        role=Role(row["role"]),
        building_id=row["building_id"],
        unit_id=row["unit_id"],
        created_at=row["created_at"],
    )


def _invite(row: Row) -> Invite:
    return Invite(
        code=row["code"],
        building_id=row["building_id"],
        uses_left=row["uses_left"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
    )


def _group(row: Row) -> Group:
    return Group(
        slug=row["slug"],
        name=row["name"],
        description=row["description"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        member_count=int(row["member_count"]),
    )


def _message(row: Row) -> StoredMessage:
    return StoredMessage(
        channel=row["channel"],
        offset=row["offset"],
        epoch=row["epoch"],
        data=bytes(row["data"]),
        author_id=row["author_id"],
        created_at=row["created_at"],
        client_msg_id=row["client_msg_id"],
    )


def _dedupe(messages: list[StoredMessage]) -> list[StoredMessage]:
    """One row per (channel, offset), the one a sequential insert would leave: the first of the
    highest epoch; then one per chat message (channel, author, client_msg_id), likewise.
    PostgreSQL refuses a statement whose conflict action would hit one row twice, a statement
    sees the table as it was before it, and both dialects should count the same."""
    best: dict[tuple[ChannelName, Offset], StoredMessage] = {}
    for message in messages:
        key = (message.channel, message.offset)
        kept = best.get(key)
        if kept is None or message.epoch > kept.epoch:
            best[key] = message
    rows: list[StoredMessage] = []
    by_message: dict[tuple[ChannelName, UserId | None, str], int] = {}
    for message in best.values():
        if message.client_msg_id is None:
            rows.append(message)
            continue
        identity = (message.channel, message.author_id, message.client_msg_id)
        index = by_message.get(identity)
        if index is None:
            by_message[identity] = len(rows)
            rows.append(message)
        elif message.epoch > rows[index].epoch:
            rows[index] = message
    return rows


class SqlStore:
    """Implements ``persistence.store.Store``; see there for the guarantees."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def close(self) -> None:
        await self._db.close()

    @property
    def database(self) -> Database:
        """The database underneath, which the features' stores share."""
        return self._db

    # -- buildings and units ----------------------------------------------------------------
    async def create_building(self, name: str, *, now: Millis) -> Building:
        row = await self._db.fetchrow(
            "INSERT INTO buildings (name, created_at) VALUES ($1, $2) "
            "RETURNING id, name, created_at",
            name,
            now,
        )
        assert row is not None  # RETURNING of an INSERT without conflict clause
        return _building(row)

    async def list_buildings(self) -> list[Building]:
        rows = await self._db.fetch("SELECT id, name, created_at FROM buildings ORDER BY id")
        return [_building(row) for row in rows]

    async def get_building(self, building_id: BuildingId) -> Building | None:
        row = await self._db.fetchrow(
            "SELECT id, name, created_at FROM buildings WHERE id = $1", building_id
        )
        return None if row is None else _building(row)

    async def list_units(self, building_id: BuildingId) -> list[Unit]:
        """In the order they were created."""
        rows = await self._db.fetch(
            "SELECT id, building_id, label FROM units WHERE building_id = $1 ORDER BY id",
            building_id,
        )
        return [Unit(id=r["id"], building_id=r["building_id"], label=r["label"]) for r in rows]

    @staticmethod
    async def _unit_id(tx: Executor, building_id: BuildingId, label: str) -> int:
        """Find or create the unit in one statement. A no-op DO UPDATE rather than DO NOTHING
        makes RETURNING yield the existing row too, and two registrations creating the same new
        unit at once cannot fail on the unique constraint (the later one waits, then updates)."""
        unit_id = await tx.fetchval(
            "INSERT INTO units (building_id, label, label_key) VALUES ($1, $2, $3) "
            "ON CONFLICT (building_id, label_key) DO UPDATE SET label_key = excluded.label_key "
            "RETURNING id",
            building_id,
            normalise_label(label),
            label_key(label),
        )
        return int(unit_id)

    # -- invites and users --------------------------------------------------------------------
    async def create_invite(
        self, building_id: BuildingId, code: str, *, uses: int, expires_at: Millis, now: Millis
    ) -> Invite:
        if uses < 0:
            raise ValueError(f"an invite cannot have {uses} uses")
        try:
            row = await self._db.fetchrow(
                "INSERT INTO invites (code, building_id, uses_left, expires_at, created_at) "
                "VALUES ($1, $2, $3, $4, $5) "
                "RETURNING code, building_id, uses_left, expires_at, created_at",
                code,
                building_id,
                uses,
                expires_at,
                now,
            )
        except ForeignKeyViolation as exc:
            raise NotFound(f"building {building_id}") from exc
        assert row is not None
        return _invite(row)

    async def get_invite(self, code: str) -> Invite | None:
        row = await self._db.fetchrow(
            "SELECT code, building_id, uses_left, expires_at, created_at "
            "FROM invites WHERE code = $1",
            code,
        )
        return None if row is None else _invite(row)

    async def register_resident(
        self,
        *,
        invite_code: str,
        username: str,
        display_name: str,
        password_hash: str,
        unit_label: str,
        now: Millis,
    ) -> User:
        if not normalise_label(unit_label):
            raise ValueError("the unit label is empty")
        try:
            async with self._db.transaction() as tx:
                # Conditional decrement: the row lock makes a concurrent registration wait and
                # then re-check uses_left, so two cannot both take the last use.
                building_id = await tx.fetchval(
                    "UPDATE invites SET uses_left = uses_left - 1 "
                    "WHERE code = $1 AND uses_left > 0 AND expires_at > $2 "
                    "RETURNING building_id",
                    invite_code,
                    now,
                )
                if building_id is None:
                    raise InviteInvalid(invite_code)
                unit_id = await self._unit_id(tx, building_id, unit_label)
                row = await self._insert_user(
                    tx,
                    username=username,
                    display_name=display_name,
                    password_hash=password_hash,
                    role=Role.RESIDENT,
                    building_id=building_id,
                    unit_id=unit_id,
                    now=now,
                )
        except UniqueViolation as exc:  # the only unique constraint left to hit: the username
            raise UsernameTaken(username) from exc
        return _user(row)

    @staticmethod
    async def _insert_user(
        tx: Executor,
        *,
        username: str,
        display_name: str,
        password_hash: str,
        role: Role,
        building_id: BuildingId | None,
        unit_id: int | None,
        now: Millis,
    ) -> Row:
        row = await tx.fetchrow(
            "INSERT INTO users (username, username_lower, display_name, role, building_id, "
            "unit_id, password_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
            f"RETURNING {_USER_COLUMNS}",
            username,
            username_key(username),
            display_name,
            str(role),
            building_id,
            unit_id,
            password_hash,
            now,
        )
        assert row is not None
        return row

    async def create_user(
        self,
        *,
        username: str,
        display_name: str,
        password_hash: str,
        role: Role,
        building_id: BuildingId | None,
        unit_label: str | None,
        now: Millis,
    ) -> User:
        if unit_label is not None and building_id is None:
            raise ValueError("a unit needs a building")
        if unit_label is not None and not normalise_label(unit_label):
            raise ValueError("the unit label is empty")
        try:
            async with self._db.transaction() as tx:
                unit_id = None
                if building_id is not None:
                    exists = await tx.fetchval("SELECT 1 FROM buildings WHERE id = $1", building_id)
                    if exists is None:
                        raise NotFound(f"building {building_id}")
                    if unit_label is not None:
                        unit_id = await self._unit_id(tx, building_id, unit_label)
                row = await self._insert_user(
                    tx,
                    username=username,
                    display_name=display_name,
                    password_hash=password_hash,
                    role=role,
                    building_id=building_id,
                    unit_id=unit_id,
                    now=now,
                )
        except UniqueViolation as exc:
            raise UsernameTaken(username) from exc
        return _user(row)

    async def get_user(self, user_id: UserId) -> User | None:
        row = await self._db.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE id = $1", user_id)
        return None if row is None else _user(row)

    async def get_user_by_username(self, username: str) -> User | None:
        row = await self._db.fetchrow(
            f"SELECT {_USER_COLUMNS} FROM users WHERE username_lower = $1", username_key(username)
        )
        return None if row is None else _user(row)

    async def get_password_hash(self, user_id: UserId) -> str | None:
        value = await self._db.fetchval("SELECT password_hash FROM users WHERE id = $1", user_id)
        return None if value is None else str(value)

    async def set_password_hash(self, user_id: UserId, password_hash: str) -> None:
        """Does nothing for an unknown user (the interface promises no error)."""
        await self._db.execute(
            "UPDATE users SET password_hash = $2 WHERE id = $1", user_id, password_hash
        )

    async def set_role(self, user_id: UserId, role: Role) -> None:
        changed = await self._db.execute(
            "UPDATE users SET role = $2 WHERE id = $1", user_id, str(role)
        )
        if changed == 0:
            raise NotFound(f"user {user_id}")

    # -- sessions -----------------------------------------------------------------------------
    async def create_session(
        self, token_hash: str, user_id: UserId, *, expires_at: Millis, now: Millis
    ) -> None:
        """Raises NotFound for an unknown user."""
        try:
            await self._db.execute(
                "INSERT INTO sessions (token_hash, user_id, expires_at, created_at) "
                "VALUES ($1, $2, $3, $4)",
                token_hash,
                user_id,
                expires_at,
                now,
            )
        except ForeignKeyViolation as exc:
            raise NotFound(f"user {user_id}") from exc

    async def get_session_user(self, token_hash: str, *, now: Millis) -> User | None:
        columns = ", ".join(f"u.{c.strip()}" for c in _USER_COLUMNS.split(","))
        row = await self._db.fetchrow(
            f"SELECT {columns} FROM sessions s JOIN users u ON u.id = s.user_id "
            "WHERE s.token_hash = $1 AND s.expires_at > $2",
            token_hash,
            now,
        )
        return None if row is None else _user(row)

    async def delete_session(self, token_hash: str) -> None:
        await self._db.execute("DELETE FROM sessions WHERE token_hash = $1", token_hash)

    async def delete_user_sessions(self, user_id: UserId) -> None:
        await self._db.execute("DELETE FROM sessions WHERE user_id = $1", user_id)

    # -- login throttling ---------------------------------------------------------------------
    async def record_login_failure(self, key: str, *, now: Millis, window_ms: int) -> int:
        """The window is ``(now - window_ms, now]``. Failures that fell out of it are deleted
        here, so a key must always be counted with the same window."""
        async with self._db.transaction() as tx:
            await tx.execute("INSERT INTO login_failures (key, at) VALUES ($1, $2)", key, now)
            await tx.execute(
                "DELETE FROM login_failures WHERE key = $1 AND at <= $2", key, now - window_ms
            )
            count = await tx.fetchval(
                "SELECT count(*) FROM login_failures WHERE key = $1 AND at > $2 AND at <= $3",
                key,
                now - window_ms,
                now,
            )
        return int(count)

    async def login_failures(self, key: str, *, now: Millis, window_ms: int) -> int:
        count = await self._db.fetchval(
            "SELECT count(*) FROM login_failures WHERE key = $1 AND at > $2 AND at <= $3",
            key,
            now - window_ms,
            now,
        )
        return int(count)

    async def clear_login_failures(self, key: str) -> None:
        await self._db.execute("DELETE FROM login_failures WHERE key = $1", key)

    async def reserve_login_attempt(
        self, keys: Sequence[str], *, now: Millis, window_ms: int, wait_ms: WaitRule
    ) -> tuple[int, str]:
        """Serialised per key: PostgreSQL takes a transaction-scoped advisory lock on each key
        (in sorted order, so two reservations cannot deadlock); SQLite's ``BEGIN IMMEDIATE``
        already makes writing transactions one at a time."""
        async with self._db.transaction() as tx:
            if self._db.dialect == "postgres":
                for key in sorted(set(keys)):
                    await tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", key)
            wait, slowest = 0, ""
            for key in keys:
                # No upper bound on ``at``: a request that read the clock before another but
                # took the lock after it must still count that other's failure, whose ``at``
                # is later than this ``now`` (the race design 0024 recorded).
                row = await tx.fetchrow(
                    "SELECT count(*) AS n, max(at) AS latest FROM login_failures "
                    "WHERE key = $1 AND at > $2",
                    key,
                    now - window_ms,
                )
                if row is None or not row["n"]:
                    continue
                left = int(row["latest"]) + wait_ms(key, int(row["n"])) - now
                if left > wait:
                    wait, slowest = left, key
            if wait > 0:
                return wait, slowest
            for key in keys:
                await tx.execute(
                    "DELETE FROM login_failures WHERE key = $1 AND at <= $2", key, now - window_ms
                )
                await tx.execute("INSERT INTO login_failures (key, at) VALUES ($1, $2)", key, now)
        return 0, ""

    async def login_failure_counts(self, *, now: Millis, window_ms: int) -> dict[str, int]:
        rows = await self._db.fetch(
            "SELECT key, count(*) AS n FROM login_failures WHERE at > $1 AND at <= $2 GROUP BY key",
            now - window_ms,
            now,
        )
        return {str(r["key"]): int(r["n"]) for r in rows}

    async def release_login_attempt(self, keys: Sequence[str], *, at: Millis) -> None:
        # One row per key: another attempt may have been reserved in the same millisecond, and
        # its failure must stay counted.
        row = "ctid" if self._db.dialect == "postgres" else "rowid"
        for key in keys:
            await self._db.execute(
                f"DELETE FROM login_failures WHERE {row} IN (SELECT {row} FROM login_failures "
                "WHERE key = $1 AND at = $2 LIMIT 1)",
                key,
                at,
            )

    async def instance_secret(self, name: str, make: str, *, now: Millis) -> str:
        await self._db.execute(
            "INSERT INTO instance_secrets (name, value, created_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (name) DO NOTHING",
            name,
            make,
            now,
        )
        value = await self._db.fetchval("SELECT value FROM instance_secrets WHERE name = $1", name)
        return str(value)

    # -- interest groups ----------------------------------------------------------------------
    async def create_group(
        self, slug: str, name: str, description: str, *, created_by: UserId, now: Millis
    ) -> Group:
        """Raises GroupSlugTaken, or NotFound for an unknown creator."""
        try:
            async with self._db.transaction() as tx:
                await tx.execute(
                    "INSERT INTO groups (slug, name, description, created_by, created_at) "
                    "VALUES ($1, $2, $3, $4, $5)",
                    slug,
                    name,
                    description,
                    created_by,
                    now,
                )
                await tx.execute(
                    "INSERT INTO group_members (user_id, slug, joined_at) VALUES ($1, $2, $3)",
                    created_by,
                    slug,
                    now,
                )
        except UniqueViolation as exc:
            raise GroupSlugTaken(slug) from exc
        except ForeignKeyViolation as exc:
            raise NotFound(f"user {created_by}") from exc
        return Group(
            slug=slug,
            name=name,
            description=description,
            created_by=created_by,
            created_at=now,
            member_count=1,
        )

    async def get_group(self, slug: str) -> Group | None:
        row = await self._db.fetchrow(f"{_GROUP_SELECT} WHERE g.slug = $1", slug)
        return None if row is None else _group(row)

    async def list_groups(self) -> list[Group]:
        groups = [_group(row) for row in await self._db.fetch(_GROUP_SELECT)]
        return sorted(groups, key=lambda g: (g.name.casefold(), g.name, g.slug))

    async def join_group(self, user_id: UserId, slug: str, *, now: Millis) -> None:
        """Raises NotFound for an unknown group (or user)."""
        try:
            await self._db.execute(
                "INSERT INTO group_members (user_id, slug, joined_at) VALUES ($1, $2, $3) "
                "ON CONFLICT (user_id, slug) DO NOTHING",
                user_id,
                slug,
                now,
            )
        except ForeignKeyViolation as exc:
            raise NotFound(f"group {slug} or user {user_id}") from exc

    async def leave_group(self, user_id: UserId, slug: str) -> None:
        await self._db.execute(
            "DELETE FROM group_members WHERE user_id = $1 AND slug = $2", user_id, slug
        )

    async def is_member(self, user_id: UserId, slug: str) -> bool:
        found = await self._db.fetchval(
            "SELECT 1 FROM group_members WHERE user_id = $1 AND slug = $2", user_id, slug
        )
        return found is not None

    async def user_groups(self, user_id: UserId) -> list[str]:
        rows = await self._db.fetch("SELECT slug FROM group_members WHERE user_id = $1", user_id)
        return sorted(str(row["slug"]) for row in rows)

    # -- message history ----------------------------------------------------------------------
    async def insert_messages(self, messages: list[StoredMessage]) -> int:
        """A batch holding one (channel, offset) twice counts it once (see ``_dedupe``)."""
        if not messages:
            return 0
        rows = _dedupe(messages)
        chat = [m for m in rows if m.client_msg_id is not None]
        if self._db.dialect == "postgres":
            # Dialect difference: PostgreSQL takes the batch as arrays, one statement each.
            columns = (
                [m.channel for m in rows],
                [m.offset for m in rows],
                [m.epoch for m in rows],
                [m.data for m in rows],
                [m.author_id for m in rows],
                [m.created_at for m in rows],
                [m.client_msg_id for m in rows],
            )
            if not chat:
                return await self._db.execute(_INSERT_MESSAGES_UNNEST, *columns)
            try:
                # The common case in one statement: no older copy of any row exists at another
                # offset. When one does (a message published again after a Redis loss, design
                # 0033) the unique index refuses the statement, and the batch takes the slow
                # path below. A lookup of older copies before every batch halved the rate.
                return await self._db.execute(_INSERT_MESSAGES_UNNEST, *columns)
            except UniqueViolation:
                pass
            async with self._db.transaction() as tx:
                older = await tx.fetch(_FIND_OLDER_COPIES_UNNEST, *columns)
                if older:
                    await tx.executemany(
                        _DELETE_MESSAGE, [(row["channel"], row["offset"]) for row in older]
                    )
                return await tx.execute(_INSERT_MESSAGES_UNNEST, *columns)
        async with self._db.transaction() as tx:
            if chat:
                await tx.executemany(
                    _DELETE_OLDER_COPY,
                    [(m.channel, m.author_id, m.client_msg_id, m.offset, m.epoch) for m in chat],
                )
            changed = await tx.executemany(
                _INSERT_MESSAGE,
                [
                    (
                        m.channel,
                        m.offset,
                        m.epoch,
                        m.data,
                        m.author_id,
                        m.created_at,
                        m.client_msg_id,
                    )
                    for m in rows
                ],
            )
        assert changed is not None  # the SQLite driver counts
        return changed

    async def history(
        self,
        channel: ChannelName,
        *,
        after: Offset = 0,
        before: Offset | None = None,
        limit: int = 100,
        newest: bool = False,
    ) -> list[StoredMessage]:
        if limit <= 0:  # SQLite reads a negative LIMIT as "no limit", PostgreSQL refuses it
            return []
        direction = "DESC" if newest else "ASC"
        rows = await self._db.fetch(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages "
            'WHERE channel = $1 AND "offset" > $2 AND "offset" < $3 '
            f'ORDER BY "offset" {direction} LIMIT $4',
            channel,
            after,
            _MAX_BIGINT if before is None else before,
            limit,
        )
        messages = [_message(row) for row in rows]
        if newest:
            messages.reverse()
        return messages

    async def max_offset(self, channel: ChannelName) -> Offset:
        value = await self._db.fetchval(
            'SELECT COALESCE(MAX("offset"), 0) FROM messages WHERE channel = $1', channel
        )
        return int(value)

    async def stored_ids(
        self, channel: ChannelName, first: Offset, last: Offset
    ) -> dict[Offset, tuple[Epoch, str | None]]:
        rows = await self._db.fetch(
            'SELECT "offset", epoch, client_msg_id FROM messages '
            'WHERE channel = $1 AND "offset" >= $2 AND "offset" <= $3',
            channel,
            first,
            last,
        )
        return {int(row["offset"]): (int(row["epoch"]), row["client_msg_id"]) for row in rows}

    async def count_messages(self, channel: ChannelName) -> int:
        value = await self._db.fetchval("SELECT count(*) FROM messages WHERE channel = $1", channel)
        return int(value)

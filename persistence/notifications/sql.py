"""``NotificationStore`` in SQL, once for both databases (see ``persistence.notifications`` for the
guarantees). Lists of ids go in as ``IN ($1, $2, ...)`` in chunks, which both dialects take; the
claim of due deliveries is the timers' statement (``persistence/timers/sql.py``) with PostgreSQL's
``FOR UPDATE SKIP LOCKED``. Inbox rows and deliveries are written many per statement: as arrays
(``unnest``) on PostgreSQL, as multi-row ``VALUES`` (rows) and ``executemany`` (deliveries) on
SQLite, which has no arrays and no round trips."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Final, TypeVar

from linli.types import ChannelName, Millis, Role, UserId
from persistence.db import Database, Executor, Row
from persistence.notifications import (
    DEFAULTS,
    Audience,
    Channel,
    Delivery,
    DeliveryState,
    Digest,
    Kind,
    NewDelivery,
    NewNotification,
    Notification,
    PushSubscription,
    Reach,
    Recipient,
    RoomMode,
    Settings,
)

T = TypeVar("T")
#: Ids per ``IN (...)``: well under both databases' limit on parameters.
_CHUNK: Final = 500
_NOTIFICATION_COLUMNS: Final = (
    "id, user_id, source_key, kind, urgent, text_zh, text_en, link, created_at, read_at"
)
_SUBSCRIPTION_COLUMNS: Final = "id, user_id, endpoint, p256dh, auth, label, created_at, last_ok_at"
_DELIVERY_COLUMNS: Final = (
    "id, notification_id, channel, target, state, due_at, attempts, last_error"
)
_INSERT_COLUMNS: Final = (
    "user_id, source_key, kind, urgent, text_zh, text_en, link, created_at, read_at"
)
_INSERT_NOTIFICATIONS_UNNEST: Final = f"""
    INSERT INTO notifications ({_INSERT_COLUMNS})
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::integer[], $5::text[],
                         $6::text[], $7::text[], $8::bigint[], $9::bigint[])
    ON CONFLICT (user_id, source_key) DO NOTHING
    RETURNING {_NOTIFICATION_COLUMNS}
"""
_INSERT_DELIVERIES_UNNEST: Final = """
    INSERT INTO notify_deliveries (notification_id, channel, target, state, due_at, attempts,
                                   updated_at)
    SELECT n, c, t, $6, d, 0, $5
    FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[]) AS x(n, c, t, d)
    ON CONFLICT (notification_id, channel, target) DO NOTHING
"""
_CLAIM: Final = """
    WITH due AS MATERIALIZED (
        SELECT id FROM notify_deliveries
        WHERE state = 'pending' AND channel = $5 AND due_at <= $1
          AND (claimed_until IS NULL OR claimed_until <= $1)
        ORDER BY due_at, id
        LIMIT $4{lock}
    )
    UPDATE notify_deliveries
    SET claimed_by = $2, claimed_until = $3, attempts = attempts + 1, updated_at = $1
    WHERE id IN (SELECT id FROM due)
    RETURNING {columns}
"""


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _marks(count: int, first: int = 1) -> str:
    return ", ".join(f"${i}" for i in range(first, first + count))


def _notification(row: Row) -> Notification:
    return Notification(
        id=row["id"],
        user_id=row["user_id"],
        source_key=row["source_key"],
        kind=Kind(row["kind"]),
        urgent=bool(row["urgent"]),
        text_zh=row["text_zh"],
        text_en=row["text_en"],
        link=row["link"],
        created_at=row["created_at"],
        read_at=row["read_at"],
    )


def _subscription(row: Row) -> PushSubscription:
    return PushSubscription(
        id=row["id"],
        user_id=row["user_id"],
        endpoint=row["endpoint"],
        p256dh=row["p256dh"],
        auth=row["auth"],
        label=row["label"],
        created_at=row["created_at"],
        last_ok_at=row["last_ok_at"],
    )


def _delivery(row: Row) -> Delivery:
    return Delivery(
        id=row["id"],
        notification_id=row["notification_id"],
        channel=Channel(row["channel"]),
        target=row["target"],
        state=DeliveryState(row["state"]),
        due_at=row["due_at"],
        attempts=row["attempts"],
        last_error=row["last_error"],
    )


def _settings(row: Row) -> Settings:
    return Settings(
        quiet_start=row["quiet_start"],
        quiet_end=row["quiet_end"],
        email=row["email"],
        digest=Digest(row["digest"]),
        unsubscribe_token=row["unsubscribe_token"],
        last_digest_at=row["last_digest_at"],
    )


class SqlNotificationStore:
    """Implements ``persistence.notifications.NotificationStore`` over the shared database."""

    def __init__(self, db: Database) -> None:
        self._db = db
        lock = "\n        FOR UPDATE SKIP LOCKED" if db.dialect == "postgres" else ""
        self._claim = _CLAIM.format(lock=lock, columns=_DELIVERY_COLUMNS)

    # -- audience -----------------------------------------------------------------------------
    async def audience(self, audience: Audience) -> list[Recipient]:
        found: dict[UserId, Recipient] = {}

        def add(rows: list[Row]) -> None:
            for r in rows:
                found[r["id"]] = Recipient(
                    r["id"], Role(r["role"]), r["building_id"], r["unit_id"], r["display_name"]
                )

        columns = "SELECT id, role, building_id, unit_id, display_name FROM users"
        if audience.everyone:
            add(await self._db.fetch(columns))
        for ids in _chunks(audience.user_ids):
            add(await self._db.fetch(f"{columns} WHERE id IN ({_marks(len(ids))})", *ids))
        for buildings in _chunks(audience.buildings):
            add(
                await self._db.fetch(
                    f"{columns} WHERE building_id IN ({_marks(len(buildings))})", *buildings
                )
            )
        for slugs in _chunks(audience.groups):
            add(
                await self._db.fetch(
                    f"{columns} WHERE id IN (SELECT user_id FROM group_members "
                    f"WHERE slug IN ({_marks(len(slugs))}))",
                    *slugs,
                )
            )
        if audience.roles:
            roles = [str(r) for r in audience.roles]
            add(await self._db.fetch(f"{columns} WHERE role IN ({_marks(len(roles))})", *roles))
        return [found[user_id] for user_id in sorted(found)]

    # -- inbox --------------------------------------------------------------------------------
    async def insert(self, rows: list[NewNotification], *, now: Millis) -> list[Notification]:
        inserted: list[Notification] = []
        async with self._db.transaction() as tx:
            for chunk in _chunks(rows):
                inserted.extend(await self._insert_rows(tx, chunk))
            planned = {(n.user_id, n.source_key): n.deliveries for n in rows if n.deliveries}
            if planned:
                await self._insert_deliveries(
                    tx,
                    [
                        NewDelivery(n.id, d.channel, d.target, d.due_at)
                        for n in inserted
                        for d in planned.get((n.user_id, n.source_key), ())
                    ],
                    now,
                )
        return inserted

    async def _insert_rows(
        self, tx: Executor, rows: Sequence[NewNotification]
    ) -> list[Notification]:
        """One statement for the chunk: a round trip per row made 5,000 recipients cost
        seconds on PostgreSQL (``docs/performance.md``, "Notifications")."""
        columns = (
            [n.user_id for n in rows],
            [n.source_key for n in rows],
            [str(n.kind) for n in rows],
            [int(n.urgent) for n in rows],
            [n.text_zh for n in rows],
            [n.text_en for n in rows],
            [n.link for n in rows],
            [n.created_at for n in rows],
            [n.read_at for n in rows],
        )
        if self._db.dialect == "postgres":
            # Arrays, one per column: one statement text whatever the chunk's size, so asyncpg
            # prepares it once.
            found = await tx.fetch(_INSERT_NOTIFICATIONS_UNNEST, *columns)
        else:
            width = len(columns)
            values = ", ".join(f"({_marks(width, 1 + i * width)})" for i in range(len(rows)))
            flat = [value for row in zip(*columns, strict=True) for value in row]
            found = await tx.fetch(
                f"INSERT INTO notifications ({_INSERT_COLUMNS}) VALUES {values} "
                f"ON CONFLICT (user_id, source_key) DO NOTHING RETURNING {_NOTIFICATION_COLUMNS}",
                *flat,
            )
        return [_notification(r) for r in found]

    async def _insert_deliveries(
        self,
        tx: Executor,
        rows: Sequence[NewDelivery],
        now: Millis,
        state: DeliveryState = DeliveryState.PENDING,
    ) -> int:
        if not rows:
            return 0
        if self._db.dialect == "postgres":
            return await tx.execute(
                _INSERT_DELIVERIES_UNNEST,
                [d.notification_id for d in rows],
                [str(d.channel) for d in rows],
                [d.target for d in rows],
                [d.due_at for d in rows],
                now,
                str(state),
            )
        # SQLite runs in this process: a statement per row costs no round trip.
        added = await tx.executemany(
            "INSERT INTO notify_deliveries (notification_id, channel, target, state, due_at, "
            "attempts, updated_at) VALUES ($1, $2, $3, $6, $4, 0, $5) "
            "ON CONFLICT (notification_id, channel, target) DO NOTHING",
            [
                (d.notification_id, str(d.channel), d.target, d.due_at, now, str(state))
                for d in rows
            ],
        )
        return added or 0

    async def inbox(
        self, user_id: UserId, *, before_id: int | None = None, limit: int = 50
    ) -> list[Notification]:
        rows = await self._db.fetch(
            f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications WHERE user_id = $1 "
            "AND (CAST($2 AS BIGINT) IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
            user_id,
            before_id,
            limit,
        )
        return [_notification(r) for r in rows]

    async def get(self, notification_id: int) -> Notification | None:
        row = await self._db.fetchrow(
            f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications WHERE id = $1", notification_id
        )
        return None if row is None else _notification(row)

    async def recipients(self, source_key: str) -> list[UserId]:
        rows = await self._db.fetch(
            "SELECT user_id FROM notifications WHERE source_key = $1 ORDER BY user_id", source_key
        )
        return [r["user_id"] for r in rows]

    async def unread_counts(self, user_ids: list[UserId]) -> dict[UserId, int]:
        counts = dict.fromkeys(user_ids, 0)
        for ids in _chunks(sorted(set(user_ids))):
            rows = await self._db.fetch(
                "SELECT user_id, count(*) AS n FROM notifications "
                f"WHERE read_at IS NULL AND user_id IN ({_marks(len(ids))}) GROUP BY user_id",
                *ids,
            )
            counts.update({r["user_id"]: int(r["n"]) for r in rows})
        return counts

    async def mark_read(self, user_id: UserId, ids: list[int] | None, *, now: Millis) -> int:
        if ids is None:
            return await self._db.execute(
                "UPDATE notifications SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL",
                user_id,
                now,
            )
        changed = 0
        for chunk in _chunks(sorted(set(ids))):
            changed += await self._db.execute(
                "UPDATE notifications SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL "
                f"AND id IN ({_marks(len(chunk), 3)})",
                user_id,
                now,
                *chunk,
            )
        return changed

    async def unread_since(self, user_id: UserId, since: Millis) -> list[Notification]:
        rows = await self._db.fetch(
            f"SELECT {_NOTIFICATION_COLUMNS} FROM notifications WHERE user_id = $1 "
            "AND read_at IS NULL AND created_at >= $2 ORDER BY id",
            user_id,
            since,
        )
        return [_notification(r) for r in rows]

    async def prune(self, *, before: Millis) -> int:
        async with self._db.transaction() as tx:
            await tx.execute(
                "DELETE FROM notify_deliveries WHERE notification_id IN "
                "(SELECT id FROM notifications WHERE created_at < $1)",
                before,
            )
            return await tx.execute("DELETE FROM notifications WHERE created_at < $1", before)

    # -- preferences --------------------------------------------------------------------------
    async def prefs(self, user_ids: list[UserId]) -> dict[UserId, dict[tuple[Kind, Channel], bool]]:
        found = {user_id: dict(DEFAULTS) for user_id in user_ids}
        for ids in _chunks(sorted(set(user_ids))):
            rows = await self._db.fetch(
                "SELECT user_id, kind, channel, enabled FROM notify_prefs "
                f"WHERE user_id IN ({_marks(len(ids))})",
                *ids,
            )
            for r in rows:
                try:
                    key = (Kind(r["kind"]), Channel(r["channel"]))
                except ValueError:
                    continue  # a kind this version no longer has
                found[r["user_id"]][key] = bool(r["enabled"])
        return found

    async def set_pref(self, user_id: UserId, kind: Kind, channel: Channel, enabled: bool) -> None:
        if DEFAULTS[(kind, channel)] == enabled:
            await self._db.execute(
                "DELETE FROM notify_prefs WHERE user_id = $1 AND kind = $2 AND channel = $3",
                user_id,
                str(kind),
                str(channel),
            )
            return
        await self._db.execute(
            "INSERT INTO notify_prefs (user_id, kind, channel, enabled) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (user_id, kind, channel) DO UPDATE SET enabled = excluded.enabled",
            user_id,
            str(kind),
            str(channel),
            int(enabled),
        )

    async def settings(self, user_ids: list[UserId]) -> dict[UserId, Settings]:
        found = {user_id: Settings() for user_id in user_ids}
        for ids in _chunks(sorted(set(user_ids))):
            rows = await self._db.fetch(
                "SELECT user_id, quiet_start, quiet_end, email, digest, unsubscribe_token, "
                f"last_digest_at FROM notify_settings WHERE user_id IN ({_marks(len(ids))})",
                *ids,
            )
            found.update({r["user_id"]: _settings(r) for r in rows})
        return found

    async def save_settings(
        self,
        user_id: UserId,
        *,
        quiet_start: int,
        quiet_end: int,
        email: str | None,
        digest: Digest,
        unsubscribe_token: str,
    ) -> Settings:
        row = await self._db.fetchrow(
            "INSERT INTO notify_settings (user_id, quiet_start, quiet_end, email, digest, "
            "unsubscribe_token) VALUES ($1, $2, $3, $4, $5, $6) "
            "ON CONFLICT (user_id) DO UPDATE SET quiet_start = excluded.quiet_start, "
            "quiet_end = excluded.quiet_end, email = excluded.email, digest = excluded.digest "
            "RETURNING quiet_start, quiet_end, email, digest, unsubscribe_token, last_digest_at",
            user_id,
            quiet_start,
            quiet_end,
            email,
            str(digest),
            unsubscribe_token,
        )
        assert row is not None
        return _settings(row)

    async def by_unsubscribe_token(self, token: str) -> UserId | None:
        value = await self._db.fetchval(
            "SELECT user_id FROM notify_settings WHERE unsubscribe_token = $1", token
        )
        return None if value is None else int(value)

    async def set_last_digest(self, user_id: UserId, at: Millis) -> None:
        await self._db.execute(
            "UPDATE notify_settings SET last_digest_at = $2 WHERE user_id = $1", user_id, at
        )

    async def digest_users(self, digest: Digest) -> list[UserId]:
        rows = await self._db.fetch(
            "SELECT user_id FROM notify_settings WHERE digest = $1 AND email IS NOT NULL "
            "ORDER BY user_id",
            str(digest),
        )
        return [r["user_id"] for r in rows]

    async def set_room(self, user_id: UserId, channel: ChannelName, mode: RoomMode | None) -> None:
        if mode is None:
            await self._db.execute(
                "DELETE FROM notify_rooms WHERE user_id = $1 AND channel = $2", user_id, channel
            )
            return
        await self._db.execute(
            "INSERT INTO notify_rooms (user_id, channel, mode) VALUES ($1, $2, $3) "
            "ON CONFLICT (user_id, channel) DO UPDATE SET mode = excluded.mode",
            user_id,
            channel,
            str(mode),
        )

    async def rooms(self, user_id: UserId) -> dict[ChannelName, RoomMode]:
        rows = await self._db.fetch(
            "SELECT channel, mode FROM notify_rooms WHERE user_id = $1", user_id
        )
        return {r["channel"]: RoomMode(r["mode"]) for r in rows}

    async def room_modes(self, channel: ChannelName) -> dict[UserId, RoomMode]:
        rows = await self._db.fetch(
            "SELECT user_id, mode FROM notify_rooms WHERE channel = $1", channel
        )
        return {r["user_id"]: RoomMode(r["mode"]) for r in rows}

    async def room_modes_of(
        self, channels: list[ChannelName]
    ) -> dict[ChannelName, dict[UserId, RoomMode]]:
        found: dict[ChannelName, dict[UserId, RoomMode]] = {c: {} for c in channels}
        for chunk in _chunks(sorted(set(channels))):
            rows = await self._db.fetch(
                "SELECT channel, user_id, mode FROM notify_rooms "
                f"WHERE channel IN ({_marks(len(chunk))})",
                *chunk,
            )
            for r in rows:
                found[r["channel"]][r["user_id"]] = RoomMode(r["mode"])
        return found

    async def rooms_with_modes(self) -> set[ChannelName]:
        # DISTINCT over the (channel, mode) index: one entry per room, not per user.
        rows = await self._db.fetch("SELECT DISTINCT channel FROM notify_rooms")
        return {r["channel"] for r in rows}

    # -- push subscriptions ---------------------------------------------------------------------
    async def add_subscription(
        self, user_id: UserId, endpoint: str, p256dh: str, auth: str, label: str, *, now: Millis
    ) -> PushSubscription:
        async with self._db.transaction() as tx:
            old = await tx.fetchrow(
                "SELECT id, user_id FROM push_subscriptions WHERE endpoint = $1", endpoint
            )
            if old is not None and old["user_id"] != user_id:
                # The browser is someone else's now (a logout, another login). Updating the
                # row in place would keep its id, and the pushes still pending for the old
                # user's device (``push:<id>``, held for quiet hours) would reach the new
                # user's screen: the old row goes, and what was pending for it is gone too.
                await tx.execute("DELETE FROM push_subscriptions WHERE id = $1", old["id"])
                await tx.execute(
                    "UPDATE notify_deliveries SET state = 'gone', claimed_by = NULL, "
                    "claimed_until = NULL, last_error = $2, updated_at = $3 "
                    "WHERE target = $1 AND state = 'pending'",
                    f"push:{old['id']}",
                    "the device was subscribed by another user",
                    now,
                )
            row = await tx.fetchrow(
                "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, label, "
                "created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (endpoint) DO UPDATE "
                "SET user_id = excluded.user_id, p256dh = excluded.p256dh, auth = excluded.auth, "
                f"label = excluded.label RETURNING {_SUBSCRIPTION_COLUMNS}",
                user_id,
                endpoint,
                p256dh,
                auth,
                label,
                now,
            )
        assert row is not None
        return _subscription(row)

    async def subscriptions(self, user_ids: list[UserId]) -> dict[UserId, list[PushSubscription]]:
        found: dict[UserId, list[PushSubscription]] = {}
        for ids in _chunks(sorted(set(user_ids))):
            rows = await self._db.fetch(
                f"SELECT {_SUBSCRIPTION_COLUMNS} FROM push_subscriptions "
                f"WHERE user_id IN ({_marks(len(ids))}) ORDER BY id",
                *ids,
            )
            for r in rows:
                found.setdefault(r["user_id"], []).append(_subscription(r))
        return found

    async def get_subscription(self, subscription_id: int) -> PushSubscription | None:
        row = await self._db.fetchrow(
            f"SELECT {_SUBSCRIPTION_COLUMNS} FROM push_subscriptions WHERE id = $1",
            subscription_id,
        )
        return None if row is None else _subscription(row)

    async def remove_subscription(self, subscription_id: int, *, user_id: UserId | None) -> bool:
        removed = await self._db.execute(
            "DELETE FROM push_subscriptions WHERE id = $1 "
            "AND (CAST($2 AS BIGINT) IS NULL OR user_id = $2)",
            subscription_id,
            user_id,
        )
        return removed > 0

    async def subscription_ok(self, subscription_id: int, *, now: Millis) -> None:
        await self._db.execute(
            "UPDATE push_subscriptions SET last_ok_at = $2 WHERE id = $1", subscription_id, now
        )

    # -- deliveries -----------------------------------------------------------------------------
    async def add_deliveries(
        self, rows: list[NewDelivery], *, now: Millis, state: DeliveryState = DeliveryState.PENDING
    ) -> int:
        async with self._db.transaction() as tx:
            return await self._insert_deliveries(tx, rows, now, state)

    async def claim_deliveries(
        self, channel: Channel, *, now: Millis, owner: str, lease_ms: int, limit: int
    ) -> list[Delivery]:
        async with self._db.transaction() as tx:
            rows = await tx.fetch(self._claim, now, owner, now + lease_ms, limit, str(channel))
        return sorted((_delivery(r) for r in rows), key=lambda d: (d.due_at, d.id))

    async def finish_delivery(
        self,
        delivery_id: int,
        *,
        owner: str,
        state: DeliveryState,
        now: Millis,
        error: str | None = None,
        retry_at: Millis | None = None,
    ) -> bool:
        changed = await self._db.execute(
            "UPDATE notify_deliveries SET state = $3, last_error = $4, "
            "due_at = COALESCE(CAST($5 AS BIGINT), due_at), claimed_by = NULL, "
            "claimed_until = NULL, updated_at = $6 WHERE id = $1 AND claimed_by = $2",
            delivery_id,
            owner,
            str(state),
            error,
            retry_at,
            now,
        )
        return changed > 0

    async def next_delivery_due(self) -> Millis | None:
        # A claimed delivery can be taken again only when its lease ends (as for timers):
        # a caller sleeping until the plain due time would wake to nothing, again and again.
        value = await self._db.fetchval(
            "SELECT min(CASE WHEN claimed_until > due_at THEN claimed_until ELSE due_at END) "
            "FROM notify_deliveries WHERE state = 'pending'"
        )
        return None if value is None else int(value)

    async def reach(self, source_key: str) -> Reach:
        rows = await self._db.fetch(
            "SELECT n.user_id, u.unit_id, d.channel, d.state FROM notifications n "
            "JOIN users u ON u.id = n.user_id "
            "LEFT JOIN notify_deliveries d ON d.notification_id = n.id "
            "WHERE n.source_key = $1",
            source_key,
        )
        units: set[int] = set()
        pushed: set[int] = set()
        mailed: set[int] = set()
        recipients: set[int] = set()
        deliveries: dict[str, int] = {}
        for r in rows:
            recipients.add(r["user_id"])
            if r["channel"] is not None:
                key = f"{r['channel']}:{r['state']}"
                deliveries[key] = deliveries.get(key, 0) + 1
            unit = r["unit_id"]
            if unit is None:
                continue
            units.add(unit)
            if r["state"] == DeliveryState.SENT:
                (pushed if r["channel"] == Channel.PUSH else mailed).add(unit)
        return Reach(
            units=len(units),
            by_push=len(pushed),
            by_email=len(mailed),
            neither=len(units - pushed - mailed),
            recipients=len(recipients),
            deliveries=deliveries,
        )

    # -- secrets ----------------------------------------------------------------------------
    async def secret(self, name: str, make: str, *, now: Millis) -> str:
        await self._db.execute(
            "INSERT INTO instance_secrets (name, value, created_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (name) DO NOTHING",
            name,
            make,
            now,
        )
        value = await self._db.fetchval("SELECT value FROM instance_secrets WHERE name = $1", name)
        return str(value)

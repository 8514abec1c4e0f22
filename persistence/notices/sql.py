"""``NoticeStore`` in SQL for SQLite and PostgreSQL alike (the dialects' common subset).

Exactness comes from primary keys and ``ON CONFLICT DO NOTHING``: a read or acknowledgement
inserted twice is one row, and the statement's row count says which call wrote it. Reach is one
statement (one snapshot on PostgreSQL) over ``units`` joined with the reads and acknowledgements;
the audience is applied to its rows in Python (a neighbourhood has hundreds of units, and the
floor lives in the label, see ``floor_of``).
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from linli.types import BuildingId, Millis, UserId
from persistence.db import Database, Executor, Row
from persistence.notices import (
    Attachment,
    Audience,
    AudienceKind,
    Category,
    CategoryNotFound,
    Notice,
    NoticeDraft,
    NoticeNotFound,
    NoticeState,
    NoticeStateError,
    Reach,
    ReadResult,
    Revision,
    UnitReach,
    floor_of,
)

_COLUMNS: Final = (
    "id, category_id, title, body, body_html, urgent, requires_ack, pinned, audience, state, "
    "publish_at, expire_at, published_at, expired_at, retracted_at, retracted_by, "
    "retract_reason, version, created_by, created_at, updated_at"
)
_ATTACHMENT_COLUMNS: Final = (
    "id, notice_id, blob_id, thumb_id, filename, media_type, size, sha256, width, height, "
    "added_by, added_at"
)
#: The fields an edit compares, as the history names them.
_EDITABLE: Final = (
    "category_id", "title", "body", "audience", "urgent", "requires_ack", "pinned",
    "publish_at", "expire_at",
)  # fmt: skip


def audience_json(audience: Audience) -> str:
    body: dict[str, Any] = {"kind": str(audience.kind)}
    if audience.kind is AudienceKind.BUILDINGS:
        body["buildings"] = list(audience.buildings)
    elif audience.kind is AudienceKind.FLOORS:
        body["floors"] = [list(pair) for pair in audience.floors]
    elif audience.kind is AudienceKind.UNITS:
        body["units"] = list(audience.units)
    return orjson.dumps(body).decode()


def audience_from_json(text: str) -> Audience:
    body = orjson.loads(text)
    return Audience(
        kind=AudienceKind(body["kind"]),
        buildings=tuple(BuildingId(b) for b in body.get("buildings", ())),
        floors=tuple((BuildingId(b), int(f)) for b, f in body.get("floors", ())),
        units=tuple(int(u) for u in body.get("units", ())),
    )


def _notice(row: Row) -> Notice:
    return Notice(
        id=row["id"],
        draft=NoticeDraft(
            category_id=row["category_id"],
            title=row["title"],
            body=row["body"],
            body_html=row["body_html"],
            audience=audience_from_json(row["audience"]),
            urgent=bool(row["urgent"]),
            requires_ack=bool(row["requires_ack"]),
            pinned=bool(row["pinned"]),
            publish_at=row["publish_at"],
            expire_at=row["expire_at"],
        ),
        state=NoticeState(row["state"]),
        published_at=row["published_at"],
        expired_at=row["expired_at"],
        retracted_at=row["retracted_at"],
        retracted_by=row["retracted_by"],
        retract_reason=row["retract_reason"],
        version=row["version"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _attachment(row: Row) -> Attachment:
    return Attachment(
        id=row["id"],
        notice_id=row["notice_id"],
        blob_id=row["blob_id"],
        thumb_id=row["thumb_id"],
        filename=row["filename"],
        media_type=row["media_type"],
        size=row["size"],
        sha256=row["sha256"],
        width=row["width"],
        height=row["height"],
        added_by=row["added_by"],
        added_at=row["added_at"],
    )


def _category(row: Row) -> Category:
    return Category(
        id=row["id"],
        slug=row["slug"],
        name_zh=row["name_zh"],
        name_en=row["name_en"],
        position=row["position"],
        archived=bool(row["archived"]),
    )


def _fields(draft: NoticeDraft) -> dict[str, object]:
    return {
        "category_id": draft.category_id,
        "title": draft.title,
        "body": draft.body,
        "audience": audience_json(draft.audience),
        "urgent": int(draft.urgent),
        "requires_ack": int(draft.requires_ack),
        "pinned": int(draft.pinned),
        "publish_at": draft.publish_at,
        "expire_at": draft.expire_at,
    }


async def _insert_revision(
    tx: Executor,
    notice_id: int,
    revision: int,
    draft: NoticeDraft,
    changed: tuple[str, ...],
    editor: UserId,
    now: Millis,
) -> None:
    await tx.execute(
        "INSERT INTO notice_revisions (notice_id, revision, title, body, category_id, changed, "
        "edited_by, edited_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        notice_id,
        revision,
        draft.title,
        draft.body,
        draft.category_id,
        orjson.dumps(list(changed)).decode(),
        editor,
        now,
    )


class SqlNoticeStore:
    """Implements ``persistence.notices.NoticeStore`` over the shared database (see there for
    the guarantees)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- categories ------------------------------------------------------------------------
    async def list_categories(self) -> list[Category]:
        rows = await self._db.fetch(
            "SELECT id, slug, name_zh, name_en, position, archived FROM notice_categories "
            "ORDER BY position, id"
        )
        return [_category(r) for r in rows]

    async def get_category(self, category_id: int) -> Category | None:
        row = await self._db.fetchrow(
            "SELECT id, slug, name_zh, name_en, position, archived FROM notice_categories "
            "WHERE id = $1",
            category_id,
        )
        return None if row is None else _category(row)

    async def save_category(
        self,
        *,
        category_id: int | None,
        slug: str,
        name_zh: str,
        name_en: str,
        position: int,
        archived: bool,
    ) -> Category:
        if category_id is None:
            row = await self._db.fetchrow(
                "INSERT INTO notice_categories (slug, name_zh, name_en, position, archived) "
                "VALUES ($1, $2, $3, $4, $5) "
                "RETURNING id, slug, name_zh, name_en, position, archived",
                slug,
                name_zh,
                name_en,
                position,
                int(archived),
            )
        else:
            row = await self._db.fetchrow(
                "UPDATE notice_categories SET slug = $2, name_zh = $3, name_en = $4, "
                "position = $5, archived = $6 WHERE id = $1 "
                "RETURNING id, slug, name_zh, name_en, position, archived",
                category_id,
                slug,
                name_zh,
                name_en,
                position,
                int(archived),
            )
        if row is None:
            raise CategoryNotFound(f"no category {category_id}")
        return _category(row)

    # -- notices ---------------------------------------------------------------------------
    async def create_notice(
        self, draft: NoticeDraft, *, state: NoticeState, created_by: UserId, now: Millis
    ) -> Notice:
        if state not in {NoticeState.DRAFT, NoticeState.SCHEDULED, NoticeState.PUBLISHED}:
            raise ValueError(f"a notice cannot start {state}")
        f = _fields(draft)
        async with self._db.transaction() as tx:
            row = await tx.fetchrow(
                "INSERT INTO notices (category_id, title, body, body_html, urgent, requires_ack,"
                " pinned, audience, state, publish_at, expire_at, published_at, version,"
                " created_by, created_at, updated_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1, $13, $14, $14)"
                f" RETURNING {_COLUMNS}",
                f["category_id"],
                f["title"],
                f["body"],
                draft.body_html,
                f["urgent"],
                f["requires_ack"],
                f["pinned"],
                f["audience"],
                str(state),
                f["publish_at"],
                f["expire_at"],
                now if state is NoticeState.PUBLISHED else None,
                created_by,
                now,
            )
            assert row is not None
            notice = _notice(row)
            await _insert_revision(tx, notice.id, 1, draft, (), created_by, now)
        return notice

    async def get_notice(self, notice_id: int) -> Notice | None:
        row = await self._db.fetchrow(f"SELECT {_COLUMNS} FROM notices WHERE id = $1", notice_id)
        return None if row is None else _notice(row)

    async def list_notices(self, *, states: frozenset[NoticeState] | None = None) -> list[Notice]:
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM notices "
            "ORDER BY coalesce(published_at, publish_at, created_at) DESC, id DESC"
        )
        notices = [_notice(r) for r in rows]
        return notices if states is None else [n for n in notices if n.state in states]

    async def edit(
        self, notice_id: int, draft: NoticeDraft, *, editor: UserId, now: Millis
    ) -> tuple[Notice, tuple[str, ...]]:
        async with self._db.transaction() as tx:
            row = await tx.fetchrow(f"SELECT {_COLUMNS} FROM notices WHERE id = $1", notice_id)
            if row is None:
                raise NoticeNotFound(notice_id)
            old = _notice(row)
            if old.state in {NoticeState.RETRACTED, NoticeState.EXPIRED}:
                raise NoticeStateError(notice_id, old.state, "only a live notice can be edited")
            before, after = _fields(old.draft), _fields(draft)
            changed = tuple(name for name in _EDITABLE if before[name] != after[name])
            if not changed:
                return old, ()
            row = await tx.fetchrow(
                "UPDATE notices SET category_id = $2, title = $3, body = $4, body_html = $5,"
                " urgent = $6, requires_ack = $7, pinned = $8, audience = $9, publish_at = $10,"
                " expire_at = $11, version = version + 1, updated_at = $12"
                f" WHERE id = $1 RETURNING {_COLUMNS}",
                notice_id,
                after["category_id"],
                after["title"],
                after["body"],
                draft.body_html,
                after["urgent"],
                after["requires_ack"],
                after["pinned"],
                after["audience"],
                after["publish_at"],
                after["expire_at"],
                now,
            )
            assert row is not None
            notice = _notice(row)
            revision = await tx.fetchval(
                "SELECT coalesce(max(revision), 0) + 1 FROM notice_revisions WHERE notice_id = $1",
                notice_id,
            )
            await _insert_revision(tx, notice_id, int(revision), draft, changed, editor, now)
        return notice, changed

    async def _transition(self, notice_id: int, query: str, *args: object) -> Notice | None:
        row = await self._db.fetchrow(query + f" RETURNING {_COLUMNS}", notice_id, *args)
        return None if row is None else _notice(row)

    async def publish_due(self, notice_id: int, *, now: Millis) -> Notice | None:
        return await self._transition(
            notice_id,
            "UPDATE notices SET state = 'published', published_at = $2, version = version + 1,"
            " updated_at = $2 WHERE id = $1 AND state IN ('draft', 'scheduled')",
            now,
        )

    async def expire_due(self, notice_id: int, *, now: Millis) -> Notice | None:
        return await self._transition(
            notice_id,
            "UPDATE notices SET state = 'expired', expired_at = $2, version = version + 1,"
            " updated_at = $2 WHERE id = $1 AND state = 'published'",
            now,
        )

    async def retract(
        self, notice_id: int, *, by: UserId, reason: str, now: Millis
    ) -> Notice | None:
        return await self._transition(
            notice_id,
            "UPDATE notices SET state = 'retracted', retracted_at = $2, retracted_by = $3,"
            " retract_reason = $4, version = version + 1, updated_at = $2"
            " WHERE id = $1 AND state <> 'retracted'",
            now,
            by,
            reason,
        )

    async def revisions(self, notice_id: int) -> list[Revision]:
        rows = await self._db.fetch(
            "SELECT r.notice_id, r.revision, r.title, r.body, r.category_id, r.changed,"
            " r.edited_by, u.display_name, r.edited_at FROM notice_revisions r"
            " JOIN users u ON u.id = r.edited_by WHERE r.notice_id = $1 ORDER BY r.revision",
            notice_id,
        )
        return [
            Revision(
                notice_id=r["notice_id"],
                revision=r["revision"],
                title=r["title"],
                body=r["body"],
                category_id=r["category_id"],
                changed=tuple(orjson.loads(r["changed"])),
                edited_by=r["edited_by"],
                editor_name=r["display_name"],
                edited_at=r["edited_at"],
            )
            for r in rows
        ]

    # -- attachments -----------------------------------------------------------------------
    async def add_attachment(
        self,
        notice_id: int,
        *,
        blob_id: str,
        thumb_id: str | None,
        filename: str,
        media_type: str,
        size: int,
        sha256: str,
        width: int | None,
        height: int | None,
        added_by: UserId,
        now: Millis,
    ) -> Attachment:
        row = await self._db.fetchrow(
            "INSERT INTO notice_attachments (notice_id, blob_id, thumb_id, filename, media_type,"
            " size, sha256, width, height, added_by, added_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            f" RETURNING {_ATTACHMENT_COLUMNS}",
            notice_id,
            blob_id,
            thumb_id,
            filename,
            media_type,
            size,
            sha256,
            width,
            height,
            added_by,
            now,
        )
        assert row is not None
        return _attachment(row)

    async def attachments(self, notice_id: int) -> list[Attachment]:
        rows = await self._db.fetch(
            f"SELECT {_ATTACHMENT_COLUMNS} FROM notice_attachments WHERE notice_id = $1"
            " ORDER BY id",
            notice_id,
        )
        return [_attachment(r) for r in rows]

    async def get_attachment(self, notice_id: int, attachment_id: int) -> Attachment | None:
        row = await self._db.fetchrow(
            f"SELECT {_ATTACHMENT_COLUMNS} FROM notice_attachments"
            " WHERE id = $1 AND notice_id = $2",
            attachment_id,
            notice_id,
        )
        return None if row is None else _attachment(row)

    # -- reach -----------------------------------------------------------------------------
    async def record_read(
        self, notice_id: int, *, user_id: UserId, unit_id: int | None, now: Millis
    ) -> ReadResult:
        async with self._db.transaction() as tx:
            user_first = await tx.execute(
                "INSERT INTO notice_user_reads (notice_id, user_id, read_at) VALUES ($1, $2, $3)"
                " ON CONFLICT (notice_id, user_id) DO NOTHING",
                notice_id,
                user_id,
                now,
            )
            unit_first = 0
            if unit_id is not None:
                unit_first = await tx.execute(
                    "INSERT INTO notice_unit_reads (notice_id, unit_id, user_id, read_at)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT (notice_id, unit_id) DO NOTHING",
                    notice_id,
                    unit_id,
                    user_id,
                    now,
                )
        return ReadResult(user_first=user_first > 0, unit_first=unit_first > 0)

    async def acknowledge(
        self, notice_id: int, *, user_id: UserId, unit_id: int, now: Millis
    ) -> bool:
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO notice_user_reads (notice_id, user_id, read_at) VALUES ($1, $2, $3)"
                " ON CONFLICT (notice_id, user_id) DO NOTHING",
                notice_id,
                user_id,
                now,
            )
            await tx.execute(
                "INSERT INTO notice_unit_reads (notice_id, unit_id, user_id, read_at)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (notice_id, unit_id) DO NOTHING",
                notice_id,
                unit_id,
                user_id,
                now,
            )
            wrote = await tx.execute(
                "INSERT INTO notice_acks (notice_id, unit_id, user_id, acked_at)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (notice_id, unit_id) DO NOTHING",
                notice_id,
                unit_id,
                user_id,
                now,
            )
        return wrote > 0

    async def reach(self, notice_id: int, audience: Audience) -> Reach:
        rows = await self._db.fetch(
            "SELECT u.id, u.building_id, u.label, r.read_at, a.acked_at FROM units u"
            " LEFT JOIN notice_unit_reads r ON r.notice_id = $1 AND r.unit_id = u.id"
            " LEFT JOIN notice_acks a ON a.notice_id = $1 AND a.unit_id = u.id"
            " ORDER BY u.building_id, u.id",
            notice_id,
        )
        units = tuple(
            UnitReach(
                unit_id=r["id"],
                building_id=r["building_id"],
                label=r["label"],
                floor=floor_of(r["label"]),
                read_at=r["read_at"],
                acked_at=r["acked_at"],
            )
            for r in rows
            if audience.includes_unit(r["building_id"], r["id"], r["label"])
        )
        return Reach(notice_id, units)

    async def read_by_user(self, user_id: UserId) -> set[int]:
        rows = await self._db.fetch(
            "SELECT notice_id FROM notice_user_reads WHERE user_id = $1", user_id
        )
        return {int(r["notice_id"]) for r in rows}

    async def acked_by_unit(self, unit_id: int) -> set[int]:
        rows = await self._db.fetch("SELECT notice_id FROM notice_acks WHERE unit_id = $1", unit_id)
        return {int(r["notice_id"]) for r in rows}

    async def read_by_unit(self, unit_id: int) -> set[int]:
        rows = await self._db.fetch(
            "SELECT notice_id FROM notice_unit_reads WHERE unit_id = $1", unit_id
        )
        return {int(r["notice_id"]) for r in rows}

    async def unit_label(self, unit_id: int) -> str | None:
        label = await self._db.fetchval("SELECT label FROM units WHERE id = $1", unit_id)
        return None if label is None else str(label)

    async def residents_of(self, unit_ids: list[int]) -> list[UserId]:
        if not unit_ids:
            return []
        placeholders = ", ".join(f"${i + 1}" for i in range(len(unit_ids)))
        rows = await self._db.fetch(
            f"SELECT id FROM users WHERE unit_id IN ({placeholders}) ORDER BY id", *unit_ids
        )
        return [UserId(r["id"]) for r in rows]

"""``ForumStore`` in SQL for SQLite and PostgreSQL alike (the guarantees are in
``persistence/forum/__init__.py``).

Every statement is in the dialects' common subset. A post's number comes from
``UPDATE forum_topics SET last_number = last_number + 1 … RETURNING last_number`` in the
transaction that inserts it: PostgreSQL locks the topic's row until the commit, SQLite's
``BEGIN IMMEDIATE`` takes the database's write lock, so concurrent replies queue and each gets
the next number.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from linli.types import Millis, UserId
from persistence.db import Database, Executor, Row, UniqueViolation
from persistence.forum import (
    REACTIONS,
    Category,
    CategoryDraft,
    CategoryExists,
    CategoryNotFound,
    CategoryUnread,
    ForumCounts,
    Image,
    Person,
    Post,
    PostNotFound,
    Reaction,
    Reactions,
    Revision,
    Topic,
    TopicClosed,
    TopicNotFound,
    WatchLevel,
    Who,
    Written,
)

_CATEGORY: Final = (
    "id, slug, name_zh, name_en, description, colour, position, scope, start_by, reply_by, "
    "created_at"
)
_TOPIC: Final = (
    "t.id, t.category_id, t.title, t.author_id, u.display_name AS author_name, t.created_at, "
    "t.last_post_at, t.last_number, t.pinned, t.closed, t.solved_post_id, t.version"
)
_TOPIC_FROM: Final = "forum_topics t JOIN users u ON u.id = t.author_id"
_POST: Final = (
    "p.id, p.topic_id, p.number, p.author_id, u.display_name AS author_name, p.source, p.html, "
    "p.created_at, p.edited_at, p.edits, p.deleted, p.reaction_version"
)
_POST_FROM: Final = "forum_posts p JOIN users u ON u.id = p.author_id"
# Unread: posts of others above the reader's last_read, not deleted.
_UNREAD: Final = """
    SELECT p.topic_id AS topic_id, count(*) AS n
    FROM forum_posts p
    JOIN forum_topics t ON t.id = p.topic_id
    LEFT JOIN forum_reads r ON r.topic_id = p.topic_id AND r.user_id = $1
    WHERE {where} AND p.number > COALESCE(r.last_read, 0) AND p.author_id <> $1
      AND p.deleted = 0
    GROUP BY p.topic_id
"""
_STAFF_ROLES: Final = ("moderator", "admin")
_IMAGE: Final = "id, blob_id, thumb_id, uploader_id, post_id, filename, media_type, width, height"


def _image(row: Row) -> Image:
    return Image(
        id=row["id"],
        blob_id=row["blob_id"],
        thumb_id=row["thumb_id"],
        uploader_id=row["uploader_id"],
        post_id=row["post_id"],
        filename=row["filename"],
        media_type=row["media_type"],
        width=row["width"],
        height=row["height"],
    )


def _category(row: Row) -> Category:
    return Category(
        id=row["id"],
        draft=CategoryDraft(
            slug=row["slug"],
            name_zh=row["name_zh"],
            name_en=row["name_en"],
            scope=row["scope"],
            description=row["description"],
            colour=row["colour"],
            position=row["position"],
            start_by=Who(row["start_by"]),
            reply_by=Who(row["reply_by"]),
        ),
        created_at=row["created_at"],
    )


def _topic(row: Row) -> Topic:
    return Topic(
        id=row["id"],
        category_id=row["category_id"],
        title=row["title"],
        author_id=row["author_id"],
        author_name=row["author_name"],
        created_at=row["created_at"],
        last_post_at=row["last_post_at"],
        last_number=row["last_number"],
        pinned=bool(row["pinned"]),
        closed=bool(row["closed"]),
        solved_post_id=row["solved_post_id"],
        version=row["version"],
    )


def _post(row: Row) -> Post:
    return Post(
        id=row["id"],
        topic_id=row["topic_id"],
        number=row["number"],
        author_id=row["author_id"],
        author_name=row["author_name"],
        source=row["source"],
        html=row["html"],
        created_at=row["created_at"],
        edited_at=row["edited_at"],
        edits=row["edits"],
        deleted=bool(row["deleted"]),
        reaction_version=row["reaction_version"],
    )


def _draft_args(draft: CategoryDraft) -> tuple[object, ...]:
    return (
        draft.slug,
        draft.name_zh,
        draft.name_en,
        draft.description,
        draft.colour,
        draft.position,
        draft.scope,
        str(draft.start_by),
        str(draft.reply_by),
    )


class SqlForumStore:
    """Implements ``persistence.forum.ForumStore`` over the shared database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- categories ---------------------------------------------------------------------------

    async def create_category(self, draft: CategoryDraft, *, now: Millis) -> Category:
        try:
            row = await self._db.fetchrow(
                "INSERT INTO forum_categories (slug, name_zh, name_en, description, colour, "
                "position, scope, start_by, reply_by, created_at) "
                f"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {_CATEGORY}",
                *_draft_args(draft),
                now,
            )
        except UniqueViolation:
            raise CategoryExists(f"category {draft.slug!r} exists") from None
        assert row is not None
        return _category(row)

    async def update_category(self, category_id: int, draft: CategoryDraft) -> Category:
        try:
            row = await self._db.fetchrow(
                "UPDATE forum_categories SET slug = $2, name_zh = $3, name_en = $4, "
                "description = $5, colour = $6, position = $7, scope = $8, start_by = $9, "
                f"reply_by = $10 WHERE id = $1 RETURNING {_CATEGORY}",
                category_id,
                *_draft_args(draft),
            )
        except UniqueViolation:
            raise CategoryExists(f"category {draft.slug!r} exists") from None
        if row is None:
            raise CategoryNotFound(f"category {category_id}")
        return _category(row)

    async def get_category(self, category_id: int) -> Category | None:
        row = await self._db.fetchrow(
            f"SELECT {_CATEGORY} FROM forum_categories WHERE id = $1", category_id
        )
        return None if row is None else _category(row)

    async def list_categories(self) -> list[Category]:
        rows = await self._db.fetch(
            f"SELECT {_CATEGORY} FROM forum_categories ORDER BY position, id"
        )
        return [_category(r) for r in rows]

    # -- topics and posts ---------------------------------------------------------------------

    async def _existing(self, tx: Executor, author_id: UserId, client_id: str) -> Post | None:
        row = await tx.fetchrow(
            f"SELECT {_POST} FROM {_POST_FROM} WHERE p.author_id = $1 AND p.client_id = $2",
            author_id,
            client_id,
        )
        return None if row is None else _post(row)

    async def _topic_in(self, tx: Executor, topic_id: int) -> Topic | None:
        row = await tx.fetchrow(f"SELECT {_TOPIC} FROM {_TOPIC_FROM} WHERE t.id = $1", topic_id)
        return None if row is None else _topic(row)

    async def _insert_post(
        self,
        tx: Executor,
        topic_id: int,
        number: int,
        author_id: UserId,
        source: str,
        html: str,
        client_id: str,
        now: Millis,
    ) -> Post:
        post_id = await tx.fetchval(
            "INSERT INTO forum_posts (topic_id, number, author_id, source, html, client_id, "
            "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            topic_id,
            number,
            author_id,
            source,
            html,
            client_id,
            now,
        )
        row = await tx.fetchrow(f"SELECT {_POST} FROM {_POST_FROM} WHERE p.id = $1", post_id)
        assert row is not None
        return _post(row)

    async def create_topic(
        self,
        category_id: int,
        *,
        title: str,
        author_id: UserId,
        source: str,
        html: str,
        client_id: str,
        now: Millis,
    ) -> tuple[Topic, Written]:
        async with self._db.transaction() as tx:
            existing = await self._existing(tx, author_id, client_id)
            if existing is not None:
                topic = await self._topic_in(tx, existing.topic_id)
                assert topic is not None
                return topic, Written(existing, created=False)
            if (
                await tx.fetchval("SELECT id FROM forum_categories WHERE id = $1", category_id)
                is None
            ):
                raise CategoryNotFound(f"category {category_id}")
            topic_id = await tx.fetchval(
                "INSERT INTO forum_topics (category_id, title, author_id, created_at, "
                "last_post_at, last_number) VALUES ($1, $2, $3, $4, $4, 1) RETURNING id",
                category_id,
                title,
                author_id,
                now,
            )
            post = await self._insert_post(tx, topic_id, 1, author_id, source, html, client_id, now)
            await self._read_to(tx, author_id, topic_id, 1, now)
            topic = await self._topic_in(tx, topic_id)
            assert topic is not None
            return topic, Written(post, created=True)

    async def get_topic(self, topic_id: int) -> Topic | None:
        return await self._topic_in(self._db, topic_id)

    async def list_topics(self, category_id: int, *, limit: int, offset: int) -> list[Topic]:
        rows = await self._db.fetch(
            f"SELECT {_TOPIC} FROM {_TOPIC_FROM} WHERE t.category_id = $1 "
            "ORDER BY t.pinned DESC, t.last_post_at DESC, t.id DESC LIMIT $2 OFFSET $3",
            category_id,
            limit,
            offset,
        )
        return [_topic(r) for r in rows]

    async def count_topics(self, category_id: int) -> int:
        return int(
            await self._db.fetchval(
                "SELECT count(*) FROM forum_topics WHERE category_id = $1", category_id
            )
        )

    async def add_reply(
        self,
        topic_id: int,
        *,
        author_id: UserId,
        source: str,
        html: str,
        client_id: str,
        now: Millis,
        staff: bool = False,
    ) -> Written:
        async with self._db.transaction() as tx:
            existing = await self._existing(tx, author_id, client_id)
            if existing is not None:
                return Written(existing, created=False)
            # Takes the topic's row lock (PostgreSQL) before reading whether it is closed, so a
            # close and a reply cannot pass each other.
            row = await tx.fetchrow(
                "UPDATE forum_topics SET last_number = last_number + 1, last_post_at = $2 "
                "WHERE id = $1 RETURNING last_number, closed",
                topic_id,
                now,
            )
            if row is None:
                raise TopicNotFound(f"topic {topic_id}")
            if row["closed"] and not staff:
                raise TopicClosed(f"topic {topic_id} is closed")
            post = await self._insert_post(
                tx, topic_id, row["last_number"], author_id, source, html, client_id, now
            )
            await self._read_to(tx, author_id, topic_id, post.number, now)
            return Written(post, created=True)

    async def get_post(self, post_id: int) -> Post | None:
        row = await self._db.fetchrow(f"SELECT {_POST} FROM {_POST_FROM} WHERE p.id = $1", post_id)
        return None if row is None else _post(row)

    async def posts(self, topic_id: int, *, first: int, last: int) -> list[Post]:
        rows = await self._db.fetch(
            f"SELECT {_POST} FROM {_POST_FROM} WHERE p.topic_id = $1 AND p.number >= $2 "
            "AND p.number <= $3 ORDER BY p.number",
            topic_id,
            first,
            last,
        )
        return [_post(r) for r in rows]

    async def edit_post(self, post_id: int, *, source: str, html: str, now: Millis) -> Post:
        async with self._db.transaction() as tx:
            old = await tx.fetchrow(
                "SELECT source, html, edits, created_at, edited_at FROM forum_posts WHERE id = $1",
                post_id,
            )
            if old is None:
                raise PostNotFound(f"post {post_id}")
            await tx.execute(
                "INSERT INTO forum_post_edits (post_id, revision, source, html, written_at) "
                "VALUES ($1, $2, $3, $4, $5)",
                post_id,
                old["edits"] + 1,
                old["source"],
                old["html"],
                old["edited_at"] if old["edited_at"] is not None else old["created_at"],
            )
            await tx.execute(
                "UPDATE forum_posts SET source = $2, html = $3, edited_at = $4, "
                "edits = edits + 1 WHERE id = $1",
                post_id,
                source,
                html,
                now,
            )
            row = await tx.fetchrow(f"SELECT {_POST} FROM {_POST_FROM} WHERE p.id = $1", post_id)
            assert row is not None
            return _post(row)

    async def post_history(self, post_id: int) -> list[Revision]:
        rows = await self._db.fetch(
            "SELECT revision, source, html, written_at FROM forum_post_edits WHERE post_id = $1 "
            "ORDER BY revision",
            post_id,
        )
        return [Revision(r["revision"], r["source"], r["html"], r["written_at"]) for r in rows]

    async def delete_post(self, post_id: int, *, now: Millis) -> Post:
        async with self._db.transaction() as tx:
            old = await tx.fetchrow(
                "SELECT source, html, edits, created_at, edited_at, deleted FROM forum_posts "
                "WHERE id = $1",
                post_id,
            )
            if old is None:
                raise PostNotFound(f"post {post_id}")
            if not old["deleted"]:
                # What it said stays in the history, for moderators; the post itself is empty.
                await tx.execute(
                    "INSERT INTO forum_post_edits (post_id, revision, source, html, written_at) "
                    "VALUES ($1, $2, $3, $4, $5)",
                    post_id,
                    old["edits"] + 1,
                    old["source"],
                    old["html"],
                    old["edited_at"] if old["edited_at"] is not None else old["created_at"],
                )
                await tx.execute(
                    "UPDATE forum_posts SET source = '', html = '', deleted = 1, "
                    "edits = edits + 1, edited_at = $2 WHERE id = $1",
                    post_id,
                    now,
                )
            row = await tx.fetchrow(f"SELECT {_POST} FROM {_POST_FROM} WHERE p.id = $1", post_id)
            assert row is not None
            return _post(row)

    # -- reactions ----------------------------------------------------------------------------

    async def react(
        self, post_id: int, user_id: UserId, emoji: str, *, on: bool, now: Millis
    ) -> tuple[Reactions, bool]:
        if emoji not in REACTIONS:
            raise ValueError(f"reaction must be one of {' '.join(REACTIONS)}")
        async with self._db.transaction() as tx:
            exists = await tx.fetchval("SELECT id FROM forum_posts WHERE id = $1", post_id)
            if exists is None:
                raise PostNotFound(f"post {post_id}")
            if on:
                changed = await tx.execute(
                    "INSERT INTO forum_reactions (post_id, user_id, emoji, created_at) "
                    "VALUES ($1, $2, $3, $4) ON CONFLICT (post_id, user_id, emoji) DO NOTHING",
                    post_id,
                    user_id,
                    emoji,
                    now,
                )
            else:
                changed = await tx.execute(
                    "DELETE FROM forum_reactions WHERE post_id = $1 AND user_id = $2 "
                    "AND emoji = $3",
                    post_id,
                    user_id,
                    emoji,
                )
            if changed:
                await tx.execute(
                    "UPDATE forum_posts SET reaction_version = reaction_version + 1 WHERE id = $1",
                    post_id,
                )
            found = await self._reactions(tx, "r.post_id = $1", post_id)
            version = await tx.fetchval(
                "SELECT reaction_version FROM forum_posts WHERE id = $1", post_id
            )
        return found.get(post_id, Reactions(post_id, int(version), ())), bool(changed)

    async def _reactions(self, tx: Executor, where: str, *args: object) -> dict[int, Reactions]:
        rows = await tx.fetch(
            "SELECT r.post_id, r.emoji, r.user_id, u.display_name, p.reaction_version "
            "FROM forum_reactions r JOIN users u ON u.id = r.user_id "
            f"JOIN forum_posts p ON p.id = r.post_id WHERE {where} "
            "ORDER BY r.post_id, r.created_at, r.user_id",
            *args,
        )
        items: dict[int, list[Reaction]] = {}
        versions: dict[int, int] = {}
        for r in rows:
            items.setdefault(r["post_id"], []).append(
                Reaction(r["emoji"], r["user_id"], r["display_name"])
            )
            versions[r["post_id"]] = r["reaction_version"]
        order = {emoji: i for i, emoji in enumerate(REACTIONS)}
        return {
            post_id: Reactions(
                post_id, versions[post_id], tuple(sorted(found, key=lambda x: order[x.emoji]))
            )
            for post_id, found in items.items()
        }

    async def reactions(self, post_ids: list[int]) -> dict[int, Reactions]:
        if not post_ids:
            return {}
        # The posts of one page are a short range of ids; fetch the range, keep the listed.
        wanted = set(post_ids)
        found = await self._reactions(
            self._db, "r.post_id >= $1 AND r.post_id <= $2", min(post_ids), max(post_ids)
        )
        return {k: v for k, v in found.items() if k in wanted}

    # -- staff --------------------------------------------------------------------------------

    async def update_topic(
        self,
        topic_id: int,
        *,
        pinned: bool | None = None,
        closed: bool | None = None,
        category_id: int | None = None,
        solved_post_id: int | None = None,
        unsolve: bool = False,
        title: str | None = None,
    ) -> Topic:
        sets = ["version = version + 1"]
        args: list[object] = [topic_id]
        for column, value in (
            ("pinned", None if pinned is None else int(pinned)),
            ("closed", None if closed is None else int(closed)),
            ("category_id", category_id),
            ("solved_post_id", solved_post_id),
            ("title", title),
        ):
            if value is not None:
                args.append(value)
                sets.append(f"{column} = ${len(args)}")
        if unsolve:
            sets.append("solved_post_id = NULL")
        async with self._db.transaction() as tx:
            if category_id is not None and (
                await tx.fetchval("SELECT id FROM forum_categories WHERE id = $1", category_id)
                is None
            ):
                raise CategoryNotFound(f"category {category_id}")
            changed = await tx.execute(
                f"UPDATE forum_topics SET {', '.join(sets)} WHERE id = $1", *args
            )
            if not changed:
                raise TopicNotFound(f"topic {topic_id}")
            topic = await self._topic_in(tx, topic_id)
            assert topic is not None
            return topic

    async def split_post(
        self,
        post_id: int,
        *,
        category_id: int,
        title: str,
        now: Millis,
        stub: Callable[[int], str] = lambda _topic_id: "",
    ) -> tuple[Topic, Post]:
        async with self._db.transaction() as tx:
            row = await tx.fetchrow(f"SELECT {_POST} FROM {_POST_FROM} WHERE p.id = $1", post_id)
            if row is None or row["number"] == 1:
                raise PostNotFound(f"post {post_id} (a reply)")
            old = _post(row)
            client_id = f"split-{post_id}"
            made = await self._existing(tx, old.author_id, client_id)
            if made is None:
                if (
                    await tx.fetchval("SELECT id FROM forum_categories WHERE id = $1", category_id)
                    is None
                ):
                    raise CategoryNotFound(f"category {category_id}")
                topic_id = await tx.fetchval(
                    "INSERT INTO forum_topics (category_id, title, author_id, created_at, "
                    "last_post_at, last_number) VALUES ($1, $2, $3, $4, $4, 1) RETURNING id",
                    category_id,
                    title,
                    old.author_id,
                    old.created_at,
                )
                made = await self._insert_post(
                    tx, topic_id, 1, old.author_id, old.source, old.html, client_id,
                    old.created_at,
                )  # fmt: skip
                await tx.execute(
                    "UPDATE forum_images SET post_id = $1 WHERE post_id = $2", made.id, post_id
                )
                await tx.execute(
                    "INSERT INTO forum_post_edits (post_id, revision, source, html, written_at) "
                    "VALUES ($1, $2, $3, $4, $5)",
                    post_id,
                    old.edits + 1,
                    old.source,
                    old.html,
                    old.edited_at if old.edited_at is not None else old.created_at,
                )
                await tx.execute(
                    "UPDATE forum_posts SET source = '', html = $3, edits = edits + 1, "
                    "edited_at = $2 WHERE id = $1",
                    post_id,
                    now,
                    stub(topic_id),
                )
            topic = await self._topic_in(tx, made.topic_id)
            row = await tx.fetchrow(f"SELECT {_POST} FROM {_POST_FROM} WHERE p.id = $1", post_id)
            assert topic is not None and row is not None
            return topic, _post(row)

    async def count_solved(self) -> int:
        return int(
            await self._db.fetchval(
                "SELECT count(*) FROM forum_topics WHERE solved_post_id IS NOT NULL"
            )
        )

    async def counts(
        self, *, start: Millis, end: Millis, building: int | None = None
    ) -> ForumCounts:
        by = "" if building is None else " AND u.building_id = $3"
        args: tuple[object, ...] = (start, end) if building is None else (start, end, building)
        row = await self._db.fetchrow(
            "SELECT count(*) AS topics, "
            "COALESCE(sum(CASE WHEN t.solved_post_id IS NULL THEN 0 ELSE 1 END), 0) AS solved "
            "FROM forum_topics t JOIN users u ON u.id = t.author_id "
            f"WHERE t.created_at >= $1 AND t.created_at < $2{by}",
            *args,
        )
        replies = await self._db.fetchval(
            "SELECT count(*) FROM forum_posts p JOIN users u ON u.id = p.author_id "
            "WHERE p.number > 1 AND p.deleted = 0 AND p.created_at >= $1 "
            f"AND p.created_at < $2{by}",
            *args,
        )
        assert row is not None
        return ForumCounts(int(row["topics"]), int(row["solved"]), int(replies))

    # -- reading ------------------------------------------------------------------------------

    async def _read_to(
        self, tx: Executor, user_id: UserId, topic_id: int, number: int, now: Millis
    ) -> None:
        await tx.execute(
            "INSERT INTO forum_reads (user_id, topic_id, last_read, updated_at) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, topic_id) DO UPDATE "
            "SET last_read = excluded.last_read, updated_at = excluded.updated_at "
            "WHERE forum_reads.last_read < excluded.last_read",
            user_id,
            topic_id,
            number,
            now,
        )

    async def mark_read(self, user_id: UserId, topic_id: int, number: int, *, now: Millis) -> int:
        async with self._db.transaction() as tx:
            top = await tx.fetchval("SELECT last_number FROM forum_topics WHERE id = $1", topic_id)
            if top is None:
                raise TopicNotFound(f"topic {topic_id}")
            await self._read_to(tx, user_id, topic_id, max(0, min(number, top)), now)
            read = await tx.fetchval(
                "SELECT last_read FROM forum_reads WHERE user_id = $1 AND topic_id = $2",
                user_id,
                topic_id,
            )
        return int(read or 0)

    async def last_read(self, user_id: UserId, topic_id: int) -> int:
        read = await self._db.fetchval(
            "SELECT last_read FROM forum_reads WHERE user_id = $1 AND topic_id = $2",
            user_id,
            topic_id,
        )
        return int(read or 0)

    async def unread_in_category(self, user_id: UserId, category_id: int) -> dict[int, int]:
        rows = await self._db.fetch(
            _UNREAD.format(where="t.category_id = $2"), user_id, category_id
        )
        return {r["topic_id"]: int(r["n"]) for r in rows}

    async def unread_by_category(self, user_id: UserId) -> dict[int, CategoryUnread]:
        rows = await self._db.fetch(
            f"SELECT t.category_id AS category_id, count(*) AS topics, sum(x.n) AS posts "
            f"FROM ({_UNREAD.format(where='1 = 1')}) x JOIN forum_topics t ON t.id = x.topic_id "
            "GROUP BY t.category_id",
            user_id,
        )
        return {r["category_id"]: CategoryUnread(int(r["topics"]), int(r["posts"])) for r in rows}

    async def unread_in_topic(self, user_id: UserId, topic_id: int) -> int:
        rows = await self._db.fetch(_UNREAD.format(where="p.topic_id = $2"), user_id, topic_id)
        return int(rows[0]["n"]) if rows else 0

    # -- pictures -----------------------------------------------------------------------------

    async def add_image(
        self,
        *,
        blob_id: str,
        thumb_id: str,
        uploader_id: UserId,
        filename: str,
        media_type: str,
        width: int,
        height: int,
        now: Millis,
    ) -> Image:
        row = await self._db.fetchrow(
            "INSERT INTO forum_images (blob_id, thumb_id, uploader_id, filename, media_type, "
            "width, height, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
            f"RETURNING {_IMAGE}",
            blob_id,
            thumb_id,
            uploader_id,
            filename,
            media_type,
            width,
            height,
            now,
        )
        assert row is not None
        return _image(row)

    async def get_image(self, image_id: int) -> Image | None:
        row = await self._db.fetchrow(f"SELECT {_IMAGE} FROM forum_images WHERE id = $1", image_id)
        return None if row is None else _image(row)

    async def attach_images(self, post_id: int, uploader_id: UserId, image_ids: list[int]) -> int:
        attached = 0
        async with self._db.transaction() as tx:
            for image_id in image_ids:
                attached += await tx.execute(
                    "UPDATE forum_images SET post_id = $1 WHERE id = $2 AND uploader_id = $3 "
                    "AND post_id IS NULL",
                    post_id,
                    image_id,
                    uploader_id,
                )
        return attached

    async def images_of(self, post_ids: list[int]) -> dict[int, list[Image]]:
        if not post_ids:
            return {}
        wanted = set(post_ids)
        rows = await self._db.fetch(
            f"SELECT {_IMAGE} FROM forum_images WHERE post_id >= $1 AND post_id <= $2 ORDER BY id",
            min(post_ids),
            max(post_ids),
        )
        found: dict[int, list[Image]] = {}
        for row in rows:
            if row["post_id"] in wanted:
                found.setdefault(row["post_id"], []).append(_image(row))
        return found

    # -- watching and people ------------------------------------------------------------------

    async def set_watch(self, user_id: UserId, topic_id: int, level: WatchLevel | None) -> None:
        if level is None:
            await self._db.execute(
                "DELETE FROM forum_watches WHERE user_id = $1 AND topic_id = $2",
                user_id,
                topic_id,
            )
            return
        await self._db.execute(
            "INSERT INTO forum_watches (user_id, topic_id, level) VALUES ($1, $2, $3) "
            "ON CONFLICT (user_id, topic_id) DO UPDATE SET level = excluded.level",
            user_id,
            topic_id,
            str(level),
        )

    async def watches(self, topic_id: int) -> dict[UserId, WatchLevel]:
        rows = await self._db.fetch(
            "SELECT user_id, level FROM forum_watches WHERE topic_id = $1", topic_id
        )
        return {r["user_id"]: WatchLevel(r["level"]) for r in rows}

    async def repliers(self, topic_id: int) -> set[UserId]:
        rows = await self._db.fetch(
            "SELECT DISTINCT author_id FROM forum_posts WHERE topic_id = $1", topic_id
        )
        return {r["author_id"] for r in rows}

    async def people(self, scope: str) -> list[Person]:
        kind, _, key = scope.partition(":")
        columns = "SELECT id, username, display_name FROM users"
        staff = f"role IN ('{_STAFF_ROLES[0]}', '{_STAFF_ROLES[1]}')"
        if kind == "building":
            rows = await self._db.fetch(
                f"{columns} WHERE building_id = $1 OR {staff} ORDER BY id", int(key)
            )
        elif kind == "group":
            rows = await self._db.fetch(
                f"{columns} WHERE id IN (SELECT user_id FROM group_members WHERE slug = $1) "
                f"OR {staff} ORDER BY id",
                key,
            )
        else:
            rows = await self._db.fetch(f"{columns} ORDER BY id")
        return [Person(r["id"], r["username"], r["display_name"]) for r in rows]

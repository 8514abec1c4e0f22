"""``SearchStore`` in SQL for SQLite and PostgreSQL alike, over plain tables (migration
``0017_search.sql``): the text is folded and tokenised in Python (``persistence/search/text.py``),
so both databases find exactly the same hits in the same order.

A query counts, for the tokens of its terms (at most ``MAX_TERM_TOKENS`` per term), the postings
under the viewer's reader scopes (an index-only count; a token with none means no hit), reads
the postings of each term's rarest token, confirms each term as a substring of the folded text
(``LIKE``: the order of the characters, which postings do not keep), drops chat messages that
moderation hid, and sorts: exact phrase first, then newest, the total counted in the same pass.
The statements are in the dialects' common subset except the batch writes, which use
PostgreSQL's ``unnest`` (one statement per batch rather than a round trip per row) and
SQLite's ``executemany``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final

import msgspec

from linli.types import Millis
from persistence.db import Database, Executor, Row
from persistence.search import (
    CHAT_KIND,
    PAGE_SIZE,
    Document,
    Hit,
    IndexStats,
    SearchFilters,
    SearchPage,
    SearchStore,
    Viewer,
)
from persistence.search.text import fold, like_pattern, parse_query, tokens

#: Between the folded title and the folded text: a character no term contains, so no term
#: matches across the two.
SEPARATOR: Final = "\x1f"

_DOC_COLUMNS: Final = (
    "kind, ref, title, body, folded, link, at, place, place_name, author_id, author_name, "
    'channel, "offset", scopes, indexed_at'
)
_UPDATE_SET: Final = (
    "title = excluded.title, body = excluded.body, folded = excluded.folded, "
    "link = excluded.link, at = excluded.at, place = excluded.place, "
    "place_name = excluded.place_name, author_id = excluded.author_id, "
    'author_name = excluded.author_name, channel = excluded.channel, "offset" = excluded."offset", '
    "scopes = excluded.scopes, indexed_at = excluded.indexed_at"
)
_UPSERT_ONE: Final = (
    f"INSERT INTO search_docs ({_DOC_COLUMNS}) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) "
    f"ON CONFLICT (kind, ref) DO UPDATE SET {_UPDATE_SET}"
)
_UPSERT_MANY_PG: Final = (
    f"INSERT INTO search_docs ({_DOC_COLUMNS}) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], "
    "$6::text[], $7::bigint[], $8::text[], $9::text[], $10::bigint[], $11::text[], $12::text[], "
    "$13::bigint[], $14::text[], $15::bigint[]) "
    f"ON CONFLICT (kind, ref) DO UPDATE SET {_UPDATE_SET} RETURNING id, kind, ref"
)
#: The advisory lock chat-index batches take on PostgreSQL (any constant no other code uses).
_CHAT_INDEX_LOCK: Final = 0x6C696E6C69_01

_HIT_COLUMNS: Final = (
    "d.id, d.kind, d.ref, d.title, d.body, d.link, d.at, d.place, d.place_name, d.author_id, "
    "d.author_name"
)


def folded_of(document: Document) -> str:
    return fold(document.title) + SEPARATOR + fold(document.text)


def _postings(doc_id: int, folded: str, scopes: str) -> list[tuple[str, str, int]]:
    """A document's postings: each distinct token under each reader scope."""
    return [(t, s, doc_id) for t in tokens(folded) for s in scopes.split()]


class _Params:
    """Numbered placeholders (``$1`` …) for a statement built piece by piece."""

    def __init__(self) -> None:
        self.values: list[object] = []

    def __call__(self, value: object) -> str:
        self.values.append(value)
        return f"${len(self.values)}"

    def many(self, values: Iterable[object]) -> str:
        return ", ".join(self(v) for v in values)


class SqlSearchStore(SearchStore):
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- writing -------------------------------------------------------------------------------
    async def upsert(self, documents: Sequence[Document], *, now: Millis) -> int:
        latest = {(d.kind, d.ref): d for d in documents}
        if not latest:
            return 0
        async with self._db.transaction() as tx:
            await self._upsert(tx, latest, now)
        return len(latest)

    async def _upsert(
        self, tx: Executor, latest: dict[tuple[str, str], Document], now: Millis
    ) -> None:
        if not latest:
            return
        folded = {key: folded_of(d) for key, d in latest.items()}
        scopes = {key: d.readers.scopes() for key, d in latest.items()}
        old = await self._existing(tx, list(latest))
        await self._delete_postings(tx, [p for row in old.values() for p in _postings(*row)])
        written = await self._write_documents(tx, latest, folded, scopes, now)
        await self._insert_postings(
            tx,
            [
                p
                for key in latest
                for p in _postings(written[key], folded[key], " ".join(scopes[key]))
            ],
        )

    async def apply_chat(
        self,
        documents: Sequence[Document],
        changes: Mapping[str, tuple[int, str | None]],
        *,
        now: Millis,
    ) -> int:
        refs = list(dict.fromkeys([d.ref for d in documents] + list(changes)))
        if not refs:
            return 0
        async with self._db.transaction() as tx:
            if self._db.dialect == "postgres":
                # Chat indexers in several processes take turns: the check of a message against
                # its recorded changes and the write of either must not interleave with another
                # batch's (SQLite has one writer already).
                await tx.execute("SELECT pg_advisory_xact_lock($1)", _CHAT_INDEX_LOCK)
            if changes:
                await tx.executemany(
                    'INSERT INTO search_chat_changes (ref, "offset", body) VALUES ($1, $2, $3) '
                    'ON CONFLICT (ref) DO UPDATE SET "offset" = excluded."offset", '
                    'body = excluded.body WHERE search_chat_changes."offset" < excluded."offset"',
                    [(ref, offset, text) for ref, (offset, text) in changes.items()],
                )
            latest: dict[str, str | None] = {}
            for start in range(0, len(refs), 500):  # bounded statements
                chunk = refs[start : start + 500]
                for row in await tx.fetch(
                    "SELECT ref, body FROM search_chat_changes "
                    f"WHERE ref IN ({_Params().many(chunk)})",
                    *chunk,
                ):
                    latest[str(row["ref"])] = row["body"]
            # A message is indexed with its newest text, or not at all once deleted.
            fresh: dict[tuple[str, str], Document] = {}
            gone: set[tuple[str, str]] = set()
            texts: dict[tuple[str, str], str] = {}
            for document in documents:
                key = (document.kind, document.ref)
                if document.ref not in latest:
                    fresh[key] = document
                elif latest[document.ref] is None:
                    gone.add(key)
                else:
                    fresh[key] = msgspec.structs.replace(document, text=latest[document.ref])
            for ref in changes:
                key = (CHAT_KIND, ref)
                if key in fresh or key in gone:
                    continue
                text = latest[ref]
                if text is None:
                    gone.add(key)
                else:
                    texts[key] = text
            await self._upsert(tx, fresh, now)
            await self._retext(tx, texts, now)
            await self._remove(tx, sorted(gone))
        return len(fresh)

    async def _existing(
        self, tx: Executor, keys: list[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[int, str, str]]:
        """(kind, ref) -> (id, folded, scopes) of the documents stored already."""
        found: dict[tuple[str, str], tuple[int, str, str]] = {}
        by_kind: dict[str, list[str]] = {}
        for kind, ref in keys:
            by_kind.setdefault(kind, []).append(ref)
        for kind, refs in by_kind.items():
            for start in range(0, len(refs), 500):  # bounded statements
                chunk = refs[start : start + 500]
                p = _Params()
                rows = await tx.fetch(
                    f"SELECT id, ref, folded, scopes FROM search_docs WHERE kind = {p(kind)}"
                    f" AND ref IN ({p.many(chunk)})",
                    *p.values,
                )
                for row in rows:
                    found[(kind, row["ref"])] = (
                        int(row["id"]),
                        str(row["folded"]),
                        str(row["scopes"]),
                    )
        return found

    async def _write_documents(
        self,
        tx: Executor,
        latest: dict[tuple[str, str], Document],
        folded: dict[tuple[str, str], str],
        scopes: dict[tuple[str, str], list[str]],
        now: Millis,
    ) -> dict[tuple[str, str], int]:
        rows = [
            (
                d.kind,
                d.ref,
                d.title,
                d.text,
                folded[key],
                d.link,
                d.at,
                d.place,
                d.place_name,
                d.author_id,
                d.author_name,
                d.channel,
                d.offset,
                " ".join(scopes[key]),
                now,
            )
            for key, d in latest.items()
        ]
        if self._db.dialect == "postgres":
            columns = [list(column) for column in zip(*rows, strict=True)]
            result = await tx.fetch(_UPSERT_MANY_PG, *columns)
            return {(r["kind"], r["ref"]): int(r["id"]) for r in result}
        # SQLite: one executemany (a thread hop per statement is most of a small row's cost),
        # then the ids read back.
        await tx.executemany(_UPSERT_ONE, rows)
        return {key: row[0] for key, row in (await self._existing(tx, list(latest))).items()}

    async def _insert_postings(self, tx: Executor, postings: list[tuple[str, str, int]]) -> None:
        if not postings:
            return
        postings.sort()  # in key order: each B-tree page is visited once, not once per row
        if self._db.dialect == "postgres":
            await tx.execute(
                "INSERT INTO search_terms (term, scope, doc_id) SELECT * FROM"
                " unnest($1::text[], $2::text[], $3::bigint[]) ON CONFLICT DO NOTHING",
                *[list(column) for column in zip(*postings, strict=True)],
            )
        else:
            await tx.executemany(
                "INSERT INTO search_terms (term, scope, doc_id) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING",
                postings,
            )

    async def _delete_postings(self, tx: Executor, postings: list[tuple[str, str, int]]) -> None:
        if not postings:
            return
        if self._db.dialect == "postgres":
            await tx.execute(
                "DELETE FROM search_terms WHERE (term, scope, doc_id) IN"
                " (SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]))",
                *[list(column) for column in zip(*postings, strict=True)],
            )
        else:
            await tx.executemany(
                "DELETE FROM search_terms WHERE term = $1 AND scope = $2 AND doc_id = $3",
                postings,
            )

    async def remove(self, keys: Iterable[tuple[str, str]]) -> int:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return 0
        async with self._db.transaction() as tx:
            return await self._remove(tx, wanted)

    async def _remove(self, tx: Executor, wanted: list[tuple[str, str]]) -> int:
        if not wanted:
            return 0
        old = await self._existing(tx, wanted)
        if not old:
            return 0
        await self._delete_postings(tx, [p for row in old.values() for p in _postings(*row)])
        ids = [row[0] for row in old.values()]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            in_list = _Params().many(chunk)
            await tx.execute(f"DELETE FROM search_docs WHERE id IN ({in_list})", *chunk)
        return len(old)

    async def retext(self, texts: Mapping[tuple[str, str], str], *, now: Millis) -> int:
        if not texts:
            return 0
        async with self._db.transaction() as tx:
            return await self._retext(tx, texts, now)

    async def _retext(self, tx: Executor, texts: Mapping[tuple[str, str], str], now: Millis) -> int:
        if not texts:
            return 0
        old = await self._existing(tx, list(texts))
        if not old:
            return 0
        await self._delete_postings(tx, [p for row in old.values() for p in _postings(*row)])
        ids = [row[0] for row in old.values()]
        titles: dict[int, str] = {}
        for start in range(0, len(ids), 500):  # bounded statements
            chunk = ids[start : start + 500]
            for r in await tx.fetch(
                f"SELECT id, title FROM search_docs WHERE id IN ({_Params().many(chunk)})",
                *chunk,
            ):
                titles[int(r["id"])] = str(r["title"])
        rows, postings = [], []
        for key, (doc_id, _folded, scopes) in old.items():
            text = texts[key]
            folded = fold(titles[doc_id]) + SEPARATOR + fold(text)
            rows.append((text, folded, now, doc_id))
            postings += _postings(doc_id, folded, scopes)
        await tx.executemany(
            "UPDATE search_docs SET body = $1, folded = $2, indexed_at = $3 WHERE id = $4",
            rows,
        )
        await self._insert_postings(tx, postings)
        return len(old)

    async def clear(self, kind: str | None = None) -> int:
        async with self._db.transaction() as tx:
            if kind is None:
                count = int(await tx.fetchval("SELECT count(*) FROM search_docs"))
                await tx.execute("DELETE FROM search_terms")
                await tx.execute("DELETE FROM search_docs")
                return count
            ids = "SELECT id FROM search_docs WHERE kind = $1"
            count = int(await tx.fetchval("SELECT count(*) FROM search_docs WHERE kind = $1", kind))
            await tx.execute(f"DELETE FROM search_terms WHERE doc_id IN ({ids})", kind)
            await tx.execute("DELETE FROM search_docs WHERE kind = $1", kind)
            return count

    # -- reading -------------------------------------------------------------------------------
    async def search(
        self,
        query: str,
        viewer: Viewer,
        *,
        filters: SearchFilters | None = None,
        limit: int = PAGE_SIZE,
        offset: int = 0,
    ) -> SearchPage:
        filters = filters or SearchFilters()
        parsed = parse_query(query)
        if not parsed.terms:
            return SearchPage([], 0, offset, limit)
        counts = await self._counts(
            sorted({t for term in parsed.terms for t in term.tokens}), viewer
        )
        if any(counts.get(t, 0) == 0 for term in parsed.terms for t in term.tokens):
            return SearchPage([], 0, offset, limit)  # a token nobody may read: no hit
        p = _Params()
        where = []
        scopes = p.many(viewer.scopes())
        for term in parsed.terms:
            # The rarest token's postings find the candidates (the others would only cost
            # reading theirs: the substring check below is exact on its own).
            token = min(term.tokens, key=lambda t: counts[t])
            # Authorisation is here: only the postings of the viewer's scopes are read.
            held = f"SELECT doc_id FROM search_terms WHERE term = {p(token)}"
            found = f"{held} AND scope IN ({scopes})"
            if viewer.reads_every_room:
                found += f" UNION {held} AND scope >= 'room:' AND scope < 'room;'"
            where.append(f"d.id IN ({found})")
            if term.tokens != (term.folded,):  # one token that is the term needs no check
                where.append(f"d.folded LIKE {p(like_pattern(term.folded))} ESCAPE '\\'")
        where.append(
            "NOT EXISTS (SELECT 1 FROM mod_messages m WHERE m.channel = d.channel"
            ' AND m."offset" = d."offset" AND m.visibility <> \'visible\')'
        )
        # A chat message its author deleted (issue 22) is not found either, whatever the index
        # holds (a rebuild from the stored history, an index written after the removal).
        where.append(
            "NOT EXISTS (SELECT 1 FROM chat_message_state c WHERE c.channel = d.channel"
            ' AND c."offset" = d."offset" AND c.deleted_at IS NOT NULL)'
        )
        if filters.kinds:
            where.append(f"d.kind IN ({p.many(filters.kinds)})")
        if filters.place is not None:
            where.append(f"d.place = {p(filters.place)}")
        if filters.author_id is not None:
            where.append(f"d.author_id = {p(filters.author_id)}")
        if filters.since is not None:
            where.append(f"d.at >= {p(filters.since)}")
        if filters.until is not None:
            where.append(f"d.at < {p(filters.until)}")
        condition = " AND ".join(where)
        count_values = list(p.values)
        only = parsed.terms[0]
        if len(parsed.terms) == 1 and only.tokens == (only.folded,) == (parsed.phrase,):
            exact = "1"  # one term that is one token: every hit is the whole query
        else:
            phrase = p(like_pattern(parsed.phrase))
            exact = f"CASE WHEN d.folded LIKE {phrase} ESCAPE '\\' THEN 1 ELSE 0 END"
        # One pass finds the page's ids and, beside each, the total (a window over every hit),
        # from the narrow index where no substring check needs the text; then the page's rows.
        rows = await self._db.fetch(
            f"SELECT {_HIT_COLUMNS}, page.exact, page.total FROM ("
            f"SELECT d.id, {exact} AS exact, count(*) OVER () AS total"
            f" FROM search_docs d WHERE {condition}"
            f" ORDER BY exact DESC, d.at DESC, d.id DESC LIMIT {p(limit)} OFFSET {p(offset)}"
            ") page JOIN search_docs d ON d.id = page.id"
            " ORDER BY page.exact DESC, d.at DESC, d.id DESC",
            *p.values,
        )
        if rows:
            total = int(rows[0]["total"])
        else:  # nothing, or a page past the end: the total on its own
            total = int(
                await self._db.fetchval(
                    f"SELECT count(*) FROM search_docs d WHERE {condition}", *count_values
                )
            )
        return SearchPage([_hit(row) for row in rows], total, offset, limit)

    async def _counts(self, tokens: list[str], viewer: Viewer) -> dict[str, int]:
        """How many postings of each token the viewer may read (an index-only count)."""
        p = _Params()
        rooms = " OR (scope >= 'room:' AND scope < 'room;')" if viewer.reads_every_room else ""
        rows = await self._db.fetch(
            f"SELECT term, count(*) AS n FROM search_terms WHERE term IN ({p.many(tokens)})"
            f" AND (scope IN ({p.many(viewer.scopes())}){rooms}) GROUP BY term",
            *p.values,
        )
        return {str(r["term"]): int(r["n"]) for r in rows}

    async def stats(self) -> IndexStats:
        rows = await self._db.fetch("SELECT kind, count(*) AS n FROM search_docs GROUP BY kind")
        postings = int(await self._db.fetchval("SELECT count(*) FROM search_terms"))
        by_kind = {str(r["kind"]): int(r["n"]) for r in rows}
        return IndexStats(sum(by_kind.values()), postings, dict(sorted(by_kind.items())))


def _hit(row: Row) -> Hit:
    return Hit(
        id=int(row["id"]),
        kind=row["kind"],
        ref=row["ref"],
        title=row["title"],
        text=row["body"],
        link=row["link"],
        at=int(row["at"]),
        place=row["place"],
        place_name=row["place_name"],
        author_id=row["author_id"],
        author_name=row["author_name"],
        exact=bool(row["exact"]),
    )

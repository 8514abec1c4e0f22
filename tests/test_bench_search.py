"""The search benchmark's bulk build (``bench/search.py --bulk``) writes the index the store's
own write path writes: the same ``search_docs`` rows and the same postings, and so the same
answers, on both databases — else the 1,000,000-message figures would be of another index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.search import DOC_COLUMNS, QUERIES, bulk_load, corpus
from linli.types import Role
from persistence.factory import open_store
from persistence.migrate import migrate
from persistence.search import Viewer
from persistence.search.sql import SqlSearchStore

pytestmark = pytest.mark.timeout(120)

MESSAGES = 600


async def _index(url: str, bulk: bool) -> tuple[list[Any], list[Any], list[list[str]]]:
    await migrate(url)
    core = await open_store(url)
    try:
        store = SqlSearchStore(core.database)
        docs = corpus(MESSAGES, seed=20)
        if bulk:
            await bulk_load(url, core.database, docs)
        else:
            for i in range(0, len(docs), 100):
                await store.upsert(docs[i : i + 100], now=0)
        db = core.database
        rows: list[tuple[Any, ...]] = [
            tuple(r[i] for i in range(len(DOC_COLUMNS)))
            for r in await db.fetch(
                f"SELECT {', '.join(f'{chr(34)}{c}{chr(34)}' for c in DOC_COLUMNS)} "
                "FROM search_docs ORDER BY id"
            )
        ]
        terms: list[tuple[Any, ...]] = [
            (r[0], r[1], r[2])
            for r in await db.fetch(
                "SELECT term, scope, doc_id FROM search_terms ORDER BY term, scope, doc_id"
            )
        ]
        viewer = Viewer(user_id=1, role=Role.RESIDENT, building_id=1, groups=("g1", "g2"))
        answers = [
            [hit.ref for hit in (await store.search(q, viewer)).hits]
            for queries in QUERIES.values()
            for q in queries
        ]
        return rows, terms, answers
    finally:
        await core.close()


async def _same(upserted_url: str, bulk_url: str) -> None:
    rows, terms, answers = await _index(upserted_url, bulk=False)
    assert len(rows) == MESSAGES and len(terms) > 10 * MESSAGES
    assert await _index(bulk_url, bulk=True) == (rows, terms, answers)
    assert any(answers)


async def test_bulk_build_equals_upserts_on_sqlite(tmp_path: Path) -> None:
    await _same(f"sqlite:///{tmp_path}/upsert.sqlite3", f"sqlite:///{tmp_path}/bulk.sqlite3")


async def test_bulk_build_equals_upserts_on_postgres(
    postgres_schema_url: str, postgres_url: str
) -> None:
    import uuid

    import asyncpg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(postgres_url)
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        sep = "&" if "?" in postgres_url else "?"
        await _same(postgres_schema_url, f"{postgres_url}{sep}search_path={schema}")
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()

"""How fast search indexes and answers, on SQLite and PostgreSQL, over a synthetic neighbourhood's
chat history (``docs/design/0023-search.md`` quotes the figures).

``--messages`` chat messages (default 100,000) of Chinese, English and mixed text, in 20 rooms
(12 buildings, 8 groups), are indexed in batches of ``--batch`` straight into the search store
(what the search-chat worker does, without the queue); then ``--queries`` queries of each class
(1-, 2-, 3- and 4-character Chinese terms, an English word, two terms) run as one resident of
building 1 who belongs to two groups, and the p50/p95/p99 time of each class is printed, with
the index's size. Bounded: a fixed count of messages and queries, and ``--seconds`` at most
per query class.

    python -m bench.search --db sqlite --messages 100000
    python -m bench.search --db postgres --url postgresql://postgres@127.0.0.1:5432/test

The SQLite file and the PostgreSQL schema are the benchmark's own and removed afterwards
(``--keep FILE`` keeps the SQLite file and reuses it on the next run).

``--bulk`` builds the index without the store's write path: the same rows (``folded_of``,
``_postings``: what ``SearchStore.upsert`` writes, checked by ``tests/test_bench_search.py``)
computed here and loaded in bulk — SQLite through one connection with the journal off into an
unindexed staging table, then copied into ``search_terms`` in key order; PostgreSQL by ``COPY``
with the postings' primary key dropped and rebuilt after. That makes the 1,000,000-message
build a matter of minutes rather than the ~35 min of batched upserts (497 messages/s), and the
queries run over the same index either way. The corpus is seeded, so every run is the same:

    python -m bench.search --db sqlite --messages 1000000 --bulk
    python -m bench.search --db postgres --messages 1000000 --bulk

``--persist N`` measures instead the persist path with indexing off and on (``bench/run.py``
``run_persist``: N publications drained by ``linli worker persist``, then the same with ``linli
worker search-chat`` reading the same stream in its own group, as deployed).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from linli.types import Role
from persistence.db import Database
from persistence.factory import open_store
from persistence.migrate import migrate
from persistence.search import CHAT_KIND, Document, Readers, Viewer
from persistence.search.sql import SqlSearchStore, _postings, folded_of

WORDS_ZH = (
    "今日 明天 停水 停電 電梯 維修 管理處 管理費 停車位 垃圾 回收 大堂 保安 信箱 包裹 速遞 "
    "冷氣 漏水 天台 花園 會所 泳池 健身室 住戶 業主 租客 鄰居 小朋友 狗狗 貓貓 噪音 裝修 "
    "請問 多謝 唔該 收到 大家 注意 通知 時間 上午 下午 晚上 星期六 星期日 開會 投票 活動 "
    "報名 早晨 麻煩 幫手 借用 工具 梯子 雨傘 失物 認領 門口 後樓梯 走廊 燈泡 壞咗 已經 處理"
).split()
WORDS_EN = (
    "lift water power parcel guard lobby meeting tonight tomorrow please thanks "
    "broken fixed garden pool gym noise party vote"
).split()
PUNCT = ("，", "。", "！", "？", " ", "")
#: (class, queries): what residents type.
QUERIES = {
    "1 char": ["水", "電", "車", "門", "燈"],
    "2 chars": ["停水", "電梯", "包裹", "噪音", "開會"],
    "3 chars": ["管理處", "管理費", "停車位", "健身室", "星期六"],
    "4 chars": ["電梯維修", "大堂保安", "停水通知", "垃圾回收"],
    "English": ["lift", "parcel", "meeting", "broken"],
    "two terms": ["停水 通知", "lift broken", "電梯 維修", "包裹 大堂"],
}
BUILDINGS, GROUPS = 12, 8


def rooms() -> list[str]:
    return [f"building:{b}" for b in range(1, BUILDINGS + 1)] + [
        f"group:g{g}" for g in range(1, GROUPS + 1)
    ]


def corpus(total: int, seed: int) -> list[Document]:
    """Built before the clock starts: the benchmark measures the index, not message making."""
    rng = random.Random(seed)
    all_rooms = rooms()
    start = 1_700_000_000_000
    docs = []
    for i in range(total):
        room = all_rooms[i % len(all_rooms)]
        parts = []
        for _ in range(rng.randint(3, 12)):
            word = rng.choice(WORDS_EN) if rng.random() < 0.12 else rng.choice(WORDS_ZH)
            parts.append(word + rng.choice(PUNCT))
        offset = i // len(all_rooms) + 1
        docs.append(
            Document(
                kind=CHAT_KIND,
                ref=f"{room}/{offset}",
                title="",
                text="".join(parts),
                readers=Readers(rooms=(room,)),
                link=f"/#{room}",
                at=start + i * 1000,
                place=room,
                place_name=room,
                author_id=i % 500,
                author_name=f"user{i % 500}",
                channel=room,
                offset=offset,
            )
        )
    return docs


#: Documents whose rows are computed and written at a time: bounded memory (a million
#: messages make ~22 million postings, some 3 GB as Python tuples at once).
BULK_CHUNK = 50_000


Posting = tuple[str, str, int]


def _rows(docs: list[Document], first_id: int) -> tuple[list[tuple[object, ...]], list[Posting]]:
    """The ``search_docs`` rows (with their ids) and the postings of ``docs``, exactly as the
    store's ``_write_documents`` and ``_postings`` make them (indexed_at 0, as the timed path
    writes with ``now=0``)."""
    rows: list[tuple[object, ...]] = []
    postings: list[Posting] = []
    for doc_id, d in enumerate(docs, start=first_id):
        folded = folded_of(d)
        scopes = " ".join(d.readers.scopes())
        rows.append(
            (doc_id, d.kind, d.ref, d.title, d.text, folded, d.link, d.at, d.place, d.place_name,
             d.author_id, d.author_name, d.channel, d.offset, scopes, 0)
        )  # fmt: skip
        postings += _postings(doc_id, folded, scopes)
    return rows, postings


DOC_COLUMNS = (
    "id", "kind", "ref", "title", "body", "folded", "link", "at", "place", "place_name",
    "author_id", "author_name", "channel", "offset", "scopes", "indexed_at",
)  # fmt: skip


async def bulk_load(url: str, db: Database, docs: list[Document]) -> None:
    """Write ``docs`` into an empty index in bulk (see the module docstring)."""
    if db.dialect == "postgres":
        await _bulk_postgres(url, docs)
    else:
        # A second connection to the file: SQLite takes a writer while the store's is idle.
        await asyncio.to_thread(_bulk_sqlite, url.removeprefix("sqlite:///"), docs)


def _bulk_sqlite(path: str, docs: list[Document]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -512000")  # 512 MB: the staging sort stays in memory
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("CREATE TEMP TABLE staging (term TEXT, scope TEXT, doc_id INTEGER)")
        conn.execute("BEGIN")
        marks = ", ".join("?" * len(DOC_COLUMNS))
        columns = ", ".join(f'"{c}"' for c in DOC_COLUMNS)
        for start in range(0, len(docs), BULK_CHUNK):
            rows, postings = _rows(docs[start : start + BULK_CHUNK], start + 1)
            conn.executemany(f"INSERT INTO search_docs ({columns}) VALUES ({marks})", rows)
            conn.executemany("INSERT INTO staging VALUES (?, ?, ?)", postings)
        # In key order: each page of the WITHOUT ROWID B-tree is written once, appended.
        conn.execute(
            "INSERT INTO search_terms (term, scope, doc_id) "
            "SELECT term, scope, doc_id FROM staging ORDER BY term, scope, doc_id"
        )
        conn.execute("COMMIT")
        conn.execute("DROP TABLE staging")
    finally:
        conn.close()


async def _bulk_postgres(url: str, docs: list[Document]) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)  # the query's search_path goes as a server setting
    try:
        # The postings' key is rebuilt once from sorted input rather than maintained per row.
        await conn.execute("SET maintenance_work_mem = '512MB'")
        await conn.execute("ALTER TABLE search_terms DROP CONSTRAINT search_terms_pkey")
        for start in range(0, len(docs), BULK_CHUNK):
            rows, postings = _rows(docs[start : start + BULK_CHUNK], start + 1)
            await conn.copy_records_to_table("search_docs", records=rows, columns=DOC_COLUMNS)
            await conn.copy_records_to_table(
                "search_terms", records=postings, columns=("term", "scope", "doc_id")
            )
        await conn.execute(
            "ALTER TABLE search_terms ADD CONSTRAINT search_terms_pkey "
            "PRIMARY KEY (term, scope, doc_id)"
        )
        # Ids were given explicitly: later inserts must not reuse them.
        await conn.execute(
            "SELECT setval(pg_get_serial_sequence('search_docs', 'id'), $1)", len(docs)
        )
    finally:
        await conn.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def bench(
    url: str, total: int, batch: int, per_class: int, seconds: float, bulk: bool = False
) -> None:
    await migrate(url)
    core = await open_store(url)
    try:
        store = SqlSearchStore(core.database)
        stats = await store.stats()
        if stats.documents != total:  # a kept SQLite file (--keep) is indexed once
            await store.clear()
            docs = corpus(total, seed=20)
            started = time.perf_counter()
            if bulk:
                await bulk_load(url, core.database, docs)
            else:
                for i in range(0, len(docs), batch):
                    await store.upsert(docs[i : i + batch], now=0)
            index_s = time.perf_counter() - started
            stats = await store.stats()
            print(
                f"indexed {stats.documents} messages in {index_s:.1f} s "
                f"({stats.documents / index_s:,.0f}/s, {'bulk' if bulk else 'upsert'}), "
                f"{stats.postings:,} postings"
            )
        db = core.database
        if db.dialect == "postgres":
            size = int(
                await db.fetchval(
                    "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = current_schema() AND c.relkind = 'r'"
                    " AND c.relname LIKE 'search_%'"
                )
            )
            await db.execute("ANALYZE")
        else:
            size = int(
                await db.fetchval(
                    "SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'search_%'"
                    " OR name LIKE 'sqlite_autoindex_search_%'"
                )
            )
            await db.execute("ANALYZE")
        print(f"index size: {size / 1e6:.1f} MB ({size / stats.documents:.0f} bytes/message)")
        viewer = Viewer(
            user_id=1, role=Role.RESIDENT, building_id=1, groups=("g1", "g2")
        )  # reads 3 of the 20 rooms
        print("| query | hits (mean) | p50 ms | p95 ms | p99 ms | runs |")
        print("|---|---|---|---|---|---|")
        everything: list[float] = []
        for name, queries in QUERIES.items():
            times: list[float] = []
            hits: list[int] = []
            deadline = time.perf_counter() + seconds
            for run in range(per_class):
                query = queries[run % len(queries)]
                t0 = time.perf_counter()
                page = await store.search(query, viewer)
                times.append((time.perf_counter() - t0) * 1000)
                hits.append(page.total)
                if time.perf_counter() > deadline:
                    break
            everything += times
            print(
                f"| {name} | {statistics.mean(hits):,.0f} | {percentile(times, 50):.1f} | "
                f"{percentile(times, 95):.1f} | {percentile(times, 99):.1f} | {len(times)} |"
            )
        print(
            f"| all | | {percentile(everything, 50):.1f} | {percentile(everything, 95):.1f} | "
            f"{percentile(everything, 99):.1f} | {len(everything)} |"
        )
    finally:
        await core.close()


async def persist_with_and_without_index(pg_url: str, messages: int) -> None:
    """``bench/run.py``'s persist scenario twice, in fresh schemas and a Redis of its own:
    without the chat indexer, then with ``linli worker search-chat`` started beside it."""
    from bench.infra import Infra
    from bench.run import run_persist

    with tempfile.TemporaryDirectory(prefix="linli-bench-") as tmp:
        infra = Infra(Path(tmp), pg_url)
        try:
            print("| indexing | persisted/s | rows | persist s | indexed/s | indexed | index s |")
            print("|---|---|---|---|---|---|---|")
            for index in (False, True):
                r = await run_persist(infra, messages, index=index)
                took = r.get("index_seconds", r.get("index_error", ""))
                print(
                    f"| {'on' if index else 'off'} | {r.get('messages_per_s')} | {r.get('rows')} "
                    f"| {r.get('seconds')} | {r.get('indexed_per_s', '')} | "
                    f"{r.get('indexed', '')} | {took} |",
                    flush=True,
                )
        finally:
            await infra.close()


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.search", description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--url",
        default=os.environ.get("LINLI_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1/test"),
    )
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=100, help="per query class")
    parser.add_argument("--seconds", type=float, default=30.0, help="at most, per query class")
    parser.add_argument(
        "--keep", type=Path, help="SQLite: this file, kept (and reused when it holds the corpus)"
    )
    parser.add_argument(
        "--bulk", action="store_true", help="build the index by bulk load, not batched upserts"
    )
    parser.add_argument(
        "--persist",
        type=int,
        metavar="N",
        help="instead: the persist worker's rate over N publications, indexing off then on",
    )
    args = parser.parse_args()
    if args.persist:
        await persist_with_and_without_index(args.url, args.persist)
        return
    if args.db == "sqlite" and args.keep is not None:
        url = f"sqlite:///{args.keep.resolve()}"
        await bench(url, args.messages, args.batch, args.queries, args.seconds, args.bulk)
        return
    if args.db == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'search.sqlite3'}"
            await bench(url, args.messages, args.batch, args.queries, args.seconds, args.bulk)
        return
    import asyncpg

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(args.url)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        sep = "&" if "?" in args.url else "?"
        await bench(
            f"{args.url}{sep}search_path={schema}",
            args.messages,
            args.batch,
            args.queries,
            args.seconds,
            args.bulk,
        )
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())

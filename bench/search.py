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
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from linli.types import Role
from persistence.factory import open_store
from persistence.migrate import migrate
from persistence.search import CHAT_KIND, Document, Readers, Viewer
from persistence.search.sql import SqlSearchStore

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


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def bench(url: str, total: int, batch: int, per_class: int, seconds: float) -> None:
    await migrate(url)
    core = await open_store(url)
    try:
        store = SqlSearchStore(core.database)
        stats = await store.stats()
        if stats.documents != total:  # a kept SQLite file (--keep) is indexed once
            await store.clear()
            docs = corpus(total, seed=20)
            started = time.perf_counter()
            for i in range(0, len(docs), batch):
                await store.upsert(docs[i : i + batch], now=0)
            index_s = time.perf_counter() - started
            stats = await store.stats()
            print(
                f"indexed {stats.documents} messages in {index_s:.1f} s "
                f"({stats.documents / index_s:,.0f}/s), {stats.postings:,} postings"
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
    args = parser.parse_args()
    if args.db == "sqlite" and args.keep is not None:
        url = f"sqlite:///{args.keep.resolve()}"
        await bench(url, args.messages, args.batch, args.queries, args.seconds)
        return
    if args.db == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'search.sqlite3'}"
            await bench(url, args.messages, args.batch, args.queries, args.seconds)
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
        )
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())

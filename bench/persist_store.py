"""How fast ``Store.insert_messages`` writes history into PostgreSQL.

The persist worker must keep up with tens of thousands of messages per second; this inserts
``--messages`` messages of about 150 bytes, in batches of ``--batch``, into a fresh schema (dropped
afterwards) and prints the rate. One writer, as one persist worker is.

    python bench/persist_store.py --url postgresql://postgres@127.0.0.1:5432/test [--chat]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid

import asyncpg

from persistence.factory import open_store
from persistence.migrate import migrate
from persistence.store import StoredMessage

CHANNELS = 50
PAYLOAD_BYTES = 150


def _batches(total: int, size: int, epoch: int, chat: bool) -> list[list[StoredMessage]]:
    """Built before the clock starts: the benchmark measures the store, not message making."""
    payload = os.urandom(PAYLOAD_BYTES)
    messages = [
        StoredMessage(
            channel=f"building:{i % CHANNELS}",
            offset=i // CHANNELS + 1,
            epoch=epoch,
            data=payload,
            author_id=i % 1000,
            created_at=epoch + i,
            # --chat: rows with a client_msg_id, which take the one-row-per-message path
            # (design 0033: a delete of older copies, then the insert, in one transaction).
            client_msg_id=f"c{i}" if chat else None,
        )
        for i in range(total)
    ]
    return [messages[i : i + size] for i in range(0, total, size)]


async def run(url: str, total: int, batch: int, chat: bool) -> None:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(url)
    await admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        schema_url = f"{url}{'&' if '?' in url else '?'}search_path={schema}"
        await migrate(schema_url)
        store = await open_store(schema_url)
        try:
            batches = _batches(total, batch, epoch=int(time.time() * 1000), chat=chat)
            started = time.perf_counter()
            written = 0
            for chunk in batches:
                written += await store.insert_messages(chunk)
            elapsed = time.perf_counter() - started
        finally:
            await store.close()
        if written != total:
            raise SystemExit(f"expected {total} rows written, got {written}")
        print(
            f"{total} {'chat ' if chat else ''}messages of {PAYLOAD_BYTES} B in batches of "
            f"{batch}: {elapsed:.2f} s, "
            f"{total / elapsed:,.0f} messages/s"
        )
    finally:
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--chat", action="store_true", help="rows with a client_msg_id")
    args = parser.parse_args()
    asyncio.run(asyncio.wait_for(run(args.url, args.messages, args.batch, args.chat), timeout=60))


if __name__ == "__main__":
    main()

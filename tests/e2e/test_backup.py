"""``linli backup`` / ``linli restore`` round trip in both modes: the same rows and the same
uploaded files come back after a wipe, and the server starts on the restored data and serves the
history; a damaged archive, or one of the other mode, is refused before anything is touched."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import asyncpg
import httpx
import msgpack
import pytest

from persistence.blobs.directory import DirectoryBlobStore
from persistence.factory import sqlite_path
from persistence.store import StoredMessage
from tests.e2e.harness import Deployment, login, running, seed

pytestmark = pytest.mark.timeout(180)


def _chat(text: str, author: int, ts: int) -> bytes:
    data: bytes = msgpack.packb(
        {"kind": "chat", "text": text, "author": {"id": author, "name": "Ann"}, "ts": ts}
    )
    return data


def _cli(deployment: Deployment, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "linli", *args],
        env=deployment.env(),
        cwd=deployment.tmp,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _snapshot(deployment: Deployment) -> dict[str, object]:
    store = await deployment.store()
    try:
        db = store.database
        return {
            "users": [
                (r["id"], r["username"], r["role"])
                for r in await db.fetch("SELECT id, username, role FROM users ORDER BY id")
            ],
            "messages": [
                (r["channel"], r["offset"], bytes(r["data"]), r["author_id"])
                for r in await db.fetch(
                    'SELECT channel, "offset", data, author_id FROM messages '
                    'ORDER BY channel, "offset"'
                )
            ],
        }
    finally:
        await store.close()


async def _wipe(deployment: Deployment) -> None:
    if deployment.mode == "embedded":
        path = Path(sqlite_path(deployment.database_url))
        for p in path.parent.glob(path.name + "*"):
            p.unlink()
        return
    base, _, query = deployment.database_url.partition("?")
    schema = query.split("search_path=")[1].split("&")[0]
    conn = await asyncpg.connect(base)
    try:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()


async def test_backup_wipe_restore_gives_the_same_rows_and_files(deployment: Deployment) -> None:
    blob_dir = deployment.tmp / "blobs"
    deployment.extra_env["LINLI_BLOB_DIR"] = str(blob_dir)
    hood = await seed(deployment)
    channel = f"building:{hood.building_a}"
    store = await deployment.store()
    try:
        now = int(time.time() * 1000)
        await store.insert_messages(
            [
                StoredMessage(
                    channel,
                    n,
                    1,
                    _chat(f"message {n}", hood.users["ann"], now + n),
                    hood.users["ann"],
                    now + n,
                )
                for n in range(1, 6)
            ]
        )
    finally:
        await store.close()
    blobs = DirectoryBlobStore(blob_dir)
    stored = await blobs.put(b"%PDF-1.4 minutes of the meeting", now=now)
    before = await _snapshot(deployment)

    archive = deployment.tmp / "linli-backup.tar"
    done = _cli(deployment, "backup", str(archive))
    assert done.returncode == 0, done.stderr
    assert archive.exists() and not archive.with_name(archive.name + ".partial").exists()

    # A damaged archive is refused, and nothing is touched.
    damaged = deployment.tmp / "damaged.tar"
    with tarfile.open(archive) as src, tarfile.open(damaged, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member)
            assert data is not None
            content = data.read()
            if member.name.startswith("database"):
                content = content[:-1] + bytes([content[-1] ^ 1])
            member.size = len(content)
            import io

            dst.addfile(member, io.BytesIO(content))
    refused = _cli(deployment, "restore", "--yes", str(damaged))
    assert refused.returncode != 0 and "checksum" in refused.stderr
    assert await _snapshot(deployment) == before

    await _wipe(deployment)
    shutil.rmtree(blob_dir)
    done = _cli(deployment, "restore", "--yes", str(archive))
    assert done.returncode == 0, done.stderr
    assert await _snapshot(deployment) == before
    assert await DirectoryBlobStore(blob_dir).get(stored.id) == b"%PDF-1.4 minutes of the meeting"

    # The server starts on the restored data and serves the history.
    async with running(deployment) as server:
        cookie = await login(server, "ann")
        async with httpx.AsyncClient(
            base_url=server.http, cookies={"linli_session": cookie}
        ) as http:
            got = await http.get(f"/api/channels/{channel}/history")
            assert got.status_code == 200, got.text
            assert len(got.json()["publications"]) == 5


async def test_an_archive_of_the_other_mode_is_refused(
    deployment: Deployment, tmp_path: Path
) -> None:
    await seed(deployment)
    archive = tmp_path / "b.tar"
    assert _cli(deployment, "backup", str(archive)).returncode == 0
    other = (
        "postgresql://postgres@127.0.0.1:5432/test"
        if deployment.mode == "embedded"
        else (f"sqlite:///{tmp_path}/other.sqlite3")
    )
    deployment.extra_env["LINLI_DATABASE_URL"] = other
    refused = _cli(deployment, "restore", "--yes", str(archive))
    assert refused.returncode != 0 and "this archive is of a" in refused.stderr

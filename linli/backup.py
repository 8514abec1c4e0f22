"""``linli backup`` and ``linli restore``: the whole installation — the database and, with the
directory blob store (``LINLI_BLOB_DIR``), the uploaded files — in one ``.tar`` archive with a
manifest of SHA-256 checksums, for either mode.

* SQLite: the online backup API (``sqlite3.Connection.backup``), a consistent copy while the
  server runs, page by page with progress.
* PostgreSQL: ``pg_dump --format=custom`` (consistent: one snapshot), of the schema the URL's
  ``search_path`` names or of the whole database; restored with ``pg_restore --clean``.
* Redis holds nothing that must survive (docs/operations.md, "When Redis restarts"): offsets and
  hot history are rebuilt from the database.

``restore`` checks every checksum before it touches anything, and refuses an archive of the
other mode. Stop the servers and workers before restoring.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

from persistence.factory import is_postgres, sqlite_path

FORMAT = 1
Progress = Callable[[str], None]


class BackupError(Exception):
    """The archive or the tools refused: the message says why, for a person."""


@dataclass(frozen=True)
class PgTarget:
    """A PostgreSQL URL as libpq takes it, and the schema its ``search_path`` names (if any)."""

    url: str
    schema: str | None


def pg_target(url: str) -> PgTarget:
    parts = urlsplit(url)
    schema = parse_qs(parts.query).get("search_path", [None])[0]
    return PgTarget(urlunsplit(parts._replace(query="")), schema)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _run(command: list[str]) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise BackupError(f"{command[0]} is not installed (PostgreSQL's client tools)") from exc
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()[-2000:]}")


def backup(
    database_url: str, blob_dir: str, out: Path, progress: Progress = print
) -> dict[str, object]:
    """Write the archive ``out``; returns its manifest."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="linli-backup-") as tmp:
        work = Path(tmp)
        files: dict[str, str] = {}
        if is_postgres(database_url):
            mode, name = "postgresql", "database.pgdump"
            target = pg_target(database_url)
            command = ["pg_dump", "--format=custom", "--no-owner", f"--file={work / name}"]
            if target.schema:
                command.append(f"--schema={target.schema}")
            progress(f"pg_dump {'schema ' + target.schema if target.schema else 'database'} …")
            _run([*command, target.url])
        else:
            mode, name = "sqlite", "database.sqlite3"
            source = sqlite3.connect(sqlite_path(database_url))
            copy = sqlite3.connect(work / name)
            try:

                def step(_status: int, remaining: int, total: int) -> None:
                    progress(f"sqlite: {total - remaining} of {total} pages")

                source.backup(copy, pages=1024, progress=step)
            finally:
                copy.close()
                source.close()
        files[name] = _sha256(work / name)
        blobs = 0
        if blob_dir and Path(blob_dir).is_dir():
            for path in sorted(Path(blob_dir).rglob("*")):
                if path.is_file() and not path.name.startswith("."):
                    relative = f"blobs/{path.relative_to(blob_dir).as_posix()}"
                    files[relative] = _sha256(path)
                    blobs += 1
            progress(f"blobs: {blobs} files")
        manifest: dict[str, object] = {
            "format": FORMAT,
            "mode": mode,
            "created_at": int(time.time() * 1000),
            "files": files,
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        with tarfile.open(partial, "w") as tar:
            data = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size, info.mtime = len(data), int(time.time())
            tar.addfile(info, io.BytesIO(data))
            tar.add(work / name, arcname=name)
            if blobs:
                for relative in files:
                    if relative.startswith("blobs/"):
                        tar.add(Path(blob_dir) / relative.removeprefix("blobs/"), arcname=relative)
        os.replace(partial, out)  # a half-written archive never has the final name
    progress(f"wrote {out} ({out.stat().st_size} bytes) in {time.monotonic() - started:.1f} s")
    return manifest


def restore(
    database_url: str, blob_dir: str, archive: Path, progress: Progress = print
) -> dict[str, object]:
    """Replace the database (and the blob directory's files) with the archive's; returns its
    manifest. Every checksum is checked first."""
    with tempfile.TemporaryDirectory(prefix="linli-restore-") as tmp:
        work = Path(tmp)
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(work, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise BackupError(f"{archive} is not a Linli backup: {exc}") from exc
        try:
            manifest: dict[str, object] = json.loads((work / "manifest.json").read_text())
            files = manifest["files"]
            mode = manifest["mode"]
            if not isinstance(files, dict):
                raise ValueError("files")
        except (OSError, ValueError, KeyError) as exc:
            raise BackupError(f"{archive} has no readable manifest") from exc
        if manifest.get("format") != FORMAT:
            raise BackupError(
                f"archive format {manifest.get('format')} (this Linli reads {FORMAT})"
            )
        for relative, digest in files.items():
            path = work / relative
            if not path.is_file() or _sha256(path) != digest:
                raise BackupError(f"{relative}: checksum mismatch — the archive is damaged")
        progress(f"checksums: {len(files)} files ok")
        wanted = "postgresql" if is_postgres(database_url) else "sqlite"
        if mode != wanted:
            raise BackupError(
                f"this archive is of a {mode} database; LINLI_DATABASE_URL is {wanted}"
            )
        if mode == "postgresql":
            target = pg_target(database_url)
            progress("pg_restore …")
            _run(
                [
                    "pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
                    f"--dbname={target.url}", str(work / "database.pgdump"),
                ]
            )  # fmt: skip
        else:
            path = Path(sqlite_path(database_url))
            path.parent.mkdir(parents=True, exist_ok=True)
            source = sqlite3.connect(work / "database.sqlite3")
            dest = sqlite3.connect(path)
            try:
                source.backup(dest)  # replaces every page, WAL and all
            finally:
                dest.close()
                source.close()
        blobs = [r for r in files if r.startswith("blobs/")]
        if blobs:
            if not blob_dir:
                raise BackupError(
                    "the archive has uploaded files: set LINLI_BLOB_DIR to restore them"
                )
            root = Path(blob_dir)
            for relative in blobs:
                target_path = root / relative.removeprefix("blobs/")
                target_path.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(work / relative, target_path)
            progress(f"blobs: {len(blobs)} files restored")
    return manifest

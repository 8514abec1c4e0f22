"""The pages' static files: versioned addresses, long caching, gzip.

A page names a file as ``{{ static('js/chat.js') }}``, which becomes
``/static/js/chat.js?v=<hash of its bytes>``. A request carrying the file's current hash is
cached by the browser for a year without asking again (``immutable``): a phone on a slow line
loads the scripts and styles once per release, not once per page. Any other request for the file
(no ``v``, or an old one; the modules a script imports by relative address) is ``no-cache``: the
browser keeps it but revalidates, and the ETag turns that into a 304. So a changed file is never
served stale, and an unchanged one is never sent twice.

Text files (scripts, styles, SVG) travel gzipped when the browser accepts it.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Scope

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: How long a versioned file is kept (a year, the longest the HTTP caching RFC suggests).
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


@functools.cache
def _version(path: str, mtime_ns: int) -> str:
    """The first 12 hex digits of the file's SHA-256 (the mtime is only the cache's key)."""
    return hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:12]


def version_of(path: str) -> str | None:
    """The current version of ``static/<path>``, or None if there is no such file."""
    try:
        mtime_ns = os.stat(STATIC_DIR / path).st_mtime_ns
    except OSError:
        return None
    return _version(path, mtime_ns)


def static_url(path: str) -> str:
    """The address of ``static/<path>`` with its version. A missing file gets its plain
    address (a 404 in the browser's console, and ``tests/unit/test_static_assets.py`` fails
    for every template that names one)."""
    path = path.lstrip("/")
    version = version_of(path)
    return f"/static/{path}" if version is None else f"/static/{path}?v={version}"


class VersionedStaticFiles(StaticFiles):
    """``StaticFiles`` with the caching rule of the module docstring."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        asked = _query_version(scope)
        path = Path(full_path).resolve()
        current = None
        if asked is not None and path.is_relative_to(STATIC_DIR):
            current = version_of(path.relative_to(STATIC_DIR).as_posix())
        response.headers["Cache-Control"] = (
            IMMUTABLE if asked is not None and asked == current else REVALIDATE
        )
        return response


def _query_version(scope: Scope) -> str | None:
    query: bytes = scope.get("query_string", b"")
    for pair in query.decode("latin-1").split("&"):
        name, _, value = pair.partition("=")
        if name == "v" and value:
            return value
    return None


def static_app() -> ASGIApp:
    """The ``/static`` mount: versioned caching, then gzip for text of 1 KB and more."""
    return GZipMiddleware(VersionedStaticFiles(directory=STATIC_DIR), minimum_size=1024)

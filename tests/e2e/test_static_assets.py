"""End to end (embedded; static files do not depend on the mode): the pages name their scripts
and styles by versioned address, which the browser may keep for a year; any other address of a
file is revalidated (a 304 when unchanged); text travels gzipped; every file a template names
exists (``web/static_assets.py``)."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import Deployment, running
from tests.e2e.polls_helpers import make_voters
from web.static_assets import IMMUTABLE, REVALIDATE, STATIC_DIR

pytestmark = pytest.mark.timeout(90)

TEMPLATES = Path(__file__).resolve().parents[2] / "web" / "templates"
ASSET = re.compile(r'(?:href|src)="(/static/[^"?]+)\?v=([0-9a-f]+)"')


def test_every_file_a_template_names_exists() -> None:
    named = {
        name
        for path in TEMPLATES.rglob("*.html")
        for name in re.findall(r"static\('([^']+)'\)", path.read_text(encoding="utf-8"))
    }
    assert len(named) > 20  # the pattern still finds the templates' references
    assert sorted(n for n in named if not (STATIC_DIR / n).is_file()) == []
    # No template names a static file by its bare address any more (it would never be cached).
    bare = [
        str(path.relative_to(TEMPLATES))
        for path in TEMPLATES.rglob("*.html")
        if re.search(r'(?:href|src)="/static/', path.read_text(encoding="utf-8"))
    ]
    assert bare == []


async def test_versioned_assets_are_cached_and_compressed(tmp_path: Path) -> None:
    deployment = Deployment(
        "embedded", f"sqlite:///{tmp_path}/linli.sqlite3", None, "linli:", tmp_path
    )
    voters = await make_voters(deployment, 1)
    async with running(deployment) as server:
        async with httpx.AsyncClient(
            base_url=server.http, cookies={"linli_session": voters.cookies["v0000"][1]}
        ) as http:
            page = await http.get("/")
            assert page.status_code == 200
            assets = ASSET.findall(page.text)
            assert any(a.endswith(".js") for a, _ in assets)
            assert any(a.endswith(".css") for a, _ in assets)
            for address, version in assets:
                # The version is the file's content hash, computed here independently.
                body = (STATIC_DIR / address.removeprefix("/static/")).read_bytes()
                assert version == hashlib.sha256(body).hexdigest()[:12], address
                got = await http.get(f"{address}?v={version}", headers={"Accept-Encoding": "gzip"})
                assert got.status_code == 200, address
                assert got.headers["cache-control"] == IMMUTABLE, address
                # httpx decodes the body; it is the file's bytes.
                assert got.content == body, address
                if len(body) >= 1024 and address.endswith((".js", ".css", ".svg")):
                    assert got.headers.get("content-encoding") == "gzip", address

            # The biggest script: gzipped on the wire to well under its size.
            address, version = max(
                (a for a in assets if a[0].endswith(".js")),
                key=lambda a: (STATIC_DIR / a[0].removeprefix("/static/")).stat().st_size,
            )
            body = (STATIC_DIR / address.removeprefix("/static/")).read_bytes()
            async with http.stream(
                "GET", f"{address}?v={version}", headers={"Accept-Encoding": "gzip"}
            ) as raw:
                wire = b"".join([chunk async for chunk in raw.aiter_raw()])
            assert gzip.decompress(wire) == body
            assert len(wire) < len(body) * 0.6, (len(wire), len(body))

            # No version, or a stale one (an old page's): revalidated, and a 304 when unchanged.
            for query in ("", "?v=000000000000"):
                plain = await http.get(f"{address}{query}")
                assert plain.status_code == 200
                assert plain.headers["cache-control"] == REVALIDATE
                again = await http.get(
                    f"{address}{query}", headers={"If-None-Match": plain.headers["etag"]}
                )
                assert again.status_code == 304
            # A file that is not there is a plain 404.
            assert (await http.get("/static/js/no-such-file.js?v=1")).status_code == 404

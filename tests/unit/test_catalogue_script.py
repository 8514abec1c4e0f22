"""The catalogue as a cached script (``web/catalogue_script.py``): the current version is
immutable for a year, any other revalidates, the ETag gives a 304, gzip when accepted, and an
unknown wording is 404."""

from __future__ import annotations

import gzip

import httpx
import orjson
from starlette.applications import Starlette

from linli.catalogue import messages_of
from web.catalogue_script import ROUTES, catalogue_url
from web.static_assets import IMMUTABLE, REVALIDATE

PREFIX = b"globalThis.linliCatalogue = "


def _client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=Starlette(routes=ROUTES))
    return httpx.AsyncClient(transport=transport, base_url="http://linli.test")


async def test_the_current_version_is_cached_a_year_and_holds_the_wording() -> None:
    async with _client() as client:
        url = catalogue_url("zh-Hant-HK")
        answer = await client.get(url, headers={"accept-encoding": "identity"})
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == IMMUTABLE
        assert answer.headers["content-type"].startswith("text/javascript")
        assert "content-encoding" not in answer.headers
        body = answer.content
        assert body.startswith(PREFIX) and body.endswith(b";\n")
        assert orjson.loads(body[len(PREFIX) : -2]) == messages_of("zh-Hant-HK")

        etag = answer.headers["etag"]
        again = await client.get(url, headers={"if-none-match": etag})
        assert again.status_code == 304 and again.content == b""

        old = await client.get("/i18n/zh-Hant-HK.js?v=000000000000")
        assert old.status_code == 200 and old.headers["cache-control"] == REVALIDATE


async def test_gzip_when_accepted_and_each_wording_its_own_version() -> None:
    async with _client() as client:
        raw = await client.get(catalogue_url("zh-Hant"), headers={"accept-encoding": "identity"})
        zipped = await client.get(catalogue_url("zh-Hant"), headers={"accept-encoding": "gzip, br"})
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.headers["vary"] == "Accept-Encoding"
        # httpx undoes the gzip: the same bytes, far fewer of them on the wire.
        assert zipped.content == raw.content
        assert int(zipped.headers["content-length"]) < len(raw.content) / 3
        assert gzip.decompress(gzip.compress(raw.content)) == raw.content
    assert len({catalogue_url(w) for w in ("zh-Hant", "zh-Hant-HK", "en")}) == 3


async def test_an_unknown_wording_is_404() -> None:
    async with _client() as client:
        assert (await client.get("/i18n/xx.js")).status_code == 404
        assert (await client.get("/i18n/..%2Fsecret.js")).status_code == 404

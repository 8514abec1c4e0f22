"""The page's message catalogue as a script of its own, cached like the static files.

Every page used to carry its whole catalogue inline (``<script type="application/json">``):
2,112 entries, 185 KB of the chat page's 280 KB on a phone's first visit, and again on every
page after it, since a page is ``no-store``. Now a page names ``/i18n/<wording>.js?v=<hash>``,
a module that sets ``globalThis.linliCatalogue`` before any of the page's own modules run
(module scripts run in document order); a year-long ``immutable`` answer when the hash is the
current one, like ``web/static_assets.py``, so a phone fetches each wording once per release.
The body is gzipped once per process and kept (the catalogues do not change while it runs).
"""

from __future__ import annotations

import functools
import gzip
import hashlib

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from linli.catalogue import WORDINGS, messages_of
from web.static_assets import IMMUTABLE, REVALIDATE


@functools.cache
def _script(wording: str) -> tuple[bytes, bytes, str]:
    """The script's bytes, gzipped bytes and version (12 hex digits of its SHA-256). JSON is
    valid JavaScript (ES2019 took in U+2028/U+2029), and orjson escapes nothing that could end
    the script: it is a file, not inside an HTML element."""
    body = b"globalThis.linliCatalogue = " + orjson.dumps(messages_of(wording)) + b";\n"
    return body, gzip.compress(body, 9, mtime=0), hashlib.sha256(body).hexdigest()[:12]


def catalogue_url(wording: str) -> str:
    """The address a page names for ``wording``'s catalogue."""
    return f"/i18n/{wording}.js?v={_script(wording)[2]}"


async def catalogue_script(request: Request) -> Response:
    wording = request.path_params["wording"]
    if wording not in WORDINGS:
        return Response(status_code=404)
    body, zipped, version = _script(wording)
    headers = {
        "Cache-Control": IMMUTABLE if request.query_params.get("v") == version else REVALIDATE,
        "ETag": f'"{version}"',
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == f'"{version}"':
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        body = zipped
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)


ROUTES = [Route("/i18n/{wording}.js", catalogue_script)]

"""The residents' HTML pages: chat, log in, register, groups and the user guide.

Pages are rendered on the server in the reader's language (so the first paint is already in
繁體中文 or English, with no flash of untranslated text) and carry that language's message
catalogue as JSON for the small ES modules in ``web/static/js`` that do the live work over the
WebSocket protocol. All strings come from ``web/locales/*.json``; Jinja2 autoescaping is on for
every template, and user text reaches the DOM only through ``textContent`` in the scripts.
"""

from __future__ import annotations

import functools
import html
import re
from pathlib import Path
from typing import Any

import orjson
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.wire import MAX_TEXT_CHARS
from linli.config import Settings
from web.api import current_user, user_json
from web.passwords import MIN_PASSWORD_CHARS

WEB_DIR = Path(__file__).resolve().parent
GUIDE_DIR = WEB_DIR.parent / "docs" / "guide"

#: Catalogues in order of preference: the plan puts 繁體中文 first, so it is the fallback too.
LOCALES = ("zh-Hant", "en")
DEFAULT_LOCALE = "zh-Hant"
LANG_COOKIE = "linli_lang"

# Defence in depth behind escaping: no inline script, no foreign origins. 'self' in connect-src
# covers the page's own ws:/wss: origin in CSP level 3 browsers.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


#: A host name or IP address as it may appear in a CSP source (nothing that could end the header
#: or add a source).
_HOSTNAME_RE = re.compile(r"[A-Za-z0-9.-]{1,253}|[0-9A-Fa-f:.]{2,45}")


def browser_ws_port(request: Request) -> int | None:
    """The port the page's scripts open the WebSocket on, or None for ``/ws`` on the page's own
    origin. Direct when Linli is reached without a proxy; behind one
    (``LINLI_TRUSTED_PROXY_HOPS`` > 0) the proxy routes ``/ws`` to the websockets port
    (docs/operations.md), and the page stays on one origin."""
    settings: Settings = request.app.state.settings
    if not settings.websocket_port or settings.trusted_proxy_hops > 0:
        return None
    return settings.websocket_port


@functools.cache
def catalogue(locale: str) -> dict[str, str]:
    """The message catalogue of ``locale``, with the default locale's entries filling any gap
    (a missing translation shows Chinese rather than a key)."""
    messages: dict[str, str] = orjson.loads((WEB_DIR / "locales" / f"{locale}.json").read_bytes())
    if locale != DEFAULT_LOCALE:
        messages = {**catalogue(DEFAULT_LOCALE), **messages}
    return messages


def negotiate_locale(cookie: str | None, accept_language: str | None) -> str:
    """The cookie the language switch sets wins; then the browser's Accept-Language (which
    follows ``navigator.languages``), by q-value; any Chinese maps to 繁體中文, the only Chinese
    catalogue."""
    if cookie in LOCALES:
        return cookie
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        match = re.search(r"q=([0-9.]+)", params)
        if match:
            try:
                q = float(match.group(1))
            except ValueError:
                q = 0.0
        ranked.append((-q, index, tag.strip().lower()))
    for _, _, tag in sorted(ranked):
        if tag.startswith("zh"):
            return "zh-Hant"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LOCALE


def locale_of(request: Request) -> str:
    return negotiate_locale(
        request.cookies.get(LANG_COOKIE), request.headers.get("accept-language")
    )


_env = Environment(
    loader=FileSystemLoader(WEB_DIR / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(request: Request, template: str, **context: Any) -> HTMLResponse:
    locale = locale_of(request)
    messages = catalogue(locale)

    def t(key: str, **values: Any) -> str:
        text = messages.get(key, key)
        return text.format(**values) if values else text

    ws_port = browser_ws_port(request)
    body = _env.get_template(template).render(
        ws_port=ws_port,
        lang=locale,
        locales=LOCALES,
        t=t,
        messages=messages,
        path=request.url.path,
        min_password=MIN_PASSWORD_CHARS,
        max_text=MAX_TEXT_CHARS,
        **context,
    )
    response = HTMLResponse(body, headers=_SECURITY_HEADERS)
    if ws_port:
        # 'self' does not cover another port: allow exactly this host's WebSocket port.
        host = request.url.hostname or ""
        if _HOSTNAME_RE.fullmatch(host):
            host = f"[{host}]" if ":" in host else host
            response.headers["Content-Security-Policy"] = _CSP.replace(
                "connect-src 'self'",
                f"connect-src 'self' ws://{host}:{ws_port} wss://{host}:{ws_port}",
            )
    response.headers["Vary"] = "Cookie, Accept-Language"
    response.headers["Cache-Control"] = "no-store"
    return response


async def chat_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    return render(request, "chat.html", user=user_json(user), page="chat")


async def groups_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    return render(request, "groups.html", user=user_json(user), page="groups")


async def login_page(request: Request) -> Response:
    if await current_user(request) is not None:
        return RedirectResponse("/", status_code=303)
    return render(request, "login.html", user=None, page="login")


async def register_page(request: Request) -> Response:
    if await current_user(request) is not None:
        return RedirectResponse("/", status_code=303)
    return render(request, "register.html", user=None, page="register")


async def help_page(request: Request) -> Response:
    user = await current_user(request)
    locale = locale_of(request)
    return render(
        request,
        "help.html",
        user=user_json(user) if user else None,
        page="help",
        guide=guide_html(locale),
    )


# -- the guide ---------------------------------------------------------------------------------


@functools.cache
def guide_html(locale: str) -> str:
    """``docs/guide/<locale>.md`` as HTML. The guide is the residents' manual kept as Markdown in
    the repository; it uses only headings, paragraphs, lists and **bold**, so this small
    converter (escaping everything first) does instead of a Markdown dependency."""
    path = GUIDE_DIR / f"{locale}.md"
    if not path.exists():
        path = GUIDE_DIR / f"{DEFAULT_LOCALE}.md"
    return markdown_subset(path.read_text(encoding="utf-8"))


def _inline(text: str) -> str:
    text = html.escape(text, quote=True)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"`(.+?)`", r"<code>\1</code>", text)
    # Only in-app links ("/help#chat", "/groups"): the guide never sends anyone elsewhere.
    return re.sub(r"\[(.+?)\]\((/[^)\s]*|#[^)\s]*)\)", r'<a href="\2">\1</a>', text)


def _slug(text: str) -> str:
    match = re.search(r"\{#([a-z0-9-]+)\}\s*$", text)
    return match.group(1) if match else ""


def markdown_subset(source: str) -> str:
    out: list[str] = []
    paragraph: list[str] = []
    list_tag: str | None = None

    def flush() -> None:
        nonlocal list_tag
        if paragraph:
            out.append(f"<p>{_inline(' '.join(paragraph))}</p>")
            paragraph.clear()
        if list_tag:
            out.append(f"</{list_tag}>")
            list_tag = None

    for raw in source.splitlines():
        line = raw.strip()
        heading = re.match(r"^(#{1,4})\s+(.*)$", line)
        item = re.match(r"^(?:([-*])|(\d+)\.)\s+(.*)$", line)
        if not line:
            flush()
        elif heading:
            flush()
            level = len(heading.group(1))
            text = heading.group(2)
            anchor = _slug(text)
            text = re.sub(r"\s*\{#[a-z0-9-]+\}\s*$", "", text)
            id_attr = f' id="{anchor}"' if anchor else ""
            out.append(f"<h{level}{id_attr}>{_inline(text)}</h{level}>")
        elif item:
            if paragraph:
                out.append(f"<p>{_inline(' '.join(paragraph))}</p>")
                paragraph.clear()
            tag = "ol" if item.group(2) else "ul"
            if list_tag != tag:
                if list_tag:
                    out.append(f"</{list_tag}>")
                # A numbered list interrupted by a sub-list carries on from its own number.
                start = int(item.group(2)) if item.group(2) else 1
                out.append(f'<ol start="{start}">' if start != 1 else f"<{tag}>")
                list_tag = tag
            out.append(f"<li>{_inline(item.group(3))}</li>")
        elif list_tag and raw.startswith("  ") and out and out[-1].endswith("</li>"):
            out[-1] = out[-1][: -len("</li>")] + " " + _inline(line) + "</li>"
        else:
            if list_tag:
                out.append(f"</{list_tag}>")
                list_tag = None
            paragraph.append(line)
    flush()
    return "\n".join(out)


PAGE_ROUTES = [
    Route("/", chat_page),
    Route("/login", login_page),
    Route("/register", register_page),
    Route("/groups", groups_page),
    Route("/help", help_page),
    Mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static"),
]

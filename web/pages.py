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
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route

from gateway.wire import MAX_TEXT_CHARS
from linli.catalogue import (
    DEFAULT_LOCALE,
    HTML_LANG,
    LOCALES,
    VARIANTS,
    WORDINGS,
    language_of,
    messages_of,
)
from linli.config import Settings
from linli.feature import NavItem
from linli.roles import Can, may
from linli.types import Role
from web.api import current_user, user_json
from web.catalogue_script import ROUTES as CATALOGUE_ROUTES
from web.catalogue_script import catalogue_url
from web.passwords import MIN_PASSWORD_CHARS
from web.static_assets import static_app, static_url

WEB_DIR = Path(__file__).resolve().parent
GUIDE_DIR = WEB_DIR.parent / "docs" / "guide"

#: Catalogues in order of preference: the plan puts 繁體中文 first, so it is the fallback too.
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
    if settings.trusted_proxy_hops > 0:
        return None
    return settings.websocket_port


def catalogue(locale: str) -> dict[str, str]:
    """The message catalogue of ``locale`` (``linli/catalogue.py``: the core's file and each
    feature's), with the default locale's entries filling any gap (a missing translation shows
    Chinese rather than a key)."""
    return messages_of(locale)


#: Accept-Language tags (lower case, before any further subtag) that read Hong Kong wording:
#: Hong Kong, Macau, and Cantonese written in Chinese characters.
_HK_TAGS = ("zh-hk", "zh-mo", "zh-hant-hk", "zh-hant-mo", "yue")


def _ranked_tags(accept_language: str | None) -> list[str]:
    """Accept-Language's tags (lower case) by q-value, then by position."""
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
    return [tag for _, _, tag in sorted(ranked)]


def negotiate_wording(cookie: str | None, accept_language: str | None) -> str:
    """The catalogue a page is rendered from (one of ``WORDINGS``). The cookie the language
    switch sets wins; then the browser's Accept-Language (which follows ``navigator.languages``),
    by q-value: Hong Kong and Macau Chinese (and Cantonese) read the ``zh-Hant-HK`` wording, any
    other Chinese the base 繁體中文 (Taiwan wording), English English."""
    if cookie in WORDINGS:
        return cookie
    for tag in _ranked_tags(accept_language):
        if tag.startswith(_HK_TAGS):
            return "zh-Hant-HK"
        if tag.startswith("zh"):
            return "zh-Hant"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LOCALE


def negotiate_locale(cookie: str | None, accept_language: str | None) -> str:
    """The reader's language (one of ``LOCALES``: what stored texts and admins' choices are keyed
    by): the language of ``negotiate_wording``; any Chinese is 繁體中文."""
    return language_of(negotiate_wording(cookie, accept_language))


def offered_locales(request: Request) -> tuple[str, ...]:
    """The languages the admins offer (the settings page's ``languages``), in ``LOCALES``
    order; all of them until set."""
    runtime = getattr(request.app.state, "runtime", None)
    raw = runtime.live.values.get("languages", "") if runtime is not None else ""
    chosen = raw.split(",")
    return tuple(locale for locale in LOCALES if locale in chosen) or LOCALES


def locale_of(request: Request) -> str:
    """The reader's language (``negotiate_locale``) when it is offered, else the first
    offered."""
    locale = negotiate_locale(
        request.cookies.get(LANG_COOKIE), request.headers.get("accept-language")
    )
    offered = offered_locales(request)
    return locale if locale in offered else offered[0]


def wording_of(request: Request) -> str:
    """The catalogue the reader's page is rendered from: the reader's language (``locale_of``),
    in its regional variant when the switch or the browser asks for one."""
    locale = locale_of(request)
    wording = negotiate_wording(
        request.cookies.get(LANG_COOKIE), request.headers.get("accept-language")
    )
    return wording if language_of(wording) == locale else locale


_env = Environment(
    loader=FileSystemLoader(WEB_DIR / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals["static"] = static_url


#: The community's name until an admin sets one (``web/admin/actions.py`` SETTINGS).
DEFAULT_COMMUNITY = {"zh-Hant": "鄰里社區", "en": "Linli neighbourhood"}


def community_of(request: Request, locale: str, fallback: str) -> tuple[str, str | None]:
    """The community's name in ``locale`` (the other language's when that one is empty, then
    ``fallback``) and its logo's address, as this process last heard them (``linli/live.py``)."""
    runtime = getattr(request.app.state, "runtime", None)
    values = runtime.live.values if runtime is not None else {}
    names = {
        lang: values.get(f"community_name_{'zh' if lang == 'zh-Hant' else 'en'}", default)
        for lang, default in DEFAULT_COMMUNITY.items()
    }
    other = "en" if locale == "zh-Hant" else "zh-Hant"
    name = names.get(locale) or names.get(other) or fallback
    blob = values.get("logo_blob", "")
    return name, f"/community-logo/{blob}" if blob else None


#: The other wording of the same language the switch offers (Taiwan <-> Hong Kong).
_OTHER_WORDING = {"zh-Hant": "zh-Hant-HK", **{v: base for v, base in VARIANTS.items()}}


def render(request: Request, template: str, **context: Any) -> HTMLResponse:
    locale = locale_of(request)
    wording = wording_of(request)
    messages = catalogue(wording)

    def t(key: str, **values: Any) -> str:
        text = messages.get(key, key)
        return text.format(**values) if values else text

    ws_port = browser_ws_port(request)
    nav: Sequence[NavItem] = getattr(request.app.state, "nav", ())

    def nav_items(user: Any) -> list[NavItem]:
        """The features' top-bar links this user may follow (``Feature.nav``)."""
        if user is None:
            return []
        role = Role(user.role) if not isinstance(user, dict) else Role(user["role"])
        return [i for i in nav if i.duty is None or may(role, Can(i.duty))]

    community, logo = community_of(request, locale, messages.get("app.name", "Linli"))
    body = _env.get_template(template).render(
        community_name=community,
        community_logo=logo,
        offered_locales=offered_locales(request),
        nav_items=nav_items,
        ws_port=ws_port,
        lang=locale,
        wording=wording,
        other_wording=_OTHER_WORDING.get(wording),
        html_lang=HTML_LANG[wording],
        catalogue_url=catalogue_url(wording),
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
        return to_login(request)
    return render(request, "chat.html", user=user_json(user), page="chat")


async def groups_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return to_login(request)
    return render(request, "groups.html", user=user_json(user), page="groups")


async def group_page(request: Request) -> Response:
    """A group's own page: its name, description, members, join or leave, its room."""
    user = await current_user(request)
    if user is None:
        return to_login(request)
    store = request.app.state.runtime.store
    group = await store.get_group(request.path_params["slug"])
    if group is None:
        return await error_page(request, "not_found", 404)
    joined = await store.is_member(user.id, group.slug)
    return render(
        request,
        "group.html",
        user=user_json(user),
        page="group",
        group={
            "slug": group.slug,
            "name": group.name,
            "description": group.description,
            "member_count": group.member_count,
            "joined": joined,
            "channel": f"group:{group.slug}",
        },
    )


def wants_page(request: Request) -> bool:
    """Whether an error should be a page (a browser asking for one) rather than JSON."""
    path = request.url.path
    return (
        request.method in ("GET", "HEAD")
        and not path.startswith("/api/")
        and "text/html" in request.headers.get("accept", "")
    )


async def error_page(request: Request, kind: str, status: int) -> Response:
    """A friendly page for an error, in the reader's language, with the menu and a way back.
    ``kind``: ``not_found``, ``forbidden`` or ``error``."""
    try:
        user = await current_user(request)
    except Exception:  # the database may be what failed: show the page without the menu
        user = None
    response = render(
        request, "error.html", user=user_json(user) if user else None, page="error", kind=kind
    )
    response.status_code = status
    return response


def safe_next(value: str | None) -> str | None:
    """``value`` if it is a path on this site ("/polls/3"), else None: a ``next=`` must never
    send anyone to another site ("//evil.example", "/\\evil.example", "https://…")."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return None
    if any(ord(c) < 0x20 for c in value) or len(value) > 1000:
        return None
    return value


def to_login(request: Request) -> RedirectResponse:
    """To the login page, coming back to this page after it (``next=``): a poll's QR code
    scanned while logged out lands on the poll."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(here, safe='/')}", status_code=303)


async def login_page(request: Request) -> Response:
    if await current_user(request) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")) or "/", status_code=303)
    # /login?ended=banned: the chat page's socket was closed by a ban (web/static/js/chat_staff.js).
    banned = request.query_params.get("ended") == "banned"
    return render(request, "login.html", user=None, page="login", banned=banned)


async def register_page(request: Request) -> Response:
    if await current_user(request) is not None:
        return RedirectResponse("/", status_code=303)
    # /register?invite=CODE: a poster's QR code (web/onboard) fills the code in.
    invite = request.query_params.get("invite", "").strip().upper()[:32]
    invite = invite if re.fullmatch(r"[A-Z0-9-]*", invite) else ""
    return render(request, "register.html", user=None, page="register", invite=invite)


async def help_page(request: Request) -> Response:
    user = await current_user(request)
    locale = locale_of(request)
    return render(
        request,
        "help.html",
        user=user_json(user) if user else None,
        page="help",
        guide=guide_html(locale),
        toc=guide_contents(locale),
    )


#: The guide's screenshots (tests/browser/take_screenshots.py writes them).
SCREENSHOT_DIR = WEB_DIR.parent / "docs" / "screenshots" / "guide"
_SHOT_NAME = re.compile(r"[a-z0-9-]{1,64}\.png")


async def guide_screenshot(request: Request) -> Response:
    """``/help/screenshots/<name>.png``: one of the guide's pictures (public, like the guide;
    cached a day, as they change with a release)."""
    name = request.path_params["name"]
    path = SCREENSHOT_DIR / name
    if not _SHOT_NAME.fullmatch(name) or not path.is_file():
        return Response(status_code=404)
    return FileResponse(
        path, media_type="image/png", headers={"Cache-Control": "public, max-age=86400"}
    )


def guide_contents(locale: str) -> list[tuple[str, str]]:
    """The guide's table of contents: each section (``##`` with an ``{#anchor}``) as (anchor,
    title), in order."""
    return [
        (anchor, html.unescape(re.sub(r"<[^>]+>", "", title)))
        for anchor, title in re.findall(r'<h2 id="([a-z0-9-]+)">(.*?)</h2>', guide_html(locale))
    ]


# -- the guide ---------------------------------------------------------------------------------


@functools.cache
def guide_html(locale: str) -> str:
    """``docs/guide/<locale>.md`` as HTML. The guide is the residents' manual kept as Markdown in
    the repository; it uses only headings, paragraphs, lists and **bold**, so this small
    converter (escaping everything first) does instead of a Markdown dependency."""
    return markdown_subset("\n\n".join(p.read_text(encoding="utf-8") for p in guide_files(locale)))


def guide_files(locale: str) -> list[Path]:
    """The guide's files: ``docs/guide/<locale>.md`` (the core's chapters), then each feature's
    chapter ``docs/guide/<locale>/<NN>-<feature>.md`` in name order, so features land side by
    side without editing one shared file. A locale without its own falls back to 繁體中文."""
    if not (GUIDE_DIR / f"{locale}.md").exists():
        locale = DEFAULT_LOCALE
    return [GUIDE_DIR / f"{locale}.md", *sorted((GUIDE_DIR / locale).glob("*.md"))]


def _inline(text: str) -> str:
    text = html.escape(text, quote=True)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"`(.+?)`", r"<code>\1</code>", text)
    # Only in-app links ("/help#chat", "/groups"): the guide never sends anyone elsewhere.
    return re.sub(r"\[(.+?)\]\((/[^)\s]*|#[^)\s]*)\)", r'<a href="\2">\1</a>', text)


def _slug(text: str) -> str:
    match = re.search(r"\{#([a-z0-9-]+)\}\s*$", text)
    return match.group(1) if match else ""


#: A line of the guide's own screenshots: ``![alt](/help/screenshots/name.png)``, one or more.
_SHOT = r"!\[([^\]]+)\]\((/help/screenshots/[a-z0-9-]{1,64}\.png)\)"
_SHOTS_LINE = re.compile(rf"(?:{_SHOT}\s*)+")


def _shots(line: str) -> str:
    """The images of a screenshot line, with their size (no layout shift while they load)."""
    images = []
    for alt, src in re.findall(_SHOT, line):
        kind = "phone" if "-phone-" in src else "desktop"
        size = _png_size(src.rsplit("/", 1)[1])
        dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
        images.append(
            f'<img class="shot-{kind}" src="{src}" alt="{html.escape(alt, quote=True)}"'
            f'{dims} loading="lazy">'
        )
    return " ".join(images)


@functools.cache
def _png_size(name: str) -> tuple[int, int] | None:
    """A PNG's width and height from its IHDR chunk (bytes 16-24), None if it is not there."""
    try:
        with (WEB_DIR.parent / "docs" / "screenshots" / "guide" / name).open("rb") as file:
            head = file.read(24)
    except OSError:
        return None
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


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
        if _SHOTS_LINE.fullmatch(line):
            flush()
            out.append(f'<p class="guide-shots">{_shots(line)}</p>')
            continue
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
    Route("/groups/{slug}", group_page),
    Route("/help", help_page),
    Route("/help/screenshots/{name}", guide_screenshot),
    *CATALOGUE_ROUTES,
    Mount("/static", app=static_app(), name="static"),
]

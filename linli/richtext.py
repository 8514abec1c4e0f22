"""User text in Markdown, made safe HTML on the server: notices, forum posts, events, requests.

markdown-it-py renders CommonMark with raw HTML off (``<script>`` in the source arrives as
text) and a link validator that refuses ``javascript:``, ``vbscript:``, ``file:`` and
non-image ``data:`` URLs; nh3 (ammonia) then keeps only an allow-list of tags and attributes and
gives every link ``rel="noopener nofollow"``. Two layers on purpose: the renderer's output is
already safe for what it emits, and the sanitiser holds even if a plugin or a future option
lets something through. The result is stored beside the source, so pages never render on read.
"""

from __future__ import annotations

import functools
from typing import Final

import nh3
from markdown_it import MarkdownIt

#: What the HTML may contain: the CommonMark elements, nothing that runs or styles.
TAGS: Final = frozenset(
    {
        "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote",
        "ul", "ol", "li", "h2", "h3", "h4", "h5", "h6", "a", "table", "thead",
        "tbody", "tr", "th", "td",
    }
)  # fmt: skip
ATTRIBUTES: Final = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
URL_SCHEMES: Final = frozenset({"http", "https", "mailto", "tel"})
#: Longest Markdown source accepted (characters); a notice of a few pages fits many times.
MAX_SOURCE_CHARS: Final = 50_000


@functools.cache
def _renderer() -> MarkdownIt:
    # "commonmark" with html off; tables and strikethrough on (notices list costs and dates).
    # A top-level heading (#) becomes h2 in the sanitised output's place: the page's title is
    # the one h1.
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    return md


def render(source: str) -> str:
    """``source`` (Markdown) as sanitised HTML. Raises ``ValueError`` if it is too long."""
    if len(source) > MAX_SOURCE_CHARS:
        raise ValueError(f"text longer than {MAX_SOURCE_CHARS} characters")
    html = _renderer().render(source)
    # h1 would compete with the page's own title: one level down.
    html = html.replace("<h1>", "<h2>").replace("</h1>", "</h2>")
    return nh3.clean(
        html,
        tags=set(TAGS),
        attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener nofollow",
        strip_comments=True,
    )


def plain(source: str, limit: int = 200) -> str:
    """The first ``limit`` characters of ``source``'s text, without Markdown: previews, push
    bodies, search snippets."""
    text = nh3.clean(_renderer().render(source[: limit * 4]), tags=set())
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"

"""Markdown made safe: scripts, event handlers, javascript: links and raw HTML never survive,
and ordinary Markdown (lists, links, tables) does."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from linli.richtext import ATTRIBUTES, MAX_SOURCE_CHARS, TAGS, plain, render


class _Elements(HTMLParser):
    """The elements and attributes a browser would build from the HTML (text is just text)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}))


def elements(html: str) -> list[tuple[str, dict[str, str]]]:
    parser = _Elements()
    parser.feed(html)
    return parser.found


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[x](vbscript:msgbox(1))",
        '<a href="javascript:alert(1)">x</a>',
        "<iframe src=https://example.com></iframe>",
        '<div style="background:url(javascript:alert(1))">x</div>',
        "![x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    ],
)
def test_nothing_that_runs_survives(source: str) -> None:
    html = render(source)
    for tag, attrs in elements(html):
        assert tag in TAGS, (source, html)
        assert set(attrs) <= ATTRIBUTES.get(tag, set()) | {"rel"}, (source, html)
        for value in attrs.values():
            assert not value.strip().lower().startswith(("javascript", "vbscript", "data")), html


def test_markdown_renders_and_links_get_rel() -> None:
    html = render(
        "# 停水\n\n- **明日** 09:00\n- [詳情](https://example.org/a)\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |"
    )
    assert "<h2>停水</h2>" in html
    assert "<strong>明日</strong>" in html
    assert '<a href="https://example.org/a" rel="noopener nofollow">詳情</a>' in html
    assert "<table>" in html and "<td>1</td>" in html


def test_raw_html_is_shown_as_text() -> None:
    assert "&lt;b&gt;hi&lt;/b&gt;" in render("<b>hi</b>")


def test_too_long_is_refused_and_plain_text_is_short() -> None:
    with pytest.raises(ValueError):
        render("x" * (MAX_SOURCE_CHARS + 1))
    assert plain("**明日** 停水 [詳情](https://example.org)") == "明日 停水 詳情"
    assert plain("字" * 300, limit=10) == "字" * 9 + "…"

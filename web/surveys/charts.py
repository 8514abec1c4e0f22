"""Results charts as SVG drawn on the server: horizontal bars, each with its label above it and
its count and percent in words beside it, so a chart printed in black and white, read by a
screen reader (``role="img"`` with a title and a description listing every number) or copied
out of the page says the same as the figures.

Only presentation attributes (``fill``), never ``style``: the pages' CSP allows no inline style.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from web.surveys.results import Bar, one_decimal

WIDTH = 640
BAR_MAX = 420
ROW = 58
LABEL_SIZE = 18
BAR_HEIGHT = 24
#: The page's dark blue (``linli.css`` ``--accent``) on white: 8.6:1.
BAR_FILL = "#0b5394"
TEXT_FILL = "#1a1a1a"


def bar_label(bar: Bar) -> str:
    share = one_decimal(bar.percent)
    return f"{bar.count}" + (f" ({share}%)" if share else "")


def bar_chart(title: str, labels: Sequence[str], bars: Sequence[Bar], *, chart_id: str) -> str:
    """An ``<svg>`` element (markup, every text escaped) of one bar per option."""
    top = max((b.count for b in bars), default=0)
    height = ROW * len(bars) + 8
    rows: list[str] = []
    described: list[str] = []
    for i, (label, bar) in enumerate(zip(labels, bars, strict=True)):
        y = i * ROW
        width = 0 if top == 0 else round(BAR_MAX * bar.count / top)
        number = bar_label(bar)
        described.append(f"{label}: {number}")
        rows.append(
            f'<text x="0" y="{y + LABEL_SIZE}" font-size="{LABEL_SIZE}" fill="{TEXT_FILL}">'
            f"{escape(label)}</text>"
            f'<rect x="0" y="{y + 26}" width="{max(width, 2)}" height="{BAR_HEIGHT}" '
            f'fill="{BAR_FILL}"/>'
            f'<text x="{max(width, 2) + 10}" y="{y + 26 + 19}" font-size="{LABEL_SIZE}" '
            f'font-weight="bold" fill="{TEXT_FILL}" class="bar-number">{escape(number)}</text>'
        )
    return (
        f'<svg class="survey-chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{chart_id}-t">{escape(title)}</title>'
        f'<desc id="{chart_id}-d">{escape("; ".join(described))}</desc>' + "".join(rows) + "</svg>"
    )

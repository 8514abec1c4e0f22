"""Charts for the figures page drawn on the server as SVG: readable without scripts, in print
and by screen readers (each chart has a title and a table of the same numbers beside it)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT, PAD = 640, 220, 28


def bars(
    values: Sequence[tuple[str, float]],
    *,
    title: str,
    target: float | None = None,
    target_label: str = "",
    maximum: float | None = None,
) -> str:
    """A bar per (label, value), oldest first, with an optional dashed target line."""
    top = max([v for _, v in values] + [target or 0, maximum or 0, 1])
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    step = inner_w / max(1, len(values))
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" '
        f'class="chart-axis"/>',
    ]
    for i, (label, value) in enumerate(values):
        h = inner_h * value / top
        x = PAD + i * step + step * 0.15
        parts.append(
            f'<rect class="chart-bar" x="{x:.1f}" y="{HEIGHT - PAD - h:.1f}" '
            f'width="{step * 0.7:.1f}" height="{h:.1f}"><title>{escape(label)}: '
            f"{value:g}</title></rect>"
        )
    if values:
        first, last = values[0][0], values[-1][0]
        parts.append(f'<text x="{PAD}" y="{HEIGHT - 8}" class="chart-label">{escape(first)}</text>')
        parts.append(
            f'<text x="{WIDTH - PAD}" y="{HEIGHT - 8}" text-anchor="end" class="chart-label">'
            f"{escape(last)}</text>"
        )
    if target is not None:
        y = HEIGHT - PAD - inner_h * target / top
        parts.append(
            f'<line x1="{PAD}" y1="{y:.1f}" x2="{WIDTH - PAD}" y2="{y:.1f}" class="chart-target"/>'
            f'<text x="{WIDTH - PAD}" y="{y - 4:.1f}" text-anchor="end" class="chart-label">'
            f"{escape(target_label)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)

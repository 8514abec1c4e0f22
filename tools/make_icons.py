"""Draw the web app's icons (web/static/icons/*.png) with nothing but the standard library: a
small PNG writer and shapes sampled 4x4 per pixel for smooth edges. Run once, commit the PNGs:
``python tools/make_icons.py``.

The picture is a house with a door, white on Linli's brand blue (``--brand`` in linli.css):
* ``icon-<size>.png`` ("any"): a rounded square, transparent outside it;
* ``maskable-<size>.png``: blue to the edges, the house inside the safe zone (the centre circle
  of 40% radius a launcher's mask always keeps);
* ``badge-96.png``: the house alone, white on transparent (Android shows a badge as a
  silhouette in the status bar).
"""

from __future__ import annotations

import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "web" / "static" / "icons"
BRAND = (0x0B, 0x53, 0x94)
WHITE = (0xFF, 0xFF, 0xFF)
SAMPLES = 4

Shape = Callable[[float, float], bool]


def house(x: float, y: float) -> bool:
    """The house in a unit square (y grows downwards), centred on (0.5, 0.5)."""
    roof = 0.2 <= y <= 0.5 and abs(x - 0.5) <= (y - 0.2) / 0.3 * 0.33
    body = 0.27 <= x <= 0.73 and 0.46 <= y <= 0.8
    door = 0.44 <= x <= 0.56 and 0.6 <= y <= 0.8
    return (roof or body) and not door


def scaled(shape: Shape, factor: float) -> Shape:
    return lambda x, y: shape((x - 0.5) / factor + 0.5, (y - 0.5) / factor + 0.5)


def rounded_square(radius: float) -> Shape:
    def inside(x: float, y: float) -> bool:
        dx = max(radius - x, 0.0, x - (1 - radius))
        dy = max(radius - y, 0.0, y - (1 - radius))
        return dx * dx + dy * dy <= radius * radius

    return inside


def everywhere(x: float, y: float) -> bool:
    return True


def render(size: int, background: Shape | None, glyph: Shape) -> bytes:
    """RGBA rows: the glyph in white over the background in blue, each pixel's coverage the
    share of its samples inside."""
    rows = bytearray()
    offsets = [(i + 0.5) / SAMPLES for i in range(SAMPLES)]
    for py in range(size):
        rows.append(0)  # filter type: none
        for px in range(size):
            bg = fg = 0
            for oy in offsets:
                y = (py + oy) / size
                for ox in offsets:
                    x = (px + ox) / size
                    if glyph(x, y):
                        fg += 1
                    elif background is not None and background(x, y):
                        bg += 1
            total = SAMPLES * SAMPLES
            alpha = (bg + fg) / total
            if alpha == 0:
                rows += b"\0\0\0\0"
                continue
            # Colour of the covered part: white and blue in proportion.
            share = fg / (bg + fg)
            mix = zip(WHITE, BRAND, strict=True)
            colour = bytes(round(w * share + b * (1 - share)) for w, b in mix)
            rows += colour + bytes([round(alpha * 255)])
    return bytes(rows)


def png(size: int, rgba_rows: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rgba_rows, 9))
        + chunk(b"IEND", b"")
    )


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    jobs: list[tuple[str, int, Shape | None, Shape]] = []
    for size in (192, 512):
        jobs.append((f"icon-{size}.png", size, rounded_square(0.2), house))
        jobs.append((f"maskable-{size}.png", size, everywhere, scaled(house, 0.8)))
    jobs.append(("badge-96.png", 96, None, scaled(house, 1.15)))
    for name, size, background, glyph in jobs:
        (OUT / name).write_bytes(png(size, render(size, background, glyph)))
        print(f"wrote {OUT / name}", file=sys.stderr)


if __name__ == "__main__":
    main()

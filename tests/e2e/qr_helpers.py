"""Reading a poster's QR code back, as a phone would: the SVG the server sent, drawn into
pixels exactly as its path says, and decoded by a real decoder (zxing-cpp), never by the code
that drew it."""

from __future__ import annotations

import re

import zxingcpp
from PIL import Image

#: segno's one-path SVG: ``M x y`` then runs of ``h n`` (dark) and ``m dx dy`` (moves), each
#: line a row of modules stroked at its middle (y + 0.5).
_COMMAND = re.compile(r"([Mmh])\s*(-?[0-9.]+)(?:[\s,]+(-?[0-9.]+))?")
_SVG = re.compile(r"<svg[^>]*class=\"poster-qr\"[^>]*>.*?</svg>", re.S)
_VIEWBOX = re.compile(r'viewBox="0 0 ([0-9.]+) ([0-9.]+)"')
_PATH = re.compile(r'<path[^>]* d="([^"]+)"')


def poster_svg(page_html: str) -> str:
    found = _SVG.search(page_html)
    assert found, "no QR code (svg.poster-qr) on the page"
    return found.group(0)


def rasterise(svg: str, *, scale: int = 8) -> Image.Image:
    """The SVG's dark modules as a black-on-white image, ``scale`` pixels per module."""
    box = _VIEWBOX.search(svg)
    path = _PATH.search(svg)
    assert box and path, svg[:200]
    width, height = (round(float(v)) for v in box.groups())
    image = Image.new("L", (width * scale, height * scale), 255)
    x = y = 0.0
    for command, a, b in _COMMAND.findall(path.group(1)):
        if command == "M":
            x, y = float(a), float(b)
        elif command == "m":
            x, y = x + float(a), y + float(b)
        else:
            run = float(a)
            row = int(y - 0.5)
            image.paste(0, (int(x) * scale, row * scale, int(x + run) * scale, (row + 1) * scale))
            x += run
    return image


def decode(image: Image.Image) -> str:
    """The one QR code in the image, or AssertionError."""
    found = [r for r in zxingcpp.read_barcodes(image) if r.format == zxingcpp.BarcodeFormat.QRCode]
    assert len(found) == 1, f"{len(found)} QR codes decoded"
    return str(found[0].text)

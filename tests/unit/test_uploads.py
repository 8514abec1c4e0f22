"""The upload checker (``web/uploads.py``): type by content, names that lie, sizes, damaged
images, thumbnails, and the headers files are served with."""

from __future__ import annotations

import io
import zlib

import pytest
from PIL import Image

from web.uploads import (
    IMAGE_KINDS,
    MAX_PIXELS,
    THUMBNAIL_PX,
    Refusal,
    UploadKind,
    UploadRefused,
    check_upload,
    content_disposition,
    file_response,
    safe_filename,
    sniff,
)

MB = 1024 * 1024


def image_bytes(fmt: str, size: tuple[int, int] = (1200, 800), mode: str = "RGB") -> bytes:
    image = Image.new(mode, size, (200, 30, 30) if mode == "RGB" else (200, 30, 30, 128))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def refusal(data: bytes, name: str, **kwargs: object) -> Refusal:
    with pytest.raises(UploadRefused) as caught:
        check_upload(data, name, max_bytes=kwargs.pop("max_bytes", 10 * MB), **kwargs)  # type: ignore[arg-type]
    return caught.value.refusal


@pytest.mark.parametrize(
    ("fmt", "kind"), [("JPEG", UploadKind.JPEG), ("PNG", UploadKind.PNG), ("WEBP", UploadKind.WEBP)]
)
def test_images_are_accepted_with_a_thumbnail(fmt: str, kind: UploadKind) -> None:
    data = image_bytes(fmt)
    upload = check_upload(data, f"photo.{kind.extension}", max_bytes=10 * MB)
    assert upload.kind is kind and upload.data == data
    assert (upload.width, upload.height) == (1200, 800)
    assert upload.thumbnail is not None
    with Image.open(io.BytesIO(upload.thumbnail)) as thumb:
        assert thumb.format == "JPEG"
        assert thumb.size == (THUMBNAIL_PX, 320)  # the aspect ratio kept


def test_a_transparent_png_gets_a_white_background() -> None:
    upload = check_upload(image_bytes("PNG", (10, 10), "RGBA"), "a.png", max_bytes=MB)
    assert upload.thumbnail is not None
    with Image.open(io.BytesIO(upload.thumbnail)) as thumb:
        r, g, b = thumb.convert("RGB").getpixel((5, 5))  # type: ignore[misc]
        # 200,30,30 at half opacity over white.
        assert abs(r - 228) < 6 and abs(g - 142) < 6 and abs(b - 142) < 6


def test_pdf() -> None:
    upload = check_upload(PDF, "財務報告 2026.pdf", max_bytes=MB)
    assert upload.kind is UploadKind.PDF and upload.thumbnail is None
    assert upload.filename == "財務報告 2026.pdf"
    assert upload.kind.media_type == "application/pdf"


def test_type_is_the_content_s_not_the_name_s() -> None:
    # HTML named .pdf (a browser would also have sent application/pdf): not an accepted type.
    assert refusal(b"<html><script>alert(1)</script></html>", "report.pdf") is (
        Refusal.TYPE_NOT_ALLOWED
    )
    # A real PNG named .pdf: a lie about an allowed type.
    assert refusal(image_bytes("PNG"), "minutes.pdf") is Refusal.NAME_MISMATCH
    assert refusal(PDF, "photo.jpg") is Refusal.NAME_MISMATCH
    assert refusal(image_bytes("JPEG"), "photo.gif") is Refusal.NAME_MISMATCH
    # GIF and SVG content: not accepted at all.
    assert refusal(b"GIF89a" + b"\x00" * 20, "a.gif") is Refusal.TYPE_NOT_ALLOWED
    assert refusal(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "a.svg") is (
        Refusal.TYPE_NOT_ALLOWED
    )
    # A name without an extension is fine: the content decides, the stored name gets one.
    assert check_upload(PDF, "scan", max_bytes=MB).filename == "scan.pdf"


def test_kinds_a_caller_allows() -> None:
    assert refusal(PDF, "a.pdf", allowed=IMAGE_KINDS) is Refusal.TYPE_NOT_ALLOWED


def test_sizes() -> None:
    assert refusal(b"", "a.pdf") is Refusal.EMPTY
    big = PDF[:-7] + b"\x00" * MB + b"%%EOF\n"
    assert refusal(big, "a.pdf", max_bytes=MB) is Refusal.TOO_LARGE
    assert check_upload(big, "a.pdf", max_bytes=len(big)).size == len(big)


def test_damaged_files() -> None:
    jpeg = image_bytes("JPEG")
    assert refusal(jpeg[:200], "cut.jpg") is Refusal.DAMAGED
    assert refusal(b"\xff\xd8\xff" + b"junk" * 100, "fake.jpg") is Refusal.DAMAGED
    assert refusal(b"%PDF-1.4\nno end", "cut.pdf") is Refusal.DAMAGED
    assert refusal(b"RIFF\x00\x00\x00\x00WEBPjunk", "x.webp") is Refusal.DAMAGED


def test_too_many_pixels_is_refused_before_decoding() -> None:
    # A PNG header claiming 10,000 x 10,000 (100 million pixels) over almost no data.
    side = 10_000
    assert side * side > MAX_PIXELS
    data = image_bytes("PNG", (1, 1))
    ihdr = b"IHDR" + side.to_bytes(4, "big") * 2 + data[24:29]
    data = data[:12] + ihdr + zlib.crc32(ihdr).to_bytes(4, "big") + data[33:]
    assert refusal(data, "bomb.png") is Refusal.TOO_LARGE


def test_sniff() -> None:
    assert sniff(PDF) is UploadKind.PDF
    assert sniff(b"\x89PNG\r\n\x1a\n") is UploadKind.PNG
    assert sniff(b"RIFF1234WEBP") is UploadKind.WEBP
    assert sniff(b"RIFF1234WAVE") is None
    assert sniff(b"") is None


def test_safe_filename() -> None:
    assert safe_filename("../../etc/passwd", UploadKind.PDF) == "passwd.pdf"
    assert safe_filename("C:\\Users\\me\\水電.PDF", UploadKind.PDF) == "水電.PDF"
    assert safe_filename('a"b<c>\r\n.jpg', UploadKind.JPEG) == "a_b_c_.jpg"
    assert safe_filename("...", UploadKind.PNG) == "file.png"
    assert len(safe_filename("x" * 500 + ".pdf", UploadKind.PDF)) == 120


def test_served_with_disposition_and_nosniff() -> None:
    assert content_disposition("財務.pdf") == (
        "inline; filename=\"__.pdf\"; filename*=UTF-8''%E8%B2%A1%E5%8B%99.pdf"
    )
    response = file_response(PDF, media_type="application/pdf", filename="a.pdf", inline=False)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"].startswith('attachment; filename="a.pdf"')
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["cache-control"].startswith("private")

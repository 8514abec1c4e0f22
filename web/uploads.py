"""Uploaded files, checked before anything is stored: one small API for every feature that takes
files (notice attachments, residents' request photos).

The rules (``tests/unit/test_uploads.py``):

* **The type is the content's.** The first bytes (the "magic numbers") decide: PDF (``%PDF-``),
  JPEG (``FF D8 FF``), PNG (the 8-byte signature), WebP (``RIFF…WEBP``). What the browser's
  ``Content-Type`` or the file's name claims is never believed; a name whose extension names
  another type than the content's (``photo.png`` that is a PDF, ``report.pdf`` that is a JPEG)
  is refused as a lie, since the person who uploads it probably meant another file.
* **Images must decode.** Pillow opens and decodes every image (a file that only starts like a
  JPEG is refused as damaged), at most ``MAX_PIXELS`` pixels (a small file can expand to
  gigabytes in memory: a "decompression bomb"), and makes a thumbnail: at most
  ``THUMBNAIL_PX`` on its longer side, turned the way the camera's EXIF says, as JPEG, without
  the original's metadata (a phone photo's GPS position does not reach the thumbnail). The
  original is kept byte for byte.
* **Size.** Empty is refused; larger than the caller's limit (``LINLI_UPLOAD_MAX_BYTES``, 10 MB
  by default) is refused, and ``read_upload`` stops reading a request body as soon as it passes
  the limit, so a 2 GB upload never sits in memory.

Use::

    data = await read_upload(request, settings.upload_max_bytes)   # the CSRF + size checks
    upload = await accept_upload(data, filename, max_bytes=settings.upload_max_bytes)
    stored = await blobs.put(upload.data, now=now)                  # persistence.blobs
    thumb = await blobs.put(upload.thumbnail, now=now) if upload.thumbnail else None
    ...
    return file_response(data, media_type=upload.kind.media_type, filename=upload.filename)

A refusal is ``UploadRefused`` with a ``Refusal`` (its value is the HTTP error code, listed in
``web.http.HttpCode`` and ``docs/protocol.md``); ``.api_error()`` makes the HTTP answer. Pages
show the code's words from the catalogue key ``upload.<code>``.
"""

from __future__ import annotations

import asyncio
import enum
import io
import re
import unicodedata
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from PIL import Image, ImageOps, UnidentifiedImageError
from starlette.requests import Request
from starlette.responses import Response

from web.http import ApiError, HttpCode, check_origin, services_of

#: Longer side of a thumbnail, in pixels: sharp on a phone's list (about 160 CSS px at 3x).
THUMBNAIL_PX: Final = 480
#: Most pixels an image may have: 50 million, above a 48-megapixel phone camera's photos and
#: below Pillow's own bomb warning (89 million), which therefore never fires for what we accept.
MAX_PIXELS: Final = 50_000_000
#: The most of a too-large body read (and dropped) so the client sees the refusal: a few
#: times any sensible limit; beyond it the connection is left to end.
DRAIN_LIMIT_BYTES: Final = 64 * 1024 * 1024
#: Longest file name kept (characters), the extension included.
MAX_NAME_CHARS: Final = 120


class UploadKind(enum.StrEnum):
    """A type of file Linli accepts."""

    PDF = "pdf"
    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPES[self]

    @property
    def extension(self) -> str:
        """The extension a stored name gets when it has none of this kind's."""
        return "jpg" if self is UploadKind.JPEG else str(self)

    @property
    def is_image(self) -> bool:
        return self is not UploadKind.PDF


_MEDIA_TYPES: Final = {
    UploadKind.PDF: "application/pdf",
    UploadKind.JPEG: "image/jpeg",
    UploadKind.PNG: "image/png",
    UploadKind.WEBP: "image/webp",
}
_EXTENSIONS: Final = {
    "pdf": UploadKind.PDF,
    "jpg": UploadKind.JPEG,
    "jpeg": UploadKind.JPEG,
    "jpe": UploadKind.JPEG,
    "png": UploadKind.PNG,
    "webp": UploadKind.WEBP,
}
#: Pillow's format name for each image kind (a decoded file must be what its magic said).
_PILLOW_FORMATS: Final = {UploadKind.JPEG: "JPEG", UploadKind.PNG: "PNG", UploadKind.WEBP: "WEBP"}
#: Extensions that name a type we know is not one of ours: refused as a lie even if the content
#: is fine, because the name says someone thought it was something else.
_OTHER_EXTENSIONS: Final = frozenset(
    {"gif", "bmp", "tif", "tiff", "heic", "heif", "svg", "html", "htm", "doc", "docx", "xls",
     "xlsx", "ppt", "pptx", "txt", "zip", "exe", "js", "mp4", "mov"}
)  # fmt: skip
ALL_KINDS: Final = frozenset(UploadKind)
IMAGE_KINDS: Final = frozenset(kind for kind in UploadKind if kind.is_image)
_UNSAFE_NAME_RE: Final = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


class Refusal(enum.StrEnum):
    """Why an upload was refused; each value is also an ``HttpCode``."""

    EMPTY = "upload_empty"
    TOO_LARGE = "upload_too_large"
    TYPE_NOT_ALLOWED = "upload_type_not_allowed"
    NAME_MISMATCH = "upload_name_mismatch"
    DAMAGED = "upload_damaged"


class UploadRefused(Exception):
    """An upload that is not stored: ``refusal`` says why, ``message`` in plain English (pages
    show the catalogue's ``upload.<code>`` words instead)."""

    def __init__(self, refusal: Refusal, message: str) -> None:
        super().__init__(message)
        self.refusal, self.message = refusal, message

    def api_error(self) -> ApiError:
        """The HTTP answer (one literal code per case: ``tests/unit/test_http_codes.py`` reads
        them)."""
        message = self.message
        match self.refusal:
            case Refusal.EMPTY:
                return ApiError(400, HttpCode.UPLOAD_EMPTY, message)
            case Refusal.TOO_LARGE:
                return ApiError(413, HttpCode.UPLOAD_TOO_LARGE, message)
            case Refusal.TYPE_NOT_ALLOWED:
                return ApiError(415, HttpCode.UPLOAD_TYPE_NOT_ALLOWED, message)
            case Refusal.NAME_MISMATCH:
                return ApiError(415, HttpCode.UPLOAD_NAME_MISMATCH, message)
            case Refusal.DAMAGED:
                return ApiError(400, HttpCode.UPLOAD_DAMAGED, message)


@dataclass(frozen=True, slots=True)
class CheckedUpload:
    """An upload that passed every check: store ``data`` (and ``thumbnail``) as they are."""

    kind: UploadKind
    data: bytes
    #: The name to show and to send in ``Content-Disposition`` (safe characters, the right
    #: extension).
    filename: str
    #: Pixel size of an image; None for a PDF.
    width: int | None = None
    height: int | None = None
    #: JPEG, at most ``THUMBNAIL_PX`` on the longer side; None for a PDF.
    thumbnail: bytes | None = None

    @property
    def size(self) -> int:
        return len(self.data)


def sniff(data: bytes) -> UploadKind | None:
    """The kind the first bytes say, or None for anything else."""
    if data.startswith(b"%PDF-"):
        return UploadKind.PDF
    if data.startswith(b"\xff\xd8\xff"):
        return UploadKind.JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return UploadKind.PNG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return UploadKind.WEBP
    return None


def safe_filename(name: str, kind: UploadKind) -> str:
    """``name`` without path parts or characters file systems and headers choke on, NFC, at
    most ``MAX_NAME_CHARS``, ending in an extension of ``kind``; ``file.<ext>`` if nothing is
    left."""
    name = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1])
    name = _UNSAFE_NAME_RE.sub("_", name).strip(" .")
    stem, dot, extension = name.rpartition(".")
    if not dot or _EXTENSIONS.get(extension.lower()) is not kind:
        stem, extension = name, kind.extension
    stem = stem[: MAX_NAME_CHARS - len(extension) - 1].strip(" .") or "file"
    return f"{stem}.{extension}"


def check_upload(
    data: bytes,
    filename: str,
    *,
    max_bytes: int,
    allowed: frozenset[UploadKind] = ALL_KINDS,
) -> CheckedUpload:
    """``data`` checked (see the module docstring), or ``UploadRefused``. Decodes images: CPU
    work of up to a few hundred milliseconds for a large photo, so call it through
    ``accept_upload`` on the event loop."""
    if not data:
        raise UploadRefused(Refusal.EMPTY, "The file is empty.")
    if len(data) > max_bytes:
        raise UploadRefused(
            Refusal.TOO_LARGE, f"The file is larger than {_megabytes(max_bytes)} MB."
        )
    kind = sniff(data)
    if kind is None or kind not in allowed:
        names = ", ".join(k.name for k in UploadKind if k in allowed)
        raise UploadRefused(Refusal.TYPE_NOT_ALLOWED, f"Only these files are accepted: {names}.")
    _, dot, extension = filename.rpartition(".")
    claimed = extension.lower() if dot else ""
    if (claimed in _EXTENSIONS and _EXTENSIONS[claimed] is not kind) or (
        claimed in _OTHER_EXTENSIONS
    ):
        raise UploadRefused(
            Refusal.NAME_MISMATCH,
            f"The file is named .{claimed} but is a {kind.name} file. Check that it is the "
            "right file.",
        )
    name = safe_filename(filename, kind)
    if kind is UploadKind.PDF:
        # A PDF ends with %%EOF (ISO 32000-1 §7.5.5); a cut-off download or upload does not.
        if b"%%EOF" not in data[-1024:]:
            raise UploadRefused(Refusal.DAMAGED, "The PDF file is incomplete or damaged.")
        return CheckedUpload(kind, data, name)
    width, height, thumbnail = _image(data, kind)
    return CheckedUpload(kind, data, name, width, height, thumbnail)


async def accept_upload(
    data: bytes,
    filename: str,
    *,
    max_bytes: int,
    allowed: frozenset[UploadKind] = ALL_KINDS,
) -> CheckedUpload:
    """``check_upload`` in a worker thread (Pillow releases the GIL while it decodes)."""
    return await asyncio.to_thread(
        check_upload, data, filename, max_bytes=max_bytes, allowed=allowed
    )


def _image(data: bytes, kind: UploadKind) -> tuple[int, int, bytes]:
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != _PILLOW_FORMATS[kind]:
                raise UploadRefused(Refusal.DAMAGED, "The image file is damaged.")
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise UploadRefused(
                    Refusal.TOO_LARGE,
                    f"The image has more than {MAX_PIXELS // 1_000_000} million pixels.",
                )
            # draft: a JPEG decoder may decode at 1/2, 1/4 or 1/8 scale straight away, which
            # makes a thumbnail of a 12-megapixel photo several times faster.
            image.draft("RGB", (THUMBNAIL_PX, THUMBNAIL_PX))
            image.load()
            upright = ImageOps.exif_transpose(image)
            upright.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
            return width, height, _jpeg(upright)
    except UploadRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadRefused(
            Refusal.TOO_LARGE, f"The image has more than {MAX_PIXELS // 1_000_000} million pixels."
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        # Pillow's ways of saying "not a valid file of this format" (truncated, bad chunks).
        raise UploadRefused(Refusal.DAMAGED, "The image file is damaged.") from None


def _jpeg(image: Image.Image) -> bytes:
    if image.mode in {"RGBA", "LA", "PA"} or (image.mode == "P" and "transparency" in image.info):
        # JPEG has no transparency: put the image on white, as a page would show it.
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    elif image.mode != "RGB":
        image = image.convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80, optimize=True)
    return out.getvalue()


def _megabytes(n: int) -> str:
    value = n / (1024 * 1024)
    return f"{value:.0f}" if value >= 1 else f"{value:.2f}"


async def read_upload(request: Request, max_bytes: int) -> bytes:
    """The raw body of an upload request (the file's bytes, any ``Content-Type``), after the
    CSRF check of every state-changing request (an allowed ``Origin``).

    Keeps at most ``max_bytes`` in memory: past it the rest of the body is read and dropped,
    then the upload is refused. Read rather than left unread because an HTTP/1.1 client sends
    its whole body before it reads the answer, and a server that stops reading leaves it
    blocked until it times out instead of showing "too large". A body declared (or found) to
    be larger than ``DRAIN_LIMIT_BYTES`` is refused at once; such a client sees its connection
    end instead."""
    check_origin(request, services_of(request))
    refused = UploadRefused(
        Refusal.TOO_LARGE, f"The file is larger than {_megabytes(max_bytes)} MB."
    ).api_error()
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > DRAIN_LIMIT_BYTES:
        raise refused
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > DRAIN_LIMIT_BYTES:
            raise refused
        if total <= max_bytes:
            chunks.append(chunk)
        else:
            chunks.clear()
    if total > max_bytes:
        raise refused
    return b"".join(chunks)


def content_disposition(filename: str, *, inline: bool = True) -> str:
    """A ``Content-Disposition`` value for ``filename`` (RFC 6266): an ASCII fallback and the
    UTF-8 name (RFC 8187), so ``財務報告.pdf`` keeps its name in every browser."""
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    disposition = "inline" if inline else "attachment"
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def file_response(
    data: bytes, *, media_type: str, filename: str, inline: bool = True, private: bool = True
) -> Response:
    """A stored file as a response: its type as checked at upload, a ``Content-Disposition``,
    ``X-Content-Type-Options: nosniff`` (a browser never second-guesses the type: none of the
    four kinds can run script, and nosniff keeps it that way) and, by default,
    ``Cache-Control: private`` (only the reader's own browser keeps a copy). No
    ``Content-Security-Policy``: Chromium's PDF viewer is refused by one that forbids plugins."""
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": content_disposition(filename, inline=inline),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600" if private else "public, max-age=86400",
        },
    )

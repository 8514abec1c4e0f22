"""What every HTTP handler shares: the error type and its codes, the typed request body, the
signed-in user, and the ``Services`` of the running app.

A handler is parse → authorise → act → serialise. Parsing is ``decode_body(request, Body)``: the
CSRF checks (an allowed Origin, a JSON content type), a size bound, and a typed ``msgspec``
struct whose failing field is named in the error. Text fields are normalised by the struct's
``__post_init__`` with ``line`` (NFC, control characters removed, trimmed, length bounds), so
what is stored is what was checked.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.origin import origin_allowed
from linli.feature import Services

T = TypeVar("T")

#: The largest request body any handler takes.
MAX_BODY_BYTES = 16_384
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_PATH_RE = re.compile(r"(?:at `\$\.|missing required field `)([A-Za-z_][A-Za-z0-9_]*)")


class HttpCode(enum.StrEnum):
    """The ``error.code`` of every HTTP error, core and features alike: one table, listed in
    ``docs/protocol.md`` ("HTTP error codes") and kept in step with it and with every
    ``ApiError`` raised under ``web/`` by ``tests/unit/test_http_codes.py``."""

    # -- any route
    BAD_REQUEST = "bad_request"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    ORIGIN_NOT_ALLOWED = "origin_not_allowed"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    TOO_LARGE = "too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    UNAVAILABLE = "unavailable"
    HTTP_ERROR = "http_error"
    INTERNAL = "internal"
    # -- accounts
    WEAK_PASSWORD = "weak_password"
    INVALID_INVITE = "invalid_invite"
    WRONG_CREDENTIALS = "wrong_credentials"
    USERNAME_TAKEN = "username_taken"
    SLUG_TAKEN = "slug_taken"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    # -- moderation
    BANNED = "banned"
    # -- polls
    POLL_NOT_FOUND = "poll_not_found"
    POLL_NOT_DRAFT = "poll_not_draft"
    POLL_NOT_OPEN = "poll_not_open"
    POLL_NOT_CLOSED = "poll_not_closed"
    POLL_ANONYMOUS = "poll_anonymous"
    # -- meetings
    MEETING_NOT_FOUND = "meeting_not_found"
    MEETING_WRONG_STATE = "meeting_wrong_state"
    MEETING_NO_REGISTER = "meeting_no_register"
    MEETING_NOTICE_SHORT = "meeting_notice_short"
    MEETING_NOT_OWNER = "meeting_not_owner"
    MEETING_NOT_ON_ROLL = "meeting_not_on_roll"
    MEETING_CHECKED_IN = "meeting_checked_in"
    MEETING_BAD_CODE = "meeting_bad_code"
    MEETING_NOT_CHECKED_IN = "meeting_not_checked_in"
    MEETING_ITEM_NOT_OPEN = "meeting_item_not_open"
    MEETING_ALREADY_VOTED = "meeting_already_voted"
    MEETING_OBJECTION_CLOSED = "meeting_objection_closed"
    MEETING_VOTE_NOT_FOUND = "meeting_vote_not_found"
    MEETING_NOT_IN_SESSION = "meeting_not_in_session"
    MEETING_CHECKOUT_ABSENT = "meeting_checkout_absent"
    MEETING_PROXY_SCAN_REQUIRED = "meeting_proxy_scan_required"
    MEETING_NOT_PAPER_PROXY = "meeting_not_paper_proxy"
    TOO_MANY_FILES = "too_many_files"
    # -- forum
    TOPIC_CLOSED = "topic_closed"
    CATEGORY_EXISTS = "category_exists"
    BLOCKED_WORD = "blocked_word"
    MUTED = "muted"
    ALREADY_APPEALED = "already_appealed"
    # -- events
    EVENT_NOT_FOUND = "event_not_found"
    EVENT_CANCELLED = "event_cancelled"
    EVENT_NOT_IN_AUDIENCE = "event_not_in_audience"
    SIGNUP_NOT_OPEN = "signup_not_open"
    SIGNUP_CLOSED = "signup_closed"
    TOO_MANY_SEATS = "too_many_seats"
    ALREADY_SIGNED_UP = "already_signed_up"
    NEEDS_HOUSEHOLD = "needs_household"
    SIGNUP_NOT_FOUND = "signup_not_found"
    NOT_OFFERED = "not_offered"
    CANCEL_CLOSED = "cancel_closed"
    ALREADY_CHECKED_IN = "already_checked_in"
    NOT_CONFIRMED = "not_confirmed"
    CAPACITY_TOO_LOW = "capacity_too_low"
    # -- surveys
    SURVEY_NOT_FOUND = "survey_not_found"
    SURVEY_NOT_DRAFT = "survey_not_draft"
    SURVEY_NOT_OPEN = "survey_not_open"
    SURVEY_EXISTS = "survey_exists"
    SURVEY_NOT_ASKED = "survey_not_asked"
    SURVEY_ANSWERED = "survey_answered"
    SURVEY_MISSING_ANSWERS = "survey_missing_answers"
    SURVEY_INVALID_ANSWER = "survey_invalid_answer"
    # -- notices
    NOTICE_NOT_FOUND = "notice_not_found"
    NOTICE_NOT_LIVE = "notice_not_live"
    NOTICE_NO_ACK = "notice_no_ack"
    NOTICE_NO_UNIT = "notice_no_unit"
    CATEGORY_NOT_FOUND = "category_not_found"
    # -- requests
    REQUEST_NOT_FOUND = "request_not_found"
    REQUEST_STATE = "request_state"
    REOPEN_EXPIRED = "reopen_expired"
    ALREADY_RATED = "already_rated"
    TOO_MANY_PHOTOS = "too_many_photos"
    # -- admin (web/admin/)
    ACCOUNT_DISABLED = "account_disabled"
    IMPORT_INVALID = "import_invalid"
    UNIT_EXISTS = "unit_exists"
    INVALID_RESET_CODE = "invalid_reset_code"
    BAD_SETTING = "bad_setting"
    SETTING_UNKNOWN = "setting_unknown"
    # -- onboarding (web/onboard/)
    UNIT_UNKNOWN = "unit_unknown"
    PASSWORD_CHANGE_REQUIRED = "password_change_required"
    INVALID_FIRST_LOGIN = "invalid_first_login"
    SAME_PASSWORD = "same_password"
    # -- uploads (web/uploads.py; any feature that takes files)
    UPLOAD_EMPTY = "upload_empty"
    UPLOAD_TOO_LARGE = "upload_too_large"
    UPLOAD_TYPE_NOT_ALLOWED = "upload_type_not_allowed"
    UPLOAD_NAME_MISMATCH = "upload_name_mismatch"
    UPLOAD_DAMAGED = "upload_damaged"
    # -- chat photos
    RATE_LIMITED = "rate_limited"
    # -- privacy
    CONSENT_REQUIRED = "consent_required"
    WRONG_PASSWORD = "wrong_password"


class ApiError(Exception):
    """An HTTP error: ``status``, a code of ``HttpCode`` and a message a person understands;
    ``extra`` goes into the body beside them (``field``: which field is wrong)."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, HttpCode(code), message, extra


def error_response(exc: ApiError) -> JSONResponse:
    headers = {}
    if "retry_after" in exc.extra:
        headers["Retry-After"] = str(exc.extra["retry_after"])
    body = {"error": {"code": exc.code, "message": exc.message, **exc.extra}}
    return JSONResponse(body, status_code=exc.status, headers=headers)


def services_of(request: Request) -> Services:
    services: Services = request.app.state.runtime
    return services


def normalise_text(value: str) -> str:
    """NFC, without control characters, trimmed: the form every one-line text is kept in."""
    return unicodedata.normalize("NFC", _CONTROL_RE.sub("", value)).strip()


def line(value: str, name: str, *, min_len: int = 1, max_len: int = 100) -> str:
    """``value`` normalised, or ApiError naming the field when its length is out of bounds.
    For a struct's ``__post_init__``."""
    value = normalise_text(value)
    if not min_len <= len(value) <= max_len:
        raise ApiError(
            400,
            HttpCode.BAD_REQUEST,
            f"'{name}' must be {min_len} to {max_len} characters long.",
            field=name,
        )
    return value


def set_field(struct: msgspec.Struct, name: str, value: object) -> None:
    """Replace a field of a frozen struct while it is being built (``__post_init__``)."""
    msgspec.structs.force_setattr(struct, name, value)


def check_origin(request: Request, services: Services) -> None:
    settings = services.settings
    if not origin_allowed(
        request.headers.get("origin"),
        request.url.scheme,
        request.headers.get("host"),
        settings.allowed_origins,
    ):
        raise ApiError(403, HttpCode.ORIGIN_NOT_ALLOWED, "Requests from this site are not allowed.")


async def raw_body(request: Request) -> bytes:
    """The body of a state-changing request after the CSRF and size checks."""
    check_origin(request, services_of(request))
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise ApiError(415, HttpCode.UNSUPPORTED_MEDIA_TYPE, "Send the request body as JSON.")
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, HttpCode.TOO_LARGE, "The request body is too large.")
    return raw or b"{}"


def decode(raw: bytes, body_type: type[T]) -> T:
    """``raw`` JSON as ``body_type``, or ApiError naming the failing field."""
    try:
        return msgspec.json.decode(raw, type=body_type)
    except msgspec.ValidationError as exc:
        message = str(exc)
        found = _PATH_RE.search(message)
        extra = {"field": found.group(1)} if found else {}
        raise ApiError(400, HttpCode.BAD_REQUEST, message, **extra) from None
    except msgspec.DecodeError:
        raise ApiError(400, HttpCode.BAD_REQUEST, "The request body is not valid JSON.") from None


async def decode_body(request: Request, body_type: type[T]) -> T:
    """The request's JSON body as ``body_type`` (a ``msgspec.Struct``), after the checks of
    ``raw_body``."""
    return decode(await raw_body(request), body_type)


class Empty(msgspec.Struct, frozen=True):
    """The body of an action that takes no fields (it still passes the CSRF checks)."""


class Reasoned(msgspec.Struct, frozen=True):
    """The body of a staff action: a reason, kept in the audit log."""

    reason: str

    def __post_init__(self) -> None:
        set_field(self, "reason", line(self.reason, "reason", max_len=500))

"""Error codes (in replies) and close codes (on the WebSocket), as data.

Error codes are strings in the ``error.code`` field of a reply; ``temporary`` tells a client
whether sending the same request again later can succeed.

Close codes:

* 1000–1015 are the WebSocket standard's; Linli relies on 1007 (invalid UTF-8 in a text frame,
  sent by the WebSocket layer) and 1009 (frame over the hard limit, likewise).
* **4000–4499: reconnect.** Something about this connection or server, not the client's request:
  reconnect with backoff and resubscribe with ``since``; nothing is lost.
* **4500–4999: terminal.** Reconnecting as before will fail the same way: the client must change
  something first (log in again, reload the page).

``docs/protocol.md`` carries the same tables; ``tests/unit/test_protocol_doc.py`` checks they agree.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    message: str
    temporary: bool


class ErrorCode(enum.StrEnum):
    BAD_FRAME = "bad_frame"
    BAD_REQUEST = "bad_request"
    UNKNOWN_OP = "unknown_op"
    TOO_LARGE = "too_large"
    RATE_LIMITED = "rate_limited"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    NOT_SUBSCRIBED = "not_subscribed"
    ALREADY_SUBSCRIBED = "already_subscribed"
    TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"
    # -- polls (``gateway/polls/ops.py``) --
    POLL_NOT_FOUND = "poll_not_found"
    POLL_NOT_OPEN = "poll_not_open"
    POLL_CLOSED = "poll_closed"
    NOT_ELIGIBLE = "not_eligible"
    BAD_CHOICE = "bad_choice"
    ALREADY_VOTED = "already_voted"
    # -- moderation (``gateway/moderation/ops.py``) --
    MUTED = "muted"
    BANNED = "banned"
    BLOCKED_WORD = "blocked_word"
    HELD_FOR_REVIEW = "held_for_review"
    # -- chat messages (``gateway/messages/ops.py``) --
    NOT_AUTHOR = "not_author"
    EDIT_WINDOW_CLOSED = "edit_window_closed"
    MESSAGE_DELETED = "message_deleted"

    @property
    def info(self) -> ErrorInfo:
        return ERRORS[self]


ERRORS: dict[ErrorCode, ErrorInfo] = {
    ErrorCode.BAD_FRAME: ErrorInfo("The frame is not valid JSON (or msgpack) object.", False),
    ErrorCode.BAD_REQUEST: ErrorInfo("A field is missing or has the wrong type or value.", False),
    ErrorCode.UNKNOWN_OP: ErrorInfo("The server does not know this op.", False),
    ErrorCode.TOO_LARGE: ErrorInfo("The frame is larger than the server accepts.", False),
    ErrorCode.RATE_LIMITED: ErrorInfo("Too many messages; wait a moment and send again.", True),
    ErrorCode.FORBIDDEN: ErrorInfo("You may not do this in this channel.", False),
    ErrorCode.NOT_FOUND: ErrorInfo("No such channel.", False),
    ErrorCode.NOT_SUBSCRIBED: ErrorInfo("Subscribe to the channel first.", False),
    ErrorCode.ALREADY_SUBSCRIBED: ErrorInfo("Already subscribed to this channel.", False),
    ErrorCode.TOO_MANY_SUBSCRIPTIONS: ErrorInfo("Too many channels on one connection.", False),
    ErrorCode.UNAVAILABLE: ErrorInfo("The service is briefly unavailable; try again.", True),
    ErrorCode.INTERNAL: ErrorInfo("Something went wrong on the server; try again.", True),
    ErrorCode.POLL_NOT_FOUND: ErrorInfo("No such poll.", False),
    ErrorCode.POLL_NOT_OPEN: ErrorInfo("The poll is not open for voting yet.", False),
    ErrorCode.POLL_CLOSED: ErrorInfo("The poll has closed.", False),
    ErrorCode.NOT_ELIGIBLE: ErrorInfo("You may not vote in this poll.", False),
    ErrorCode.BAD_CHOICE: ErrorInfo(
        "An option does not exist, or more than one was chosen in a single-choice poll.", False
    ),
    ErrorCode.ALREADY_VOTED: ErrorInfo(
        "You (or your household) have voted, and this poll does not allow changing a vote.", False
    ),
    # Not temporary: resending at once cannot succeed, and a client that retried temporary
    # errors every few seconds would do so for the whole mute.
    ErrorCode.MUTED: ErrorInfo("A moderator muted you here for a while.", False),
    ErrorCode.BANNED: ErrorInfo("A moderator banned you from writing.", False),
    ErrorCode.BLOCKED_WORD: ErrorInfo(
        "The message contains a phrase the publishing rules do not allow.", False
    ),
    ErrorCode.HELD_FOR_REVIEW: ErrorInfo(
        "The message is held for a moderator to review; it appears once approved.", False
    ),
    ErrorCode.NOT_AUTHOR: ErrorInfo("Only the message's author may change it.", False),
    ErrorCode.EDIT_WINDOW_CLOSED: ErrorInfo(
        "The message is too old to edit (it can still be deleted).", False
    ),
    ErrorCode.MESSAGE_DELETED: ErrorInfo(
        "The message was deleted (by its author or a moderator).", False
    ),
}


class CloseCode(enum.IntEnum):
    NORMAL = 1000
    INVALID_UTF8 = 1007
    MESSAGE_TOO_BIG = 1009
    # -- reconnect --
    SHUTDOWN = 4000
    SLOW = 4001
    HEARTBEAT_TIMEOUT = 4002
    TOO_MANY_ERRORS = 4003
    PERMISSIONS_CHANGED = 4004
    # -- terminal --
    UNAUTHENTICATED = 4500
    SESSION_ENDED = 4501

    @property
    def reconnect(self) -> bool:
        return 4000 <= self.value < 4500


CLOSE_REASONS: dict[CloseCode, str] = {
    CloseCode.NORMAL: "normal closure",
    CloseCode.INVALID_UTF8: "text frame is not valid UTF-8",
    CloseCode.MESSAGE_TOO_BIG: "frame over the hard size limit",
    CloseCode.SHUTDOWN: "server restarting: reconnect",
    CloseCode.SLOW: "client too slow to keep up: reconnect",
    CloseCode.HEARTBEAT_TIMEOUT: "no pong to the server's ping: reconnect",
    CloseCode.TOO_MANY_ERRORS: "too many bad frames in a row: reconnect",
    CloseCode.PERMISSIONS_CHANGED: "your role or access changed: reconnect",
    CloseCode.UNAUTHENTICATED: "not logged in",
    CloseCode.SESSION_ENDED: "session ended (logged out or account blocked)",
}

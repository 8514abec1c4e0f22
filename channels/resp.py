"""A sans-I/O reader of what Redis sends to a pub/sub connection (RESP2 and RESP3).

``PushReader.feed(data)`` takes bytes as they came off the socket, cut anywhere, and returns the
replies that ``data`` completed, in stream order; an incomplete reply at the end is kept and
finished by later calls. The reader never reads, writes or waits: the pub/sub link
(``channels.pubsub_redis``) owns the socket, and tests feed it plain bytes.

What it reads is what SUBSCRIBE, UNSUBSCRIBE and PING can answer, and nothing more:

=====================================  =========================================================
on the wire                            returned as
=====================================  =========================================================
``*`` array (RESP2), ``>`` push        ``tuple`` of its elements, each one of the types below
(RESP3)
``$`` bulk string                      ``bytes``: ``length`` bytes, ``\\r\\n`` inside included
``+`` simple string                    ``bytes``
``:`` integer                          ``int``
``$-1``, ``*-1``, ``_`` (null)         ``None``
``-`` error (top level only)           ``ErrorReply``: returned, not raised; the server
                                       refused a command, the stream is fine
=====================================  =========================================================

So ``(b"message", channel, data)``, ``(b"subscribe", channel, count)``, ``(b"unsubscribe",
channel or None, count)``, and PING's ``(b"pong", b"")`` (RESP2, subscribed) or ``b"PONG"``
(RESP3). The reader does not interpret them.

Anything else is malformed here and raises ``ProtocolError``, whose message names the stream
offset of the reply and quotes its first bytes: another type byte (``%`` maps, ``|`` attributes
and the like never reach a pub/sub connection), an aggregate inside an aggregate, a length that
is not a number, a bulk string not closed by ``\\r\\n``. The stream is out of step after that:
drop the connection (and the reader) instead of feeding it more.

Cost: it is on the fan-out hot path, once per publication per process. It takes one
``bytes.find`` per line and slices, never a Python loop over bytes; a ``message`` push takes a
fast path of two ``find`` and two ``int`` calls; and a reply longer than what has arrived (a
large publication) is collected chunk by chunk and joined once, not re-joined per chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

#: The kind of a ``message`` push (the fast path returns this very object; compare with ``==``).
MESSAGE = b"message"

#: ``*3\r\n$7\r\nmessage\r\n$`` after the type byte: a message push whose channel length follows.
_MESSAGE_HEAD = b"3\r\n$7\r\nmessage\r\n$"
_MESSAGE_CHANNEL = 1 + len(_MESSAGE_HEAD)
_CRLF = b"\r\n"
_CRLF_BULK = b"\r\n$"
_PREVIEW = 40


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """An error the server answered (``-ERR ...``); ``message`` is its text without the ``-``."""

    message: bytes


class ProtocolError(ValueError):
    """The bytes are not a reply this reader knows: the stream is corrupt or out of step."""


#: An element of an array or a push.
Element: TypeAlias = bytes | int | None
#: A top-level reply.
Reply: TypeAlias = tuple[Element, ...] | bytes | int | ErrorReply | None


class PushReader:
    """Turns a RESP byte stream into replies; see the module docstring for the contract."""

    __slots__ = ("_have", "_need", "_offset", "_parts", "_tail")

    def __init__(self) -> None:
        #: Bytes of an incomplete reply, kept from the last ``feed``.
        self._tail = b""
        #: Stream offset of ``_tail[0]`` (for error messages).
        self._offset = 0
        #: When known, how many bytes from ``_tail[0]`` the next reply needs (else 0).
        self._need = 0
        #: Chunks of a reply longer than what arrived so far, joined once it is complete.
        self._parts: list[bytes] = []
        self._have = 0

    @property
    def buffered(self) -> int:
        """Bytes held for a reply not complete yet."""
        return self._have if self._parts else len(self._tail)

    def feed(self, data: bytes) -> list[Reply]:
        """The replies that ``data`` completes, in order (often none or one, or hundreds)."""
        if self._parts:
            self._parts.append(data)
            self._have += len(data)
            if self._have < self._need:
                return []
            buf = b"".join(self._parts)
            self._parts = []
        elif self._tail:
            have = len(self._tail) + len(data)
            if self._need > have:
                self._parts = [self._tail, data]
                self._have = have
                return []
            buf = self._tail + data
        else:
            buf = data
        replies: list[Reply] = []
        pos, self._need = self._parse(buf, replies)
        self._tail = buf[pos:] if pos < len(buf) else b""
        self._offset += pos
        return replies

    def _parse(self, buf: bytes, out: list[Reply]) -> tuple[int, int]:
        """Append every complete reply in ``buf`` to ``out``. Returns where the incomplete rest
        starts and, when known, how many bytes from there the next reply needs (else 0)."""
        size = len(buf)
        find = buf.find
        startswith = buf.startswith
        append = out.append
        pos = 0
        try:
            while pos < size:
                kind = buf[pos]
                if kind == 42 or kind == 62:  # "*" array, ">" push
                    if startswith(_MESSAGE_HEAD, pos + 1):
                        # The fast path. Anything unexpected here (a null, an incomplete
                        # reply) falls through to the general path, which knows every case.
                        p = pos + _MESSAGE_CHANNEL
                        eol = find(_CRLF, p)
                        if eol >= 0:
                            s1 = eol + 2
                            e1 = s1 + int(buf[p:eol])
                            if e1 >= s1 and startswith(_CRLF_BULK, e1):
                                p = e1 + 3
                                eol = find(_CRLF, p)
                                if eol >= 0:
                                    s2 = eol + 2
                                    e2 = s2 + int(buf[p:eol])
                                    if e2 >= s2 and startswith(_CRLF, e2):
                                        append((MESSAGE, buf[s1:e1], buf[s2:e2]))
                                        pos = e2 + 2
                                        continue
                    eol = find(_CRLF, pos)
                    if eol < 0:
                        return pos, 0
                    count = int(buf[pos + 1 : eol])
                    p = eol + 2
                    if count < 0:
                        _check_null(count)
                        append(None)
                        pos = p
                        continue
                    items: list[Element] = []
                    for _ in range(count):
                        eol = find(_CRLF, p)
                        if eol < 0:
                            return pos, 0
                        t = buf[p]
                        if t == 36:  # "$"
                            length = int(buf[p + 1 : eol])
                            start = eol + 2
                            if length < 0:
                                _check_null(length)
                                items.append(None)
                                p = start
                                continue
                            end = start + length
                            if end + 2 > size:
                                return pos, end + 2 - pos
                            if not startswith(_CRLF, end):
                                raise ProtocolError("a bulk string not followed by \\r\\n")
                            items.append(buf[start:end])
                            p = end + 2
                        else:
                            items.append(_line(t, buf, p, eol))
                            p = eol + 2
                    append(tuple(items))
                    pos = p
                    continue
                eol = find(_CRLF, pos)
                if eol < 0:
                    return pos, 0
                if kind == 36:  # "$" (RESP3 answers PING with an argument with one)
                    length = int(buf[pos + 1 : eol])
                    start = eol + 2
                    if length < 0:
                        _check_null(length)
                        append(None)
                        pos = start
                        continue
                    end = start + length
                    if end + 2 > size:
                        return pos, end + 2 - pos
                    if not startswith(_CRLF, end):
                        raise ProtocolError("a bulk string not followed by \\r\\n")
                    append(buf[start:end])
                    pos = end + 2
                elif kind == 45:  # "-"
                    append(ErrorReply(buf[pos + 1 : eol]))
                    pos = eol + 2
                else:
                    append(_line(kind, buf, pos, eol))
                    pos = eol + 2
        except ValueError as exc:  # a ProtocolError below, or int() of something else
            # ``pos`` is still where the bad reply starts: it moves past complete replies only.
            raise ProtocolError(
                f"malformed reply at stream byte {self._offset + pos} "
                f"({buf[pos : pos + _PREVIEW]!r}): {exc}"
            ) from None
        return pos, 0


def _line(kind: int, buf: bytes, p: int, eol: int) -> Element:
    """The value of a one-line element from its type byte at ``p`` to ``eol``."""
    if kind == 43:  # "+"
        return buf[p + 1 : eol]
    if kind == 58:  # ":"
        return int(buf[p + 1 : eol])
    if kind == 95:  # "_"
        if eol != p + 1:
            raise ProtocolError("a null with content")
        return None
    if kind == 42 or kind == 62:
        raise ProtocolError("an aggregate inside an aggregate")
    raise ProtocolError(f"unexpected type byte {bytes([kind])!r}")


def _check_null(length: int) -> None:
    if length != -1:
        raise ProtocolError(f"negative length {length}")

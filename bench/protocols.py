"""What the load generator says to each kind of server, and how it reads the answers.

Every publication's text ends with ``|<seq>|``: the load generator finds its sequence number with
two ``find`` calls instead of parsing the frame (UTF-8 continuation bytes never equal ``|``, and
no server here escapes it).
"""

from __future__ import annotations

import os
from typing import Any

import orjson

#: A residents' chat message of about 150 bytes in UTF-8 (Chinese text and a little ASCII).
CHAT_TEXT = "各位街坊：今晚八點喺平台開會，討論電梯維修同埋垃圾房清潔，請準時出席。Block A 7/F"


#: Client message ids must be new for every load generator: Linli dedupes a user's
#: ``client_msg_id`` per channel for ten minutes, so a reused id is acked and not published.
_RUN = os.urandom(4).hex()


def chat_text(seq: int) -> str:
    return f"{CHAT_TEXT} |{seq}|"


def seq_of(payload: bytes) -> int:
    end = payload.rfind(b"|")
    return int(payload[payload.rfind(b"|", 0, end) + 1 : end])


class Protocol:
    """Linli's wire protocol v1 over JSON (``docs/protocol.md``)."""

    path = "/ws"
    subprotocol: str | None = "linli.v1.json"
    #: Prefix of a publication push frame.
    pub_prefix = b'{"push":"pub"'
    #: Sent once when the socket opens, before any request (socket.io's namespace connect).
    hello: bytes | None = None
    #: Whether ``open`` must wait for a first frame from the server (socket.io's open packet).
    wait_hello_reply = False

    def room(self, index: int) -> str:
        return f"building:{index + 1}"

    def subscribe(self, request_id: int, room: str, since: dict[str, int] | None = None) -> bytes:
        request: dict[str, Any] = {"id": request_id, "op": "subscribe", "channel": room}
        if since is not None:
            request["since"] = since
        return orjson.dumps(request)

    def publish(self, request_id: int, room: str, seq: int) -> bytes:
        return orjson.dumps(
            {
                "id": request_id,
                "op": "publish",
                "channel": room,
                "text": chat_text(seq),
                "client_msg_id": f"b{_RUN}-{seq}",
            }
        )

    def reply(self, payload: bytes) -> tuple[int, Any] | None:
        """``(request id, body)`` of a reply; body None for an error reply."""
        if not payload.startswith(b'{"id":'):
            return None
        obj = orjson.loads(payload)
        return obj["id"], obj.get("ok")

    def ping_answer(self, payload: bytes) -> bytes | None:
        return b'{"op":"pong"}' if payload == b'{"push":"ping"}' else None


class PeerProtocol(Protocol):
    """The peers' little protocol (``bench/peers/__init__.py``)."""

    subprotocol = None

    def room(self, index: int) -> str:
        return f"room{index + 1}"

    def subscribe(self, request_id: int, room: str, since: dict[str, int] | None = None) -> bytes:
        return orjson.dumps({"id": request_id, "op": "subscribe", "room": room})

    def publish(self, request_id: int, room: str, seq: int) -> bytes:
        return orjson.dumps(
            {"id": request_id, "op": "publish", "room": room, "text": chat_text(seq)}
        )

    def ping_answer(self, payload: bytes) -> bytes | None:
        return None


class SocketIOProtocol(PeerProtocol):
    """Engine.IO 4 / Socket.IO 5 over a bare WebSocket: ``42`` events, ``42<id>`` with an ack,
    ``43<id>`` acks, ``2``/``3`` ping/pong."""

    path = "/socket.io/?EIO=4&transport=websocket"
    pub_prefix = b'42["pub"'
    hello = b"40"
    wait_hello_reply = True

    def subscribe(self, request_id: int, room: str, since: dict[str, int] | None = None) -> bytes:
        return b"42%d" % request_id + orjson.dumps(["subscribe", room])

    def publish(self, request_id: int, room: str, seq: int) -> bytes:
        return b"42%d" % request_id + orjson.dumps(
            ["publish", {"room": room, "text": chat_text(seq)}]
        )

    def reply(self, payload: bytes) -> tuple[int, Any] | None:
        if not payload.startswith(b"43"):
            return None
        bracket = payload.index(b"[")
        return int(payload[2:bracket]), orjson.loads(payload[bracket:])[0]

    def ping_answer(self, payload: bytes) -> bytes | None:
        return b"3" if payload == b"2" else None


PROTOCOLS: dict[str, type[Protocol]] = {
    "linli": Protocol,
    "peer": PeerProtocol,
    "socketio": SocketIOProtocol,
}

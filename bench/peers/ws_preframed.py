"""Peer (an upper bound, not a stack anyone ships): the ``websockets`` server, but fan-out
writes one pre-built frame — header and payload, made once per publication — straight into
every socket's transport, skipping websockets' per-connection framing. What "frame once per
message" (docs/performance.md, proposed change 6) could give on top of ``broadcast()``.

Valid only because no extension is negotiated (``compression=None``): every subscriber gets
the same bytes.
"""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from websockets.asyncio.server import serve
from websockets.protocol import State

from bench.peers.common import parse_args
from bench.peers.ws_broadcast import make_handler, rooms


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final text frame (RFC 6455 §5.2), as a server sends it."""
    n = len(payload)
    if n < 126:
        head = bytes((0x81, n))
    elif n < 65536:
        head = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return head + payload


async def main() -> None:
    args = parse_args(__doc__ or "")
    redis = aioredis.Redis.from_url(args.redis_url)
    prefix = args.prefix
    handler = make_handler(redis, prefix)  # the same requests as the broadcast() peer

    async def relay() -> None:
        pubsub = redis.pubsub()
        await pubsub.psubscribe(prefix + "*")
        cut = len(prefix)
        async for message in pubsub.listen():
            if message["type"] == "pmessage":
                frame = text_frame(message["data"])
                for ws in rooms.get(message["channel"][cut:].decode(), ()):
                    if ws.protocol.state is State.OPEN:
                        ws.transport.write(frame)

    async with serve(handler, args.host, args.port, max_size=65536, compression=None):
        await relay()


if __name__ == "__main__":
    asyncio.run(main())

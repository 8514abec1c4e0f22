"""Peer: the ``websockets`` library's own server, fanning out with ``broadcast()``.

One pattern subscription to Redis for all rooms; a publication is encoded once (by the
publisher, before PUBLISH) and written to every socket of the room without awaiting any of them.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable

import orjson
import redis.asyncio as aioredis
from websockets.asyncio.server import ServerConnection, broadcast, serve

from bench.peers.common import parse_args

rooms: defaultdict[str, set[ServerConnection]] = defaultdict(set)


Handler = Callable[[ServerConnection], Awaitable[None]]


def make_handler(redis: aioredis.Redis, prefix: str) -> Handler:
    """The connection handler: subscribe adds the socket to ``rooms``; publish goes to Redis."""

    async def handler(ws: ServerConnection) -> None:
        mine: set[str] = set()
        try:
            async for message in ws:
                request = orjson.loads(message)
                room = request["room"]
                if request["op"] == "subscribe":
                    rooms[room].add(ws)
                    mine.add(room)
                elif request["op"] == "publish":
                    frame = orjson.dumps({"push": "pub", "room": room, "text": request["text"]})
                    await redis.publish(prefix + room, frame)
                await ws.send(orjson.dumps({"id": request["id"], "ok": {}}).decode())
        finally:
            for room in mine:
                rooms[room].discard(ws)

    return handler


async def main() -> None:
    args = parse_args(__doc__ or "")
    redis = aioredis.Redis.from_url(args.redis_url)
    prefix = args.prefix
    handler = make_handler(redis, prefix)

    async def relay() -> None:
        pubsub = redis.pubsub()
        await pubsub.psubscribe(prefix + "*")
        cut = len(prefix)
        async for message in pubsub.listen():
            if message["type"] == "pmessage":
                room = message["channel"][cut:].decode()
                broadcast(rooms.get(room, ()), message["data"].decode())

    async with serve(handler, args.host, args.port, max_size=65536):
        await relay()


if __name__ == "__main__":
    asyncio.run(main())

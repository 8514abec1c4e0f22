"""Peer: Starlette on hypercorn, fanning out with a naive per-connection ``send_text`` loop —
what the design card's stack does without care (each send awaited in turn, through Starlette's
WebSocket wrapper and hypercorn's ASGI send).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator

import orjson
import redis.asyncio as aioredis
from hypercorn.asyncio import serve
from hypercorn.config import Config
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bench.peers.common import parse_args

args = parse_args(__doc__ or "")
redis = aioredis.Redis.from_url(args.redis_url)
rooms: defaultdict[str, set[WebSocket]] = defaultdict(set)


async def endpoint(ws: WebSocket) -> None:
    await ws.accept()
    mine: set[str] = set()
    try:
        while True:
            request = orjson.loads(await ws.receive_text())
            room = request["room"]
            if request["op"] == "subscribe":
                rooms[room].add(ws)
                mine.add(room)
            elif request["op"] == "publish":
                frame = orjson.dumps({"push": "pub", "room": room, "text": request["text"]})
                await redis.publish(args.prefix + room, frame)
            await ws.send_text(orjson.dumps({"id": request["id"], "ok": {}}).decode())
    except WebSocketDisconnect:
        pass
    finally:
        for room in mine:
            rooms[room].discard(ws)


async def relay() -> None:
    pubsub = redis.pubsub()
    await pubsub.psubscribe(args.prefix + "*")
    cut = len(args.prefix)
    async for message in pubsub.listen():
        if message["type"] == "pmessage":
            text = message["data"].decode()
            for ws in list(rooms.get(message["channel"][cut:].decode(), ())):
                try:
                    await ws.send_text(text)
                except Exception:
                    rooms[message["channel"][cut:].decode()].discard(ws)


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    task = asyncio.create_task(relay())
    yield
    task.cancel()


app = Starlette(routes=[WebSocketRoute("/ws", endpoint)], lifespan=lifespan)

if __name__ == "__main__":
    config = Config()
    config.bind = [f"{args.host}:{args.port}"]
    config.accesslog = None
    asyncio.run(serve(app, config))  # type: ignore[arg-type]

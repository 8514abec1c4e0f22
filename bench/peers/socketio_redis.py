"""Peer: python-socketio's ``AsyncServer`` with ``AsyncRedisManager`` on aiohttp — what a Python
developer would pick. ``emit(..., room=...)`` publishes through Redis; every server's manager
(here, this one) receives it and emits to its local members of the room.
"""

from __future__ import annotations

from typing import Any

import socketio
from aiohttp import web

from bench.peers.common import parse_args

args = parse_args(__doc__ or "")
manager = socketio.AsyncRedisManager(args.redis_url, channel=args.prefix + "socketio")
sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=manager)
app = web.Application()
sio.attach(app)


@sio.event  # type: ignore[untyped-decorator]  # python-socketio ships no types
async def subscribe(sid: str, room: str) -> dict[str, Any]:
    await sio.enter_room(sid, room)
    return {}


@sio.event  # type: ignore[untyped-decorator]  # python-socketio ships no types
async def publish(sid: str, data: dict[str, Any]) -> dict[str, Any]:
    await sio.emit("pub", data, room=data["room"])
    return {}


if __name__ == "__main__":
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)

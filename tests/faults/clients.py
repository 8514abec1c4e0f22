"""Clients that behave as ``docs/protocol.md`` asks a real one to (reconnect to any gateway,
resubscribe with ``since``, reload on ``recovered: false`` or a ``reset``, retry an unacked
publish with the same ``client_msg_id``) and record everything they see, so a test can check
each one's view offset by offset.

A *silent gap* (a ``pub`` whose offset skips one, within the epoch, with no ``reset`` before it)
is what the server promises never to send; a follower counts it rather than hide it."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from tests.e2e.harness import Server

#: What a lost gateway or a Redis outage looks like to a client: reconnect and go on.
LINK_ERRORS = (OSError, ConnectionClosed, InvalidHandshake, TimeoutError, ConnectionError)


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


def alive(servers: Sequence[Server]) -> list[Server]:
    return [s for s in servers if s.proc is not None and s.proc.poll() is None]


async def open_ws(server: Server, cookie: str) -> ClientConnection:
    return await connect(
        server.ws,
        additional_headers={"Cookie": f"linli_session={cookie}"},
        subprotocols=["linli.v1.json"],  # type: ignore[list-item]
        open_timeout=5,
        compression=None,
    )


@dataclass
class Follower:
    """One subscriber of one channel, for as long as ``stop`` is not set."""

    name: str
    servers: Sequence[Server]
    cookie: str
    channel: str
    start_at: int = 0
    epoch: int | None = None
    offset: int = 0
    #: The channel as this client shows it: (offset, cmid), ascending.
    view: list[tuple[int, str]] = field(default_factory=list)
    resets: int = 0
    reloads: int = 0
    reconnects: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)  # (expected, got)
    closes: list[int | None] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        turn = itertools.count(self.start_at)
        while not stop.is_set():
            servers = alive(self.servers)
            if servers:
                server = servers[next(turn) % len(servers)]
                try:
                    ws = await open_ws(server, self.cookie)
                    try:
                        await self._follow(ws, server, stop)
                    finally:
                        await ws.close()
                        self.closes.append(ws.close_code)
                except (*LINK_ERRORS, InvalidStatus, httpx.HTTPError):
                    pass
                self.reconnects += 1
            # Backoff with jitter, short: the test wants the outage, not the wait.
            await asyncio.sleep(0.1 + random.random() * 0.3)

    async def _follow(self, ws: ClientConnection, server: Server, stop: asyncio.Event) -> None:
        request: dict[str, Any] = {"id": 1, "op": "subscribe", "channel": self.channel}
        if self.epoch is not None:
            request["since"] = {"offset": self.offset, "epoch": self.epoch}
        await ws.send(orjson.dumps(request).decode())
        held: list[dict[str, Any]] = []
        while True:
            msg = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
            if msg.get("id") == 1:
                break
            held.append(msg)
        if "error" in msg:
            return  # unavailable during an outage: reconnect and ask again
        ok = msg["ok"]
        if ok["recovered"] is True and ok["epoch"] == self.epoch:
            for pub in ok["publications"]:
                self._apply(pub)
        else:
            await self._reload(server, ok["epoch"])
        for pub in held:
            await self._push(pub, server)
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                receiving = asyncio.ensure_future(ws.recv())
                try:
                    await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    # Stopped or cancelled: the pending recv must not outlive this (its
                    # exception, when the socket closes, would go unretrieved).
                    if not receiving.done():
                        receiving.cancel()
                    receiving.add_done_callback(_retrieve)
                if not receiving.done() or receiving.cancelled():
                    return
                msg = orjson.loads(receiving.result())
                if msg.get("push") == "ping":
                    await ws.send('{"op": "pong"}')
                else:
                    await self._push(msg, server)
        finally:
            stopping.cancel()

    async def _push(self, msg: dict[str, Any], server: Server) -> None:
        if msg.get("channel") != self.channel:
            return
        if msg.get("push") == "reset":
            self.resets += 1
            await self._reload(server, msg["epoch"])
        elif msg.get("push") == "pub":
            if msg["epoch"] == self.epoch and msg["offset"] <= self.offset:
                return  # a duplicate of what a reload already brought
            if msg["epoch"] != self.epoch or msg["offset"] != self.offset + 1:
                self.gaps.append((self.offset + 1, msg["offset"]))
                await self._reload(server, msg["epoch"])
                return
            self._apply(msg)

    def _apply(self, pub: dict[str, Any]) -> None:
        if pub["offset"] != self.offset + 1:
            self.gaps.append((self.offset + 1, pub["offset"]))
        self.view.append((pub["offset"], pub["data"]["cmid"]))
        self.offset = pub["offset"]
        self.epoch = pub["epoch"]

    async def _reload(self, server: Server, epoch: int) -> None:
        """The whole channel from HTTP history, replacing the view (``docs/protocol.md``)."""
        self.reloads += 1
        view: list[tuple[int, str]] = []
        async with httpx.AsyncClient(
            base_url=server.http, cookies={"linli_session": self.cookie}, timeout=10
        ) as http:
            after = 0
            while True:
                response = await http.get(
                    f"/api/channels/{self.channel}/history", params={"after": after, "limit": 100}
                )
                if response.status_code != 200:
                    raise ConnectionError(f"history answered {response.status_code}")
                page = response.json()
                view.extend((p["offset"], p["data"]["cmid"]) for p in page["publications"])
                if len(page["publications"]) < 100:
                    break
                after = page["publications"][-1]["offset"]
        self.view = view
        self.epoch = epoch
        self.offset = view[-1][0] if view else 0


@dataclass
class Ack:
    channel: str
    offset: int
    epoch: int
    attempts: int


class Publisher:
    """One user's publishing connection, reconnected to any live gateway when it drops; a publish
    is retried with its ``client_msg_id`` until acked (or ``deadline`` passes)."""

    def __init__(self, servers: Sequence[Server], cookie: str, *, start_at: int = 0) -> None:
        self.servers = servers
        self.cookie = cookie
        self._turn = itertools.count(start_at)
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self.reconnects = 0
        self.errors: dict[str, int] = {}

    async def _connection(self) -> ClientConnection:
        async with self._lock:
            if self._ws is not None and self._reader is not None and not self._reader.done():
                return self._ws
            while True:
                servers = alive(self.servers)
                if servers:
                    try:
                        self._ws = await open_ws(
                            servers[next(self._turn) % len(servers)], self.cookie
                        )
                        break
                    except (*LINK_ERRORS, InvalidStatus):
                        pass
                await asyncio.sleep(0.2)
            self.reconnects += 1
            self._reader = asyncio.create_task(self._read(self._ws))
            return self._ws

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                msg = orjson.loads(frame)
                if msg.get("push") == "ping":
                    await ws.send('{"op": "pong"}')
                waiter = self._waiting.pop(msg.get("id", -1), None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(msg)
        except ConnectionClosed:
            pass
        finally:
            for waiter in list(self._waiting.values()):
                if not waiter.done():
                    waiter.set_exception(ConnectionError("closed"))
                    # Whoever waits on it gets the error; one nobody waits for any more (its
                    # publish gave up at the deadline) must not be logged as unretrieved.
                    waiter.exception()
            self._waiting.clear()

    async def publish(self, channel: str, text: str, cmid: str, *, deadline: float) -> Ack:
        loop = asyncio.get_running_loop()
        attempts = 0
        while True:
            attempts += 1
            if loop.time() > deadline:
                raise AssertionError(
                    f"{cmid} not acked after {attempts - 1} attempts: {self.errors}"
                )
            try:
                ws = await self._connection()
                request_id = next(self._ids)
                future: asyncio.Future[dict[str, Any]] = loop.create_future()
                self._waiting[request_id] = future
                await ws.send(
                    orjson.dumps(
                        {
                            "id": request_id,
                            "op": "publish",
                            "channel": channel,
                            "text": text,
                            "client_msg_id": cmid,
                        }
                    ).decode()
                )
                reply = await asyncio.wait_for(future, 10)
            except LINK_ERRORS as exc:
                self.errors[type(exc).__name__] = self.errors.get(type(exc).__name__, 0) + 1
                await asyncio.sleep(0.2)
                continue
            if "ok" in reply:
                return Ack(channel, reply["ok"]["offset"], reply["ok"]["epoch"], attempts)
            code = reply["error"]["code"]
            self.errors[code] = self.errors.get(code, 0) + 1
            assert reply["error"].get("temporary"), reply
            await asyncio.sleep(0.2)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

"""The soak run (issue 24): an hour of mixed load — chat, votes, reconnects, stalled readers —
against the real server, with its memory, open files and latency sampled, and a verdict on
whether they stay flat. Not a CI test (``tests/test_bench_soak_smoke.py`` runs it for 20 s so
that it keeps working).

Reproduce (from the repository root, with the venv active)::

    python -m bench.soak                          # scaled: Redis + PostgreSQL, an hour
    python -m bench.soak --mode embedded          # one process, SQLite
    python -m bench.soak --seconds 600            # ten minutes

What runs, all on 127.0.0.1 (the server, its workers and its Redis pinned to CPU 0 as the other
benchmarks do; this process on CPU 1):

* **chat**: ``--rooms`` buildings, ``--subscribers`` sockets each subscribed to
  ``--rooms-each`` of them (round-robin, as a resident follows a building and a group or two), one
  publisher sending ``--rate`` messages a second round-robin over the rooms. Every subscriber
  checks every ``pub`` is the next offset of its room (a gap is a violation; a ``reset`` is
  counted, not a violation, since it is the protocol's explicit signal) and measures publish →
  delivery latency.
* **reconnects**: every ``--reconnect-every`` seconds a subscriber drops its socket and
  resubscribes with ``since``; the recovered publications must fill the gap exactly.
* **votes**: ``--voters`` residents of building 1 change their vote on an open poll, ``--vote-rate``
  ballots a second; at the end the stored tally must equal every voter's last acked ballot.
* **stalled readers**: every ``--stall-every`` seconds a raw socket subscribes (4 KiB receive
  buffer) and never reads again. The heartbeat (``LINLI_HEARTBEAT_SECONDS``, 5 s here) must cut
  it within three intervals plus the close deadline (``docs/protocol.md``, Heartbeat).
* **samples** every ``--sample-seconds``: RSS, open files and CPU time of the server, each worker
  and Redis; delivery latency p50/p99/max of the window; counts.

The verdict (the command exits 1 if any fails): no gap, no lost or doubled message (PostgreSQL,
or the SQLite file, holds exactly the acked messages), exact tally, every stalled reader cut in
bound, and — after a warm-up of a tenth of the run — each process's RSS and open files flat:
the median of the last quarter of samples within ``--rss-bound-mb`` of the first quarter's,
open files within 10 + the stalled readers alive.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import math
import os
import random
import socket
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgpack
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from bench.infra import (
    DEFAULT_PG_URL,
    LOADGEN_CPU,
    ROOT,
    SERVER_CPU,
    Database,
    Infra,
    pinned,
    raise_fd_limit,
    stop_process,
    use_core,
    voters,
)
from bench.servers import SERVERS, _linli_env, running

KINDS = {"embedded": "linli-embedded", "scaled": "linli"}
HEARTBEAT_SECONDS = 5.0
#: ``CLOSE_DEADLINE`` in gateway/connection.py, and one sampling tick of slack for detection.
CLOSE_DEADLINE = 2.0
RESULTS = Path(__file__).resolve().parent / "results"
TCP_ESTABLISHED = 1
#: Fire-and-forget tasks (pongs, drops), kept referenced until they finish.
BACKGROUND: set[asyncio.Future[Any]] = set()


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


# -- processes ----------------------------------------------------------------------------------


def proc_sample(pid: int) -> dict[str, float] | None:
    """RSS (MB), open files and CPU seconds of one process, from /proc."""
    try:
        with open(f"/proc/{pid}/status") as f:
            rss_kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        cpu = (int(fields[11]) + int(fields[12])) / ticks
    except (OSError, StopIteration, ValueError):
        return None
    return {"rss_mb": round(rss_kb / 1024, 1), "fds": fds, "cpu_s": round(cpu, 2)}


# -- the load -----------------------------------------------------------------------------------


@dataclass
class Counters:
    published: int = 0
    acked: int = 0
    publish_errors: int = 0
    deliveries: int = 0
    gaps: int = 0
    duplicates: int = 0
    resets: int = 0
    reconnects: int = 0
    subscribe_retries: int = 0
    recovered: int = 0
    not_recovered: int = 0
    votes_acked: int = 0
    vote_errors: int = 0
    retries: int = 0
    publish_unknown: int = 0
    vote_unknown: int = 0
    stalled_open_errors: int = 0
    stalled_opened: int = 0
    stalled_cut: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    gap_examples: list[str] = field(default_factory=list)


async def _quiet(action: Awaitable[None]) -> None:
    """A pong or a close on a socket that may be closing already: nothing to report."""
    with contextlib.suppress(ConnectionClosed, OSError):
        await action


def ws_connect(port: int, cookie: str) -> Any:
    return connect(
        f"ws://127.0.0.1:{port}/ws",
        subprotocols=["linli.v1.json"],  # type: ignore[list-item]
        additional_headers={"Cookie": cookie},
        max_size=2**22,
        open_timeout=30,
        ping_interval=None,
    )


class Subscriber:
    """One socket subscribed to every room, keeping its position per room."""

    def __init__(self, port: int, cookie: str, rooms: list[str], counters: Counters) -> None:
        self.port = port
        self.cookie = cookie
        self.rooms = rooms
        self.c = counters
        self.position: dict[str, tuple[int, int]] = {}
        self.ws: ClientConnection | None = None
        self.ready = asyncio.Event()
        self._next_id = 0

    def _apply(self, channel: str, epoch: int, offset: int) -> None:
        known = self.position.get(channel)
        if known is not None and known[0] == epoch:
            if offset <= known[1]:
                self.c.duplicates += 1
                return
            if offset != known[1] + 1:
                self.c.gaps += 1
                if len(self.c.gap_examples) < 10:
                    self.c.gap_examples.append(f"{channel}: {known[1]} → {offset}")
        self.position[channel] = (epoch, offset)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with ws_connect(self.port, self.cookie) as ws:
                    self.ws = ws
                    pending: dict[int, str] = {}
                    for room in self.rooms:
                        await self._subscribe(ws, room, pending)
                    async for raw in ws:
                        retry = self._frame(orjson.loads(raw), pending)
                        if retry is not None:  # "unavailable": a client tries again
                            self.c.subscribe_retries += 1
                            await asyncio.sleep(0.5)
                            await self._subscribe(ws, retry, pending)
                        if not pending:
                            self.ready.set()
            except (ConnectionClosed, OSError, TimeoutError, WebSocketException):
                pass
            self.ws = None
            if not stop.is_set():
                await asyncio.sleep(0.2)

    async def _subscribe(self, ws: ClientConnection, room: str, pending: dict[int, str]) -> None:
        self._next_id += 1
        request: dict[str, Any] = {"id": self._next_id, "op": "subscribe", "channel": room}
        if room in self.position:
            epoch, offset = self.position[room]
            request["since"] = {"offset": offset, "epoch": epoch}
        pending[self._next_id] = room
        await ws.send(orjson.dumps(request).decode())

    def _frame(self, frame: dict[str, Any], pending: dict[int, str]) -> str | None:
        """Applies one frame; returns a room to subscribe to again after a temporary refusal."""
        push = frame.get("push")
        if push == "pub":
            self.c.deliveries += 1
            self._apply(frame["channel"], frame["epoch"], frame["offset"])
            text = frame["data"].get("text", "")
            if text.startswith("soak "):
                sent = int(text.split()[1])
                self.c.latencies_ms.append((time.monotonic_ns() - sent) / 1e6)
        elif push == "reset":
            self.c.resets += 1
            self.position[frame["channel"]] = (frame["epoch"], frame["offset"])
        elif push == "ping":
            if self.ws is not None:
                task = asyncio.ensure_future(_quiet(self.ws.send('{"op":"pong"}')))
                BACKGROUND.add(task)
                task.add_done_callback(BACKGROUND.discard)
        elif "id" in frame and frame["id"] in pending:
            room = pending.pop(frame["id"])
            ok = frame.get("ok")
            if ok is None:
                if frame.get("error", {}).get("temporary"):
                    return room
                raise RuntimeError(f"subscribe {room}: {frame}")
            if ok["recovered"] is True:
                self.c.recovered += 1
                for publication in ok["publications"]:
                    self._apply(room, publication["epoch"], publication["offset"])
                self._apply_reply(room, ok)
            elif ok["recovered"] is False:
                self.c.not_recovered += 1
                self.position[room] = (ok["epoch"], ok["offset"])
            else:
                self.position[room] = (ok["epoch"], ok["offset"])
        return None

    def _apply_reply(self, room: str, ok: dict[str, Any]) -> None:
        epoch, offset = self.position.get(room, (ok["epoch"], ok["offset"]))
        if epoch == ok["epoch"] and offset != ok["offset"]:
            self.c.gaps += 1
            if len(self.c.gap_examples) < 10:
                self.c.gap_examples.append(f"{room}: recovered to {offset}, reply {ok['offset']}")
        self.position[room] = (ok["epoch"], ok["offset"])


class Requester:
    """A socket that sends requests and awaits their replies, answering pings meanwhile (the
    heartbeat closes a socket silent for two intervals, 10 s here)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._next = 0
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reading = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.ws:
                frame = orjson.loads(raw)
                if frame.get("push") == "ping":
                    await self.ws.send('{"op":"pong"}')
                    continue
                future = self._waiting.pop(frame.get("id", -1), None)
                if future is not None and not future.done():
                    future.set_result(frame)
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("socket closed"))

    async def send(self, request: dict[str, Any]) -> asyncio.Future[dict[str, Any]]:
        self._next += 1
        request["id"] = self._next
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[self._next] = future
        await self.ws.send(orjson.dumps(request).decode())
        return future

    async def close(self) -> None:
        self._reading.cancel()
        with contextlib.suppress(Exception):
            await self.ws.close()


class Resender:
    """Sends requests on one shared socket and gets each its reply: a request without one (a
    timeout, a dropped socket) goes again, the same, on a new socket — publishes and ballots
    carry their idempotency key, so a resent one that had been accepted is acked as a
    duplicate, not applied twice. ``None`` after five tries: the outcome is unknown."""

    def __init__(self, port: int, cookie: str, c: Counters) -> None:
        self.port = port
        self.cookie = cookie
        self.c = c
        self.client: Requester | None = None
        self._lock = asyncio.Lock()

    async def _fresh(self, broken: Requester | None) -> Requester:
        async with self._lock:
            if self.client is None or self.client is broken:
                if self.client is not None:
                    await self.client.close()
                self.client = Requester(await ws_connect(self.port, self.cookie))
            return self.client

    async def request(self, request: dict[str, Any]) -> dict[str, Any] | None:
        client = self.client
        for attempt in range(5):
            try:
                if client is None or attempt:
                    client = await self._fresh(client)
                return await asyncio.wait_for(await client.send(dict(request)), 30)
            except (TimeoutError, ConnectionError, ConnectionClosed, OSError, WebSocketException):
                self.c.retries += 1
                await asyncio.sleep(0.5)
        return None

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()


async def publisher(
    port: int, cookie: str, rooms: list[str], rate: float, c: Counters, stop: asyncio.Event
) -> None:
    """Round-robin over the rooms at ``rate``, at most 32 messages awaiting their ack."""
    run = uuid.uuid4().hex[:8]
    window = asyncio.Semaphore(32)
    sender = Resender(port, cookie, c)

    async def one(seq: int) -> None:
        try:
            reply = await sender.request(
                {
                    "op": "publish",
                    "channel": rooms[seq % len(rooms)],
                    "text": f"soak {time.monotonic_ns()} 各位街坊 第{seq}則 |{seq}|",
                    "client_msg_id": f"soak-{run}-{seq}",
                }
            )
        finally:
            window.release()
        if reply is None:
            c.publish_unknown += 1
        elif "ok" in reply:
            c.acked += 1
        else:
            c.publish_errors += 1

    seq = 0
    started = time.monotonic()
    in_flight: set[asyncio.Future[None]] = set()
    try:
        while not stop.is_set():
            seq += 1
            await window.acquire()
            task = asyncio.ensure_future(one(seq))
            c.published += 1
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            delay = started + seq / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        if in_flight:  # the last acks
            await asyncio.wait(in_flight, timeout=60)
    finally:
        await sender.close()


async def voting(
    port: int,
    cookies: list[str],
    poll_id: int,
    rate: float,
    c: Counters,
    last: dict[int, int],
    stop: asyncio.Event,
) -> None:
    """Voters change their vote at ``rate`` ballots a second, one at a time; ``last`` gets each
    voter's last acked choice."""
    voters = [Resender(port, cookie, c) for cookie in cookies]
    try:
        ballot = 0
        while not stop.is_set():
            voter = random.randrange(len(voters))
            choice = random.randrange(4)
            ballot += 1
            reply = await voters[voter].request(
                {
                    "op": "vote",
                    "poll_id": poll_id,
                    "choices": [choice],
                    "client_vote_id": f"v{voter}-{ballot}",
                }
            )
            if reply is None:
                c.vote_unknown += 1
            elif "ok" in reply:
                c.votes_acked += 1
                last[voter] = choice
            else:
                c.vote_errors += 1
            await asyncio.sleep(1 / rate)
    finally:
        for v in voters:
            await v.close()


@dataclass
class Stalled:
    sock: socket.socket
    opened: float
    cut_after: float | None = None


def open_stalled(port: int, cookie: str, room: str) -> socket.socket:
    """A raw WebSocket that subscribes and then never reads again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    key = "c29hay1zdGFsbGVkLWtleQ=="
    sock.sendall(
        (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: linli.v1.json\r\nCookie: {cookie}\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("stalled reader: the server closed during the handshake")
        response += chunk
    if b" 101 " not in response.split(b"\r\n", 1)[0]:
        raise RuntimeError(f"stalled reader: handshake refused: {response[:200]!r}")
    payload = orjson.dumps({"id": 1, "op": "subscribe", "channel": room})
    header = bytes((0x81, 0x80 | len(payload))) + b"\x00\x00\x00\x00"
    sock.sendall(header + payload)
    return sock


def tcp_state(sock: socket.socket) -> int:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
    return int(struct.unpack("B", info[:1])[0])


# -- the run ------------------------------------------------------------------------------------


async def stored_messages(db: Database, embedded: bool) -> tuple[int, int]:
    """The soak's chat messages in the store: rows, and distinct ``client_msg_id``s (a message
    stored twice under two offsets would show as more rows than ids)."""
    query = "SELECT data FROM messages WHERE channel LIKE 'building:%'"
    if embedded:
        path = db.url.removeprefix("sqlite:///")
        with contextlib.closing(sqlite3.connect(path)) as conn:
            blobs = [row[0] for row in conn.execute(query)]
    else:
        import asyncpg

        conn = await asyncpg.connect(
            DEFAULT_PG_URL, server_settings={"search_path": db.schema or ""}
        )
        try:
            blobs = [row[0] for row in await conn.fetch(query)]
        finally:
            await conn.close()
    ids = []
    for blob in blobs:
        body = msgpack.unpackb(blob, raw=False)
        if isinstance(body, dict) and str(body.get("text", "")).startswith("soak "):
            ids.append(body.get("cmid"))
    return len(ids), len(set(ids))


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    raise_fd_limit()
    use_core(ROOT)
    if (os.cpu_count() or 1) > 1:  # the load here on CPU 1; the server, workers, Redis on 0
        os.sched_setaffinity(0, {int(LOADGEN_CPU)})
    embedded = args.mode == "embedded"
    kind = SERVERS[KINDS[args.mode]]
    rooms = [f"building:{i + 1}" for i in range(args.rooms)]
    c = Counters()
    samples: list[dict[str, Any]] = []
    stalled: list[Stalled] = []
    last_votes: dict[int, int] = {}
    bound = 3 * HEARTBEAT_SECONDS + CLOSE_DEADLINE + args.sample_seconds
    env = {"LINLI_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS)}
    with tempfile.TemporaryDirectory(prefix="linli-soak-") as tmp:
        infra = Infra(Path(tmp), args.database_url)
        extra: list[subprocess.Popen[bytes]] = []
        try:
            db = await infra.database("sqlite" if embedded else "postgres", args.rooms)
            await voters(db, args.voters)
            worker = None if embedded else "persist"
            async with running(infra, kind, args.rooms, worker=worker, env_extra=env) as server:
                pids = {"server": server.proc.pid}
                if not embedded:
                    worker_env = {**_linli_env(infra, db, server.http_port, False), **env}
                    for name in ("votes", "moderation"):
                        extra.append(
                            subprocess.Popen(
                                pinned(SERVER_CPU, [sys.executable, "-m", "linli", "worker", name]),
                                env=worker_env,
                                cwd=tmp,
                                stdout=(Path(tmp) / f"soak-{name}.log").open("ab"),
                                stderr=subprocess.STDOUT,
                            )
                        )
                        pids[f"worker {name}"] = extra[-1].pid
                    if server.redis_pid:
                        pids["redis"] = server.redis_pid
                poll_id = await open_poll(server.http_port, db.organiser_cookie)
                stop = asyncio.Event()
                subs = [
                    Subscriber(
                        server.port,
                        db.cookies[i % len(db.cookies)],
                        [rooms[(i + k) % len(rooms)] for k in range(args.rooms_each)],
                        c,
                    )
                    for i in range(args.subscribers)
                ]
                tasks = [asyncio.ensure_future(sub.run(stop)) for sub in subs]
                async with asyncio.timeout(120):
                    for sub in subs:
                        await sub.ready.wait()
                tasks.append(
                    asyncio.ensure_future(
                        publisher(server.port, db.pub_cookie, rooms, args.rate, c, stop)
                    )
                )
                tasks.append(
                    asyncio.ensure_future(
                        voting(
                            server.port,
                            db.voter_cookies[: args.voters],
                            poll_id,
                            args.vote_rate,
                            c,
                            last_votes,
                            stop,
                        )
                    )
                )
                started = time.monotonic()
                next_reconnect = started + args.reconnect_every
                next_stall = started + 5
                next_sample = started + args.sample_seconds
                cpu_before = {n: (proc_sample(p) or {}).get("cpu_s", 0.0) for n, p in pids.items()}
                while time.monotonic() - started < args.seconds:
                    await asyncio.sleep(0.2)
                    now = time.monotonic()
                    if now >= next_reconnect:
                        next_reconnect += args.reconnect_every
                        victim = random.choice(subs)
                        if victim.ws is not None:
                            c.reconnects += 1
                            task = asyncio.ensure_future(_quiet(victim.ws.close()))
                            BACKGROUND.add(task)
                            task.add_done_callback(BACKGROUND.discard)
                    if now >= next_stall:
                        next_stall += args.stall_every
                        try:
                            sock = await asyncio.to_thread(
                                open_stalled, server.port, db.cookies[0], rooms[0]
                            )
                        except (OSError, RuntimeError):
                            c.stalled_open_errors += 1
                        else:
                            stalled.append(Stalled(sock, now))
                            c.stalled_opened += 1
                    if now >= next_sample:
                        next_sample += args.sample_seconds
                        for s in stalled:
                            if s.cut_after is None and tcp_state(s.sock) != TCP_ESTABLISHED:
                                s.cut_after = round(now - s.opened, 1)
                                c.stalled_cut += 1
                                s.sock.close()
                        samples.append(sample(now - started, pids, c, stalled))
                        c.latencies_ms = []
                        _progress(samples[-1])
                stop.set()
                # The publisher and voters stop by themselves (the last acks awaited); the
                # subscribers read until their socket closes.
                await asyncio.wait(tasks[len(subs) :], timeout=30)
                for sub in subs:
                    if sub.ws is not None:
                        await sub.ws.close()
                await asyncio.wait(tasks, timeout=30)
                for task in tasks:
                    task.cancel()
                cpu_after = {n: (proc_sample(p) or {}).get("cpu_s", 0.0) for n, p in pids.items()}
                # Every acked message must be stored once (the persist worker catches up).
                stored, distinct = -1, -1
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    stored, distinct = await stored_messages(db, embedded)
                    if stored >= c.acked:
                        break
                    await asyncio.sleep(0.5)
                tally = await settled_tally(server.http_port, db.organiser_cookie, poll_id,
                                            last_votes)  # fmt: skip
        finally:
            for proc in extra:
                stop_process(proc)
            for s in stalled:
                with contextlib.suppress(OSError):
                    s.sock.close()
            await infra.close()
    return verdict(
        args, c, samples, stalled, (stored, distinct), tally, bound, cpu_before, cpu_after
    )


async def open_poll(http_port: int, organiser_cookie: str) -> int:
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{http_port}",
        headers={"Cookie": organiser_cookie},
        timeout=30,
    ) as http:
        response = await http.post(
            "/api/polls",
            json={
                "channel": "building:1",
                "question": "花園用邊種植物？ Which plants for the garden?",
                "options": ["A", "B", "C", "D"],
            },
        )
        if response.status_code != 201:
            raise RuntimeError(f"create poll: {response.status_code} {response.text[:300]}")
        poll_id = int(response.json()["poll"]["id"])
        response = await http.post(f"/api/polls/{poll_id}/open", json={})
        if response.status_code != 200:
            raise RuntimeError(f"open poll: {response.status_code} {response.text[:300]}")
    return poll_id


async def settled_tally(
    http_port: int, cookie: str, poll_id: int, last: dict[int, int]
) -> dict[str, Any]:
    """The stored tally, once it equals the voters' last ballots (or after 30 s)."""
    expected = [0, 0, 0, 0]
    for choice in last.values():
        expected[choice] += 1
    stored: Any = None
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{http_port}", headers={"Cookie": cookie}, timeout=30
    ) as http:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            tally = (await http.get(f"/api/polls/{poll_id}")).json().get("tally") or {}
            stored = tally.get("counts")
            if stored == expected and tally.get("voters") == len(last):
                break
            await asyncio.sleep(0.5)
    return {"expected": expected, "stored": stored, "exact": stored == expected}


def sample(at: float, pids: dict[str, int], c: Counters, stalled: list[Stalled]) -> dict[str, Any]:
    return {
        "t": round(at, 1),
        "procs": {name: proc_sample(pid) for name, pid in pids.items()},
        "p50_ms": percentile(c.latencies_ms, 0.50),
        "p99_ms": percentile(c.latencies_ms, 0.99),
        "max_ms": round(max(c.latencies_ms), 2) if c.latencies_ms else None,
        "delivered": len(c.latencies_ms),
        "acked": c.acked,
        "gaps": c.gaps,
        "resets": c.resets,
        "reconnects": c.reconnects,
        "votes": c.votes_acked,
        "stalled_alive": sum(1 for s in stalled if s.cut_after is None),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _progress(row: dict[str, Any]) -> None:
    server = row["procs"].get("server") or {}
    print(
        f"t={row['t']:>7.1f}s  server {server.get('rss_mb')} MB {server.get('fds')} fds  "
        f"p50 {row['p50_ms']} p99 {row['p99_ms']} max {row['max_ms']} ms  "
        f"acked {row['acked']} gaps {row['gaps']} resets {row['resets']} "
        f"stalled alive {row['stalled_alive']}  load {row['load_average'][0]}",
        flush=True,
    )


def flatness(samples: list[dict[str, Any]], name: str, key: str) -> dict[str, Any] | None:
    """First- and last-quarter medians of one process's figure, after the warm-up tenth."""
    values = [s["procs"][name][key] for s in samples if s["procs"].get(name) is not None][
        len(samples) // 10 :
    ]
    if len(values) < 4:
        return None
    quarter = max(1, len(values) // 4)
    first = statistics.median(values[:quarter])
    last = statistics.median(values[-quarter:])
    return {"first": first, "last": last, "growth": round(last - first, 1), "max": max(values)}


def verdict(
    args: argparse.Namespace,
    c: Counters,
    samples: list[dict[str, Any]],
    stalled: list[Stalled],
    stored_distinct: tuple[int, int],
    tally: dict[str, Any],
    bound: float,
    cpu_before: dict[str, float],
    cpu_after: dict[str, float],
) -> dict[str, Any]:
    procs = sorted({name for s in samples for name in s["procs"]})
    flat: dict[str, Any] = {}
    failures: list[str] = []
    for name in procs:
        rss = flatness(samples, name, "rss_mb")
        fds = flatness(samples, name, "fds")
        flat[name] = {"rss_mb": rss, "fds": fds}
        if rss is not None and rss["growth"] > args.rss_bound_mb:
            failures.append(f"{name}: RSS grew {rss['growth']} MB (bound {args.rss_bound_mb})")
        # Stalled readers alive at once: those opened within the cut bound, plus one.
        alive = math.ceil(bound / args.stall_every) + 1
        if fds is not None and fds["growth"] > 10 + alive:
            failures.append(f"{name}: open files grew by {fds['growth']}")
    cut = [s.cut_after for s in stalled if s.cut_after is not None]
    # A reader opened in the last ``bound`` seconds may legitimately still be alive.
    late = (
        [s for s in stalled if s.cut_after is None and s.opened < stalled[-1].opened - bound]
        if stalled
        else []
    )
    if c.gaps:
        failures.append(f"{c.gaps} silent gaps: {c.gap_examples}")
    if c.duplicates:
        failures.append(f"{c.duplicates} duplicate deliveries")
    stored, distinct = stored_distinct
    # A publish whose outcome stayed unknown may or may not have been stored.
    if not c.acked <= stored <= c.acked + c.publish_unknown or distinct != stored:
        failures.append(f"stored {stored} messages ({distinct} distinct), acked {c.acked}")
    if c.vote_unknown:
        failures.append(f"{c.vote_unknown} ballots never answered after five tries")
    elif not tally["exact"]:
        failures.append(f"tally {tally['stored']} != last ballots {tally['expected']}")
    if any(t > bound for t in cut) or late:
        failures.append(f"stalled readers not cut within {bound} s: {cut}, {len(late)} alive")
    p99s = [s["p99_ms"] for s in samples if s["p99_ms"] is not None]
    quarter = max(1, len(p99s) // 4)
    return {
        "mode": args.mode,
        "command": " ".join(["python -m bench.soak", *sys.argv[1:]]),
        "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "parameters": {k: v for k, v in vars(args).items() if k not in ("database_url", "out")},
        "counts": {k: v for k, v in vars(c).items() if k not in ("latencies_ms",)},
        "stored_messages": stored,
        "tally": tally,
        "stalled_cut_after_s": cut,
        "stalled_bound_s": bound,
        "latency": {
            "window_p99_median_ms": round(statistics.median(p99s), 2) if p99s else None,
            "window_p99_first_quarter_ms": round(statistics.median(p99s[:quarter]), 2)
            if p99s
            else None,
            "window_p99_last_quarter_ms": round(statistics.median(p99s[-quarter:]), 2)
            if p99s
            else None,
            "max_ms": max((s["max_ms"] for s in samples if s["max_ms"] is not None), default=None),
        },
        "cpu_seconds": {n: round(cpu_after.get(n, 0) - cpu_before.get(n, 0), 1) for n in cpu_after},
        "flat": flat,
        "failures": failures,
        "samples": samples,
    }


def report(result: dict[str, Any]) -> str:
    lines = [
        f"Soak, {result['mode']} mode: {result['command']}",
        "",
        "| process | RSS first ¼ → last ¼ (max) MB | open files first ¼ → last ¼ (max) | CPU s |",
        "|---|---|---|---|",
    ]
    for name, f in result["flat"].items():
        rss, fds = f["rss_mb"], f["fds"]
        lines.append(
            f"| {name} | "
            + (f"{rss['first']} → {rss['last']} ({rss['max']})" if rss else "–")
            + " | "
            + (f"{fds['first']} → {fds['last']} ({fds['max']})" if fds else "–")
            + f" | {result['cpu_seconds'].get(name, '–')} |"
        )
    counts, lat = result["counts"], result["latency"]
    cut = result["stalled_cut_after_s"]
    lines += [
        "",
        f"messages published {counts['published']}, acked {counts['acked']} (errors "
        f"{counts['publish_errors']}, outcome unknown {counts['publish_unknown']}; requests "
        f"resent {counts['retries']}), stored {result['stored_messages']}, deliveries "
        f"{counts['deliveries']}, gaps {counts['gaps']}, duplicates {counts['duplicates']}, "
        f"resets {counts['resets']}; reconnects {counts['reconnects']} (recovered "
        f"{counts['recovered']}, not {counts['not_recovered']}; subscribes retried after "
        f"'unavailable' {counts['subscribe_retries']}); votes {counts['votes_acked']} "
        f"(tally exact: {result['tally']['exact']}); stalled readers {counts['stalled_opened']}, "
        f"cut after {min(cut, default='–')}–{max(cut, default='–')} s "
        f"(bound {result['stalled_bound_s']} s)",
        f"delivery p99 per {result['parameters']['sample_seconds']} s window: median "
        f"{lat['window_p99_median_ms']} ms, first quarter {lat['window_p99_first_quarter_ms']}, "
        f"last quarter {lat['window_p99_last_quarter_ms']}; max {lat['max_ms']} ms",
        "verdict: " + ("flat, nothing lost" if not result["failures"] else "; ".join(
            result["failures"])),
    ]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=list(KINDS), default="scaled")
    parser.add_argument("--seconds", type=float, default=3600)
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--rooms-each", type=int, default=3, help="rooms per subscriber")
    parser.add_argument("--rate", type=float, default=40, help="chat messages per second")
    parser.add_argument("--voters", type=int, default=50)
    parser.add_argument("--vote-rate", type=float, default=5, help="ballots per second")
    parser.add_argument("--reconnect-every", type=float, default=2.0)
    parser.add_argument("--stall-every", type=float, default=60.0)
    parser.add_argument("--sample-seconds", type=float, default=10.0)
    parser.add_argument("--rss-bound-mb", type=float, default=10.0)
    parser.add_argument("--database-url", default=DEFAULT_PG_URL)
    parser.add_argument("--out", type=Path, help="JSON results (default bench/results/soak-…)")
    args = parser.parse_args()
    if not 5 <= args.seconds <= 4 * 3600:
        parser.error("--seconds must be 5 to 14400")
    if not (1 <= args.rooms <= 200 and 1 <= args.subscribers <= 1000 and 1 <= args.voters <= 500):
        parser.error("--rooms 1–200, --subscribers 1–1000, --voters 1–500")
    if not 1 <= args.rooms_each <= min(args.rooms, 100):
        parser.error("--rooms-each must be 1 to --rooms (and at most 100)")
    if not (0 < args.rate <= 2000 and 0 < args.vote_rate <= 200):
        parser.error("--rate 0–2000, --vote-rate 0–200")
    if args.mode == "scaled" and "127.0.0.1" not in args.database_url:
        parser.error("the benchmark only talks to servers on 127.0.0.1")
    result = asyncio.run(soak(args))
    out = args.out or RESULTS / (
        f"soak-{args.mode}-{datetime.datetime.now(datetime.UTC):%Y%m%dT%H%M%SZ}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    print(report(result))
    print(f"results: {out}")
    if result["failures"]:
        sys.exit(1)


if __name__ == "__main__":
    main()

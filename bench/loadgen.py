"""The load generator: one process (pinned to its own core by the runner) that opens the client
connections of one scenario against one server, drives it and prints the result as JSON.

    echo '{"scenario": "s1", ...}' | python -m bench.loadgen

It reads the server's and Redis' CPU time from ``/proc`` around the measured window, and its own,
so every figure says whether the server (not the load generator) was the one at its limit.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from functools import partial
from typing import Any

import orjson

from bench.protocols import _RUN, PROTOCOLS, seq_of
from bench.wsclient import WSConnection, open_connection

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int | None) -> float:
    if not pid:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def core_times(cpu: int = 0) -> tuple[int, int]:
    """(idle, total) jiffies of one CPU since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                values = [int(v) for v in line.split()[1:]]
                return values[3] + values[4], sum(values)
    return 0, 0


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


class CpuWindow:
    """CPU seconds used by the server, Redis and this process over a window, per wall second;
    with ``profile``, the server is sampled by py-spy over the same window (py-spy inherits this
    process's core, so it does not take the server's)."""

    def __init__(self, pids: dict[str, int | None], profile: str | None = None) -> None:
        self.pids = pids
        self.spy: subprocess.Popen[bytes] | None = None
        if profile and pids.get("server"):
            self.spy = subprocess.Popen(
                ["py-spy", "record", "--pid", str(pids["server"]), "--format", "raw",
                 "--rate", "250", "--nonblocking", "--output", profile],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        self.start()

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.core0 = core_times(0)
        self.cpu0 = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.own0 = time.process_time()

    def stop(self, elapsed: float | None = None) -> dict[str, float]:
        if self.spy is not None:
            self.spy.send_signal(signal.SIGINT)
            try:
                self.spy.wait(20)
            except subprocess.TimeoutExpired:
                self.spy.kill()
        wall = elapsed or (time.perf_counter() - self.t0)
        out = {
            f"{name}_cpu": round((cpu_seconds(pid) - self.cpu0[name]) / wall, 3)
            for name, pid in self.pids.items()
            if pid
        }
        out["loadgen_cpu"] = round((time.process_time() - self.own0) / wall, 3)
        # Idle share of the server's core: high means the scenario left the server waiting,
        # near 0 with a low server share means other processes took the core.
        idle, total = core_times(0)
        if total > self.core0[1]:
            out["core0_idle"] = round((idle - self.core0[0]) / (total - self.core0[1]), 3)
        return out


class LoadGen:
    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job
        self.proto = PROTOCOLS[job["protocol"]]()
        self.port: int = job["port"]
        self.cookies: list[str | None] = job.get("cookies") or [None]
        self.pub_cookie: str | None = job.get("pub_cookie")
        self.deflate: bool = job.get("deflate", False)
        self.pub_prefix = self.proto.pub_prefix
        self.on_pub: Callable[[WSConnection, int], None] = lambda conn, seq: None
        #: When set, gets publication frames whole instead of ``on_pub`` (votes: tallies).
        self.raw_pub: Callable[[WSConnection, bytes], None] | None = None
        self.publish_errors = 0
        self.closed_by_server: dict[str, int] = {}
        self.pids: dict[str, int | None] = job.get("pids", {})

    # -- connections ----------------------------------------------------------------------------

    def _on_message(self, conn: WSConnection, payload: bytes) -> None:
        if payload.startswith(self.pub_prefix):
            if self.raw_pub is not None:
                self.raw_pub(conn, payload)
            else:
                self.on_pub(conn, seq_of(payload))
            return
        reply = self.proto.reply(payload)
        if reply is not None:
            waiting: dict[int, asyncio.Future[Any]] = conn.state.setdefault("waiting", {})  # type: ignore[assignment]
            future = waiting.pop(reply[0], None)
            if future is not None:
                if not future.done():
                    future.set_result(reply[1])
            elif reply[1] is None:
                self.publish_errors += 1
            return
        answer = self.proto.ping_answer(payload)
        if answer is not None:
            conn.send_text(answer)
        elif payload.startswith(b"40"):  # socket.io: namespace connected
            hello = conn.state.get("hello")
            if isinstance(hello, asyncio.Future) and not hello.done():
                hello.set_result(None)

    async def open(self, cookie: str | None) -> WSConnection:
        conn = await open_connection(
            self._on_message,
            port=self.port,
            path=self.proto.path,
            subprotocol=self.proto.subprotocol,
            cookie=cookie,
            deflate=self.deflate,
        )
        conn.state["next"] = 1
        conn.state["waiting"] = {}
        if self.proto.hello is not None:
            hello: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            conn.state["hello"] = hello
            conn.send_text(self.proto.hello)
            await asyncio.wait_for(hello, 20)
        return conn

    def send_request(self, conn: WSConnection, make: Callable[[int], bytes]) -> asyncio.Future[Any]:
        request_id = conn.state["next"]
        assert isinstance(request_id, int)
        conn.state["next"] = request_id + 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        conn.state["waiting"][request_id] = future  # type: ignore[index]
        conn.send_text(make(request_id))
        return future

    def fire(self, conn: WSConnection, make: Callable[[int], bytes]) -> None:
        """Send a request whose reply is only checked for being an error."""
        request_id = conn.state["next"]
        assert isinstance(request_id, int)
        conn.state["next"] = request_id + 1
        conn.send_text(make(request_id))

    async def subscribe(
        self, conn: WSConnection, room: str, since: dict[str, int] | None = None
    ) -> Any:
        body = await asyncio.wait_for(
            self.send_request(conn, lambda rid: self.proto.subscribe(rid, room, since)), 30
        )
        if body is None:
            raise RuntimeError(f"subscribe to {room} refused")
        return body

    async def connect_all(
        self, count: int, rooms: int, concurrency: int = 100
    ) -> tuple[list[WSConnection], list[Any], float]:
        """Open ``count`` connections spread over ``rooms`` rooms, each subscribed; returns the
        connections, the subscribe replies and the time it took."""
        gate = asyncio.Semaphore(concurrency)
        conns: list[WSConnection | None] = [None] * count
        replies: list[Any] = [None] * count

        async def one(i: int) -> None:
            async with gate:
                conn = await self.open(self.cookies[i % len(self.cookies)])
                room = self.proto.room(i % rooms)
                conn.state["room"] = room
                replies[i] = await self.subscribe(conn, room)
                conns[i] = conn

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        return [c for c in conns if c is not None], replies, time.perf_counter() - t0

    async def close_all(self, conns: list[WSConnection]) -> None:
        for conn in conns:
            conn.close()
        await asyncio.wait([asyncio.ensure_future(c.closed) for c in conns], timeout=5)
        for conn in conns:
            conn.abort()

    # -- scenarios ------------------------------------------------------------------------------

    async def s1(self, subscribers: int, seconds: float, window: int = 8) -> dict[str, Any]:
        """Fan-out: one room, one publisher keeping at most ``window`` messages in flight (sent
        and not yet received by every subscriber)."""
        conns, _, connect_s = await self.connect_all(subscribers, 1)
        publisher = await self.open(self.pub_cookie)
        room = self.proto.room(0)
        counts: list[int] = []
        progress = asyncio.Event()
        stats = {"inflight": 0, "total": 0, "last": 0.0}

        def on_pub(conn: WSConnection, seq: int) -> None:
            counts[seq] += 1
            stats["total"] += 1
            if counts[seq] == subscribers:
                stats["inflight"] -= 1
                stats["last"] = time.perf_counter()
                progress.set()

        self.on_pub = on_pub
        await asyncio.sleep(0.3)  # let join pushes and subscribe traffic settle
        stalled = False
        cpu = CpuWindow(self.pids, self.job.get("profile"))
        t0 = time.perf_counter()
        end = t0 + seconds
        while time.perf_counter() < end:
            while stats["inflight"] >= window:
                progress.clear()
                try:
                    await asyncio.wait_for(progress.wait(), 5)
                except TimeoutError:
                    stalled = True
                    break
            if stalled:
                break
            seq = len(counts)
            counts.append(0)
            stats["inflight"] += 1
            self.fire(publisher, partial(self.proto.publish, room=room, seq=seq))
        drain_deadline = time.perf_counter() + 10
        while stats["inflight"] > 0 and time.perf_counter() < drain_deadline:
            progress.clear()
            try:
                await asyncio.wait_for(
                    progress.wait(), max(0.01, drain_deadline - time.perf_counter())
                )
            except TimeoutError:
                break
        elapsed = (stats["last"] or time.perf_counter()) - t0
        usage = cpu.stop(elapsed)
        lost = sum(subscribers - c for c in counts)
        closed = sum(1 for c in conns if c.closed.done())
        await self.close_all([*conns, publisher])
        return {
            "subscribers": subscribers,
            "messages": len(counts),
            "deliveries": stats["total"],
            "seconds": round(elapsed, 3),
            "deliveries_per_s": round(stats["total"] / elapsed) if elapsed > 0 else 0,
            "lost": lost,
            "stalled": stalled,
            "closed_during_run": closed,
            "publish_errors": self.publish_errors,
            "connect_s": round(connect_s, 2),
            "deflate_negotiated": conns[0].deflated if conns else None,
            # Robust to a shared core: what one second of the server's CPU delivers.
            "deliveries_per_server_cpu_s": round(stats["total"] / elapsed / usage["server_cpu"])
            if elapsed > 0 and usage.get("server_cpu")
            else None,
            **usage,
        }

    async def s2(self, subscribers: int, rooms: int, rate: float, seconds: float) -> dict[str, Any]:
        """Latency: ``rate`` messages per second in total, round robin over ``rooms`` rooms, one
        publisher connection per room; publish-to-receive time of every delivery."""
        conns, _, connect_s = await self.connect_all(subscribers, rooms)
        publishers = [await self.open(self.pub_cookie) for _ in range(rooms)]
        per_room = [0] * rooms
        for i in range(subscribers):
            per_room[i % rooms] += 1
        total = int(rate * seconds)
        warmup = max(1, total // 20)  # the first 5 % of messages are not timed
        sent = [0] * total
        latencies: list[int] = []
        stats = {"received": 0}

        def on_pub(conn: WSConnection, seq: int) -> None:
            stats["received"] += 1
            if seq >= warmup:
                latencies.append(time.perf_counter_ns() - sent[seq])

        self.on_pub = on_pub
        await asyncio.sleep(0.3)
        cpu = CpuWindow(self.pids, self.job.get("profile"))
        t0 = time.perf_counter()
        seq = 0
        while seq < total:
            due = min(total, int((time.perf_counter() - t0) * rate) + 1)
            while seq < due:
                r = seq % rooms
                sent[seq] = time.perf_counter_ns()
                self.fire(
                    publishers[r], partial(self.proto.publish, room=self.proto.room(r), seq=seq)
                )
                seq += 1
            await asyncio.sleep(0.001)
        expected = sum(per_room[s % rooms] for s in range(total))
        deadline = time.perf_counter() + 10
        while stats["received"] < expected and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - t0
        usage = cpu.stop(elapsed)
        await self.close_all([*conns, *publishers])
        latencies.sort()
        ms = 1e-6
        return {
            "subscribers": subscribers,
            "rooms": rooms,
            "messages": total,
            "rate": rate,
            "deliveries": stats["received"],
            "lost": expected - stats["received"],
            "p50_ms": round(percentile(latencies, 0.50) * ms, 3),
            "p90_ms": round(percentile(latencies, 0.90) * ms, 3),
            "p99_ms": round(percentile(latencies, 0.99) * ms, 3),
            "p999_ms": round(percentile(latencies, 0.999) * ms, 3),
            "max_ms": round(latencies[-1] * ms, 3) if latencies else None,
            "publish_errors": self.publish_errors,
            "connect_s": round(connect_s, 2),
            "deliveries_per_server_cpu_s": round(stats["received"] / elapsed / usage["server_cpu"])
            if usage.get("server_cpu")
            else None,
            **usage,
        }

    async def s3(self, connections: int, rooms: int) -> dict[str, Any]:
        """Memory: idle authenticated connections, each subscribed to one of ``rooms`` rooms;
        the server's RSS growth per connection, then one message per room to all of them."""
        server = self.pids["server"]
        assert server
        rss0 = rss_bytes(server)
        cpu = CpuWindow(self.pids)
        conns, _, connect_s = await self.connect_all(connections, rooms)
        connect_cpu = cpu.stop(connect_s)
        await asyncio.sleep(1.0)
        rss1 = rss_bytes(server)
        received = [0] * rooms

        def on_pub(conn: WSConnection, seq: int) -> None:
            received[seq] += 1

        self.on_pub = on_pub
        publisher = await self.open(self.pub_cookie)
        t0 = time.perf_counter()
        for r in range(rooms):
            self.fire(publisher, partial(self.proto.publish, room=self.proto.room(r), seq=r))
        deadline = t0 + 20
        while sum(received) < connections and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        fanout_s = time.perf_counter() - t0
        rss2 = rss_bytes(server)
        await self.close_all([*conns, publisher])
        return {
            "connections": len(conns),
            "rooms": rooms,
            "connect_s": round(connect_s, 2),
            "rss_before_mb": round(rss0 / 2**20, 1),
            "rss_after_mb": round(rss1 / 2**20, 1),
            "rss_after_message_mb": round(rss2 / 2**20, 1),
            "kb_per_connection": round((rss1 - rss0) / 1024 / connections, 1),
            "delivered": sum(received),
            "expected": connections,
            "fanout_s": round(fanout_s, 3),
            "publish_errors": self.publish_errors,
            # Handshake + subscribe: connections opened per second of the server's CPU.
            "connections_per_server_cpu_s": round(
                connections / connect_s / connect_cpu["server_cpu"]
            )
            if connect_cpu.get("server_cpu")
            else None,
            "connect_server_cpu": connect_cpu.get("server_cpu"),
            "connect_redis_cpu": connect_cpu.get("redis_cpu"),
        }

    async def s4(
        self, connections: int, rooms: int, seconds: float, window: int = 2
    ) -> dict[str, Any]:
        """Publish throughput: ``connections`` sockets in ``rooms`` small rooms, every socket
        publishing to its own room and keeping at most ``window`` publishes unacknowledged.
        Publishes acknowledged per second, and every acknowledged message delivered to every
        member of its room (``lost``). All sockets use the publisher's session (a room's
        residents may write it; here one staff account stands in for all of them)."""
        self.cookies = [self.pub_cookie]
        conns, _, connect_s = await self.connect_all(connections, rooms)
        members = [0] * rooms
        for i in range(len(conns)):
            members[i % rooms] += 1
        room_of: dict[str, int] = {self.proto.room(r): r for r in range(rooms)}
        sent_room: list[int] = []
        delivered: list[int] = []
        stats = {"acked": 0, "refused": 0, "deliveries": 0, "stalled": 0}
        acked: list[int] = []
        measuring = {"on": False}
        timed = {"acked": 0}

        def on_pub(conn: WSConnection, seq: int) -> None:
            delivered[seq] += 1
            stats["deliveries"] += 1

        self.on_pub = on_pub
        await asyncio.sleep(0.3)
        stop_at = {"t": 0.0}

        async def publisher(i: int, conn: WSConnection) -> None:
            room = str(conn.state["room"])
            r = room_of[room]
            inflight: dict[asyncio.Future[Any], int] = {}

            def settle(done: set[asyncio.Future[Any]], timed_now: bool) -> None:
                for future in done:
                    seq = inflight.pop(future)
                    if future.result() is None:
                        stats["refused"] += 1
                    else:
                        stats["acked"] += 1
                        acked.append(seq)
                        if timed_now:
                            timed["acked"] += 1

            while time.perf_counter() < stop_at["t"]:
                while len(inflight) < window:
                    seq = len(sent_room)
                    sent_room.append(r)
                    delivered.append(0)
                    future = self.send_request(
                        conn, partial(self.proto.publish, room=room, seq=seq)
                    )
                    inflight[future] = seq
                done, _ = await asyncio.wait(
                    inflight, timeout=10, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    stats["stalled"] += 1
                    return  # what is in flight is counted as not acked
                settle(done, measuring["on"])
            if inflight:
                settle((await asyncio.wait(inflight, timeout=10))[0], False)

        warmup = min(1.0, seconds / 4)
        stop_at["t"] = time.perf_counter() + warmup + seconds
        tasks = [asyncio.ensure_future(publisher(i, c)) for i, c in enumerate(conns)]
        await asyncio.sleep(warmup)  # every socket's first publishes are not timed
        measuring["on"] = True
        cpu = CpuWindow(self.pids, self.job.get("profile"))
        t0 = time.perf_counter()
        await asyncio.sleep(max(0.0, stop_at["t"] - t0))
        measuring["on"] = False
        elapsed = time.perf_counter() - t0
        usage = cpu.stop(elapsed)
        await asyncio.wait(tasks, timeout=30)
        expected = sum(members[sent_room[seq]] for seq in acked)
        deadline = time.perf_counter() + 10
        while stats["deliveries"] < expected and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        # Lost: deliveries missing of acknowledged publishes (one not acked may be lost).
        lost = sum(max(0, members[sent_room[seq]] - delivered[seq]) for seq in acked)
        await self.close_all(conns)
        rate = timed["acked"] / elapsed if elapsed > 0 else 0.0
        return {
            "connections": len(conns),
            "rooms": rooms,
            "window": window,
            "seconds": round(elapsed, 3),
            "published": len(sent_room),
            "acked": stats["acked"],
            "refused": stats["refused"],
            "stalled_publishers": stats["stalled"],
            "acked_per_s": round(rate),
            "acked_per_server_cpu_s": round(rate / usage["server_cpu"])
            if usage.get("server_cpu")
            else None,
            "acked_per_tree_cpu_s": round(rate / (usage["server_cpu"] + usage.get("redis_cpu", 0)))
            if usage.get("server_cpu")
            else None,
            "deliveries": stats["deliveries"],
            "lost": lost,
            "publish_errors": self.publish_errors,
            "connect_s": round(connect_s, 2),
            "run_tag": _RUN,
            **usage,
        }

    async def recovery(
        self, clients: int, rooms: int, missed: int, concurrency: int = 100
    ) -> dict[str, Any]:
        """Recovery: clients subscribed, all disconnected, ``missed`` messages published per
        room, then all reconnect and subscribe with ``since``: time until every client holds
        every missed message, and the gaps and duplicates it saw."""
        conns, replies, connect_s = await self.connect_all(clients, rooms)
        positions = [
            (str(c.state["room"]), {"offset": r["offset"], "epoch": r["epoch"]})
            for c, r in zip(conns, replies, strict=True)
        ]
        await self.close_all(conns)
        await asyncio.sleep(0.5)
        publisher = await self.open(self.pub_cookie)
        acks = []
        for r in range(rooms):
            for i in range(missed):
                seq = r * missed + i
                acks.append(
                    self.send_request(
                        publisher, partial(self.proto.publish, room=self.proto.room(r), seq=seq)
                    )
                )
        bodies = await asyncio.wait_for(asyncio.gather(*acks), 60)
        refused = sum(1 for b in bodies if b is None)
        live_after: list[int] = []
        self.on_pub = lambda conn, seq: live_after.append(seq)
        gate = asyncio.Semaphore(concurrency)
        stats = {"gaps": 0, "dups": 0, "not_recovered": 0, "publications": 0}
        new_conns: list[WSConnection] = []

        async def one(i: int) -> None:
            room, since = positions[i]
            async with gate:
                conn = await self.open(self.cookies[i % len(self.cookies)])
                new_conns.append(conn)
                body = await self.subscribe(conn, room, since)
            if body.get("recovered") is not True:
                stats["not_recovered"] += 1
                return
            offsets = [p["offset"] for p in body["publications"]]
            wanted = set(range(since["offset"] + 1, body["offset"] + 1))
            stats["publications"] += len(offsets)
            stats["dups"] += len(offsets) - len(set(offsets))
            stats["gaps"] += len(wanted - set(offsets))
            if len(wanted) != missed:
                stats["gaps"] += abs(missed - len(wanted))

        cpu = CpuWindow(self.pids, self.job.get("profile"))
        t0 = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(clients))), 120)
        elapsed = time.perf_counter() - t0
        usage = cpu.stop(elapsed)
        await asyncio.sleep(0.3)
        await self.close_all([*new_conns, publisher])
        return {
            "clients": clients,
            "rooms": rooms,
            "missed_per_room": missed,
            "publish_refused": refused,
            "recover_s": round(elapsed, 3),
            "publications_recovered": stats["publications"],
            "expected": clients * missed,
            "gaps": stats["gaps"],
            "duplicates": stats["dups"] + len(live_after),
            "not_recovered": stats["not_recovered"],
            "reconnect_concurrency": concurrency,
            "connect_s": round(connect_s, 2),
            **usage,
        }

    async def votes(
        self,
        voters: int,
        changes: int,
        poll_id: int,
        options: int = 4,
        concurrency: int = 100,
        pace: float = 0.0,
    ) -> dict[str, Any]:
        """Votes: ``voters`` sockets (one resident each) all vote at once (or ``pace`` votes a
        second), then ``changes`` of them change their vote; a watcher subscribed to
        ``poll:<id>`` records every tally. Votes accepted/s (first ballots, first sent to last
        acked), vote → tally on the watcher's screen, and the final tally on the screen against
        the ballots as acked."""
        gate = asyncio.Semaphore(concurrency)

        async def one(cookie: str | None) -> WSConnection:
            async with gate:
                return await self.open(cookie)

        conns = await asyncio.gather(*(one(c) for c in self.cookies[:voters]))
        watcher = await self.open(self.pub_cookie)
        await self.subscribe(watcher, f"poll:{poll_id}")
        screens: list[tuple[float, int, list[int] | None, int]] = []

        def on_tally(conn: WSConnection, payload: bytes) -> None:
            data = orjson.loads(payload)["data"]
            if data.get("kind") == "tally":
                screens.append(
                    (time.perf_counter(), data["voters"], data.get("counts"), data["version"])
                )

        self.raw_pub = on_tally
        await asyncio.sleep(0.3)
        screens.clear()
        choice = [i % options for i in range(voters)]
        sent = [0.0] * voters
        acked = [0.0] * voters
        refused: dict[str, int] = {}

        def ballot(i: int, pick: int, tag: str) -> asyncio.Future[Any]:
            future = self.send_request(
                conns[i],
                lambda rid: orjson.dumps(
                    {
                        "id": rid,
                        "op": "vote",
                        "poll_id": poll_id,
                        "choices": [pick],
                        "client_vote_id": f"{tag}{_RUN}-{i}",
                    }
                ),
            )
            return future

        def record_ack(i: int, _future: asyncio.Future[Any]) -> None:
            acked[i] = time.perf_counter()

        cpu = CpuWindow(self.pids, self.job.get("profile"))
        t0 = time.perf_counter()
        futures = []
        for i in range(voters):
            if pace:
                # On a schedule from t0, so a late wake-up is caught up rather than accumulated.
                await asyncio.sleep(max(0.0, t0 + i / pace - time.perf_counter()))
            sent[i] = time.perf_counter()
            future = ballot(i, choice[i], "v")
            future.add_done_callback(partial(record_ack, i))
            futures.append(future)
        bodies = await asyncio.wait_for(asyncio.gather(*futures), 120)
        accepted = sum(1 for b in bodies if b is not None)
        first_round_s = max(acked) - t0
        for b in bodies:
            if b is None:
                refused["first"] = refused.get("first", 0) + 1
        changers = list(range(min(changes, voters)))
        new_pick = {i: (choice[i] + 1) % options for i in changers}
        changed = await asyncio.wait_for(
            asyncio.gather(*(ballot(i, new_pick[i], "c") for i in changers)), 120
        )
        last_ack = time.perf_counter()
        refused["change"] = sum(1 for b in changed if b is None)
        for i, body in zip(changers, changed, strict=True):
            if body is not None:
                choice[i] = new_pick[i]
        expected = [0] * options
        for i in range(voters):
            if bodies[i] is not None:
                expected[choice[i]] += 1
        deadline = time.perf_counter() + 30
        settled_at = None
        while time.perf_counter() < deadline:
            if screens and screens[-1][2] == expected and screens[-1][1] == accepted:
                settled_at = screens[-1][0]
                break
            await asyncio.sleep(0.01)
        usage = cpu.stop()
        latencies = []
        for k, t_sent in enumerate(sorted(sent[i] for i in range(voters) if bodies[i]), 1):
            shown = next((t for t, count, _c, _v in screens if count >= k), None)
            if shown is not None:
                latencies.append(shown - t_sent)
        latencies.sort()
        acks = sorted(a - s for a, s in zip(acked, sent, strict=True))
        await self.close_all([*conns, watcher])
        return {
            "voters": voters,
            "accepted": accepted,
            "changed": len(changed) - refused["change"],
            "refused": refused,
            "accepted_per_s": round(accepted / first_round_s) if first_round_s > 0 else None,
            "ack_p50_ms": round(1000 * percentile(acks, 0.5), 1),
            "ack_p99_ms": round(1000 * percentile(acks, 0.99), 1),
            "screen_p50_ms": round(1000 * percentile(latencies, 0.5), 1),
            "screen_p99_ms": round(1000 * percentile(latencies, 0.99), 1),
            "screen_max_ms": round(1000 * latencies[-1], 1) if latencies else None,
            "screened_votes": len(latencies),
            "final_on_screen_after_last_ack_ms": round(1000 * (settled_at - last_ack), 1)
            if settled_at
            else None,
            "expected_counts": expected,
            "screen_counts": screens[-1][2] if screens else None,
            "screen_voters": screens[-1][1] if screens else None,
            "tally_updates": len(screens),
            **usage,
        }


async def run(job: dict[str, Any]) -> dict[str, Any]:
    gen = LoadGen(job)
    scenario = getattr(gen, job["scenario"])
    return await scenario(**job["params"])  # type: ignore[no-any-return]


def main() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    job = json.loads(sys.stdin.read())
    runner: Callable[[Coroutine[Any, Any, dict[str, Any]]], dict[str, Any]]
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # the figures stay valid, the load generator just has less headroom
        runner = asyncio.run
    result = runner(asyncio.wait_for(run(job), job.get("timeout", 300)))
    result["loadgen_loop"] = "uvloop" if runner is not asyncio.run else "asyncio"
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Operators' endpoints end to end: ``/metrics`` behind its token, parsed by prometheus-client's
own parser, with counters that move when messages flow (both modes, and one scrape for two
gateway processes); ``/healthz`` (alive) and ``/readyz``, which turns unready when Redis stops —
a redis-server of the test's own — and ready again when it is back."""

from __future__ import annotations

import dataclasses
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port, wait_until
from tests.e2e.harness import Client, Deployment, Server, login, running, seed
from tests.test_broker_redis_restart import RedisServer, redis_binary  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(120)
TOKEN = "metrics-" + uuid.uuid4().hex


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return sum(v for (n, ls), v in found.items() if n == name and set(labels.items()) <= set(ls))


async def _scrape(server_http: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient(base_url=server_http) as http:
        r = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/plain")
        return samples(r.text)


async def test_metrics_parse_and_move_with_traffic(deployment: Deployment) -> None:
    hood = await seed(deployment)
    async with running(deployment, LINLI_METRICS_TOKEN=TOKEN) as server:
        async with httpx.AsyncClient(base_url=server.http) as http:
            assert (await http.get("/metrics")).status_code == 401
            wrong = await http.get("/metrics", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
        before = await _scrape(server.http)
        cookie = await login(server, "ann")
        listener = await Client.connect(server, await login(server, "amy"))
        writer = await Client.connect(server, cookie)
        channel = f"building:{hood.building_a}"
        try:
            for client in (listener, writer):
                await client.ok("subscribe", channel=channel)
            for i in range(3):
                await writer.ok("publish", channel=channel, text=f"m{i}", client_msg_id=f"c{i}")
            await listener.pubs(3)
            after = await _scrape(server.http)
        finally:
            await listener.close()
            await writer.close()
    assert total(after, "linli_connections") >= 2
    assert total(after, "linli_subscriptions") >= 2
    assert total(after, "linli_publications_total") - total(before, "linli_publications_total") >= 3
    assert total(after, "linli_deliveries_total") - total(before, "linli_deliveries_total") >= 6
    assert total(after, "linli_http_requests_total", route="/api/login", status="200") >= 2
    assert ("linli_queue_backlog", (("group", "persist"), ("queue", "persist"))) in after


async def test_metrics_are_off_without_a_token(deployment: Deployment) -> None:
    store = await deployment.store()  # migrates
    await store.close()
    async with running(deployment) as server, httpx.AsyncClient(base_url=server.http) as http:
        assert (await http.get("/metrics")).status_code == 404
        assert (await http.get("/healthz")).json()["ok"] is True
        ready = (await http.get("/readyz")).json()
        assert ready["ok"] is True and ready["migrations"] is True


async def test_one_scrape_counts_every_gateway_process(scaled: Deployment) -> None:
    await seed(scaled)
    server = await Server(scaled, "--workers", "2", LINLI_METRICS_TOKEN=TOKEN).start(timeout=60)
    try:
        clients = [
            await Client.connect(server, await login(server, name))
            for name in ("ann", "amy", "bob") * 4
        ]
        try:
            # Twelve connections land on both processes (SO_REUSEPORT); whichever answers the
            # scrape reports them all, once each process has sampled (every 2 s).
            async def all_counted() -> bool:
                return total(await _scrape(server.http), "linli_connections") == len(clients)

            await wait_until(all_counted, timeout=15, interval=0.5)
        finally:
            for client in clients:
                await client.close()
    finally:
        await server.stop()


async def test_readyz_follows_redis(scaled: Deployment, redis_binary: str) -> None:  # noqa: F811
    port = free_port()
    own = RedisServer(redis_binary, port)
    await own.start()
    deployment = dataclasses.replace(scaled, redis_url=f"redis://127.0.0.1:{port}/0")
    store = await deployment.store()  # migrates
    await store.close()
    try:
        async with running(deployment) as server, httpx.AsyncClient(base_url=server.http) as http:
            assert (await http.get("/readyz")).status_code == 200
            own.kill()

            async def unready() -> bool:
                r = await http.get("/readyz")
                return r.status_code == 503 and r.json()["redis"] is False

            await wait_until(unready, timeout=20, interval=0.3)
            assert (await http.get("/healthz")).status_code == 200  # alive all the same
            await own.start()

            async def ready() -> bool:
                return (await http.get("/readyz")).status_code == 200

            await wait_until(ready, timeout=30, interval=0.3)
    finally:
        own.kill()


def test_the_grafana_dashboard_asks_only_for_metrics_linli_has() -> None:
    """Every metric the shipped dashboard queries is one /metrics exposes (names as in
    docs/operations.md's table)."""
    import json
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    dashboard = json.loads((root / "docs" / "grafana-dashboard.json").read_text())
    asked = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"linli_[a-z_]+", target["expr"])
    }
    source = (root / "linli" / "metrics.py").read_text()
    known = set(re.findall(r'"(linli_[a-z_]+)"', source))
    suffixed = {f"{n}_total" for n in known} | {f"{n}_bucket" for n in known} | known
    assert asked and asked <= suffixed, asked - suffixed

"""The README's first command: ``linli serve --demo`` (what ``make demo`` runs) seeds a demo
neighbourhood with every feature populated, in both modes, and seeding again changes nothing.
Each feature's demo content is checked where its pages are: the demo logins work, and each
page a demo user opens has the demo's content."""

from __future__ import annotations

import httpx
import pytest

from linli.demo import DEMO_PASSWORD, PEOPLE, seed_demo
from tests.e2e.harness import Deployment, Server

pytestmark = pytest.mark.timeout(180)


async def test_the_demo_has_every_feature_populated(deployment: Deployment) -> None:
    env = {"LINLI_AUTO_MIGRATE": "true"}
    if deployment.mode == "scaled":
        env["LINLI_RUN_WORKERS"] = "true"
    server = await Server(deployment, "--demo", **env).start(timeout=60)
    try:
        async with httpx.AsyncClient(base_url=server.http) as http:
            for username, *_ in PEOPLE:
                r = await http.post(
                    "/api/login", json={"username": username, "password": DEMO_PASSWORD}
                )
                assert r.status_code == 200, (username, r.text)
        jars: dict[str, httpx.AsyncClient] = {}

        async def as_(username: str) -> httpx.AsyncClient:
            if username not in jars:
                client = httpx.AsyncClient(base_url=server.http)
                r = await client.post(
                    "/api/login", json={"username": username, "password": DEMO_PASSWORD}
                )
                assert r.status_code == 200
                jars[username] = client
            return jars[username]

        try:
            chan = await as_("chan")
            inbox = (await chan.get("/api/notifications")).json()
            assert inbox["notifications"], "chan's inbox is empty"
            lam = await as_("lam")
            figures = (await lam.get("/api/figures?period=month")).json()
            rows = {r["key"]: r["values"][-1] for r in figures["rows"]}
            assert isinstance(rows["residents"], int) and rows["residents"] >= 30
            assert isinstance(rows["active"], int) and rows["active"] >= 5
            # Each feature's slice is on the page: requests against the plan's 80 %, the
            # monthly satisfaction survey.
            targets = {r["key"]: r["target"] for r in figures["rows"]}
            assert targets["requests.resolved_365"] == 0.8
            filed = next(r["values"] for r in figures["rows"] if r["key"] == "requests.filed")
            assert sum(filed) >= 12  # the demo's requests, over the last six months
            assert "surveys.satisfaction" in targets
            published = next(
                r["values"] for r in figures["rows"] if r["key"] == "notices.published"
            )
            assert sum(published) >= 3  # the water cut, the finance report, the lift notice
            for page in ("/", "/groups", "/polls", "/inbox", "/help"):
                assert (await chan.get(page)).status_code == 200, page
            assert (await lam.get("/figures")).status_code == 200
            # Notices: chan's household has not confirmed the urgent water cut (her banner);
            # the finance report has its PDF; the lift notice expired into the archive.
            banner = (await chan.get("/api/notices/banner")).json()["urgent"]
            assert [b["requires_ack"] for b in banner] == [True]
            listed = (await chan.get("/api/notices")).json()["notices"]
            finance = next(n for n in listed if n["category_id"] != 1)
            files = (await chan.get(f"/api/notices/{finance['id']}")).json()["attachments"]
            pdf = await chan.get(files[0]["url"])
            assert pdf.headers["content-type"] == "application/pdf"
            assert pdf.content.startswith(b"%PDF-")
            ho = await as_("ho")
            reach = (await ho.get(f"/api/notices/{banner[0]['id']}/reach")).json()["reach"]
            assert reach["acknowledged"] == 1 and reach["reached"] >= 1
            archive = (await ho.get("/api/notices?archive=1")).json()["notices"]
            assert "expired" in {n["state"] for n in archive}
            for page in ("/notices", f"/notices/{finance['id']}", "/notices/archive"):
                assert (await chan.get(page)).status_code == 200, page
            # Requests: an overdue one in the office's queue; chan's private complaint and
            # closed, rated lift repair; figures with every kind of count.
            ho = await as_("ho")
            queue = (await ho.get("/api/requests/queue?order=overdue")).json()["requests"]
            assert queue[0]["overdue"], queue[0]
            mine = (await chan.get("/api/requests/mine")).json()["requests"]
            assert any(r["private"] for r in mine)
            assert any(r["status"] == "closed" for r in mine)
            total = (await ho.get("/api/requests/figures")).json()["figures"]["total"]
            assert total["filed"] >= 12 and total["overdue"] >= 1 and total["ratings"] >= 3
            assert (total["rejected"], total["merged"]) == (1, 1)
            for page in ("/requests", "/requests/queue", "/requests/figures"):
                assert (await ho.get(page)).status_code == 200, page
            assert (await chan.get("/requests")).status_code == 200
        finally:
            for client in jars.values():
                await client.aclose()
    finally:
        await server.stop()
    # Seeding again (a second `make demo`) finds the demo there and changes nothing.
    store = await deployment.store()
    try:
        before = await store.database.fetchval("SELECT count(*) FROM users")
        assert await seed_demo(store) is False
        assert await store.database.fetchval("SELECT count(*) FROM users") == before
    finally:
        await store.close()

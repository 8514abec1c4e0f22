"""The community's figures end to end, in both modes: a login, a page and a WebSocket connection
reach the activity rollup through the metrics worker (a task when embedded, ``linli worker
metrics`` with the scaled mode's workers), and show on /figures for the committee; residents are
refused the page and the API; bad queries get their codes."""

from __future__ import annotations

import csv
import io
import time

import httpx
import pytest

from persistence.activity.sql import SqlActivityStore
from persistence.store import Role
from tests.conftest import wait_until
from tests.e2e.harness import PASSWORD, Client, Deployment, login, running, seed

pytestmark = pytest.mark.timeout(120)


async def test_activity_reaches_the_figures_and_only_staff_see_them(
    deployment: Deployment,
) -> None:
    hood = await seed(deployment)
    store = await deployment.store()
    try:
        from web.passwords import hash_password

        await store.create_user(
            username="lam", display_name="Lam", password_hash=await hash_password(PASSWORD),
            role=Role.COMMITTEE, building_id=None, unit_label=None,
            now=int(time.time() * 1000),
        )  # fmt: skip
    finally:
        await store.close()
    env = {"LINLI_RUN_WORKERS": "true"} if deployment.mode == "scaled" else {}
    async with running(deployment, **env) as server:
        cookies = {name: await login(server, name) for name in ("ann", "amy", "bob", "lam")}
        client = await Client.connect(server, cookies["bob"])
        await client.close()

        async def rolled_up() -> bool:
            s = await deployment.store()
            try:
                days = await SqlActivityStore(s.database).days("2000-01-01", "2999-12-31")
            finally:
                await s.close()
            return {d.user_id for d in days} >= {hood.users[n] for n in ("ann", "amy", "bob")}

        await wait_until(rolled_up, timeout=30, interval=0.2)

        def as_(name: str | None) -> httpx.AsyncClient:
            jar = {"linli_session": cookies[name]} if name else {}
            return httpx.AsyncClient(base_url=server.http, cookies=jar)

        async with as_("ann") as resident, as_("lam") as http, as_(None) as nobody:
            page = await resident.get("/figures")
            assert page.status_code == 403
            api = await resident.get("/api/figures")
            assert api.status_code == 403 and api.json()["error"]["code"] == "forbidden"
            assert (await nobody.get("/api/figures")).status_code == 401

            got = (await http.get("/api/figures?period=day")).json()
            rows = {r["key"]: r["values"][-1] for r in got["rows"]}
            # Three residents registered and active today: under five, so not shown.
            assert rows["residents"] == "< 5" and rows["active"] == "< 5"
            assert rows["chat_posts"] == 0
            assert "moderation.flags" in rows  # the moderation feature's figures are there

            bad = await http.get("/api/figures?period=year")
            assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
            missing = await http.get("/api/figures?building=99999")
            assert missing.status_code == 404

            page = await http.get(
                f"/figures?period=week&building={hood.building_a}",
                headers={"Accept-Language": "en"},
            )
            assert page.status_code == 200
            assert "Daily active share" in page.text and "<svg" in page.text

            exported = await http.get("/api/figures.csv?period=month")
            assert exported.headers["content-type"].startswith("text/csv")
            table = list(csv.reader(io.StringIO(exported.text.lstrip("\ufeff"))))
            assert table[0][0] == "key" and len(table[0]) == 2 + 6
            assert any(r[0] == "dau_share" for r in table)

"""The forum's figures, measured on the real server (the issue's closing note asks for them):
the topic API's time for a page of a 1,000-reply topic, and the time from a reply's POST to an
open reader receiving it (p50, p99). Printed, and bounded loosely so a regression by an order of
magnitude fails. Both modes; every loop bounded in count and time."""

from __future__ import annotations

import statistics
import time

import httpx
import pytest

from linli import richtext
from persistence.forum import CategoryDraft
from persistence.forum.sql import SqlForumStore
from tests.e2e.harness import Client, Deployment, running, seed
from web.sessions import new_token, token_hash

pytestmark = pytest.mark.timeout(240)

REPLIES = 1_000
PAGE_LOADS = 40
LIVE_REPLIES = 100


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def test_topic_page_and_reply_latency(deployment: Deployment) -> None:
    hood = await seed(deployment)
    store = await deployment.store()
    now = int(time.time() * 1000)
    try:
        forum = SqlForumStore(store.database)
        category = await forum.create_category(
            CategoryDraft(slug="big", name_zh="大", name_en="Big", scope="all"), now=now
        )
        topic, _ = await forum.create_topic(
            category.id, title="Long one", author_id=hood.users["ann"], source="start",
            html="<p>start</p>", client_id="big-0", now=now,
        )  # fmt: skip
        html = richtext.render("A reply of ordinary length, **with** a little Markdown. " * 3)
        for i in range(REPLIES):
            await forum.add_reply(
                topic.id, author_id=hood.users["amy" if i % 2 else "bob"], source="x",
                html=html, client_id=f"big-{i + 1}", now=now + i,
            )  # fmt: skip
        cookies = {}
        for name in ("ann", "amy"):
            token = new_token()
            await store.create_session(
                token_hash(token), hood.users[name], expires_at=now + 86_400_000, now=now
            )
            cookies[name] = token
    finally:
        await store.close()
    env = {"LINLI_RUN_WORKERS": "true"} if deployment.mode == "scaled" else {}
    async with running(deployment, **env) as server:
        async with httpx.AsyncClient(
            base_url=server.http, cookies={"linli_session": cookies["amy"]}, timeout=30
        ) as amy:
            times = []
            for i in range(PAGE_LOADS):
                page = 1 + (i * 7) % 21  # pages across the whole topic, the last one included
                started = time.perf_counter()
                response = await amy.get(f"/api/forum/topics/{topic.id}?page={page}")
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
                assert len(response.json()["posts"]) == (50 if page < 21 else 1)
            page_p50, page_p99 = statistics.median(times), _p(times, 0.99)
            reader = await Client.connect(server, cookies["ann"])
            try:
                await reader.ok("subscribe", channel=f"topic:{topic.id}")
                latencies = []
                for i in range(LIVE_REPLIES):
                    started = time.perf_counter()
                    response = await amy.post(
                        f"/api/forum/topics/{topic.id}/replies",
                        json={"text": f"live {i}", "client_id": f"live-{i}"},
                    )
                    assert response.status_code == 201, response.text
                    number = response.json()["post"]["number"]
                    while True:
                        push = await reader.push("pub", timeout=10)
                        if push["data"].get("post", {}).get("number") == number:
                            break
                    latencies.append((time.perf_counter() - started) * 1000)
            finally:
                await reader.close()
    live_p50, live_p99 = statistics.median(latencies), _p(latencies, 0.99)
    print(
        f"\n[{deployment.mode}] topic of {REPLIES + 1} posts, a page of 50: "
        f"p50 {page_p50:.1f} ms, p99 {page_p99:.1f} ms ({PAGE_LOADS} loads)"
        f"\n[{deployment.mode}] reply POST -> other reader: p50 {live_p50:.1f} ms, "
        f"p99 {live_p99:.1f} ms ({LIVE_REPLIES} replies)"
    )
    assert page_p99 < 2_000 and live_p99 < 2_000

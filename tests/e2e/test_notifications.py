"""Notifications end to end, in both modes on the real server: a poll opened in Block A puts a
notification in the inbox of exactly Block A's residents (not the organiser who opened it, not
Block B), their open pages hear the new unread count live, and reading it on one device clears
the count on the other."""

from __future__ import annotations

import time

import httpx

from persistence.notifications.sql import SqlNotificationStore
from persistence.store import Role
from tests.conftest import wait_until
from tests.e2e.harness import PASSWORD, Client, Deployment, login, running, seed


async def _organiser(deployment: Deployment, building_id: int) -> int:
    from web.passwords import hash_password

    store = await deployment.store()
    try:
        user = await store.create_user(
            username="wong",
            display_name="Wong",
            password_hash=await hash_password(PASSWORD),
            role=Role.ORGANISER,
            building_id=building_id,
            unit_label="9F",
            now=int(time.time() * 1000),
        )
        return user.id
    finally:
        await store.close()


async def test_an_opened_poll_reaches_exactly_its_building_live(deployment: Deployment) -> None:
    hood = await seed(deployment)
    wong = await _organiser(deployment, hood.building_a)
    async with running(deployment, LINLI_RUN_WORKERS="true") as server:
        ann_cookie = await login(server, "ann")
        phone = await Client.connect(server, ann_cookie)
        laptop = await Client.connect(server, ann_cookie)
        bob = await Client.connect(server, await login(server, "bob"))
        async with httpx.AsyncClient(
            base_url=server.http, cookies={"linli_session": await login(server, "wong")}
        ) as organiser:
            made = await organiser.post(
                "/api/polls",
                json={
                    "channel": f"building:{hood.building_a}",
                    "question": "換大堂燈?",
                    "options": ["好", "不好"],
                },
            )
            assert made.status_code == 201, made.text
            poll_id = made.json()["poll"]["id"]
            opened = await organiser.post(f"/api/polls/{poll_id}/open", json={})
            assert opened.status_code == 200, opened.text

        for device in (phone, laptop):
            push = await device.push("inbox", timeout=10)
            assert push["unread"] == 1
            assert push["latest"]["text_zh"] == "新投票：換大堂燈?"
            assert push["latest"]["link"] == f"/polls/{poll_id}"

        store = await deployment.store()
        try:
            notifications = SqlNotificationStore(store.database)
            reached = set(await notifications.recipients(f"poll:{poll_id}:open"))
        finally:
            await store.close()
        assert reached == {hood.users["ann"], hood.users["amy"]}
        assert wong not in reached and hood.users["bob"] not in reached

        async with httpx.AsyncClient(
            base_url=server.http, cookies={"linli_session": ann_cookie}
        ) as ann:
            listed = (await ann.get("/api/notifications")).json()
            assert listed["unread"] == 1
            [item] = listed["notifications"]
            assert item["kind"] == "poll" and item["read"] is False
            assert item["text"] == {"zh-Hant": "新投票：換大堂燈?", "en": "New poll: 換大堂燈?"}
            read = await ann.post("/api/notifications/read", json={"ids": [item["id"]]})
            assert read.json() == {"changed": 1, "unread": 0}
            # Read on the laptop: the phone's count goes to 0 too.
            assert (await phone.push("inbox", timeout=10))["unread"] == 0
            assert (await laptop.push("inbox", timeout=10))["unread"] == 0
            assert (await ann.get("/api/notifications/unread")).json() == {"unread": 0}

        async with httpx.AsyncClient(
            base_url=server.http, cookies={"linli_session": await login(server, "bob")}
        ) as bob_http:
            assert (await bob_http.get("/api/notifications")).json() == {
                "notifications": [],
                "unread": 0,
            }
        assert not [m for m in bob.drain() if m.get("push") == "inbox"]

        # Opening is idempotent per poll: the same key reaches nobody twice.
        async def settled() -> bool:
            store = await deployment.store()
            try:
                counts = await SqlNotificationStore(store.database).unread_counts(
                    [hood.users["amy"]]
                )
            finally:
                await store.close()
            return counts[hood.users["amy"]] == 1

        await wait_until(settled, timeout=5)
        for client in (phone, laptop, bob):
            await client.close()

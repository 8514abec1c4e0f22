"""Chat mentions and followed rooms end to end, in both modes on the real server, with real
WebSocket clients: a message that mentions members (Chinese names inside a sentence, no spaces)
notifies exactly them, a message in a followed room notifies the followers who may read it, a
mute silences both, the author is never notified, and someone both mentioned and following gets
one notification, the mention."""

from __future__ import annotations

import time
from typing import Any

import httpx

from persistence.notifications.sql import SqlNotificationStore
from persistence.store import Role
from tests.conftest import wait_until
from tests.e2e.harness import Client, Deployment, Server, running, seed
from web.sessions import new_token, token_hash


async def _people(deployment: Deployment) -> tuple[int, int, dict[str, tuple[int, str]]]:
    """seed()'s neighbourhood plus three residents of Block A with Chinese names (陳太 and 陳太太
    share a prefix), each with a session: username -> (user id, cookie). 陳太 also gardens."""
    hood = await seed(deployment)
    store = await deployment.store()
    try:
        now = int(time.time() * 1000)
        for username, display, unit in (
            ("chan", "陳太", "3B"),
            ("chantt", "陳太太", "3C"),
            ("lee", "李生", "5D"),
        ):
            user = await store.create_user(
                username=username,
                display_name=display,
                password_hash="-",
                role=Role.RESIDENT,
                building_id=hood.building_a,
                unit_label=unit,
                now=now,
            )
            hood.users[username] = user.id
        await store.join_group(hood.users["chan"], "gardening", now=now)
        people = {}
        for username, user_id in hood.users.items():
            token = new_token()
            await store.create_session(
                token_hash(token), user_id, expires_at=now + 86_400_000, now=now
            )
            people[username] = (user_id, token)
        return hood.building_a, hood.building_b, people
    finally:
        await store.close()


async def _rows(deployment: Deployment) -> set[tuple[int, str, str]]:
    """Every inbox row: (user, source key, kind)."""
    store = await deployment.store()
    try:
        rows = await store.database.fetch("SELECT user_id, source_key, kind FROM notifications")
    finally:
        await store.close()
    return {(r["user_id"], r["source_key"], r["kind"]) for r in rows}


async def _set_room(server: Server, cookie: str, channel: str, mode: str | None) -> None:
    async with httpx.AsyncClient(base_url=server.http, cookies={"linli_session": cookie}) as client:
        response = await client.post(
            "/api/notifications/rooms", json={"channel": channel, "mode": mode}
        )
        assert response.status_code == 200, response.text


async def test_mentions_and_followed_rooms_notify_exactly_the_right_people(
    deployment: Deployment,
) -> None:
    block_a, block_b, people = await _people(deployment)
    uid = {name: user_id for name, (user_id, _) in people.items()}
    room_a, room_b, garden = f"building:{block_a}", f"building:{block_b}", "group:gardening"
    async with running(deployment, LINLI_RUN_WORKERS="true") as server:
        # Amy follows Block A; 陳太太 follows it and will be mentioned as well; 李生 muted it; the
        # author follows her own room; mo (a moderator, no building) may read every room and
        # follows it; Bob lives in Block B and follows Block A, which he may not read.
        for name, mode in (
            ("amy", "follow"),
            ("chantt", "follow"),
            ("lee", "mute"),
            ("ann", "follow"),
            ("mo", "follow"),
            ("bob", "follow"),
        ):
            await _set_room(server, people[name][1], room_a, mode)

        chan = await Client.connect(server, people["chan"][1])
        ann = await Client.connect(server, people["ann"][1], fmt="msgpack")
        bob = await Client.connect(server, people["bob"][1])

        async def say(client: Client, channel: str, text: str, cmid: str) -> int:
            ack: dict[str, Any] = await client.ok(
                "publish", channel=channel, text=text, client_msg_id=cmid
            )
            return int(ack["offset"])

        first = await say(ann, room_a, "早晨！@陳太今日收水費，@李生記得交，@陳太太都係", "m1")
        own = await say(ann, room_a, "@Ann 自己提自己", "m2")
        elsewhere = await say(bob, room_b, "@陳太 你喺邊？", "m3")
        gardening = await say(ann, garden, "@陳太@李生 種番茄", "m4")
        last = await say(ann, room_a, "@陳太 收到", "m5")

        # Live: 陳太's page hears of the mention at once, with the text and the room's link.
        push = await chan.push("inbox", timeout=15)
        assert push["latest"]["kind"] == "mention"
        assert push["latest"]["text_zh"] == (
            "Ann在 Block A 提到你：早晨！@陳太今日收水費，@李生記得交，@陳太太都係"
        )
        assert push["latest"]["text_en"] == (
            "Ann mentioned you in Block A: 早晨！@陳太今日收水費，@李生記得交，@陳太太都係"
        )
        assert push["latest"]["link"] == f"/#{room_a}"

        # The workers take every message in order: once the last one's row exists, all are done.
        last_key = f"chat:{room_a}:{last}"

        async def settled() -> bool:
            return (uid["chan"], last_key, "mention") in await _rows(deployment)

        await wait_until(settled, timeout=20)

        def key(channel: str, offset: int) -> str:
            return f"chat:{channel}:{offset}"

        followers = {"amy", "mo"}  # who may read Block A, follow it, and are not silenced
        expected = {
            # m1: the mentioned members, 陳太太 once (the mention); 李生 muted; the followers.
            (uid["chan"], key(room_a, first), "mention"),
            (uid["chantt"], key(room_a, first), "mention"),
            *((uid[n], key(room_a, first), "chat") for n in followers),
            # m2: the author mentioned herself and follows the room: nothing for her.
            *((uid[n], key(room_a, own), "chat") for n in {*followers, "chantt"}),
            # m3: 陳太 is no member of Block B, and nobody follows it: nothing.
            # m4: in the group, only its member 陳太 (李生 is no gardener).
            (uid["chan"], key(garden, gardening), "mention"),
            # m5
            (uid["chan"], key(room_a, last), "mention"),
            *((uid[n], key(room_a, last), "chat") for n in {*followers, "chantt"}),
        }
        assert await _rows(deployment) == expected
        assert elsewhere > 0

        # Their inboxes say the same, in both languages, linking to the room.
        async with httpx.AsyncClient(
            base_url=server.http, cookies={"linli_session": people["amy"][1]}
        ) as amy:
            listed = (await amy.get("/api/notifications")).json()
        assert listed["unread"] == 3
        newest = listed["notifications"][0]
        assert newest["kind"] == "chat" and newest["link"] == f"/#{room_a}"
        assert newest["text"] == {
            "zh-Hant": "Ann在 Block A：@陳太 收到",
            "en": "Ann in Block A: @陳太 收到",
        }

        # Bob's page heard nothing (he follows a room he cannot read), nor did the author's.
        assert not [m for m in bob.drain() if m.get("push") == "inbox"]
        assert not [m for m in ann.drain() if m.get("push") == "inbox"]
        for client in (chan, ann, bob):
            await client.close()

        store = await deployment.store()
        try:
            reached = await SqlNotificationStore(store.database).recipients(key(room_a, first))
        finally:
            await store.close()
        assert reached == sorted(uid[n] for n in ("chan", "chantt", "amy", "mo"))


async def test_a_mute_silences_mentions_and_unfollowing_stops_follows(
    deployment: Deployment,
) -> None:
    block_a, _, people = await _people(deployment)
    uid = {name: user_id for name, (user_id, _) in people.items()}
    room = f"building:{block_a}"
    async with running(deployment, LINLI_RUN_WORKERS="true") as server:
        await _set_room(server, people["lee"][1], room, "mute")
        await _set_room(server, people["amy"][1], room, "follow")
        ann = await Client.connect(server, people["ann"][1])
        ack = await ann.ok("publish", channel=room, text="@李生 @Amy 開會", client_msg_id="a1")
        first = f"chat:{room}:{ack['offset']}"

        async def amy_has(key: str, kind: str) -> bool:
            return (uid["amy"], key, kind) in await _rows(deployment)

        await wait_until(lambda: amy_has(first, "mention"), timeout=20)
        # Back to the defaults: 李生 hears of mentions again, Amy of nothing but mentions.
        await _set_room(server, people["lee"][1], room, None)
        await _set_room(server, people["amy"][1], room, None)
        ack = await ann.ok("publish", channel=room, text="冇人提", client_msg_id="a2")
        quiet = f"chat:{room}:{ack['offset']}"
        ack = await ann.ok("publish", channel=room, text="@李生 而家得", client_msg_id="a3")
        second = f"chat:{room}:{ack['offset']}"

        async def lee_has() -> bool:
            return (uid["lee"], second, "mention") in await _rows(deployment)

        await wait_until(lee_has, timeout=20)
        assert await _rows(deployment) == {
            (uid["amy"], first, "mention"),
            (uid["lee"], second, "mention"),
        }
        assert quiet != second
        await ann.close()

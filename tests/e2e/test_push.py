"""Web Push end to end, against a push service the test runs itself (``push_service.py``), which
checks every VAPID token and decrypts every payload as the phone would: no part of the push
path is mocked.

* Both modes, the real server: residents register devices through the API; opening a poll in
  Block A pushes to each of their devices exactly once with the right text; a device whose push
  service answers 410 is removed and its delivery is ``gone``; a 500 (Retry-After: 1) is tried
  again and sent.
* The workers on a manual clock (``ManualClock``): a non-urgent push during quiet hours is held
  until they end, an urgent one is not, and the other answers of a push service (400, 429, no
  answer at all) end as failed or retried as design 0013 says.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from gateway.notifications.events import AudienceSpec, NotifyRequest
from linli.clock import ManualClock
from linli.config import load_settings
from linli.runtime import Runtime, open_runtime
from persistence.notifications import Channel, Digest, Kind
from persistence.notifications.sql import SqlNotificationStore
from persistence.store import Role
from tests.conftest import free_port, wait_until
from tests.e2e.harness import PASSWORD, Deployment, Server, login, running, seed
from tests.e2e.push_service import Device, PushService, b64url
from web.notifications import actions
from web.notifications.push_api import push_titles
from workers.deliver import DeliveryWorker
from workers.deliver_push import TTL_SECONDS, URGENT_TTL_SECONDS, PushSender
from workers.notify import NotifyWorker

ICON = "/static/icons/icon-192.png"
POLL_TITLE = {"zh-Hant": "鄰里 · 投票", "en": "Linli · Poll"}


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


@contextlib.asynccontextmanager
async def _http(server: Server, username: str | None) -> AsyncIterator[httpx.AsyncClient]:
    cookies = {"linli_session": await login(server, username)} if username else {}
    async with httpx.AsyncClient(base_url=server.http, cookies=cookies) as client:
        yield client


async def _deliveries(deployment: Deployment) -> dict[str, tuple[str, int, str | None]]:
    """target -> (state, attempts, last_error) of every push delivery."""
    store = await deployment.store()
    try:
        rows = await store.database.fetch(
            "SELECT target, state, attempts, last_error FROM notify_deliveries "
            "WHERE channel = 'push' ORDER BY id"
        )
    finally:
        await store.close()
    return {r["target"]: (r["state"], r["attempts"], r["last_error"]) for r in rows}


async def _refusals(ann: httpx.AsyncClient, service: PushService) -> None:
    """What the API does not take: each answer names the field."""
    good = service.device("unused").subscription("x")

    def variant(**changes: Any) -> dict[str, Any]:
        keys = {**good["keys"], **changes.pop("keys", {})}
        return {**good, **changes, "keys": keys}

    not_on_curve = b64url(b"\x04" + b"\x01" * 64)
    for body, field in (
        (variant(endpoint="http://push.example.com/x"), "endpoint"),  # plain http elsewhere
        (variant(endpoint="https://10.0.0.7/push/x"), "endpoint"),  # an address, not a host
        (variant(endpoint="ftp://push.example.com/x"), "endpoint"),
        (variant(keys={"p256dh": b64url(b"\x04" + b"\x01" * 63)}), "p256dh"),  # 64 bytes
        (variant(keys={"p256dh": not_on_curve}), "p256dh"),
        (variant(keys={"p256dh": "not base64!"}), "p256dh"),
        (variant(keys={"auth": b64url(b"\x00" * 8)}), "auth"),
        ({"endpoint": good["endpoint"], "label": "no keys"}, "keys"),
    ):
        answer = await ann.post("/api/push/subscriptions", json=body)
        assert answer.status_code == 400, (field, answer.text)
        assert answer.json()["error"]["field"] == field, answer.text


async def test_a_poll_reaches_every_device_once_by_web_push(deployment: Deployment) -> None:
    hood = await seed(deployment)
    await _organiser(deployment, hood.building_a)
    async with (
        PushService() as service,
        running(deployment, LINLI_RUN_WORKERS="true", LINLI_PUSH_ALLOW_INSECURE="true") as server,
        _http(server, "ann") as ann,
        _http(server, "amy") as amy,
        _http(server, "wong") as wong,
        _http(server, None) as nobody,
    ):
        phone = service.device("ann-phone")
        tablet = service.device("ann-tablet", then=410)  # the app was removed from it
        laptop = service.device("amy-laptop", 500, retry_after="1")

        key = (await nobody.get("/api/push/key")).json()["public_key"]
        assert (await ann.get("/api/push/key")).json() == {"public_key": key}  # kept
        assert (await nobody.get("/api/push/subscriptions")).status_code == 401
        await _refusals(ann, service)

        ids = {}
        for client, device, label in (
            (ann, phone, "Android Chrome"),
            (ann, tablet, "iPad Safari"),
            (amy, laptop, "Windows Edge"),
        ):
            # Nights fall in Taipei while tests run: no quiet hours for these residents.
            quiet = await client.post(
                "/api/notifications/prefs", json={"quiet": {"start": 0, "end": 0}}
            )
            assert quiet.status_code == 200, quiet.text
            added = await client.post("/api/push/subscriptions", json=device.subscription(label))
            assert added.status_code == 201, added.text
            stored = added.json()["subscription"]
            assert stored["label"] == label and stored["endpoint"] == device.endpoint
            assert stored["last_ok_at"] is None
            ids[device.name] = stored["id"]
        # Only your own device can be removed.
        theirs = await amy.post(f"/api/push/subscriptions/{ids['ann-phone']}/delete", json={})
        assert theirs.status_code == 404 and theirs.json()["error"]["code"] == "not_found"

        made = await wong.post(
            "/api/polls",
            json={
                "channel": f"building:{hood.building_a}",
                "question": "換大堂燈?",
                "options": ["好", "不好"],
            },
        )
        assert made.status_code == 201, made.text
        poll_id = made.json()["poll"]["id"]
        assert (await wong.post(f"/api/polls/{poll_id}/open", json={})).status_code == 200

        # phone, tablet (410), laptop twice (500, then 201 a second later).
        await service.wait_for(4)
        await asyncio.sleep(2.5)  # nothing more comes: one push per device
        assert service.refused == []
        assert [r.status for r in service.pushes(phone)] == [201]
        assert [r.status for r in service.pushes(tablet)] == [410]
        assert [r.status for r in service.pushes(laptop)] == [500, 201]
        retried = service.pushes(laptop)
        assert retried[1].at - retried[0].at >= 0.9  # Retry-After: 1 was honoured

        [ann_item] = (await ann.get("/api/notifications")).json()["notifications"]
        [amy_item] = (await amy.get("/api/notifications")).json()["notifications"]
        for device, item in ((phone, ann_item), (tablet, ann_item), (laptop, amy_item)):
            for push in service.pushes(device):
                assert push.payload == {
                    "id": item["id"],
                    "kind": "poll",
                    "urgent": False,
                    "title": POLL_TITLE,
                    "body": {"zh-Hant": "新投票：換大堂燈?", "en": "New poll: 換大堂燈?"},
                    "link": f"/polls/{poll_id}",
                    "icon": ICON,
                }
                assert push.headers["Topic"] == str(item["id"])
                assert push.headers["Urgency"] == "normal"
                assert push.headers["TTL"] == str(TTL_SECONDS)
                assert push.public_key == key
                assert push.claims["sub"] == "mailto:admin@localhost"

        async def settled() -> bool:
            found = await _deliveries(deployment)
            return all(state != "pending" for state, _, _ in found.values()) and len(found) == 3

        await wait_until(settled, timeout=10)
        found = await _deliveries(deployment)
        assert {t: (s, a) for t, (s, a, _) in found.items()} == {
            f"push:{ids['ann-phone']}": ("sent", 1),
            f"push:{ids['ann-tablet']}": ("gone", 1),
            f"push:{ids['amy-laptop']}": ("sent", 2),
        }
        assert "410" in (found[f"push:{ids['ann-tablet']}"][2] or "")

        # The tablet is forgotten; the phone is known to work.
        [left] = (await ann.get("/api/push/subscriptions")).json()["subscriptions"]
        assert left["id"] == ids["ann-phone"] and left["label"] == "Android Chrome"
        assert left["last_ok_at"] is not None
        reach = (await wong.get(f"/api/notifications/reach?source=poll:{poll_id}:open")).json()
        assert reach["deliveries"] == {"push:sent": 2, "push:gone": 1}
        assert reach["by_push"] == reach["units"]

        # Removing a device: gone from the list, and a second removal finds nothing.
        removed = await ann.post(f"/api/push/subscriptions/{ids['ann-phone']}/delete", json={})
        assert removed.json() == {"removed": ids["ann-phone"]}
        assert (await ann.get("/api/push/subscriptions")).json() == {"subscriptions": []}
        again = await ann.post(f"/api/push/subscriptions/{ids['ann-phone']}/delete", json={})
        assert again.status_code == 404


# -- the workers on a manual clock ------------------------------------------------------------

TAIPEI = ZoneInfo("Asia/Taipei")


def _taipei_ms(year: int, month: int, day: int, hour: int, minute: int) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=TAIPEI).timestamp() * 1000)


class Bench:
    """The notify and delivery workers over one SQLite database, on a manual clock, sending to
    the test's push service."""

    def __init__(self, runtime: Runtime, clock: ManualClock, service: PushService) -> None:
        self.runtime, self.clock, self.service = runtime, clock, service
        self.store = SqlNotificationStore(runtime.database)
        self.notifier = NotifyWorker(
            runtime.work_queue, self.store, runtime.broker, zone=TAIPEI, clock=clock
        )
        sender = PushSender(self.store, runtime.settings, push_titles(), clock=clock)
        self.deliverer = DeliveryWorker(self.store, {Channel.PUSH: sender}, clock=clock)

    async def user(self, name: str) -> int:
        now = self.clock.now_ms()
        building = await self.runtime.store.create_building(f"Block {name}", now=now)
        user = await self.runtime.store.create_user(
            username=name,
            display_name=name,
            password_hash="-",
            role=Role.RESIDENT,
            building_id=building.id,
            unit_label="1A",
            now=now,
        )
        return user.id

    async def subscribe(self, user_id: int, device: Device) -> int:
        sub = device.subscription("test")
        added = await actions.add_push_subscription(
            self.runtime,
            user_id,
            endpoint=sub["endpoint"],
            p256dh=sub["keys"]["p256dh"],
            auth=sub["keys"]["auth"],
            label="test",
        )
        return added.id

    async def notify(self, key: str, user_ids: list[int], *, urgent: bool = False) -> None:
        await self.notifier.notify(
            NotifyRequest(
                key=key,
                kind=Kind.NOTICE,
                text_zh="明天停水",
                text_en="Water off tomorrow",
                link="/notices/1",
                audience=AudienceSpec(user_ids=user_ids),
                urgent=urgent,
            )
        )

    async def deliveries(self) -> dict[str, tuple[str, int, int, str | None]]:
        rows = await self.runtime.database.fetch(
            "SELECT n.source_key, d.target, d.state, d.due_at, d.attempts, d.last_error "
            "FROM notify_deliveries d JOIN notifications n ON n.id = d.notification_id"
        )
        return {
            f"{r['source_key']} {r['target']}": (
                r["state"],
                r["due_at"],
                r["attempts"],
                r["last_error"],
            )
            for r in rows
        }


@contextlib.asynccontextmanager
async def _bench(tmp_path: Path, start_ms: int) -> AsyncIterator[Bench]:
    clock = ManualClock(start_ms)
    settings = load_settings(
        {
            "LINLI_DATABASE_URL": f"sqlite:///{tmp_path}/bench.sqlite3",
            "LINLI_PUSH_ALLOW_INSECURE": "true",
            "LINLI_TIME_ZONE": "Asia/Taipei",
        }
    )
    async with (
        PushService(now=lambda: clock.now_ms() / 1000) as service,
        open_runtime(settings, migrate_first=True) as runtime,
    ):
        runtime.clock = clock
        bench = Bench(runtime, clock, service)
        try:
            yield bench
        finally:
            for sender in bench.deliverer.senders.values():
                await sender.close()


async def test_quiet_hours_hold_a_push_until_they_end(tmp_path: Path) -> None:
    night = _taipei_ms(2026, 3, 10, 23, 30)
    morning = _taipei_ms(2026, 3, 11, 7, 0)
    async with _bench(tmp_path, night) as bench:
        sleeper = await bench.user("sleeper")  # the default quiet hours, 22:00-07:00
        owl = await bench.user("owl")  # no quiet hours of their own
        await actions.save_settings(
            bench.runtime, owl, quiet_start=0, quiet_end=0, email=None, digest=Digest.OFF
        )
        phone = bench.service.device("sleeper-phone")
        owl_phone = bench.service.device("owl-phone")
        sleeper_sub = await bench.subscribe(sleeper, phone)
        owl_sub = await bench.subscribe(owl, owl_phone)

        await bench.notify("notice:1", [sleeper, owl])
        await bench.notify("notice:2", [sleeper], urgent=True)
        assert await bench.deliveries() == {
            f"notice:1 push:{sleeper_sub}": ("pending", morning, 0, None),  # held
            f"notice:1 push:{owl_sub}": ("pending", night, 0, None),
            f"notice:2 push:{sleeper_sub}": ("pending", night, 0, None),  # urgent: now
        }

        assert await bench.deliverer.run_until_idle() == 2
        assert sorted((r.device, r.payload["urgent"]) for r in bench.service.received) == [
            ("owl-phone", False),
            ("sleeper-phone", True),
        ]
        urgent = bench.service.pushes(phone)[0]
        assert urgent.headers["Urgency"] == "high"
        assert urgent.headers["TTL"] == str(URGENT_TTL_SECONDS)
        assert urgent.payload["title"] == {
            "zh-Hant": "鄰里 · 緊急通告",
            "en": "Linli · Urgent notice",
        }
        assert urgent.payload["body"] == {"zh-Hant": "明天停水", "en": "Water off tomorrow"}

        bench.clock.set_now_ms(morning - 60_000)  # 06:59: still quiet
        assert await bench.deliverer.run_until_idle() == 0
        bench.clock.set_now_ms(morning)
        assert await bench.deliverer.run_until_idle() == 1
        held = bench.service.pushes(phone)[1]
        assert held.payload["title"] == {"zh-Hant": "鄰里 · 通告", "en": "Linli · Notice"}
        # The token signed at 23:30 is still good for hours: reused, not signed again.
        assert held.claims["exp"] == night // 1000 + 12 * 3600
        states = {k: v[0] for k, v in (await bench.deliveries()).items()}
        assert set(states.values()) == {"sent"}
        assert bench.service.refused == []


async def test_what_a_push_service_answers_decides_the_outcome(tmp_path: Path) -> None:
    start = _taipei_ms(2026, 3, 10, 12, 0)
    async with _bench(tmp_path, start) as bench:
        user = await bench.user("ann")
        refused = await bench.subscribe(user, bench.service.device("bad-token", then=400))
        busy = await bench.subscribe(user, bench.service.device("busy", 429, retry_after="120"))
        down = bench.service.device("down")
        down.endpoint = f"http://127.0.0.1:{free_port()}/push/nobody-listens"
        unreachable = await bench.subscribe(user, down)
        await bench.notify("notice:9", [user], urgent=True)

        assert await bench.deliverer.run_until_idle() == 3
        found = await bench.deliveries()
        state, _, attempts, error = found[f"notice:9 push:{refused}"]
        assert (state, attempts) == ("failed", 1)
        assert error is not None and error.startswith("push service answered 400")
        # 429 with Retry-After: 120 -> tried again two minutes later, not at the back-off's 5 s.
        assert found[f"notice:9 push:{busy}"][:3] == ("pending", start + 120_000, 1)
        state, due, attempts, error = found[f"notice:9 push:{unreachable}"]
        assert (state, due, attempts) == ("pending", start + 5_000, 1)
        assert error is not None and error.startswith("push service unreachable")

        bench.clock.advance(120)
        assert await bench.deliverer.run_until_idle() == 2  # the busy one and the unreachable
        found = await bench.deliveries()
        assert found[f"notice:9 push:{busy}"][:3] == ("sent", start + 120_000, 2)
        assert sorted(r.status for r in bench.service.received) == [201, 400, 429]
        assert bench.service.refused == []

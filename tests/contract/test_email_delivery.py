"""E-mail through a real SMTP server (``aiosmtpd`` on a free port), over the real store on SQLite
and PostgreSQL: an urgent notice mailed at once, a 451 retried after the back-off and then sent,
a 550 failed with the server's words, an unsubscribe stopping a mail still pending, the daily
and weekly digests (what they list, in both languages; read and unwanted kinds left out;
nothing when empty; never twice for one period), the digest job through the timers worker, and
the retention sweep.

The workers run in the test with a ``ManualClock``, so back-off, digest periods and retention
are checked to the millisecond without waiting; the HTTP side (the unsubscribe page, the
server's own workers) is ``tests/e2e/test_email.py``.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest

from channels.broker_memory import MemoryBroker
from gateway.notifications.events import AudienceSpec, NotifyRequest
from linli.clock import ManualClock
from linli.feature import Services
from persistence.factory import open_store
from persistence.migrate import migrate
from persistence.notifications import (
    Channel,
    Digest,
    Kind,
    NewDelivery,
    NewNotification,
    Notification,
    Settings,
)
from persistence.notifications.sql import SqlNotificationStore
from persistence.store import Role, Store
from persistence.timers import TimerJob
from persistence.timers.sql import SqlTimerStore
from tests.conftest import free_port
from tests.e2e.mail_helpers import MailServer, Received, mail_server
from web.notifications import actions
from workers.deliver import FIRST_RETRY_MS, DeliveryWorker, Outcome, Result
from workers.deliver_email import EmailSender
from workers.mail.compose import Composer
from workers.mail.smtp import SmtpTransport
from workers.notify import NotifyWorker
from workers.notify_timers import DAY_MS, DIGEST_KIND, PRUNE_KIND, NotificationTimers
from workers.timers import TimerWorker

ZONE = ZoneInfo("Asia/Taipei")
FROM = "鄰里 Linli <noreply@linli.example>"
PUBLIC = "https://linli.example"
HOUR_MS = 3_600_000
#: 2024-01-08 was a Monday: the run that makes the weekly digests too.
MONDAY_8 = int(datetime(2024, 1, 8, 8, 0, tzinfo=ZONE).timestamp() * 1000)


@dataclass
class Hood:
    store: Store
    notes: SqlNotificationStore
    clock: ManualClock
    smtp: MailServer
    users: dict[str, int]

    def address(self, name: str) -> str:
        return f"{name}@example.test"

    def services(self) -> Services:
        """What ``web.notifications.actions`` uses of the services: the database."""
        return cast(Services, SimpleNamespace(database=self.store.database, clock=self.clock))

    def sender(self) -> EmailSender:
        transport = SmtpTransport(host=self.smtp.host, port=self.smtp.port, tls="none")
        return EmailSender(self.notes, transport, Composer(FROM, PUBLIC, ZONE), clock=self.clock)

    def timers(self, *, email: bool = True, budget_s: float = 5.0) -> NotificationTimers:
        return NotificationTimers(
            self.notes,
            SqlTimerStore(self.store.database),
            zone=ZONE,
            email=email,
            retention_days=180,
            clock=self.clock,
            budget_s=budget_s,
        )

    async def give_address(
        self, name: str, digest: Digest = Digest.DAILY, *, email: str | None = None
    ) -> Settings:
        return await self.notes.save_settings(
            self.users[name],
            quiet_start=22 * 60,
            quiet_end=7 * 60,
            email=email or self.address(name),
            digest=digest,
            unsubscribe_token=secrets.token_urlsafe(24),
        )

    async def notify(self, key: str, *names: str, urgent: bool = True) -> None:
        worker = NotifyWorker(
            MemoryBroker(self.store.max_offset).work_queue,
            self.notes,
            MemoryBroker(self.store.max_offset),
            zone=ZONE,
            clock=self.clock,
        )
        await worker.notify(
            NotifyRequest(
                key=key,
                kind=Kind.NOTICE,
                text_zh="明天上午停水 <九時至十二時>",
                text_en="Water cut tomorrow <9-12>",
                link="/notices/7",
                audience=AudienceSpec(user_ids=[self.users[n] for n in names]),
                urgent=urgent,
            )
        )

    async def deliveries(self, source_key: str) -> list[dict[str, Any]]:
        rows = await self.store.database.fetch(
            "SELECT d.id, d.target, d.state, d.attempts, d.last_error, n.user_id "
            "FROM notify_deliveries d JOIN notifications n ON n.id = d.notification_id "
            "WHERE n.source_key = $1 ORDER BY d.id",
            source_key,
        )
        columns = ("id", "target", "state", "attempts", "last_error", "user_id")
        return [{c: r[c] for c in columns} for r in rows]

    async def add(
        self, name: str, key: str, kind: Kind, at: int, *, urgent: bool = False, text: str = ""
    ) -> int:
        [n] = await self.notes.insert(
            [
                NewNotification(
                    user_id=self.users[name],
                    source_key=key,
                    kind=kind,
                    urgent=urgent,
                    text_zh=f"{text or key}（中文）",
                    text_en=f"{text or key} (English)",
                    link=f"/things/{key}",
                    created_at=at,
                )
            ],
            now=at,
        )
        return n.id


@pytest.fixture
async def hood(db_url: str) -> AsyncIterator[Hood]:
    await migrate(db_url)
    store = await open_store(db_url)
    try:
        building = await store.create_building("Block A", now=MONDAY_8 - 30 * DAY_MS)
        users: dict[str, int] = {}
        for name in ("ann", "amy", "bob"):
            user = await store.create_user(
                username=name,
                display_name=name.title(),
                password_hash="-",
                role=Role.RESIDENT,
                building_id=building.id,
                unit_label=f"{len(users) + 1}A",
                now=MONDAY_8 - 30 * DAY_MS,
            )
            users[name] = user.id
        with mail_server() as smtp:
            yield Hood(
                store, SqlNotificationStore(store.database), ManualClock(MONDAY_8), smtp, users
            )
    finally:
        await store.close()


async def _deliver(hood: Hood) -> int:
    sender = hood.sender()
    try:
        return await DeliveryWorker(
            hood.notes, {Channel.EMAIL: sender}, clock=hood.clock
        ).run_until_idle()
    finally:
        await sender.close()


# -- the SMTP transport ---------------------------------------------------------------------------
async def test_the_transport_keeps_connections_and_replaces_a_dropped_one() -> None:
    composer = Composer(FROM, PUBLIC, ZONE)
    note = Notification(1, 1, "k", Kind.NOTICE, True, "停水", "Water cut", "/", MONDAY_8, None)
    with mail_server() as smtp:
        transport = SmtpTransport(host=smtp.host, port=smtp.port, tls="none")

        async def send(n: int) -> Result:
            message = composer.notification(
                note, to="ann@example.test", unsubscribe_token="t", delivery_id=n, now=MONDAY_8
            )
            return await transport.send(
                message, sender=composer.envelope_from, recipient="ann@example.test"
            )

        try:
            for n in range(3):
                assert await send(n) == Result(Outcome.SENT)
            assert smtp.connections == 1  # one connection, three messages
            smtp.restart()  # the kept connection is gone (a server closing idle ones)
            assert await send(3) == Result(Outcome.SENT)
            assert smtp.connections == 2
            smtp.refused["ann@example.test"] = "550 5.1.1 Gone"
            assert await send(4) == Result(Outcome.FAILED, "550 5.1.1 Gone")
        finally:
            await transport.close()
        assert len(smtp.all()) == 4
        refused = SmtpTransport(host=smtp.host, port=free_port(), tls="none")
        result = await refused.send(
            composer.notification(
                note, to="a@b.example", unsubscribe_token="t", delivery_id=9, now=MONDAY_8
            ),
            sender=composer.envelope_from,
            recipient="a@b.example",
        )
        assert result.outcome is Outcome.RETRY  # nobody listening: try again later
        await refused.close()


# -- immediate e-mail -----------------------------------------------------------------------------
async def test_an_urgent_notice_is_mailed_at_once_and_a_451_is_retried(hood: Hood) -> None:
    await hood.give_address("ann")
    hood.smtp.scripted[hood.address("ann")] = ["451 4.7.1 Greylisted, try again later"]
    await hood.notify("notice:7", "ann", "amy")  # amy gave no address

    assert await _deliver(hood) == 1
    [row] = await hood.deliveries("notice:7")
    assert (row["target"], row["state"], row["attempts"]) == (
        "email:ann@example.test",
        "pending",
        1,
    )
    assert row["last_error"] == "451 4.7.1 Greylisted, try again later"
    assert hood.smtp.all() == []

    hood.clock.advance((FIRST_RETRY_MS - 1) / 1000)  # the back-off has not passed
    assert await _deliver(hood) == 0
    hood.clock.advance(0.001)
    assert await _deliver(hood) == 1
    [row] = await hood.deliveries("notice:7")
    assert (row["state"], row["attempts"], row["last_error"]) == ("sent", 2, None)
    [mail] = hood.smtp.all()
    assert mail.recipients == ["ann@example.test"]
    assert mail.sender == "noreply@linli.example"
    assert mail.message["Message-ID"] == f"<linli.delivery.{row['id']}@linli.example>"
    assert (
        mail.message["Subject"]
        == "【緊急】明天上午停水 <九時至十二時> / [Urgent] Water cut tomorrow <9-12>"
    )
    plain = mail.part("plain")
    assert plain.index("明天上午停水 <九時至十二時>") < plain.index("Water cut tomorrow <9-12>")
    assert "https://linli.example/notices/7" in plain
    html = mail.part("html")
    assert "明天上午停水 &lt;九時至十二時&gt;" in html and "<九時" not in html
    assert "Water cut tomorrow &lt;9-12&gt;" in html
    reach = await hood.notes.reach("notice:7")
    assert (reach.by_email, reach.deliveries) == (1, {"email:sent": 1})


async def test_a_refused_address_fails_with_the_servers_answer(hood: Hood) -> None:
    await hood.give_address("ann")
    refusal = "550 5.1.1 <ann@example.test>: Recipient address rejected: User unknown"
    hood.smtp.refused[hood.address("ann")] = refusal
    await hood.notify("notice:8", "ann")

    assert await _deliver(hood) == 1
    [row] = await hood.deliveries("notice:8")
    assert (row["state"], row["attempts"], row["last_error"]) == ("failed", 1, refusal)
    hood.clock.advance(86_400)
    assert await _deliver(hood) == 0  # failed for good: never tried again
    assert hood.smtp.all() == []
    assert (await hood.notes.reach("notice:8")).deliveries == {"email:failed": 1}


async def test_an_unsubscribe_stops_a_mail_still_pending(hood: Hood) -> None:
    settings = await hood.give_address("ann")
    assert settings.unsubscribe_token is not None
    hood.smtp.scripted[hood.address("ann")] = ["421 4.3.2 Service shutting down"]
    await hood.notify("notice:9", "ann")
    assert await _deliver(hood) == 1  # 421: pending, to be retried

    assert await actions.unsubscribe(hood.services(), settings.unsubscribe_token)
    after = (await hood.notes.settings([hood.users["ann"]]))[hood.users["ann"]]
    assert (after.email, after.digest) == (None, Digest.OFF)
    hood.clock.advance(60)
    assert await _deliver(hood) == 1
    [row] = await hood.deliveries("notice:9")
    assert (row["state"], row["last_error"]) == ("gone", "the address was removed or changed since")
    assert hood.smtp.all() == []
    assert not await actions.unsubscribe(hood.services(), "not-a-token")


async def test_without_smtp_no_email_delivery_is_written(hood: Hood) -> None:
    await hood.give_address("ann")
    worker = NotifyWorker(
        MemoryBroker(hood.store.max_offset).work_queue,
        hood.notes,
        MemoryBroker(hood.store.max_offset),
        zone=ZONE,
        clock=hood.clock,
        email=False,
    )
    await worker.notify(
        NotifyRequest(
            key="notice:10",
            kind=Kind.NOTICE,
            text_zh="停水",
            text_en="Water cut",
            link="/",
            audience=AudienceSpec(user_ids=[hood.users["ann"]]),
            urgent=True,
        )
    )
    assert await hood.notes.recipients("notice:10") == [hood.users["ann"]]
    assert await hood.deliveries("notice:10") == []


# -- digests --------------------------------------------------------------------------------------
def _digest_job(at: int) -> TimerJob:
    return TimerJob(DIGEST_KIND, DIGEST_KIND, at, {}, 1)


def _listed(mail: Received, *texts: str) -> None:
    """Each text in both parts, every 繁體中文 line before every English one."""
    for part in (mail.part("plain"), mail.part("html")):
        for text in texts:
            assert f"{text}（中文）" in part, text
            assert f"{text} (English)" in part, text
        assert max(part.index(f"{t}（中文）") for t in texts) < min(
            part.index(f"{t} (English)") for t in texts
        )


async def test_the_digest_lists_the_unread_and_wanted_once_per_period(hood: Hood) -> None:
    ann, amy = hood.users["ann"], hood.users["amy"]
    await hood.give_address("ann", Digest.DAILY)
    await hood.give_address("amy", Digest.WEEKLY)
    await hood.give_address("bob", Digest.DAILY)
    for user in (ann, amy, hood.users["bob"]):
        await hood.notes.set_pref(user, Kind.NOTICE, Channel.EMAIL, True)
    await hood.notes.set_pref(ann, Kind.POLL, Channel.EMAIL, False)  # a kind she does not want
    # ann, in the day before Monday's run: what the digest lists and what it leaves out.
    await hood.add("ann", "lift", Kind.NOTICE, MONDAY_8 - 20 * HOUR_MS, text="升降機保養")
    await hood.add("ann", "parcel", Kind.REQUEST, MONDAY_8 - 2 * HOUR_MS, text="包裹")
    read = await hood.add("ann", "read", Kind.NOTICE, MONDAY_8 - 3 * HOUR_MS)
    await hood.notes.mark_read(ann, [read], now=MONDAY_8 - HOUR_MS)
    await hood.add("ann", "vote", Kind.POLL, MONDAY_8 - 4 * HOUR_MS)  # her e-mail is off for polls
    await hood.add("ann", "urgent", Kind.NOTICE, MONDAY_8 - 5 * HOUR_MS, urgent=True)
    await hood.add("ann", "old", Kind.NOTICE, MONDAY_8 - 2 * DAY_MS)  # before a first digest's day
    # amy (weekly): a notice from Friday; bob: only read ones.
    await hood.add("amy", "fair", Kind.NOTICE, MONDAY_8 - 3 * DAY_MS, text="街坊市集")
    bobs = await hood.add("bob", "bobs", Kind.NOTICE, MONDAY_8 - HOUR_MS)
    await hood.notes.mark_read(hood.users["bob"], [bobs], now=MONDAY_8 - HOUR_MS)

    timers = hood.timers()
    hood.clock.set_now_ms(MONDAY_8 + 1_000)
    await timers.digest(_digest_job(MONDAY_8))
    assert await _deliver(hood) == 2
    [to_ann] = hood.smtp.to("ann@example.test")
    [to_amy] = hood.smtp.to("amy@example.test")
    assert hood.smtp.to("bob@example.test") == []  # nothing unread: no digest
    assert to_ann.message["Subject"] == "鄰里每日摘要：2 則未讀通知 / Linli daily digest: 2 unread"
    assert to_amy.message["Subject"] == "鄰里每週摘要：1 則未讀通知 / Linli weekly digest: 1 unread"
    _listed(to_ann, "升降機保養", "包裹")
    _listed(to_amy, "街坊市集")
    for left_out in ("read", "vote", "urgent", "old"):
        for part in (to_ann.part("plain"), to_ann.part("html")):
            assert f"/things/{left_out}" not in part and f"{left_out}（中文）" not in part
    assert "https://linli.example/things/lift" in to_ann.part("plain")
    assert 'href="https://linli.example/things/parcel"' in to_ann.part("html")
    # Every notification listed counts as reached by e-mail, once.
    for key in ("lift", "parcel"):
        assert (await hood.notes.reach(key)).deliveries == {"email:sent": 1}, key
    assert (await hood.notes.reach("vote")).deliveries == {}
    jobs = SqlTimerStore(hood.store.database)
    entry = await jobs.get(DIGEST_KIND)
    assert entry is not None and entry.due_at == MONDAY_8 + DAY_MS  # Tuesday 08:00

    # The same run again (the timers deliver at least once), after something new came: nobody
    # gets a second digest for the period; the new one waits for Tuesday's.
    await hood.add("ann", "late", Kind.NOTICE, MONDAY_8 + 1_500, text="遲來消息")
    hood.clock.set_now_ms(MONDAY_8 + 2_000)
    await timers.digest(_digest_job(MONDAY_8))
    assert await _deliver(hood) == 0
    assert len(hood.smtp.all()) == 2

    # Tuesday: ann's digest has only what came since Monday's; amy's weekly one waits.
    await hood.add("ann", "noon", Kind.NOTICE, MONDAY_8 + 4 * HOUR_MS, text="中午消息")
    await hood.add("amy", "tue", Kind.NOTICE, MONDAY_8 + 4 * HOUR_MS)
    hood.clock.set_now_ms(MONDAY_8 + DAY_MS + 500)
    await timers.digest(_digest_job(MONDAY_8 + DAY_MS))
    assert await _deliver(hood) == 1
    [_, tuesday] = hood.smtp.to("ann@example.test")
    assert tuesday.message["Subject"] == "鄰里每日摘要：2 則未讀通知 / Linli daily digest: 2 unread"
    _listed(tuesday, "遲來消息", "中午消息")
    assert "升降機保養" not in tuesday.part("plain")
    assert len(hood.smtp.to("amy@example.test")) == 1


async def test_a_digest_left_pending_lists_only_what_is_still_unread(hood: Hood) -> None:
    ann = hood.users["ann"]
    await hood.give_address("ann")
    await hood.notes.set_pref(ann, Kind.NOTICE, Channel.EMAIL, True)
    first = await hood.add("ann", "one", Kind.NOTICE, MONDAY_8 - HOUR_MS)
    second = await hood.add("ann", "two", Kind.NOTICE, MONDAY_8 - HOUR_MS)
    hood.smtp.scripted[hood.address("ann")] = ["451 4.3.0 Try later"]
    await hood.timers().digest(_digest_job(MONDAY_8))
    assert await _deliver(hood) == 1  # 451: pending
    await hood.notes.mark_read(ann, [first], now=MONDAY_8 + 1)
    hood.clock.advance(10)
    assert await _deliver(hood) == 1
    [mail] = hood.smtp.all()
    assert mail.message["Subject"] == "鄰里每日摘要：1 則未讀通知 / Linli daily digest: 1 unread"
    assert "one（中文）" not in mail.part("plain") and "two（中文）" in mail.part("plain")
    assert (await hood.notes.reach("two")).deliveries == {"email:sent": 1}
    assert (await hood.notes.reach("one")).deliveries == {}
    assert second > first


async def test_a_digest_whose_notifications_were_all_read_is_not_sent(hood: Hood) -> None:
    ann = hood.users["ann"]
    await hood.give_address("ann")
    await hood.notes.set_pref(ann, Kind.NOTICE, Channel.EMAIL, True)
    await hood.add("ann", "seen", Kind.NOTICE, MONDAY_8 - HOUR_MS)
    hood.smtp.scripted[hood.address("ann")] = ["451 4.3.0 Try later"]
    await hood.timers().digest(_digest_job(MONDAY_8))
    assert await _deliver(hood) == 1  # 451: pending
    await hood.notes.mark_read(ann, None, now=MONDAY_8 + 1)
    hood.clock.advance(10)
    assert await _deliver(hood) == 1
    [row] = await hood.deliveries("seen")
    assert row["state"] == "gone"
    assert row["last_error"] == "every notification of the digest was read meanwhile"
    assert hood.smtp.all() == []


async def test_the_digest_job_runs_through_the_timers_worker(hood: Hood) -> None:
    for name in ("ann", "amy", "bob"):
        await hood.give_address(name)
        await hood.notes.set_pref(hood.users[name], Kind.NOTICE, Channel.EMAIL, True)
        await hood.add(name, f"n-{name}", Kind.NOTICE, MONDAY_8 - HOUR_MS)
    # A budget used up by every user: each run makes one digest and continues in a new job.
    timers = hood.timers(budget_s=-1)
    store = SqlTimerStore(hood.store.database)

    def worker() -> TimerWorker:
        return TimerWorker(
            store,
            {DIGEST_KIND: timers.digest},
            clock=hood.clock,
            recurring={DIGEST_KIND: timers.next_digest(hood.clock.now_ms())},
        )

    hood.clock.set_now_ms(MONDAY_8 - 9 * HOUR_MS)  # Sunday 23:00
    assert await worker().run_until_idle() == 0  # the job is made, due at 08:00
    entry = await store.get(DIGEST_KIND)
    assert entry is not None and entry.due_at == MONDAY_8
    hood.clock.set_now_ms(MONDAY_8 - HOUR_MS)
    assert await worker().run_until_idle() == 0  # a restart does not move it
    assert (await store.get(DIGEST_KIND)).due_at == MONDAY_8  # type: ignore[union-attr]

    hood.clock.set_now_ms(MONDAY_8)
    assert await worker().run_until_idle() == 3  # one user per run
    entry = await store.get(DIGEST_KIND)
    assert entry is not None and (entry.due_at, entry.payload) == (MONDAY_8 + DAY_MS, {})
    assert await _deliver(hood) == 3
    assert sorted(r for m in hood.smtp.all() for r in m.recipients) == [
        "amy@example.test",
        "ann@example.test",
        "bob@example.test",
    ]


async def test_without_smtp_the_digest_only_reschedules(hood: Hood) -> None:
    await hood.give_address("ann")
    await hood.notes.set_pref(hood.users["ann"], Kind.NOTICE, Channel.EMAIL, True)
    await hood.add("ann", "quiet", Kind.NOTICE, MONDAY_8 - HOUR_MS)
    await hood.timers(email=False).digest(_digest_job(MONDAY_8))
    assert await hood.deliveries("quiet") == []
    entry = await SqlTimerStore(hood.store.database).get(DIGEST_KIND)
    assert entry is not None and entry.due_at == MONDAY_8 + DAY_MS


# -- retention ------------------------------------------------------------------------------------
async def test_the_sweep_removes_notifications_past_the_retention(hood: Hood) -> None:
    old = await hood.add("ann", "old", Kind.NOTICE, MONDAY_8 - 181 * DAY_MS)
    kept = await hood.add("ann", "kept", Kind.NOTICE, MONDAY_8 - 179 * DAY_MS)
    await hood.notes.add_deliveries(
        [NewDelivery(old, Channel.EMAIL, "email:ann@example.test", MONDAY_8 - 181 * DAY_MS)],
        now=MONDAY_8,
    )
    await hood.timers().prune(TimerJob(PRUNE_KIND, PRUNE_KIND, MONDAY_8, {}, 1))
    assert await hood.notes.get(old) is None
    assert await hood.notes.get(kept) is not None
    assert await hood.deliveries("old") == []
    entry = await SqlTimerStore(hood.store.database).get(PRUNE_KIND)
    # Monday 08:00 → Tuesday 03:30, local time.
    assert entry is not None and entry.due_at == MONDAY_8 + DAY_MS - 4 * HOUR_MS - HOUR_MS // 2

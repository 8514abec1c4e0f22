"""E-mail end to end, in both modes: the real server (its notify and delivery workers) sends an
urgent notice at once through a real SMTP server (``aiosmtpd``) to the residents who gave an
address — 繁體中文 and English, plain and HTML, the link, the unsubscribe link and the RFC 8058
headers — and the unsubscribe link works: the page (GET changes nothing), its button, and a mail
program's one-click POST without cookie or Origin; after it no more mail goes out and the
address is forgotten.

Retries, refusals and digests, which need a clock the test moves, are
``tests/contract/test_email_delivery.py``.
"""

from __future__ import annotations

import re

import httpx

from linli.config import load_settings
from linli.runtime import open_runtime
from persistence.notifications import Kind
from persistence.notifications.sql import SqlNotificationStore
from tests.conftest import wait_until
from tests.e2e.harness import Deployment, Server, login, seed
from tests.e2e.mail_helpers import MailServer, Received, mail_server
from web.notifications import actions
from workers.notify import NotifyWorker


async def _notify_urgent(deployment: Deployment, key: str, user_ids: list[int]) -> None:
    """What a notice's poster does (``actions.notify``). In the embedded mode the work queue
    lives in the server's process, out of the test's reach: the notify worker runs here on the
    same database instead; in the scaled mode the server's own worker takes it from Redis."""
    settings = load_settings(deployment.env())
    async with open_runtime(settings, migrate_first=False) as runtime:
        await actions.notify(
            runtime,
            key=key,
            kind=Kind.NOTICE,
            urgent=True,
            text_zh="今晚十時至明早六時停水 <A座>",
            text_en="Water cut tonight 22:00-06:00 <Block A>",
            link=f"/notices/{key}",
            user_ids=user_ids,
        )
        if settings.embedded:
            await NotifyWorker(
                runtime.work_queue,
                SqlNotificationStore(runtime.database),
                runtime.broker,
                zone=settings.zone,
                clock=runtime.clock,
            ).run_until_idle()


async def _token(deployment: Deployment, user_id: int) -> str:
    store = await deployment.store()
    try:
        token = (await SqlNotificationStore(store.database).settings([user_id]))[
            user_id
        ].unsubscribe_token
    finally:
        await store.close()
    assert token is not None
    return token


def _unsubscribe_link(mail: Received) -> str:
    found = re.findall(r"https?://\S+/unsubscribe/\S+", mail.part("plain"))
    assert len(set(found)) == 1, found
    return str(found[0])


async def _prefs(server: Server, cookie: str) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=server.http, cookies={"linli_session": cookie}) as c:
        reply = await c.get("/api/notifications/prefs")
        assert reply.status_code == 200, reply.text
        prefs: dict[str, object] = reply.json()
        return prefs


async def _give_address(server: Server, cookie: str, address: str) -> None:
    async with httpx.AsyncClient(base_url=server.http, cookies={"linli_session": cookie}) as c:
        reply = await c.post("/api/notifications/prefs", json={"email": address})
        assert reply.status_code == 200, reply.text
        assert reply.json()["email"] == address


def _check_mail(mail: Received, server: Server, key: str, unsubscribe: str) -> None:
    message = mail.message
    assert message["Subject"] == (
        "【緊急】今晚十時至明早六時停水 <A座> / [Urgent] Water cut tonight 22:00-06:00 <Block A>"
    )
    assert message["From"] == "鄰里 Linli <noreply@linli.example>"
    # A long header may be folded before the "<" (RFC 5322); the value is the same.
    assert message["List-Unsubscribe"].strip() == f"<{unsubscribe}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Auto-Submitted"] == "auto-generated"
    assert re.fullmatch(r"<linli\.delivery\.\d+@linli\.example>", message["Message-ID"])
    assert message.get_content_type() == "multipart/alternative"
    link = f"{server.http}/notices/{key}"
    plain, html = mail.part("plain"), mail.part("html")
    assert plain.index("今晚十時至明早六時停水 <A座>") < plain.index("Water cut tonight")
    assert plain.index("緊急通知") < plain.index("Urgent notice")
    assert link in plain and unsubscribe in plain
    assert html.index("今晚十時至明早六時停水 &lt;A座&gt;") < html.index(
        "Water cut tonight 22:00-06:00 &lt;Block A&gt;"
    )
    assert "<A座>" not in html  # the text is escaped, never markup
    assert f'href="{link}"' in html and f'href="{unsubscribe}"' in html


async def test_urgent_mail_and_the_unsubscribe_link(deployment: Deployment) -> None:
    hood = await seed(deployment)
    ann, amy, bob = (hood.users[n] for n in ("ann", "amy", "bob"))
    with mail_server() as smtp:
        server = Server(
            deployment,
            LINLI_RUN_WORKERS="true",
            LINLI_SMTP_HOST=smtp.host,
            LINLI_SMTP_PORT=str(smtp.port),
            LINLI_SMTP_TLS="none",
            LINLI_MAIL_FROM="鄰里 Linli <noreply@linli.example>",
        )
        server.env["LINLI_PUBLIC_URL"] = server.http
        await server.start()
        try:
            await _run(deployment, server, smtp, ann, amy, bob)
        finally:
            await server.stop()


async def _run(
    deployment: Deployment, server: Server, smtp: MailServer, ann: int, amy: int, bob: int
) -> None:
    ann_cookie, amy_cookie = await login(server, "ann"), await login(server, "amy")
    await _give_address(server, ann_cookie, "ann@example.test")
    await _give_address(server, amy_cookie, "amy@example.test")  # bob gives none

    await _notify_urgent(deployment, "water", [ann, amy, bob])
    await wait_until(lambda: len(smtp.all()) == 2, timeout=15)
    [to_ann], [to_amy] = smtp.to("ann@example.test"), smtp.to("amy@example.test")
    ann_link = f"{server.http}/unsubscribe/{await _token(deployment, ann)}"
    amy_link = f"{server.http}/unsubscribe/{await _token(deployment, amy)}"
    _check_mail(to_ann, server, "water", ann_link)
    _check_mail(to_amy, server, "water", amy_link)
    assert to_ann.recipients == ["ann@example.test"]
    assert to_ann.message["Message-ID"] != to_amy.message["Message-ID"]

    # The poster's reach: ann and amy share unit 1A of Block A (reached by e-mail), bob's unit
    # in Block B has it in the inbox only.
    async with httpx.AsyncClient(
        base_url=server.http, cookies={"linli_session": await login(server, "mo")}
    ) as staff:

        async def reach() -> dict[str, object]:
            reply = await staff.get("/api/notifications/reach", params={"source": "water"})
            assert reply.status_code == 200, reply.text
            found: dict[str, object] = reply.json()
            return found

        async def all_sent() -> bool:
            return (await reach())["deliveries"] == {"email:sent": 2}

        await wait_until(all_sent, timeout=10)
        found = await reach()
        assert (found["units"], found["by_email"], found["neither"]) == (2, 1, 1)
        assert found["deliveries"] == {"email:sent": 2}

    async with httpx.AsyncClient() as anyone:  # no session: the token is the key
        # The page only asks; following the link (a mail scanner does) changes nothing.
        page = await anyone.get(_unsubscribe_link(to_ann))
        assert page.status_code == 200
        assert "取消電子郵件通知" in page.text and "Stop e-mail notifications" in page.text
        assert page.text.index("取消電子郵件通知") < page.text.index("Stop e-mail notifications")
        assert '<form method="post"' in page.text
        assert page.headers["cache-control"] == "no-store"
        assert (await _prefs(server, ann_cookie))["email"] == "ann@example.test"

        # The page's button: a form POST from the page's own origin.
        done = await anyone.post(
            ann_link, data={"List-Unsubscribe": "One-Click"}, headers={"Origin": server.http}
        )
        assert done.status_code == 200
        assert "已取消電子郵件通知" in done.text and "E-mail notifications stopped" in done.text
        prefs = await _prefs(server, ann_cookie)
        assert (prefs["email"], prefs["digest"]) == (None, "off")
        again = await anyone.get(ann_link)  # the link stays valid and says it is done
        assert again.status_code == 200 and "已取消電子郵件通知" in again.text

        # A mail program's one-click unsubscribe (RFC 8058): no cookie, no Origin.
        one_click = await anyone.post(
            amy_link,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert one_click.status_code == 200
        assert (await _prefs(server, amy_cookie))["email"] is None

        for unknown in (
            await anyone.get(f"{server.http}/unsubscribe/not-a-token"),
            await anyone.post(f"{server.http}/unsubscribe/not-a-token"),
        ):
            assert unknown.status_code == 404
            assert "找不到這個連結" in unknown.text and "This link is not known" in unknown.text

    # The next urgent notice reaches their inboxes, and no mail goes out.
    await _notify_urgent(deployment, "gas", [ann, amy, bob])

    async def in_inboxes() -> bool:
        store = await deployment.store()
        try:
            return len(await SqlNotificationStore(store.database).recipients("gas")) == 3
        finally:
            await store.close()

    await wait_until(in_inboxes, timeout=10)
    store = await deployment.store()
    try:
        reached = await SqlNotificationStore(store.database).reach("gas")
    finally:
        await store.close()
    assert reached.deliveries == {}  # no e-mail delivery was even written
    assert len(smtp.all()) == 2

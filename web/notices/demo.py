"""The notices' part of the demo neighbourhood (``linli demo``): an urgent water cut in Block A
that asks each household to confirm (Mr Lee's household has, Mrs Chan's has not: she sees the
banner), the committee's financial report with its PDF, pinned for everyone, and last month's
lift works, expired, in the archive. Written straight into the stores, as the demo is seeded
before the server starts."""

from __future__ import annotations

from linli.config import load_settings
from linli.feature import Demo
from linli.richtext import render
from persistence.blobs import blob_store
from persistence.notices import Audience, AudienceKind, NoticeDraft, NoticeState
from persistence.notices.sql import SqlNoticeStore
from web.notices.search import reindex

HOUR = 3_600_000
DAY = 24 * HOUR


def demo_pdf(lines: list[str]) -> bytes:
    """A one-page PDF of a few lines of ASCII text (Helvetica), built by hand: the demo needs a
    real document without shipping one."""
    text = (
        "BT /F1 14 Tf 72 760 Td 18 TL "
        + " ".join(
            "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '"
            for line in lines
        )
        + " ET"
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text.encode("ascii")),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


async def seed_notices(demo: Demo) -> None:
    store = SqlNoticeStore(demo.store.database)
    categories = {c.slug: c.id for c in await store.list_categories()}
    users, now = demo.users, demo.now
    ho, lam = users["ho"], users["lam"]
    block_a = demo.buildings[0]

    water = await store.create_notice(
        NoticeDraft(
            category_id=categories["utilities"],
            title="緊急停水通知 Urgent: water off tomorrow 9 am – 1 pm",
            body=(
                "因更換總水管閥門，**明天上午九時至下午一時** A座全座停水。\n\n"
                "- 請預先儲水\n- 停水期間請關緊水龍頭\n\n"
                "The water in Block A is off **tomorrow from 9 am to 1 pm** while the main valve "
                "is replaced. Please store some water beforehand."
            ),
            body_html="",
            audience=Audience(kind=AudienceKind.BUILDINGS, buildings=(block_a,)),
            urgent=True,
            requires_ack=True,
            pinned=True,
        ),
        state=NoticeState.PUBLISHED,
        created_by=ho.id,
        now=now - 25 * 60_000,
    )
    finance = await store.create_notice(
        NoticeDraft(
            category_id=categories["finance"],
            title="2026 年第三季財務報告 Financial report, third quarter 2026",
            body=(
                "管委會已審閱第三季收支，詳情見附件。\n\n"
                "| 項目 Item | 金額 Amount (HK$) |\n|---|---:|\n"
                "| 管理費收入 Fees received | 1,284,000 |\n| 維修支出 Repairs | 312,500 |\n"
                "| 清潔 Cleaning | 186,000 |\n\n"
                "The committee has reviewed the quarter's accounts: the report is attached."
            ),
            body_html="",
            pinned=False,
        ),
        state=NoticeState.PUBLISHED,
        created_by=lam.id,
        now=now - 3 * DAY,
    )
    lifts = await store.create_notice(
        NoticeDraft(
            category_id=categories["repairs"],
            title="升降機保養 Lift maintenance",
            body="B座升降機將於本月十日保養，期間請使用另一部升降機。\n\n"
            "The Block B lift is serviced on the 10th; please use the other lift.",
            body_html="",
            audience=Audience(kind=AudienceKind.BUILDINGS, buildings=(demo.buildings[1],)),
            expire_at=now - 10 * DAY,
        ),
        state=NoticeState.PUBLISHED,
        created_by=ho.id,
        now=now - 20 * DAY,
    )
    await store.expire_due(lifts.id, now=now - 10 * DAY)
    # body_html is made from the body as the API would (the drafts above leave it empty).
    for notice in (water, finance, lifts):
        await demo.store.database.execute(
            "UPDATE notices SET body_html = $2 WHERE id = $1", notice.id, render(notice.draft.body)
        )
    blobs = blob_store(load_settings(), demo.store.database)
    pdf = demo_pdf(
        [
            "Linli demo - Financial report, Q3 2026",
            "",
            "Management fees received   HK$ 1,284,000",
            "Repairs                    HK$   312,500",
            "Cleaning                   HK$   186,000",
            "",
            "Reviewed by the owners' committee.",
        ]
    )
    stored = await blobs.put(pdf, now=now)
    await store.add_attachment(
        finance.id,
        blob_id=stored.id,
        thumb_id=None,
        filename="2026-Q3-財務報告.pdf",
        media_type="application/pdf",
        size=stored.size,
        sha256=stored.sha256,
        width=None,
        height=None,
        added_by=lam.id,
        now=now - 3 * DAY,
    )
    lee, chan, wong = users["lee"], users["chan"], users["wong"]
    assert lee.unit_id is not None and chan.unit_id is not None and wong.unit_id is not None
    await store.acknowledge(water.id, user_id=lee.id, unit_id=lee.unit_id, now=now - 20 * 60_000)
    for user, unit in ((chan, chan.unit_id), (wong, wong.unit_id), (lee, lee.unit_id)):
        await store.record_read(finance.id, user_id=user.id, unit_id=unit, now=now - 2 * DAY)
    await store.record_read(lifts.id, user_id=wong.id, unit_id=wong.unit_id, now=now - 19 * DAY)
    # Searchable from the start (seeded straight into the store, they passed no action).
    await reindex(demo.store, now)

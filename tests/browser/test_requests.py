"""The requests pages in real Chromium, at 360 px and on a desktop, in both modes: a resident
picks a common area and sees the open request already there (and can follow it), files her own
with a photo,
staff of the repair team change its status with a reply, the resident's open page shows it live
without a reload, and she rates the resolution; the staff queue marks the overdue one; no page
scrolls sideways on a phone; axe-core finds nothing serious or critical on any requests page.

The filed request carries a photo: its thumbnail shows on the request's page."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest
from playwright.async_api import FilePayload, Page, expect

from linli.catalogue import messages_of
from persistence.requests import Category, NewRequest
from persistence.requests.sql import SqlRequestStore
from persistence.store import Role
from tests.browser.axe import require_axe, serious_violations
from tests.browser.conftest import NewPage, Site, log_in
from tests.e2e.harness import PASSWORD

ZH = messages_of("zh-Hant")

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[2]
EMBEDDED_ONLY = pytest.mark.parametrize("deployment", ["embedded"], indirect=True)


async def _repairs(site: Site) -> tuple[int, int]:
    """fixer (management, password PASSWORD) is the repair team; amy has reported the lift
    already. Returns (the lift's place id, amy's request id)."""
    from web.passwords import hash_password

    store = await site.deployment.store()
    try:
        now = int(time.time() * 1000)
        fixer = await store.create_user(
            username="fixer",
            display_name="Fixer",
            password_hash=await hash_password(PASSWORD),
            role=Role.MANAGEMENT,
            building_id=None,
            unit_label=None,
            now=now,
        )
        requests = SqlRequestStore(store.database)
        team = await requests.create_team("Repairs", now=now)
        await requests.set_team_members(team.id, [fixer.id])
        await requests.route(Category.REPAIR, team_id=team.id)
        lift = await requests.add_place("電梯 Lift", building_id=None, now=now)
        await requests.add_template(
            "已派師傅", "已派師傅處理。A technician is on the way.", now=now
        )
        earlier = await requests.create_request(
            NewRequest(
                category=Category.REPAIR,
                text="電梯門關不上 The lift door does not close",
                author_id=site.hood.users["amy"],
                building_id=site.hood.building_a,
                place_id=lift.id,
            ),
            now=now - 3 * 86_400_000,  # past its first-response target: overdue
        )
        return lift.id, earlier.id
    finally:
        await store.close()


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


async def _no_sideways_scroll(page: Page, width: int) -> None:
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} is {scroll} px wide at {width} px"


@pytest.mark.parametrize("width", [360, 1280])
async def test_file_see_duplicate_staff_changes_live_and_rate(
    site: Site, new_page: NewPage, width: int
) -> None:
    lift, earlier = await _repairs(site)
    ann = await new_page(width=width, height=800)
    await log_in(ann, "ann")
    await ann.goto("/requests")
    await ann.select_option("#place_id", str(lift))
    similar = ann.locator("#similar")
    await expect(similar).to_be_visible()
    await expect(similar.locator(".req-item")).to_have_count(1)
    await expect(similar).to_contain_text("電梯門關不上")
    await similar.get_by_role("button", name="加入追蹤").click()
    await expect(similar.get_by_role("button", name="已追蹤")).to_be_disabled()
    await expect(ann.locator("#mine-list .req-item")).to_have_count(1)
    if width == 360:
        await _no_sideways_scroll(ann, width)

    # She files her own as well (another floor's button), and lands on its page.
    await ann.fill("#text", "五樓電梯按鈕壞了 The lift button on 5F is broken")
    await ann.fill("#floor", "5")
    photo_file: FilePayload = {"name": "button.png", "mimeType": "image/png", "buffer": _png()}
    await ann.set_input_files("#photos", files=[photo_file])
    await ann.get_by_role("button", name="送出", exact=True).click()
    await ann.wait_for_url("**/requests/*")
    await expect(ann.locator("#req-status")).to_have_text("已受理")
    photo = ann.locator("#req-photos img")
    await expect(photo).to_have_count(1)
    await expect(photo).to_have_attribute("alt", "第 1 張照片")
    await ann.wait_for_function("document.querySelector('#req-photos img').naturalWidth === 64")
    request_path = ann.url.split(site.url)[-1]
    await ann.wait_for_function("document.querySelector('#history li') !== null")
    if width == 360:
        await _no_sideways_scroll(ann, width)

    fixer = await new_page(width=width, height=800)
    await log_in(fixer, "fixer")
    await fixer.goto("/requests/queue")
    queue = fixer.locator("#queue .req-item")
    await expect(queue).to_have_count(2)
    await expect(queue.first).to_contain_text(f"#{earlier}")  # overdue first
    await expect(queue.first.locator(".req-overdue")).to_have_text("已逾期")
    await fixer.goto(request_path)
    await expect(fixer.locator("#staff")).to_be_visible()
    await fixer.select_option("#status", "in_progress")
    await fixer.select_option("#template", label="已派師傅")
    await expect(fixer.locator("#reply")).to_have_value("已派師傅處理。A technician is on the way.")
    await fixer.get_by_role("button", name="更新狀態").click()
    await expect(fixer.locator("#req-status")).to_have_text("處理中")

    # Live on the resident's open page: no reload.
    await expect(ann.locator("#req-status")).to_have_text("處理中")
    await expect(ann.locator("#history")).to_contain_text("A technician is on the way.")
    await expect(ann.locator("#req-live")).to_contain_text("處理中")

    await fixer.select_option("#status", "resolved")
    await fixer.get_by_role("button", name="更新狀態").click()
    await expect(ann.locator("#req-status")).to_have_text("已解決")
    rate = ann.locator("#rate-card")
    await expect(rate).to_be_visible()
    await rate.get_by_label("5 分").check()
    await ann.fill("#comment", "好快 Quick")
    await rate.get_by_role("button", name="送出評分").click()
    await expect(ann.locator("#rated")).to_contain_text("5 分")
    await expect(rate).to_be_hidden()
    await expect(ann.locator("#reopen-card")).to_be_visible()
    if width == 360:
        await _no_sideways_scroll(ann, width)


@EMBEDDED_ONLY
@pytest.mark.parametrize("locale", ["zh-TW", "en-GB"])
async def test_axe_and_phone_width_on_every_requests_page(
    site: Site, new_page: NewPage, locale: str
) -> None:
    require_axe()
    _lift, earlier = await _repairs(site)
    amy = await new_page(locale=locale, width=360, height=740)
    await log_in(amy, "amy")
    for path, ready in (
        ("/requests", "#mine-list .req-item"),
        (f"/requests/{earlier}", "#history li"),
    ):
        await amy.goto(path)
        await amy.locator(ready).first.wait_for()
        await _no_sideways_scroll(amy, 360)
        assert await serious_violations(amy) == [], path
    fixer = await new_page(locale=locale, width=360, height=740)
    await log_in(fixer, "fixer")
    for path, ready in (
        ("/requests/queue", "#queue .req-item"),
        (f"/requests/{earlier}", "#staff:not([hidden])"),
        ("/requests/figures", "#fig-filed"),
    ):
        await fixer.goto(path)
        await fixer.locator(ready).first.wait_for()
        assert await serious_violations(fixer) == [], path
    await expect(fixer.locator("#fig-filed")).to_have_text("1")
    await expect(fixer.locator("#fig-overdue")).to_have_text("1")


@EMBEDDED_ONLY
async def test_a_chat_message_becomes_a_request_in_two_taps(site: Site, new_page: NewPage) -> None:
    await _repairs(site)
    amy, ann = await new_page(), await new_page()
    await log_in(amy, "amy")
    await log_in(ann, "ann")
    await amy.fill("#composer-text", "大堂的燈又壞了 The lobby light is out again")
    await amy.press("#composer-text", "Enter")
    message = ann.locator("#messages .message").first
    await expect(message.locator(".text")).to_have_text(
        "大堂的燈又壞了 The lobby light is out again"
    )
    label = ZH["requests.chat.make_label"].format(name="Amy")
    await message.get_by_role("link", name=label).click()  # tap one
    await ann.wait_for_url("**/requests?channel=*")
    await expect(ann.locator("#text")).to_have_value("大堂的燈又壞了 The lobby light is out again")
    await expect(ann.locator("#from-chat")).to_be_visible()
    await ann.get_by_role("button", name="送出", exact=True).click()  # tap two
    await ann.wait_for_url("**/requests/*")
    source = ann.locator("#req-source-link")
    await expect(source).to_be_visible()
    assert await source.get_attribute("href") == f"/#building:{site.hood.building_a}"


@EMBEDDED_ONLY
async def test_a_forum_post_becomes_a_request_and_the_post_links_to_it(
    site: Site, new_page: NewPage
) -> None:
    """Ann's post in her building's category: Make a request (tap one), the text is the
    post's, Send (tap two); the post then links to the request, and the request back to it.
    At 360 px, and axe finds nothing serious with the form open."""
    from persistence.forum import CategoryDraft
    from persistence.forum.sql import SqlForumStore

    await _repairs(site)
    text = "停車場 B2 漏水 Water in car park B2"
    store = await site.deployment.store()
    try:
        forum = SqlForumStore(store.database)
        category = await forum.create_category(
            CategoryDraft("block-a", "A 座", "Block A", f"building:{site.hood.building_a}"),
            now=int(time.time() * 1000),
        )
        topic, _written = await forum.create_topic(
            category.id, title="停車場漏水 Car park leak", author_id=site.hood.users["ann"],
            source=text, html=f"<p>{text}</p>", client_id="b1", now=int(time.time() * 1000),
        )  # fmt: skip
    finally:
        await store.close()
    require_axe()
    ann = await new_page(width=360, height=740)
    await log_in(ann, "ann")
    await ann.goto(f"/forum/t/{topic.id}")
    post = ann.locator("#p1")
    await post.get_by_role("button", name="提出請求").click()  # tap one
    form = post.locator(".forum-request-form")
    await expect(form.get_by_label("請說明", exact=True)).to_have_value(
        "停車場 B2 漏水 Water in car park B2"
    )
    assert await serious_violations(ann) == []
    await _no_sideways_scroll(ann, 360)
    await form.get_by_role("button", name="送出請求").click()  # tap two
    link = post.locator(".forum-request-links a")
    await expect(link).to_have_text(re.compile(r"^請求 #\d+ · 已受理$"))
    href = await link.get_attribute("href")
    assert href is not None and href.startswith("/requests/")
    await link.click()
    await ann.wait_for_url(f"**{href}")
    source = ann.locator("#req-source-link")
    await expect(source).to_have_text("查看來源的論壇帖子")
    assert await source.get_attribute("href") == f"/forum/t/{topic.id}?n=1#p1"

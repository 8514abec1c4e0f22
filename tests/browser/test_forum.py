"""The forum in a real browser: a resident starts a topic, a neighbour replies with a mention,
the first reacts and accepts the reply as the answer, the second edits it — and each browser
sees the other's change live, at 360 px and on a desktop, in both modes. Then the pages at
360 px do not scroll sideways and axe-core finds nothing serious or critical on them, in both
languages."""

from __future__ import annotations

import time

import pytest
from playwright.async_api import Page, expect

from linli.catalogue import messages_of
from persistence.forum import CategoryDraft
from persistence.forum.sql import SqlForumStore
from tests.browser.axe import require_axe, serious_violations
from tests.browser.conftest import NewPage, Site, log_in
from tests.browser.test_notifications_ui import EMBEDDED_ONLY

pytestmark = pytest.mark.timeout(180)
ZH = messages_of("zh-Hant")


async def _category(site: Site) -> int:
    store = await site.deployment.store()
    try:
        category = await SqlForumStore(store.database).create_category(
            CategoryDraft(slug="ideas", name_zh="社區建議", name_en="Ideas", scope="all"),
            now=int(time.time() * 1000),
        )
        return category.id
    finally:
        await store.close()


async def _live(page: Page) -> None:
    await page.wait_for_function("window.linliClient && window.linliClient.state === 'open'")


@pytest.mark.parametrize("width", [360, 1280])
async def test_topic_reply_mention_react_accept_live(
    site: Site, new_page: NewPage, width: int
) -> None:
    category = await _category(site)
    ann = await new_page(width=width, height=800)
    amy = await new_page(width=width, height=800)
    await log_in(ann, "ann")
    await log_in(amy, "amy")
    # amy has the category's list open: ann's new topic appears in it without a reload.
    await amy.goto(f"/forum/c/{category}")
    await expect(amy.locator("#topics")).to_contain_text(ZH["forum.no_topics"])
    await _live(amy)
    # ann starts a topic from the category's page.
    await ann.goto("/forum")
    await ann.get_by_role("link", name="社區建議").click()
    await ann.fill("#topic-title", "升降機好嘈 The lift is noisy")
    await ann.fill("#topic-text", "有冇人同感？ **Anyone else?**")
    await ann.click("#new-topic button[type=submit]")
    await ann.wait_for_url("**/forum/t/*")
    topic_url = ann.url
    await expect(ann.locator("#p1 .forum-post-body strong")).to_have_text("Anyone else?")
    await _live(ann)
    # amy opens it from her live list and replies, mentioning ann; ann's page shows it live.
    await amy.locator("#topics").get_by_role("link", name="升降機好嘈 The lift is noisy").click()
    await amy.wait_for_url(topic_url)
    await expect(amy.locator("#p1")).to_be_visible()
    await _live(amy)
    await amy.fill("#reply-text", "@Ann 我都覺得 Me too")
    await amy.click("#reply button[type=submit]")
    await expect(amy.locator("#p2 .forum-post-body")).to_contain_text("Me too")
    await expect(ann.locator("#p2 .forum-post-body")).to_contain_text("Me too")
    # ann reacts; amy sees the count live.
    await ann.locator("#p2 .forum-reaction").first.click()
    await expect(amy.locator("#p2 .forum-reaction").first).to_contain_text("1")
    await expect(ann.locator("#p2 .forum-reaction").first).to_have_attribute("aria-pressed", "true")
    # ann accepts amy's reply: both see the topic solved and the answer under the first post.
    await ann.locator("#p2").get_by_role("button", name=ZH["forum.accept"]).click()
    for page in (ann, amy):
        await expect(page.locator("#topic-flags")).to_contain_text(ZH["forum.solved"])
        await expect(page.locator("li.forum-solved .forum-post-body")).to_contain_text("Me too")
    # amy edits her reply; ann sees the new text and the "edited" mark live.
    await amy.locator("#p2").get_by_role("button", name=ZH["forum.edit"]).click()
    await amy.locator("#p2 textarea").fill("我都覺得，由星期一開始 Since Monday")
    await amy.locator("#p2").get_by_role("button", name=ZH["forum.save"]).click()
    await expect(ann.locator("#p2 .forum-post-body")).to_contain_text("Since Monday")
    await expect(ann.locator("#p2 .forum-post-head")).to_contain_text(ZH["forum.edited"])
    # The mention reached ann's inbox.
    kinds = await ann.evaluate(
        """async () => {
            for (let i = 0; i < 50; i++) {
                const r = await (await fetch('/api/notifications')).json();
                if (r.notifications.length) return r.notifications.map((n) => n.kind);
                await new Promise((ok) => setTimeout(ok, 200));
            }
            return [];
        }"""
    )
    assert kinds == ["mention"]
    if width == 360:
        assert await ann.evaluate("document.documentElement.scrollWidth") <= 360


@EMBEDDED_ONLY
@pytest.mark.parametrize("locale", ["zh-TW", "en-GB"])
async def test_pages_fit_a_phone_and_axe_finds_nothing_serious(
    site: Site, new_page: NewPage, locale: str
) -> None:
    require_axe()
    category = await _category(site)
    page = await new_page(locale=locale, width=360, height=740)
    await log_in(page, "ann")
    made = await page.evaluate(
        """async (id) => {
            const r = await fetch(`/api/forum/categories/${id}/topics`, {method: 'POST',
                headers: {'Content-Type': 'application/json'},
                body: JSON.stringify({title: '拾到鎖匙 Found keys ' + 'long'.repeat(20),
                                      text: '> quoted\\n\\n- a list\\n\\n' + 'word'.repeat(60),
                                      client_id: 'axe1'})});
            return (await r.json()).topic.id;
        }""",
        category,
    )
    for path, ready in (
        ("/forum", "#forum-categories li"),
        (f"/forum/c/{category}", "#topics li a"),
        (f"/forum/t/{made}", "#p1"),
    ):
        await page.goto(path)
        await page.locator(ready).first.wait_for()
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{path} is {width} px wide at 360 px ({locale})"
        assert await serious_violations(page) == [], path

"""The installable web app in Chromium: the pages register the service worker (/sw.js, scope /),
which shows a push — delivered by the DevTools protocol's ``ServiceWorker.deliverPushMessage``,
as a push service would hand it over — in the reader's language, tagged with the notification's
id; and the chat page offers notifications only once the resident has sent a message, never
when they are blocked, and not again after "Not now".

Embedded mode only: the service worker and the banner are the page's and the browser's; the
server's part in push (sender, API) runs in both modes in tests/e2e/test_push.py.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

import pytest
from playwright.async_api import CDPSession, Page, expect

from tests.browser.conftest import NewPage, Site, log_in
from tests.browser.test_residents import EN, ZH, send

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.parametrize("deployment", ["embedded"], indirect=True),
]

NOTIFICATIONS = """async () => {
  const registration = await navigator.serviceWorker.ready;
  const shown = await registration.getNotifications();
  return shown.map((n) => ({
    title: n.title, body: n.body, tag: n.tag, lang: n.lang, data: n.data,
    icon: n.icon, badge: n.badge, requireInteraction: n.requireInteraction,
  }));
}"""


def _payload(notification_id: int, *, urgent: bool = False) -> dict[str, Any]:
    return {
        "id": notification_id,
        "kind": "poll",
        "urgent": urgent,
        "title": {"zh-Hant": "鄰里 · 投票", "en": "Linli · Poll"},
        "body": {"zh-Hant": "新投票：換大堂燈?", "en": "New poll: new lobby lights?"},
        "link": "/polls/3",
        "icon": "/static/icons/icon-192.png",
    }


class DevTools:
    """The page's DevTools session with the ServiceWorker domain on: it learns the
    registration's id from the events and hands the worker pushes."""

    def __init__(self, cdp: CDPSession, origin: str) -> None:
        self.cdp, self.origin = cdp, origin
        self.registrations: dict[str, str] = {}  # scope -> registration id
        cdp.on("ServiceWorker.workerRegistrationUpdated", self._registrations)

    def _registrations(self, event: dict[str, Any]) -> None:
        for r in event["registrations"]:
            if not r["isDeleted"]:
                self.registrations[r["scopeURL"]] = r["registrationId"]

    @classmethod
    async def attach(cls, page: Page, origin: str) -> DevTools:
        devtools = cls(await page.context.new_cdp_session(page), origin)
        await devtools.cdp.send("ServiceWorker.enable")
        return devtools

    async def registration_id(self, scope: str) -> str:
        for _ in range(100):
            if scope in self.registrations:
                return self.registrations[scope]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no registration for {scope}: {self.registrations}")

    async def push(self, registration_id: str, data: str) -> None:
        await self.cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": self.origin, "registrationId": registration_id, "data": data},
        )


async def _shown(page: Page, count: int) -> list[dict[str, Any]]:
    """The notifications on screen, once there are ``count`` (the worker shows them a moment
    after the push)."""
    shown: list[dict[str, Any]] = []
    for _ in range(100):
        shown = await page.evaluate(NOTIFICATIONS)
        if len(shown) >= count:
            break
        await asyncio.sleep(0.05)
    return sorted(shown, key=lambda n: n["tag"])


async def test_the_service_worker_shows_a_push_in_the_readers_language(
    new_page: NewPage, site: Site
) -> None:
    page = await new_page(locale="zh-TW")
    await page.context.grant_permissions(["notifications"], origin=site.url)
    devtools = await DevTools.attach(page, site.url)
    await log_in(page, "ann")

    # The installable app: the manifest is linked and says what it must; the icons are there.
    href = await page.locator("link[rel=manifest]").get_attribute("href")
    assert href == "/manifest.webmanifest"
    manifest = await (await page.request.get(href)).json()
    assert manifest["name"] == "鄰里 Linli" and manifest["short_name"] == "鄰里"
    assert (manifest["start_url"], manifest["display"]) == ("/", "standalone")
    assert manifest["theme_color"] == "#0b5394"
    for icon in manifest["icons"]:
        png = await (await page.request.get(icon["src"])).body()
        width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
        assert f"{width}x{height}" == icon["sizes"], icon
    assert {i.get("purpose", "any") for i in manifest["icons"]} == {"any", "maskable"}
    worker = await page.request.get("/sw.js")
    assert worker.headers["service-worker-allowed"] == "/"

    scope = await page.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)")
    assert scope == f"{site.url}/"
    registration = await devtools.registration_id(scope)

    await devtools.push(registration, json.dumps(_payload(41)))
    assert await _shown(page, 1) == [
        {
            "title": "鄰里 · 投票",
            "body": "新投票：換大堂燈?",
            "tag": "41",
            "lang": "zh-Hant",
            "data": {"link": "/polls/3"},
            "icon": f"{site.url}/static/icons/icon-192.png",
            "badge": f"{site.url}/static/icons/badge-96.png",
            "requireInteraction": False,
        }
    ]
    # The same push again (resent after a crash): it replaces the first, by its tag.
    await devtools.push(registration, json.dumps(_payload(41)))
    await asyncio.sleep(0.5)
    assert [n["tag"] for n in await _shown(page, 1)] == ["41"]

    # The reader switches to English: the next push is shown in English.
    await page.click("#lang-switch")
    await page.wait_for_function("document.documentElement.lang === 'en'")
    await page.wait_for_function("window.linliClient && window.linliClient.state === 'open'")
    # pwa.js leaves the page's language where the worker reads it (Cache Storage).
    await page.wait_for_function(
        """async () => {
          const stored = await (await caches.open("linli-prefs")).match("/__linli/prefs");
          return stored !== undefined && (await stored.json()).lang === "en";
        }"""
    )
    await devtools.push(registration, json.dumps(_payload(42, urgent=True)))
    shown = await _shown(page, 2)
    assert [(n["tag"], n["title"], n["body"], n["lang"]) for n in shown] == [
        ("41", "鄰里 · 投票", "新投票：換大堂燈?", "zh-Hant"),
        ("42", "Linli · Poll", "New poll: new lobby lights?", "en"),
    ]
    assert shown[1]["requireInteraction"] is True  # urgent: stays until seen

    # A push it cannot read still shows where it came from (a push must show something).
    await devtools.push(registration, "not json")
    untagged = [n for n in await _shown(page, 3) if n["tag"] == ""]
    assert [(n["title"], n["body"]) for n in untagged] == [("鄰里 Linli", "")]


async def _set_notification_permission(page: Page, origin: str, setting: str) -> None:
    """Block (or allow) notifications for the page's browser context, as the reader would in
    the browser's site settings."""
    cdp = await page.context.new_cdp_session(page)
    info = await cdp.send("Target.getTargetInfo")
    await cdp.send(
        "Browser.setPermission",
        {
            "permission": {"name": "notifications"},
            "setting": setting,
            "origin": origin,
            "browserContextId": info["targetInfo"]["browserContextId"],
        },
    )


async def test_notifications_are_offered_after_the_first_message(
    new_page: NewPage, site: Site
) -> None:
    amy = await new_page(locale="en-GB")
    await log_in(amy, "amy")
    offer = amy.locator("#push-offer")
    await asyncio.sleep(0.5)
    assert await offer.is_hidden()  # not on arrival
    await send(amy, "Morning, Block A")
    await expect(offer).to_be_visible()
    await expect(offer.locator("p").first).to_have_text(EN["push.offer.text"])
    await expect(amy.locator("#push-offer-enable")).to_have_text(EN["push.offer.enable"])
    await amy.click("#push-offer-dismiss")
    await expect(offer).to_be_hidden()
    # "Not now" is remembered on this device.
    await amy.reload()
    await amy.wait_for_function("window.linliClient && window.linliClient.state === 'open'")
    await send(amy, "Anyone for tea?")
    await asyncio.sleep(1)
    assert await offer.is_hidden()

    # Blocked notifications are never offered: only the browser's settings could undo it.
    ann = await new_page(locale="zh-TW")
    await _set_notification_permission(ann, site.url, "denied")
    await log_in(ann, "ann")
    assert await ann.evaluate("Notification.permission") == "denied"
    await send(ann, "早晨")
    await expect(ann.locator("#messages .message .text").last).to_have_text("早晨")
    await asyncio.sleep(1)
    assert await ann.locator("#push-offer").is_hidden()
    assert ZH["push.offer.text"] != EN["push.offer.text"]

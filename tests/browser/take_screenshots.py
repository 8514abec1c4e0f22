"""Take the README's screenshots of the chat page (phone 360 px and desktop) against the demo
neighbourhood: ``python -m tests.browser.take_screenshots``. Needs Chromium at /usr/bin/chromium
and, for the Chinese text and emoji to render, fonts (``apt-get install -y fonts-noto-cjk
fonts-noto-color-emoji``)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from playwright.async_api import Page, ViewportSize, async_playwright

from linli.demo import DEMO_PASSWORD, seed_demo
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.harness import Deployment, running

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


async def log_in(page: Page, username: str) -> None:
    await page.goto("/login")
    await page.fill("#username", username)
    await page.fill("#password", DEMO_PASSWORD)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_url("**/")
    await page.wait_for_selector(".room-link")  # a phone shows the room list first


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        deployment = Deployment(
            "embedded", f"sqlite:///{tmp}/linli.sqlite3", None, "linli:", Path(tmp)
        )
        store = await deployment.store()
        try:
            await seed_demo(store)
        finally:
            await store.close()
        async with running(deployment, LINLI_RUN_WORKERS="true") as server:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                lee_context = await browser.new_context(locale="zh-TW", base_url=server.http)
                lee = await lee_context.new_page()
                await log_in(lee, "lee")
                await lee.wait_for_selector("#messages .message")
                await lee.fill("#composer-text", "今晚七點大堂有街坊聚會，歡迎大家 🙂")
                await lee.press("#composer-text", "Enter")
                await lee.wait_for_selector("#messages .message:not(.pending) >> text=街坊聚會")
                shots = (
                    ("chat-phone.png", ViewportSize(width=360, height=780), "zh-TW", 2),
                    ("chat-desktop.png", ViewportSize(width=1280, height=800), "zh-TW", 1),
                    ("chat-desktop-en.png", ViewportSize(width=1280, height=800), "en-GB", 1),
                )
                for name, viewport, locale, scale in shots:
                    context = await browser.new_context(
                        locale=locale,
                        viewport=viewport,
                        device_scale_factor=scale,
                        base_url=server.http,
                    )
                    page = await context.new_page()
                    await log_in(page, "chan")
                    if viewport["width"] < 600:
                        # A phone opens on the room list; the room fills the screen.
                        await page.locator(".room-link").first.click()
                    await page.wait_for_selector("#messages .message")
                    await page.wait_for_selector("#online-list li >> nth=1", state="attached")
                    await page.fill("#composer-text", "好呀，我會帶糖水！")
                    await page.wait_for_timeout(300)
                    await page.screenshot(path=OUT / name)
                    await context.close()
                await browser.close()


if __name__ == "__main__":
    asyncio.run(main())

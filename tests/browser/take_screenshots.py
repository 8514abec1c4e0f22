"""Take the README's screenshots of the chat page (phone 360 px and desktop) and the guide's
(``docs/screenshots/guide/``: each main task on a phone and a desktop, in 繁體中文 and English)
against the demo neighbourhood:
``python -m tests.browser.take_screenshots [--guide-only | --readme-only | --only=<name>]``.
Needs Chromium at /usr/bin/chromium and, for the Chinese text and emoji to render, fonts
(``apt-get install -y fonts-noto-cjk fonts-noto-color-emoji``).

The guide's PNGs are cut to 256 colours (Pillow's quantize; the pages are flat colours and text,
so nothing visible is lost) and taken at one device pixel per CSS pixel: about 30 KB each
rather than 150-200 KB, so the 36 of them stay near 1 MB in the repository."""

from __future__ import annotations

import asyncio
import io
import sys
import tempfile
from pathlib import Path

from PIL import Image
from playwright.async_api import Browser, Page, ViewportSize, async_playwright

from linli.demo import DEMO_PASSWORD, seed_demo
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.harness import Deployment, running

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
GUIDE_OUT = OUT / "guide"

#: The guide's shots: the name (the guide's section anchor, docs/guide/), the page, and what to
#: do on it before the picture. Each is taken on a phone and a desktop, in both languages.
GUIDE_SHOTS: tuple[tuple[str, str], ...] = (
    ("chat", "/"),
    ("notices", "/notices"),
    ("forum", "/forum"),
    ("events", "/events"),
    ("requests", "/requests"),
    ("surveys", "/surveys"),
    ("meetings", "/meetings"),
    ("search", "/search?q=%E5%81%9C%E6%B0%B4"),  # 停水: the demo's water-cut notice
    ("elder-mode", "/"),
)
PHONE = ViewportSize(width=360, height=740)
DESKTOP = ViewportSize(width=1280, height=800)


async def log_in(page: Page, username: str) -> None:
    await page.goto("/login")
    await page.fill("#username", username)
    await page.fill("#password", DEMO_PASSWORD)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_url("**/")
    await page.wait_for_selector(".room-link")  # a phone shows the room list first


async def main(
    *, guide_only: bool = False, readme_only: bool = False, only: str | None = None
) -> None:
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
                if not readme_only:
                    await guide_shots(browser, server.http, only)
                if guide_only:
                    await browser.close()
                    return
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


async def guide_shot(
    browser: Browser, base: str, name: str, path: str, phone: bool, lang: str
) -> None:
    context = await browser.new_context(
        locale="zh-TW" if lang == "zh" else "en-GB",
        viewport=PHONE if phone else DESKTOP,
        base_url=base,
    )
    page = await context.new_page()
    await log_in(page, "chan")
    if name == "chat" and phone:
        await page.locator(".room-link").first.click()
    if path != "/":
        await page.goto(path)
    await page.wait_for_load_state("networkidle")
    if name == "chat":
        await page.wait_for_selector("#messages .message")
    if name == "elder-mode":
        if phone:
            await page.click("#menu-toggle")
        await page.click("#display-toggle")
        await page.click("button.text-size[data-size='150']")
        # The picture is the room at 150 %, the menu folded again (at 150 % a desktop folds it
        # too: lib/top-menu.js measures in rem).
        toggle = page.locator("#menu-toggle")
        if await toggle.get_attribute("aria-expanded") == "true":
            await toggle.click()
        if phone:
            await page.locator(".room-link").first.click()
        await page.wait_for_selector("#messages .message")
    await page.wait_for_timeout(400)
    png = await page.screenshot()
    await context.close()
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(256)
    image.save(GUIDE_OUT / f"{name}-{'phone' if phone else 'desktop'}-{lang}.png", optimize=True)


async def guide_shots(browser: Browser, base: str, only: str | None = None) -> None:
    GUIDE_OUT.mkdir(parents=True, exist_ok=True)
    for name, path in GUIDE_SHOTS:
        if only and name != only:
            continue
        for lang in ("zh", "en"):
            for phone in (True, False):
                await guide_shot(browser, base, name, path, phone, lang)


if __name__ == "__main__":
    # --only=<name>: just that guide shot (both widths and languages), e.g. --only=elder-mode.
    picked = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--only=")), None)
    asyncio.run(
        main(
            guide_only="--guide-only" in sys.argv or picked is not None,
            readme_only="--readme-only" in sys.argv,
            only=picked,
        )
    )

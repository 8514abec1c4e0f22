"""Browser tests: Playwright driving Debian's Chromium against the real server (both modes).

Chromium is found at ``/usr/bin/chromium`` (``apt-get install -y chromium``; ``.ci/run`` installs
it). Playwright's own browser download is never used. Without Chromium the tests are skipped
with the reason, except under ``CI=true``, where they fail — like the Redis and PostgreSQL tests.
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, Dialog, Page, expect

from tests.conftest import IN_CI
from tests.e2e.conftest import deployment  # noqa: F401  (the fixture, parametrised by mode)
from tests.e2e.harness import PASSWORD, Deployment, Neighbourhood, Server, running, seed

CHROMIUM = os.environ.get("LINLI_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Playwright waits at most this long for any one thing (a message showing up, a page loading).
STEP_MS = 10_000
# ``expect`` assertions wait for the same bound (their own default is 5 s, which a machine
# running the whole suite can exceed for a page that is right, just late).
expect.set_options(timeout=STEP_MS)
INVITE_CODE = "WELCOME2"
#: The message of every dialog each ``new_page`` page opened (``dialogs_of``); a Playwright
#: ``Page`` takes no attributes of ours.
_DIALOGS: weakref.WeakKeyDictionary[Page, list[str]] = weakref.WeakKeyDictionary()


def dialogs_of(page: Page) -> list[str]:
    """The messages of the dialogs (``alert``…) ``page``, opened by ``new_page``, showed."""
    return _DIALOGS[page]


def require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    message = f"Chromium needed at {CHROMIUM} (apt-get install -y chromium)"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: a missing browser fails the run)")
    pytest.skip(message)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class Site:
    server: Server
    hood: Neighbourhood
    deployment: Deployment

    @property
    def url(self) -> str:
        return self.server.http


@pytest.fixture
def server_env() -> dict[str, str]:
    """Extra settings for the test's server; a test overrides it with
    ``@pytest.mark.parametrize("server_env", [{...}])``."""
    return {}


@pytest.fixture
async def site(
    deployment: Deployment,  # noqa: F811
    server_env: dict[str, str],
) -> AsyncIterator[Site]:
    """The real server with the harness's neighbourhood (ann and amy in Block A, bob in B) and an
    invite code for Block A. A generous publish rate: tests write faster than people."""
    hood = await seed(deployment)
    store = await deployment.store()
    try:
        now = int(time.time() * 1000)
        await store.create_invite(
            hood.building_a, INVITE_CODE, uses=5, expires_at=now + 86_400_000, now=now
        )
    finally:
        await store.close()
    async with running(
        deployment,
        **{
            "LINLI_RUN_WORKERS": "true",
            "LINLI_PUBLISH_RATE": "100",
            "LINLI_PUBLISH_BURST": "200",
            **server_env,
        },
    ) as server:
        yield Site(server, hood, deployment)


NewPage = Callable[..., Awaitable[Page]]


@pytest.fixture
async def new_page(browser: Browser, site: Site) -> AsyncIterator[NewPage]:
    """Open a page in a context of its own (its own cookies: one resident each), with every
    dialog recorded and every script error failing the test."""
    contexts = []
    errors: list[str] = []

    async def make(
        locale: str = "zh-TW",
        width: int = 1280,
        height: int = 800,
        scale: float = 1,
        touch: bool = False,
    ) -> Page:
        """``scale``: device pixels per CSS pixel (a phone at 200 % zoom is half its width in
        CSS pixels at scale 2); ``touch``: a touch screen (``pointer: coarse``)."""
        context = await browser.new_context(
            locale=locale,
            viewport={"width": width, "height": height},
            device_scale_factor=scale,
            has_touch=touch,
            is_mobile=touch,
            base_url=site.url,
            # Playwright's waits evaluate strings, which the pages' CSP forbids; and the XSS test
            # must prove the escaping itself, not the CSP standing behind it.
            bypass_csp=True,
        )
        context.set_default_timeout(STEP_MS)
        contexts.append(context)
        page = await context.new_page()
        dialogs: list[str] = []
        _DIALOGS[page] = dialogs

        async def on_dialog(dialog: Dialog) -> None:
            dialogs.append(dialog.message)
            await dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda e: errors.append(str(e)))
        return page

    yield make
    for context in contexts:
        await context.close()
    assert errors == [], f"script errors in the page: {errors}"


async def log_in(page: Page, username: str, password: str = PASSWORD) -> None:
    await page.goto("/login")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_url("**/")
    # The room is live once the composer is enabled and the client says so.
    await page.wait_for_function("window.linliClient && window.linliClient.state === 'open'")

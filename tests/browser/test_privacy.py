"""Privacy in the browser (issue 21), in both modes: no page loads anything from another origin
(every page route's Content-Security-Policy names no other origin, and each main page loaded in
Chromium requests only the server's own origin); the privacy notice and the privacy settings
pass axe-core with no serious violation and do not scroll sideways at 360 px or on a desktop;
a resident downloads the ZIP from the settings page and deletes their account there."""

from __future__ import annotations

import io
import re
import zipfile
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Page, Request, expect
from starlette.routing import Route

from linli.catalogue import messages_of
from linli.features import FEATURES
from tests.browser.axe import AXE, require_axe, serious_violations
from tests.browser.conftest import NewPage, Site, log_in
from tests.e2e.harness import PASSWORD, login

ZH, EN = messages_of("zh-Hant"), messages_of("en")

#: Pages a resident opens, and staff pages a moderator opens.
RESIDENT_PAGES = [
    "/", "/groups", "/help", "/rules", "/polls", "/inbox", "/settings/notifications",
    "/surveys", "/notices", "/requests", "/events", "/meetings", "/forum", "/search?q=水",
    "/privacy", "/settings/privacy",
]  # fmt: skip
STAFF_PAGES = ["/mod", "/notices/new", "/requests/queue", "/surveys/new"]
PUBLIC_PAGES = ["/login", "/register", "/privacy", "/help"]
#: Sources a directive may name: nothing of another origin.
_OWN = {"'self'", "'none'", "data:"}


async def all_violations(page: Page) -> list[str]:
    """Every axe-core violation of the page, whatever its impact (the pages' own: serious or
    critical ones are also checked by ``serious_violations``)."""
    require_axe()

    await page.add_script_tag(path=str(AXE))
    found = await page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [f"{v['id']} ({v['impact']}) at {[n['target'] for n in v['nodes']]}" for v in found]


def page_paths() -> list[str]:
    """Every GET route that is not the API, a parameter filled with a value of its type."""
    paths = []
    for feature in FEATURES:
        for route in feature.routes:
            if not isinstance(route, Route) or route.path.startswith("/api/"):
                continue
            if route.methods is not None and "GET" not in route.methods:
                continue
            path = re.sub(r"\{[a-z_]+:int\}", "1", route.path)
            paths.append(re.sub(r"\{[a-z_]+\}", "nothing-here", path))
    return paths


def foreign_sources(csp: str, site: Site) -> list[str]:
    """The sources in ``csp`` that are neither keywords nor this server's own origins."""
    server = site.server
    own = {f"ws://127.0.0.1:{server.ws_port}", f"wss://127.0.0.1:{server.ws_port}"}
    found = []
    for directive in csp.split(";"):
        for source in directive.split()[1:]:
            if source not in _OWN and source not in own:
                found.append(source)
    return found


async def test_every_page_has_a_csp_naming_no_other_origin(site: Site) -> None:
    paths = page_paths()
    assert "/privacy" in paths and "/settings/privacy" in paths and len(paths) > 40
    checked = 0
    for who in (None, "ann", "mo"):
        cookies = {"linli_session": await login(site.server, who)} if who else {}
        async with httpx.AsyncClient(base_url=site.url, cookies=cookies, timeout=30) as http:
            for path in paths:
                response = await http.get(path, headers={"Accept": "text/html"})
                if "text/html" not in response.headers.get("content-type", ""):
                    continue  # a CSV, a calendar, the manifest, a redirect to the login
                csp = response.headers.get("content-security-policy")
                assert csp, f"{path} as {who}: no Content-Security-Policy"
                assert foreign_sources(csp, site) == [], (path, who, csp)
                assert "script-src 'self'" in csp and "default-src 'self'" in csp
                # And no markup pointing elsewhere (a <script src>, a font, a tracking pixel).
                assert not re.search(r"""(src|href)=["']?(https?:)?//""", response.text), path
                checked += 1
    assert checked >= 3 * 20, checked


def _record(page: Page) -> list[str]:
    requested: list[str] = []

    def on_request(request: Request) -> None:
        requested.append(request.url)

    page.on("request", on_request)
    return requested


def _foreign(urls: list[str], site: Site) -> list[str]:
    own = {f"127.0.0.1:{site.server.port}", f"127.0.0.1:{site.server.ws_port}"}
    return [
        u
        for u in urls
        if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).netloc not in own
    ]


async def test_the_main_pages_request_only_their_own_origin(site: Site, new_page: NewPage) -> None:
    visitor = await new_page()
    requested = _record(visitor)
    for path in PUBLIC_PAGES:
        await visitor.goto(path, wait_until="networkidle")
    resident, staff = await new_page(), await new_page()
    await log_in(resident, "ann")
    await log_in(staff, "mo")
    requested_by_resident, requested_by_staff = _record(resident), _record(staff)
    for page, paths in ((resident, RESIDENT_PAGES), (staff, STAFF_PAGES)):
        for path in paths:
            response = await page.goto(path, wait_until="networkidle")
            assert response is not None and response.status == 200, path
    everything = requested + requested_by_resident + requested_by_staff
    assert len(everything) > 3 * len(RESIDENT_PAGES)  # pages, scripts, styles, the socket
    assert _foreign(everything, site) == []


@pytest.mark.parametrize(("width", "height"), [(360, 740), (1280, 800)])
async def test_privacy_pages_are_accessible(
    site: Site, new_page: NewPage, width: int, height: int
) -> None:
    page = await new_page(width=width, height=height)
    await page.goto("/register")
    await expect(page.locator("a[href='/privacy']").first).to_be_visible()
    await page.goto("/privacy")
    await expect(page.locator("h1")).to_have_text(ZH["privacy.notice.title"])
    assert await serious_violations(page) == []
    assert await all_violations(page) == []
    assert await page.evaluate("document.documentElement.scrollWidth") <= width
    await log_in(page, "ann")
    for path, title in (("/settings/privacy", "privacy.settings.title"), ("/privacy", None)):
        await page.goto(path)
        if title:
            await expect(page.locator("h1")).to_have_text(ZH[title])
        assert await serious_violations(page) == [], path
        assert await all_violations(page) == [], path
        assert await page.evaluate("document.documentElement.scrollWidth") <= width, path
    english = await new_page(locale="en-GB", width=width, height=height)
    await log_in(english, "amy")
    await english.goto("/settings/privacy")
    await expect(english.locator("h1")).to_have_text(EN["privacy.settings.title"])
    assert await serious_violations(english) == []
    assert await all_violations(english) == []


async def test_download_and_delete_from_the_settings_page(site: Site, new_page: NewPage) -> None:
    page = await new_page(width=360, height=740)
    await log_in(page, "ann")
    await page.goto("/settings/privacy")
    async with page.expect_download() as download_info:
        await page.click("#export-link")
    download = await download_info.value
    path = await download.path()
    assert path is not None
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
        assert "data.json" in archive.namelist() and "messages.csv" in archive.namelist()
    # A wrong password says so by the field and deletes nothing.
    # The last confirmation (window.confirm) is answered yes; the test's dialog recorder would
    # dismiss it.
    await page.evaluate("window.confirm = () => true")
    await page.fill("#password", "not my password")
    await page.click("#delete-form button[type=submit]")
    await expect(page.locator("#password-error")).to_have_text(ZH["errors.wrong_password.password"])
    await page.fill("#password", PASSWORD)
    await page.click("#delete-form button[type=submit]")
    await page.wait_for_url("**/login?deleted=1")
    await page.fill("#username", "ann")
    await page.fill("#password", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#form-error")).to_have_text(ZH["errors.wrong_credentials"])

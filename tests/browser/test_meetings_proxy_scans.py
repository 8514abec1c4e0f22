"""Staff attach the scan of a paper proxy form (委託書) on the chair's page, in Chromium: the
form with a phone photo (a JPEG made with Pillow) records the proxy and its scan, the roll then
links it; a file that is not a PDF or an image is refused in 繁體中文 and nothing is recorded;
a form without a scan needs "scan to follow", and its scan is added later from the roll; axe
finds nothing serious on the page (design 0022, "Proxy scans")."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import Browser, FilePayload, expect

from tests.browser.axe import require_axe, serious_violations
from tests.browser.conftest import browser  # noqa: F401  (fixture)
from tests.browser.test_meetings import OWNERS, Night, _page, night  # noqa: F401  (fixture)
from tests.e2e.conftest import deployment  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[2]
ZH = json.loads((ROOT / "web/locales/meetings/zh-Hant.json").read_text("utf-8"))
UPLOADS = json.loads((ROOT / "web/locales/uploads/zh-Hant.json").read_text("utf-8"))
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (120, 160), (240, 240, 230)).save(out, "JPEG", quality=85)
    return out.getvalue()


@pytest.mark.parametrize("deployment", ["embedded"], indirect=True)
async def test_staff_attach_the_scan_of_a_paper_proxy(
    browser: Browser,  # noqa: F811
    night: Night,  # noqa: F811
) -> None:
    require_axe()
    chair = await _page(
        browser, night.server, night.community.cookies["lam"][1], width=1280, locale="zh-TW",
        axe=True,
    )  # fmt: skip
    await chair.goto(f"/meetings/{night.meeting_id}/run")
    await expect(chair.locator("#roll-body tr")).to_have_count(OWNERS)
    form = chair.locator("#paper-proxy")
    units = await chair.locator("#pp-unit option").all_inner_texts()
    u1 = next(u for u in units if u.endswith("U1"))
    u2 = next(u for u in units if u.endswith("U2"))
    error = chair.locator("#pp-error")

    # Not a PDF or an image: refused in the reader's words, nothing recorded.
    await chair.select_option("#pp-unit", label=u1)
    await chair.fill("#pp-name", "黃先生")
    await chair.fill("#pp-ref", "委託書 #7")
    await chair.set_input_files(
        "#pp-scan", files=FilePayload(name="form.pdf", mimeType="application/pdf", buffer=b"hi")
    )
    await form.get_by_role("button", name=ZH["meetings.paperproxy.submit"]).click()
    await expect(error).to_have_text(UPLOADS["errors.upload_type_not_allowed"])
    row1 = chair.locator("#roll-body tr", has_text=u1)
    await expect(row1.locator("td").nth(5)).to_have_text("")

    # The form with a phone photo of it: the proxy and its scan, linked from the roll.
    image = photo()
    await chair.set_input_files(
        "#pp-scan", files=FilePayload(name="IMG_0007.jpg", mimeType="image/jpeg", buffer=image)
    )
    await form.get_by_role("button", name=ZH["meetings.paperproxy.submit"]).click()
    link = row1.get_by_role("link", name="查看掃描（IMG_0007.jpg）")
    await expect(link).to_be_visible()
    await expect(error).to_be_hidden()
    href = await link.get_attribute("href")
    assert href is not None
    got = await chair.request.get(href)
    assert got.status == 200 and await got.body() == image
    assert got.headers["cache-control"].startswith("private")

    # No scan: refused unless "scan to follow" is ticked; then added from the roll.
    await chair.select_option("#pp-unit", label=u2)
    await chair.fill("#pp-name", "陳太太")
    await form.get_by_role("button", name=ZH["meetings.paperproxy.submit"]).click()
    await expect(error).to_have_text(ZH["errors.meeting_proxy_scan_required"])
    await chair.get_by_label(ZH["meetings.paperproxy.to_follow"]).check()
    await form.get_by_role("button", name=ZH["meetings.paperproxy.submit"]).click()
    row2 = chair.locator("#roll-body tr", has_text=u2)
    await expect(row2).to_contain_text(ZH["meetings.scan.to_follow"])
    add = row2.get_by_label(f"補上 {u2} 的委託書掃描")
    await add.set_input_files(
        files=FilePayload(name="委託書 8.pdf", mimeType="application/pdf", buffer=PDF)
    )
    await expect(row2.get_by_role("link", name="查看掃描（委託書 8.pdf）")).to_be_visible()
    await expect(row2).not_to_contain_text(ZH["meetings.scan.to_follow"])
    assert await serious_violations(chair) == []
    assert chair.errors == []  # type: ignore[attr-defined]

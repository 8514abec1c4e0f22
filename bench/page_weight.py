"""Page weight and time to first message of the chat page on a throttled connection.

``python -m bench.page_weight --url http://127.0.0.1:8000 [--runs 5] [--user chan]``

Against a running Linli (``linli demo``), Chromium (the system's, as the browser tests use) at
360x740 logs in as ``--user``, then opens ``--path`` (``/#building:1``: chan's building room, as
a phone opens it from the room list or a notification) with the network slowed by Chromium's
own emulation (CDP ``Network.emulateNetworkConditions``: ``--rtt`` ms of latency,
``--down``/``--up`` kbit/s; the defaults, 150 ms and 1.6 Mbit/s down, 750 kbit/s up, are
Lighthouse's "slow 4G", which DevTools calls "Fast 3G"). For each run, in a fresh browser context:

* **cold**: the first visit, nothing cached: the bytes transferred (the sum of CDP's
  ``encodedDataLength`` of every HTTP response: headers and compressed bodies; the WebSocket's
  frames are not counted) and the time from the navigation's start to the first message drawn
  in the log (``#messages li.message``, seen by a MutationObserver installed before any page
  script);
* **warm**: the same page opened again in that context (what every later visit costs).

Prints the medians (and every run) as JSON. docs/performance.md, "The chat page on a slow
line", has the figures and the commands that made them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
from dataclasses import asdict, dataclass
from typing import Any

from playwright.async_api import Browser, BrowserContext, async_playwright

#: Installed before the page's scripts: the time (ms since the navigation started) at which the
#: first message appears in the log.
FIRST_MESSAGE_PROBE = """
window.__firstMessageAt = null;
new MutationObserver((records, observer) => {
  if (document.querySelector("#messages li.message")) {
    window.__firstMessageAt = performance.now();
    observer.disconnect();
  }
}).observe(document, { subtree: true, childList: true });
"""


#: ``--detail``: each response's size, largest first, on stderr.
DETAIL = False


@dataclass(frozen=True)
class Load:
    """One page load: bytes over the network, the responses counted, and the first message."""

    kb: float
    responses: int
    first_message_ms: float


async def _load(context: BrowserContext, url: str, conditions: dict[str, Any]) -> Load:
    page = await context.new_page()
    cdp = await context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send("Network.emulateNetworkConditions", conditions)
    sizes: dict[str, float] = {}
    urls: dict[str, str] = {}
    cdp.on(
        "Network.loadingFinished",
        lambda event: sizes.__setitem__(event["requestId"], event["encodedDataLength"]),
    )
    cdp.on(
        "Network.responseReceived",
        lambda event: urls.__setitem__(
            event["requestId"], f"{event['response']['status']} {event['response']['url']}"
        ),
    )
    await page.add_init_script(FIRST_MESSAGE_PROBE)
    await page.goto(url, wait_until="load")
    await page.wait_for_function("window.__firstMessageAt !== null", timeout=60_000)
    first = float(await page.evaluate("window.__firstMessageAt"))
    # What the page fetches after its first message (history pages, avatars) counts too.
    await page.wait_for_load_state("networkidle")
    await page.close()
    if DETAIL:
        for request_id, size in sorted(sizes.items(), key=lambda kv: -kv[1]):
            print(f"{size / 1024:8.1f} KB  {urls.get(request_id, '?')}", file=sys.stderr)
    kb = round(sum(sizes.values()) / 1024, 1)
    return Load(kb=kb, responses=len(sizes), first_message_ms=first)


async def _one_run(
    browser: Browser, base: str, path: str, user: str, password: str, conditions: dict[str, Any]
) -> tuple[Load, Load]:
    context = await browser.new_context(
        locale="zh-TW",
        viewport={"width": 360, "height": 740},
        base_url=base,
        # Playwright's waits evaluate strings, which the pages' CSP forbids (as in the browser
        # tests); it changes nothing that is fetched.
        bypass_csp=True,
    )
    try:
        # The log-in is not part of the page's weight: done over the API, unthrottled.
        answer = await context.request.post(
            f"{base}/api/login", data={"username": user, "password": password}
        )
        if not answer.ok:
            raise SystemExit(f"log-in as {user} failed: {answer.status} {await answer.text()}")
        cold = await _load(context, base + path, conditions)
        warm = await _load(context, base + path, conditions)
        return cold, warm
    finally:
        await context.close()


def _median(loads: list[Load]) -> dict[str, float]:
    return {
        "kb": statistics.median(x.kb for x in loads),
        "responses": statistics.median(x.responses for x in loads),
        "first_message_ms": round(statistics.median(x.first_message_ms for x in loads)),
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    conditions = {
        "offline": False,
        "latency": args.rtt,
        # CDP wants bytes per second.
        "downloadThroughput": args.down * 1000 / 8,
        "uploadThroughput": args.up * 1000 / 8,
    }
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium)
        try:
            runs = [
                await _one_run(
                    browser, args.url.rstrip("/"), args.path, args.user, args.password, conditions
                )
                for _ in range(args.runs)
            ]
        finally:
            await browser.close()
    return {
        "url": args.url.rstrip("/") + args.path,
        "network": {"rtt_ms": args.rtt, "down_kbps": args.down, "up_kbps": args.up},
        "cold": _median([cold for cold, _ in runs]),
        "warm": _median([warm for _, warm in runs]),
        "runs": [{"cold": asdict(c), "warm": asdict(w)} for c, w in runs],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.page_weight",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--path", default="/#building:1")
    parser.add_argument("--user", default="chan")
    parser.add_argument("--password", default="linli-demo")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rtt", type=float, default=150, help="latency, ms")
    parser.add_argument("--down", type=float, default=1600, help="download, kbit/s")
    parser.add_argument("--up", type=float, default=750, help="upload, kbit/s")
    parser.add_argument("--detail", action="store_true", help="each response's size, on stderr")
    args = parser.parse_args()
    global DETAIL
    DETAIL = args.detail
    if not 1 <= args.runs <= 50:
        sys.exit("--runs is 1 to 50")
    json.dump(asyncio.run(measure(args)), sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()

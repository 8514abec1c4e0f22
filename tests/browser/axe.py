"""axe-core in the browser tests: the serious and critical accessibility violations of a page
(``node_modules/axe-core``, from ``npm ci``; under ``CI=true`` a missing copy fails the run)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page

from tests.conftest import IN_CI

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


def require_axe() -> None:
    if AXE.exists():
        return
    message = f"axe-core needed at {AXE} (npm ci)"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: a missing tool fails the run)")
    pytest.skip(message)


async def serious_violations(page: Page) -> list[str]:
    """What axe finds of impact serious or critical, one line each."""
    require_axe()
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in result
        if v["impact"] in ("serious", "critical")
    ]

"""``python -m bench.events_rush`` still runs (embedded, 40 residents for 8 places: a few
seconds), so CI notices when a change breaks the rush benchmark — not a measurement. The bench
checks its own result (exactly 8 confirmed, 32 waitlisted in order) and fails otherwise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.mark.timeout(90)
def test_events_rush_smoke() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.events_rush", "--residents", "40", "--capacity", "8"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=80,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "exact every run (8 confirmed, 32 waitlisted in order)" in proc.stdout
    assert "reply p99:" in proc.stdout

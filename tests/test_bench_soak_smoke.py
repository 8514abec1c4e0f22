"""The soak run still runs: ``python -m bench.soak`` in the embedded mode for a few seconds
(chat, reconnects, votes and a stalled reader against the real server), so CI notices when a
change breaks it — not a measurement: the hour-long figures are in docs/performance.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.mark.timeout(150)
def test_soak_smoke_embedded(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    # A 12 s run is mostly warm-up: its RSS says nothing (an hour's does), hence the loose bound.
    argv = (
        "--mode embedded --seconds 12 --subscribers 20 --rooms 4 --rooms-each 2 --rate 20 "
        "--voters 5 --stall-every 5 --sample-seconds 2 --rss-bound-mb 100"
    ).split()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.soak", *argv, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=140,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    counts = report["counts"]
    assert counts["acked"] > 0
    assert report["stored_messages"] == counts["acked"]
    assert counts["gaps"] == counts["duplicates"] == 0
    assert counts["deliveries"] > 0 and counts["reconnects"] > 0
    assert report["tally"]["exact"] is True
    assert counts["stalled_opened"] >= 2
    assert report["samples"] and "server" in report["flat"]
    assert "verdict: flat, nothing lost" in proc.stdout

"""The benchmark suite still runs: ``python -m bench run --smoke`` for Linli's embedded mode and
scenario S1 only (a second of fan-out to 100 sockets; no Redis, no PostgreSQL, no peers), so CI
notices when a change to the core or the protocol breaks ``bench/`` — not a measurement."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.mark.timeout(90)
def test_smoke_embedded_s1(tmp_path: Path) -> None:
    out = tmp_path / "smoke.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "run",
            "--smoke",
            "--servers",
            "linli-embedded",
            "--scenarios",
            "s1",
            "--core",
            "worktree",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    s1 = report["summary"]["s1"]["linli-embedded"]
    assert "error" not in s1, s1
    assert s1["subscribers"] == 100
    assert s1["deliveries"] == s1["messages"] * 100 > 0
    assert s1["lost"] == 0
    assert report["versions"]["python"] == sys.version.split()[0]
    assert "| linli-embedded |" in proc.stdout

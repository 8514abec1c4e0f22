"""The benchmark suite still runs: ``python -m bench run --smoke`` for Linli's embedded mode and
scenario S1 (a second of fan-out to 100 sockets; no Redis, no PostgreSQL, no peers), for the Node
peers (S1 and S4, under the CPU quota), and for S4 on scaled Linli with its persist check, so CI
notices when a change to the core or the protocol breaks ``bench/`` — not a measurement."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.servers import node_peers_installed

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


def _bench(tmp_path: Path, servers: str, scenarios: str, *extra: str) -> dict[str, Any]:
    out = tmp_path / "smoke.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--smoke", "--servers", servers,
         "--scenarios", scenarios, "--core", "worktree", "--out", str(out), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=150,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report: dict[str, Any] = json.loads(out.read_text())
    return report


@pytest.mark.timeout(180)
def test_smoke_node_peers_s1_and_s4(tmp_path: Path) -> None:
    """The Node peers (``make test`` and ``python -m bench setup`` install them) start, speak
    the peers' protocol and deliver everything, under the quota where cgroups allow it."""
    if not node_peers_installed():
        if os.environ.get("CI"):
            pytest.fail("Node peers not installed: npm ci --prefix bench/peers/node")
        pytest.skip("Node peers not installed (python -m bench setup)")
    report = _bench(tmp_path, "node-ws,node-ws-redis,node-socketio", "s1,s4", "--quota", "0.5")
    for name in ("node-ws", "node-ws-redis", "node-socketio"):
        s1 = report["summary"]["s1"][name]
        assert "error" not in s1, s1
        assert s1["deliveries"] == s1["messages"] * 100 > 0
        s4 = report["summary"]["s4"][name]
        assert "error" not in s4, s4
        assert s4["acked"] > 0 and s4["lost"] == 0, s4
    quota = report["quota"]
    assert quota["cores"] == 0.5
    assert quota["applied"] or quota["reason"]


@pytest.mark.timeout(180)
def test_smoke_linli_s4_persisted_once(tmp_path: Path) -> None:
    """S4 on scaled Linli (Redis and PostgreSQL): every acknowledged publish is delivered to its
    room and, after the persist worker ran, stored exactly once."""
    report = _bench(tmp_path, "linli", "s4")
    s4 = report["summary"]["s4"]["linli"]
    assert "error" not in s4, s4
    assert s4["acked"] > 0 and s4["refused"] == 0 and s4["lost"] == 0, s4
    assert s4["persisted"] == s4["acked"], s4
    assert s4["persisted_once"] is True

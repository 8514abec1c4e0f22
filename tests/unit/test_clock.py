"""linli.clock: the system clock reads the host's time, the manual one moves only when told."""

from __future__ import annotations

import ast
import time
from pathlib import Path

import pytest

import linli.clock
from linli.clock import Clock, ManualClock, SystemClock, system_clock

FIRST_PARTY = {"gateway", "channels", "presence", "persistence", "workers", "web", "tests", "bench"}


def test_system_clock_reads_the_hosts_clocks() -> None:
    before_ms = time.time_ns() // 1_000_000
    before_monotonic = time.monotonic()
    now_ms = system_clock.now_ms()
    monotonic = system_clock.monotonic()
    assert isinstance(now_ms, int)
    assert before_ms <= now_ms <= time.time_ns() // 1_000_000
    assert before_monotonic <= monotonic <= time.monotonic()
    assert isinstance(system_clock, SystemClock)


def test_manual_clock_stands_still_until_advanced() -> None:
    clock = ManualClock(now_ms=1_700_000_000_000, monotonic=50.0)
    assert (clock.now_ms(), clock.monotonic()) == (1_700_000_000_000, 50.0)
    assert (clock.now_ms(), clock.monotonic()) == (1_700_000_000_000, 50.0)
    clock.advance(1.5)
    assert (clock.now_ms(), clock.monotonic()) == (1_700_000_001_500, 51.5)
    clock.advance(0)
    assert clock.now_ms() == 1_700_000_001_500


def test_manual_clock_adds_up_fractions_of_a_millisecond() -> None:
    clock = ManualClock()
    for _ in range(4):
        clock.advance(0.00025)
    assert clock.now_ms() == 1
    assert clock.monotonic() == pytest.approx(0.001)


def test_setting_the_wall_clock_leaves_the_monotonic_one() -> None:
    clock = ManualClock(now_ms=10_000, monotonic=3.0)
    clock.set_now_ms(4_000)  # the host's clock was set back
    assert (clock.now_ms(), clock.monotonic()) == (4_000, 3.0)


def test_manual_clock_refuses_to_go_back() -> None:
    clock = ManualClock(now_ms=10_000)
    with pytest.raises(ValueError, match=r"expected seconds >= 0 .*got -1"):
        clock.advance(-1)
    assert clock.now_ms() == 10_000


def test_both_clocks_are_clocks() -> None:
    clocks: list[Clock] = [SystemClock(), ManualClock()]  # mypy checks the Protocol here
    assert all(isinstance(clock.now_ms(), int) for clock in clocks)


def test_clock_imports_no_other_first_party_package() -> None:
    """linli/clock.py is vocabulary: importable from every layer without a cycle, so of the first
    party it imports only the other vocabulary module."""
    tree = ast.parse(Path(linli.clock.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    first_party = {name for name in imported if name.split(".")[0] in FIRST_PARTY | {"linli"}}
    assert first_party == {"linli.types"}

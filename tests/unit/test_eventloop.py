"""``LINLI_EVENT_LOOP`` picks the loop the processes run on (linli/eventloop.py)."""

from __future__ import annotations

import inspect

import pytest

from linli.config import load_settings
from linli.eventloop import loop_name, run


async def _which() -> str:
    return loop_name()


def test_auto_runs_uvloop_where_installed() -> None:
    pytest.importorskip("uvloop")
    assert run(_which(), "auto") == "uvloop"
    assert run(_which(), "uvloop") == "uvloop"


def test_asyncio_runs_the_standard_loop() -> None:
    assert run(_which(), "asyncio") == "asyncio"


def test_an_unknown_loop_is_refused_at_start_up_with_its_name() -> None:
    with pytest.raises(ValueError, match="LINLI_EVENT_LOOP must be one of auto, uvloop, asyncio"):
        load_settings({"LINLI_EVENT_LOOP": "trio"})
    coro = _which()
    with pytest.raises(ValueError, match="'trio'"):
        run(coro, "trio")
    assert inspect.getcoroutinestate(coro) == inspect.CORO_CLOSED  # not "never awaited"

"""The organiser's close (``web.polls.actions.close_poll``), in both modes on the
real backends: it is a scheduled close a moment ahead, and when the write of the new closing
time is slow — so slow that a copy of the poll read before it could outlive that time in some
gateway's cache — the close moves its time later again before waiting for it."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.polls.events import CLOSE_DELAY_MS, WRITE_MARGIN_SECONDS
from linli.config import Settings, load_settings
from linli.runtime import Runtime, open_runtime
from persistence.polls import PollDraft, PollState
from persistence.polls.sql import SqlPollStore
from persistence.store import Role
from web.polls.actions import close_poll


@pytest.fixture(params=["embedded", "scaled"])
def settings(request: pytest.FixtureRequest) -> Settings:
    if request.param == "embedded":
        return load_settings({}, database_url=request.getfixturevalue("sqlite_url"))
    return load_settings(
        {},
        database_url=request.getfixturevalue("postgres_schema_url"),
        redis_url=request.getfixturevalue("redis_url"),
        key_prefix=request.getfixturevalue("redis_prefix"),
    )


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    async with open_runtime(settings, migrate_first=True) as rt:
        yield rt


async def _open_poll(rt: Runtime) -> int:
    store = rt.store
    building = await store.create_building("B", now=1)
    organiser = await store.create_user(
        username="org",
        display_name="Org",
        password_hash="-",
        role=Role.ORGANISER,
        building_id=building.id,
        unit_label=None,
        now=1,
    )
    draft = PollDraft(channel=f"building:{building.id}", question="Q", options=("a", "b"))
    poll = await SqlPollStore(store.database).create_poll(
        draft, created_by=organiser.id, join_code="J", projector_token="t", now=1
    )
    await SqlPollStore(store.database).open_poll(poll.id, now=2)
    return poll.id


async def test_close_is_scheduled_ahead_and_moved_when_its_write_was_slow(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    poll_id = await _open_poll(runtime)

    # Fast: one write, the close at its scheduled time.
    started = int(time.time() * 1000)
    closed, changed = await close_poll(runtime, poll_id, actor_id=None)
    assert changed and closed.state is PollState.CLOSED
    assert closed.closed_at == closed.draft.closes_at
    assert closed.draft.closes_at is not None
    assert closed.draft.closes_at - started >= CLOSE_DELAY_MS
    assert (await close_poll(runtime, poll_id, actor_id=None)) == (closed, False)  # idempotent

    # Slow: the first write returns after more than the margin; the time is moved.
    second = await _open_poll_again(runtime)
    schedule = SqlPollStore.schedule_close
    calls: list[dict[str, Any]] = []

    async def slow_first(
        self: SqlPollStore, poll_id: int, *, at: int, replacing: int | None = None
    ) -> Any:
        poll = await schedule(self, poll_id, at=at, replacing=replacing)
        calls.append({"at": at, "replacing": replacing})
        if len(calls) == 1:
            await asyncio.sleep(WRITE_MARGIN_SECONDS + 0.2)
        return poll

    monkeypatch.setattr(SqlPollStore, "schedule_close", slow_first)
    closed, changed = await close_poll(runtime, second, actor_id=None)
    assert changed and len(calls) == 2
    assert calls[1]["replacing"] == calls[0]["at"] and calls[1]["at"] > calls[0]["at"] + 500
    assert closed.closed_at == closed.draft.closes_at == calls[1]["at"]


async def _open_poll_again(rt: Runtime) -> int:
    polls = await SqlPollStore(rt.store.database).list_polls("building:1")
    draft = dataclasses.replace(polls[0].draft, closes_at=None)
    poll = await SqlPollStore(rt.store.database).create_poll(
        draft, created_by=polls[0].created_by, join_code="K", projector_token="u", now=3
    )
    await SqlPollStore(rt.store.database).open_poll(poll.id, now=4)
    return poll.id

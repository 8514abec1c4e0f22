"""Shared by the polls end-to-end tests and the browser test: a building of many voters with
sessions made directly in the store (logging 500 people in through argon2 would measure the
password hash, not the polls), an organiser, and a poll driven through the real HTTP API."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx

from persistence.store import Role
from tests.e2e.harness import Client, Deployment, Server, seed
from web.sessions import new_token, token_hash


@dataclass
class Voters:
    building_id: int
    #: username → (user id, session cookie)
    cookies: dict[str, tuple[int, str]]
    organiser: str
    outsider: str  # lives in another building


async def make_voters(deployment: Deployment, count: int) -> Voters:
    hood = await seed(deployment)
    store = await deployment.store()
    try:
        now = int(time.time() * 1000)
        cookies: dict[str, tuple[int, str]] = {}

        async def person(name: str, role: Role, building: int, unit: str | None) -> None:
            user = await store.create_user(
                username=name,
                display_name=name.title(),
                password_hash="-",  # nobody logs in with a password here
                role=role,
                building_id=building,
                unit_label=unit,
                now=now,
            )
            token = new_token()
            await store.create_session(
                token_hash(token), user.id, expires_at=now + 86_400_000, now=now
            )
            cookies[name] = (user.id, token)

        await person("org", Role.ORGANISER, hood.building_a, "G1")
        await person("outsider", Role.RESIDENT, hood.building_b, "9Z")
        for i in range(count):
            # Two voters per unit, so the household rule has something to count.
            await person(f"v{i:04d}", Role.RESIDENT, hood.building_a, f"U{i // 2}")
        return Voters(hood.building_a, cookies, "org", "outsider")
    finally:
        await store.close()


class PollApi:
    """The organiser's side, through the real HTTP API."""

    def __init__(self, server: Server, cookie: str) -> None:
        self.client = httpx.AsyncClient(
            base_url=server.http, cookies={"linli_session": cookie}, timeout=20
        )

    async def create(self, **fields: Any) -> dict[str, Any]:
        response = await self.client.post("/api/polls", json=fields)
        assert response.status_code == 201, response.text
        return response.json()["poll"]  # type: ignore[no-any-return]

    async def post(self, path: str, expect: int = 200, **fields: Any) -> dict[str, Any]:
        response = await self.client.post(path, json=fields)
        assert response.status_code == expect, response.text
        return response.json()  # type: ignore[no-any-return]

    async def get(self, path: str, expect: int = 200) -> httpx.Response:
        response = await self.client.get(path)
        assert response.status_code == expect, response.text
        return response

    async def open(self, poll_id: int) -> dict[str, Any]:
        return (await self.post(f"/api/polls/{poll_id}/open"))["poll"]  # type: ignore[no-any-return]

    async def close(self, poll_id: int) -> dict[str, Any]:
        return (await self.post(f"/api/polls/{poll_id}/close"))["poll"]  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        await self.client.aclose()


async def connect_many(
    server: Server, cookies: list[str], *, concurrency: int = 50
) -> list[Client]:
    gate = asyncio.Semaphore(concurrency)

    async def one(cookie: str) -> Client:
        async with gate:
            return await Client.connect(server, cookie)

    return list(await asyncio.gather(*(one(c) for c in cookies)))


async def close_all(clients: list[Client]) -> None:
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


async def latest_tally(
    watcher: Client, until: Any, timeout: float = 30.0
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read the watcher's tally pushes until ``until(tally)`` holds; the last tally and every
    tally seen."""
    seen: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, f"no tally matched; last seen {seen[-1:] or None}"
        push = await watcher.push("pub", timeout=remaining)
        data = push["data"]
        if data.get("kind") != "tally":
            continue
        seen.append(data)
        if until(data):
            return data, seen

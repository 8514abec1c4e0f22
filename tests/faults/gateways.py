"""Gateways for the fault suite: the harness' ``Server``, given longer to start. On the shared
two-core machine a start missed the harness' 20 s at a load of 20 (six other sessions)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from tests.e2e.harness import Deployment, Server

START_TIMEOUT = 60.0


@contextlib.asynccontextmanager
async def gateway(deployment: Deployment, **env: str) -> AsyncIterator[Server]:
    server = await Server(deployment, **env).start(timeout=START_TIMEOUT)
    try:
        yield server
    finally:
        await server.stop()

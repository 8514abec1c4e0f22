"""Picks the backends from the settings, in one place: the rest of the code sees only the
interfaces (Store, Broker, WorkQueue, Presence). A ``Runtime`` is the ``linli.feature.Services``
every feature is given."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from channels.broker import Broker
from channels.workqueue import WorkQueue
from linli.clock import Clock, system_clock
from linli.config import Settings
from linli.live import LiveSettings
from persistence.audit import AuditLog
from persistence.audit.sql import SqlAuditLog
from persistence.db import Database
from persistence.factory import open_store
from persistence.migrate import migrate
from persistence.store import Store
from persistence.timers import TimerStore
from persistence.timers.sql import SqlTimerStore
from presence.presence import Presence

if TYPE_CHECKING:
    import redis.asyncio as aioredis


#: Connections to Redis per process, and how long a command waits for a free one (seconds).
#: 100 is redis-py's default size; blocking rather than raising is the change.
REDIS_POOL_SIZE = 100
REDIS_POOL_TIMEOUT = 10.0
#: Under Redis Cluster, connections per node: redis-py's cluster client has no blocking pool, it
#: fails a command when a node's pool is exhausted, so the limit is set high enough not to be met.
REDIS_CLUSTER_NODE_CONNECTIONS = 1000


@dataclass(eq=False)
class Runtime:
    settings: Settings
    store: Store
    broker: Broker
    work_queue: WorkQueue
    presence: Presence
    redis: aioredis.Redis | aioredis.RedisCluster | None
    clock: Clock = system_clock
    audit: AuditLog = field(init=False)
    timers: TimerStore = field(init=False)
    #: The admin's run-time settings as this process last heard them (``linli/live.py``).
    live: LiveSettings = field(default_factory=LiveSettings)

    def __post_init__(self) -> None:
        self.audit = SqlAuditLog(self.database)
        self.timers = SqlTimerStore(self.database)

    @property
    def database(self) -> Database:
        return self.store.database


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings, *, migrate_first: bool | None = None
) -> AsyncIterator[Runtime]:
    if settings.migrate_at_start if migrate_first is None else migrate_first:
        await migrate(settings.database_url)
    store = await open_store(settings.database_url)
    import redis.asyncio as aioredis  # only the scaled mode needs it loaded

    redis_client: aioredis.Redis | aioredis.RedisCluster | None = None
    try:
        if settings.embedded:
            from channels.broker_memory import MemoryBroker
            from presence.presence_memory import MemoryPresence

            memory_broker = MemoryBroker(store.max_offset, history_size=settings.history_size)
            broker: Broker = memory_broker
            work_queue: WorkQueue = memory_broker.work_queue
            presence: Presence = MemoryPresence(ttl=settings.presence_ttl)
        else:
            from channels.broker_redis import RedisBroker
            from channels.keys import ClusterKeys, Keys
            from channels.workqueue_redis import RedisWorkQueue
            from presence.presence_redis import RedisPresence

            assert settings.redis_url is not None
            prefix = settings.key_prefix
            keys: Keys
            if settings.redis_cluster:
                # Design 0034: keys and shard channels placed by slot.
                redis_client = aioredis.RedisCluster.from_url(
                    settings.redis_url, max_connections=REDIS_CLUSTER_NODE_CONNECTIONS
                )
                keys = ClusterKeys(prefix, settings.persist_shards)
            else:
                # A blocking pool: when every connection is busy (a thousand sockets closing at
                # once each leaving presence), wait for one instead of failing with "Too many
                # connections"; a Redis that is really gone still fails after the timeout.
                pool = aioredis.BlockingConnectionPool.from_url(
                    settings.redis_url,
                    max_connections=REDIS_POOL_SIZE,
                    timeout=REDIS_POOL_TIMEOUT,
                )
                redis_client = aioredis.Redis(connection_pool=pool)
                keys = Keys(prefix)
            broker = RedisBroker(
                redis_client,
                store.max_offset,
                keys=keys,
                history_size=settings.history_size,
                wait_replicas=settings.redis_wait_replicas,
            )
            work_queue = RedisWorkQueue(redis_client, keys=keys)
            presence = RedisPresence(redis_client, prefix=prefix, ttl=settings.presence_ttl)
        runtime = Runtime(settings, store, broker, work_queue, presence, redis_client)
        try:
            yield runtime
        finally:
            await broker.close()
            await presence.close()
    finally:
        if isinstance(redis_client, aioredis.RedisCluster):
            await redis_client.aclose()
        elif redis_client is not None:
            # The pool was passed in, so the client does not close it by itself.
            await redis_client.aclose(close_connection_pool=True)
        await store.close()

"""Every kind of worker, by the name ``linli worker <name>`` and the Procfile use. The embedded
mode runs one of each as a task."""

from __future__ import annotations

from collections.abc import Callable

from linli.runtime import Runtime
from workers.base import Worker
from workers.moderation import ModerationWorker
from workers.persist import PersistWorker
from workers.votes import VotesWorker

WORKERS: dict[str, Callable[[Runtime], Worker]] = {
    "persist": lambda runtime: PersistWorker(runtime.work_queue, runtime.store),
    "moderation": lambda runtime: ModerationWorker(
        runtime.work_queue, runtime.store, runtime.broker
    ),
    "votes": lambda runtime: VotesWorker(
        runtime.work_queue,
        runtime.store,
        runtime.broker,
        tally_rate=runtime.settings.poll_tally_rate,
    ),
}

"""Operators' metrics in the Prometheus text format (``GET /metrics``, docs/operations.md).

prometheus-client is imported on first use, not with this module: its multiprocess mode (several
``linli serve --workers`` processes, one scrape) is chosen from ``PROMETHEUS_MULTIPROC_DIR`` when
the library is imported, and ``linli serve`` sets that before its processes start.

The hot path never calls the library: the gateway keeps plain totals (``gateway/stats.py``) and
``sample`` copies them here every few seconds; gauges are set from the gateway's state at the
same time. HTTP requests and worker batches, a few per second, are counted directly.
"""

from __future__ import annotations

import os
from collections import Counter as Tally
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

#: Seconds between two samples of the gateway's totals.
SAMPLE_EVERY = 2.0


class Metrics:
    def __init__(self) -> None:
        import prometheus_client as pc

        self._pc = pc
        live: dict[str, Any] = {"multiprocess_mode": "livesum"}
        self.connections = pc.Gauge("linli_connections", "Open WebSocket connections", **live)
        self.subscriptions = pc.Gauge(
            "linli_subscriptions", "Channel subscriptions of open connections", **live
        )
        self.hubs = pc.Gauge("linli_hubs", "Channels with a hub (subscribed here)", **live)
        self.publications = pc.Counter(
            "linli_publications", "Publications fanned out to this process's subscribers"
        )
        self.deliveries = pc.Counter("linli_deliveries", "Frames queued to subscribers' sockets")
        self.closes = pc.Counter(
            "linli_ws_closes", "WebSocket connections closed, by close code", ["code"]
        )
        self.recoveries = pc.Counter(
            "linli_recoveries", "Reconnects that recovered what they missed, or not", ["outcome"]
        )
        self.resets = pc.Counter("linli_channel_resets", "Channel positions that jumped (reload)")
        self.broker_reconnects = pc.Counter(
            "linli_broker_reconnects", "Links to the broker re-established"
        )
        self.http_requests = pc.Counter(
            "linli_http_requests", "HTTP requests by route and status", ["route", "status"]
        )
        self.http_seconds = pc.Histogram(
            "linli_http_request_duration_seconds", "HTTP request time by route", ["route"]
        )
        self.batch_seconds = pc.Histogram(
            "linli_worker_batch_duration_seconds", "Worker batch time by queue", ["queue"]
        )
        self.login_failures = pc.Counter("linli_login_failures", "Wrong passwords")
        # The login throttle (web/throttle.py, design 0024): checked attempts by outcome
        # (ok, wrong, invite_ok, invite_wrong), attempts answered 429 unchecked by the kind of
        # key that had to wait (user, ip, device, invite-ip), logins a device cookie exempted.
        self.login_checks = pc.Counter(
            "linli_login_checks", "Login and invite attempts checked, by outcome", ["outcome"]
        )
        self.login_delayed = pc.Counter(
            "linli_login_delayed", "Attempts answered 429 unchecked, by key kind", ["kind"]
        )
        self.login_known_device = pc.Counter(
            "linli_login_known_device", "Logins counted against a device cookie"
        )
        self.aborts = pc.Counter(
            "linli_ws_aborts", "Closes not finished within the close deadline: connection reset"
        )
        # Chat messages acked and not yet seen in the database (design 0033): kept by the
        # publishing gateway, re-submitted after a Redis loss, dropped beyond the bound.
        self.acked_unpersisted = pc.Gauge(
            "linli_acked_unpersisted",
            "Acked chat messages this gateway has not yet seen in the database",
            **live,
        )
        self.acked_resubmitted = pc.Counter(
            "linli_acked_resubmitted", "Acked chat messages published again after Redis lost them"
        )
        self.acked_dropped = pc.Counter(
            "linli_acked_dropped",
            "Acked chat messages forgotten unconfirmed (over LINLI_ACKED_BUFFER_BYTES)",
        )
        self._copied: Tally[str] = Tally()

    def sample(
        self,
        *,
        connections: int,
        subscriptions: int,
        hubs: int,
        stats: Mapping[str, int],
        acked: int = 0,
    ) -> None:
        """Set the gauges and add to the counters what the totals grew by since last time."""
        self.acked_unpersisted.set(acked)
        self.connections.set(connections)
        self.subscriptions.set(subscriptions)
        self.hubs.set(hubs)
        for key, total in stats.items():
            grown = total - self._copied[key]
            if grown <= 0:
                continue
            self._copied[key] = total
            name, _, label = key.partition(":")
            if name == "publications":
                self.publications.inc(grown)
            elif name == "deliveries":
                self.deliveries.inc(grown)
            elif name == "closes":
                self.closes.labels(code=label).inc(grown)
            elif name == "recoveries":
                self.recoveries.labels(outcome=label).inc(grown)
            elif name == "resets":
                self.resets.inc(grown)
            elif name == "broker_reconnects":
                self.broker_reconnects.inc(grown)
            elif name == "aborts":
                self.aborts.inc(grown)
            elif name == "acked_resubmitted":
                self.acked_resubmitted.inc(grown)
            elif name == "acked_dropped":
                self.acked_dropped.inc(grown)

    def registry(self) -> CollectorRegistry:
        """What a scrape reads: every process's values in the multiprocess mode, else this
        process's."""
        from prometheus_client import REGISTRY, multiprocess
        from prometheus_client import CollectorRegistry as Registry

        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = Registry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return registry
        return REGISTRY

    def render(
        self,
        queues: Mapping[tuple[str, str], tuple[int, int]],
        throttle: Mapping[str, tuple[int, int]] | None = None,
    ) -> bytes:
        """The text exposition: the metrics above, the work queues' backlog and pending
        entries per (queue, group), and the login throttle's state per key kind (failures in
        the window, keys delayed), both read by the caller from shared state at scrape time."""
        from prometheus_client.core import GaugeMetricFamily

        pc = self._pc
        backlog = GaugeMetricFamily(
            "linli_queue_backlog",
            "Entries a worker group has not read yet",
            labels=["queue", "group"],
        )
        pending = GaugeMetricFamily(
            "linli_queue_pending", "Entries read and not acked", labels=["queue", "group"]
        )
        for (queue, group), (lag, unacked) in sorted(queues.items()):
            backlog.add_metric([queue, group], lag)
            pending.add_metric([queue, group], unacked)

        in_window = GaugeMetricFamily(
            "linli_login_window_failures",
            "Failed logins and invite codes in the throttle's window, by key kind",
            labels=["kind"],
        )
        delayed = GaugeMetricFamily(
            "linli_login_keys_delayed",
            "Throttle keys past their free failures (their next attempt must wait)",
            labels=["kind"],
        )
        for kind, (failures, waiting) in sorted((throttle or {}).items()):
            in_window.add_metric([kind], failures)
            delayed.add_metric([kind], waiting)

        class _Queues:
            def collect(self) -> list[GaugeMetricFamily]:
                return [backlog, pending, in_window, delayed]

        extra = pc.CollectorRegistry()
        extra.register(_Queues())
        return bytes(pc.generate_latest(self.registry()) + pc.generate_latest(extra))


_metrics: Metrics | None = None


def metrics() -> Metrics:
    """The process's metrics, made on first use."""
    global _metrics
    if _metrics is None:
        _metrics = Metrics()
    return _metrics


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

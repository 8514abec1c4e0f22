"""The one way a feature plugs into Linli: a ``Feature`` record, listed once in
``linli/features.py``, and the ``Services`` it is given.

Everything that wires a feature in reads that list: the web app takes its routes, the gateway
calls its ``install``, the workers' registry (``linli worker <name>``, the embedded mode's tasks)
takes its workers, the timers worker its timer handlers and recurring jobs, and the login path
its checks. A feature never imports ``linli.runtime``: it is handed ``Services``, a Protocol that
the runtime satisfies and a test can satisfy with anything of the same shape.

This module is vocabulary: it imports no first-party package at run time (the names below the
``TYPE_CHECKING`` guard are for the type checker only), so every layer may import it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from channels.broker import Broker
    from channels.workqueue import WorkQueue
    from gateway.gateway import Gateway
    from linli.clock import Clock
    from linli.config import Settings
    from linli.live import LiveSettings
    from linli.periods import Period
    from linli.types import BuildingId, Millis
    from persistence.audit import AuditLog
    from persistence.db import Database
    from persistence.moderation import HeldMessage
    from persistence.store import Store, User
    from persistence.timers import TimerJob, TimerStore
    from presence.presence import Presence


class Services(Protocol):
    """What a feature may use, the same in both modes (the runtime provides it)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def store(self) -> Store:
        """The core records (users, groups, history)."""

    @property
    def database(self) -> Database:
        """The shared database, for the feature's own store (``persistence/<feature>/``)."""

    @property
    def broker(self) -> Broker: ...

    @property
    def work_queue(self) -> WorkQueue: ...

    @property
    def presence(self) -> Presence: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def timers(self) -> TimerStore:
        """Schedule a time-based transition (``workers/timers.py`` runs it)."""

    @property
    def audit(self) -> AuditLog:
        """The one audit log of staff actions."""

    @property
    def live(self) -> LiveSettings:
        """The admin's run-time settings as this process last heard them."""


class Runnable(Protocol):
    """A long-running worker: ``workers.base.Worker`` (a work queue's consumer) or the timers
    worker. ``queue`` names it in logs and task names."""

    @property
    def queue(self) -> str: ...

    async def run(self, stop: asyncio.Event) -> None: ...

    async def run_until_idle(self) -> object: ...


class LoginRefused(Exception):
    """Raised by a login check to refuse a login whose password was right (a banned account);
    the web layer answers 403 with ``code``, ``message`` and ``extra`` (a ban's ``reason``, its
    appeal's token and, once appealed, the appeal)."""

    def __init__(self, code: str, message: str, **extra: object) -> None:
        super().__init__(message)
        self.code, self.message, self.extra = code, message, extra


#: Run after the password was found right and before the session starts; raises
#: ``LoginRefused`` to refuse.
LoginCheck = Callable[["Services", "User"], Awaitable[None]]
#: Carries out one due timer job (``workers/timers.py``): idempotent, since a job whose process
#: died before it was marked done runs again.
TimerHandler = Callable[["TimerJob"], Awaitable[None]]


@dataclass(frozen=True)
class NavItem:
    """A link in the top bar (``web/templates/base.html``), for signed-in users."""

    href: str
    #: The catalogue key of its label.
    label: str
    #: The ``page`` names (the templates' context) on which it is the current link.
    pages: tuple[str, ...]
    #: Where it goes in the bar, smallest first (chat 10, groups 20, polls 30 …).
    order: int = 50
    #: Shown only to roles holding this duty (``linli.roles.Can``'s value); None: to everyone.
    duty: str | None = None


@dataclass(frozen=True)
class Figure:
    """One of the community's figures (``web/figures/``) a feature computes for a period and a
    place from its stored rows. ``label`` and ``definition`` are catalogue keys: the page shows
    the definition beside the value."""

    key: str
    label: str
    definition: str
    #: None: nothing to measure yet (e.g. a share of zero requests).
    value: float | None
    #: ``count`` (of things), ``people`` (a count of persons: under 5 is shown as "< 5"),
    #: ``share`` (0–1), ``duration`` (milliseconds), ``score`` (e.g. 1–5).
    unit: str = "count"
    #: The plan's target, where it sets one (0.8 for 80 %); same unit as ``value``.
    target: float | None = None
    #: For a share or score: how many persons it is over (under 5: shown as "< 5").
    people: int | None = None
    #: The section of the page it belongs to (a catalogue key), e.g. ``figures.section.requests``.
    section: str = ""
    #: Values for ``label``'s placeholders, for rows named by what they count (one row per
    #: invite poster: ``(("code", "K7QM2X9A"), ("building", "Block A"))``). The definition's
    #: term is the catalogue's ``<label>_term`` when it has one.
    args: tuple[tuple[str, str], ...] = ()


#: A feature's figures for ``[period.start, period.end)`` in one building (None: everywhere).
FigureSource = Callable[["Services", "Period", "BuildingId | None"], Awaitable[Sequence[Figure]]]


@dataclass(frozen=True)
class Demo:
    """What a feature's demo seeding is given (``linli/demo.py`` makes the people first)."""

    store: Store
    #: The demo's people by username (``linli/demo.py`` ``PEOPLE``).
    users: Mapping[str, User]
    #: The buildings' ids, Block A first.
    buildings: Sequence[BuildingId]
    now: Millis
    #: The neighbourhood's time zone (``LINLI_TIME_ZONE``).
    zone: tzinfo


#: Fills a feature's part of the demo neighbourhood, straight into its store (the demo is
#: seeded before the server starts, so nothing may go through the work queue).
DemoSeed = Callable[[Demo], Awaitable[None]]
#: Writes a held message a moderator approved (``Feature.held_publishers``): its offset or id,
#: or None when its place is gone.
HeldPublisher = Callable[["Services", "HeldMessage"], Awaitable["int | None"]]
#: Names places of a feature's channel kind as people know them (a forum topic: its category
#: and title), in the reader's language (``zh-Hant``, ``en``), for pages that list items of every
#: feature (moderation's queue, the audit log): ``{channel: name}`` for those it can name.
PlaceNamer = Callable[["Services", "Sequence[str]", str], Awaitable["Mapping[str, str]"]]


@dataclass(frozen=True)
class Feature:
    """A feature's whole contribution; every field but ``name`` is optional."""

    #: The folder name in every layer (``persistence/<name>/``, ``web/<name>/``…).
    name: str
    #: Called once per gateway process before it starts: registers wire ops, access rules,
    #: publish checks and control handlers on the gateway (``Gateway.register_op`` …).
    install: Callable[[Gateway, Services], object] | None = None
    #: HTTP routes (API and pages), added to the web app in the order of the features list.
    routes: Sequence[BaseRoute] = ()
    #: Workers by the name ``linli worker <name>`` and the Procfile use.
    workers: Mapping[str, Callable[[Services], Runnable]] = field(default_factory=dict)
    #: Timer handlers by job kind (``<feature>.<what>``, e.g. ``polls.close``).
    timers: Mapping[str, Callable[[Services], TimerHandler]] = field(default_factory=dict)
    #: Jobs that always exist, one per kind (a daily digest, a retention sweep): kind -> when
    #: it is first due (milliseconds, from the services' clock and settings). The timers worker
    #: schedules each when it starts, under the key = its kind, only if that is sooner than the
    #: job already there: a job never made (a new installation) or lost is made, one that
    #: exists keeps its time. Each run of the kind's handler schedules the next.
    recurring: Mapping[str, Callable[[Services], int]] = field(default_factory=dict)
    login_checks: Sequence[LoginCheck] = ()
    #: Its links in the top bar.
    nav: Sequence[NavItem] = ()
    #: Puts every document of the feature into the search index afresh (``linli search
    #: reindex``, the demo); how many. Between rebuilds, the feature's actions index as they go.
    reindex: Callable[[Store, Millis], Awaitable[int]] | None = None
    #: Its figures on the community-figures page (``web/figures/``).
    figures: FigureSource | None = None
    #: The feature's demo content (``linli demo``: every feature populated).
    demo: DemoSeed | None = None
    #: Who writes a message moderation held for review once a moderator approves it, by the
    #: kind of the place it was held in (``topic``, ``category`` for the forum); chat rooms'
    #: held messages are published by moderation itself. Returns the message's offset or id.
    held_publishers: Mapping[str, HeldPublisher] = field(default_factory=dict)
    #: Who names the places of its channel kinds (``topic``, ``category`` for the forum), so
    #: moderation shows a held or reported post's place by name without importing the feature.
    #: Chat rooms (``building``, ``group``) are named by moderation itself.
    place_namers: Mapping[str, PlaceNamer] = field(default_factory=dict)

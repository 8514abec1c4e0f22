"""Every feature of Linli, in one list: the one place a feature is wired in
(``linli/feature.py`` says what a ``Feature`` holds and who reads it).

The order matters where routes could overlap: the core's come first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import cast

from gateway.admin import ops as admin_ops
from gateway.events import ops as events_ops
from gateway.forum import ops as forum_ops
from gateway.meetings import ops as meetings_ops
from gateway.meetings.events import OBJECTIONS_TIMER, REMINDER_TIMER
from gateway.messages import ops as messages_ops
from gateway.moderation import ops as moderation_ops
from gateway.notices import ops as notices_ops
from gateway.notices.events import EXPIRE_TIMER as NOTICE_EXPIRE_TIMER
from gateway.notices.events import PUBLISH_TIMER as NOTICE_PUBLISH_TIMER
from gateway.notifications import ops as notifications_ops
from gateway.photos import ops as photos_ops
from gateway.polls import ops as polls_ops
from gateway.privacy import ops as privacy_ops
from gateway.requests import ops as requests_ops
from gateway.requests.events import DIGEST_TIMER as REQUESTS_DIGEST
from gateway.requests.events import OVERDUE_TIMER as REQUESTS_OVERDUE
from linli.clock import ManualClock
from linli.feature import Feature, NavItem, Runnable, Services, TimerHandler
from linli.live import LiveSettings, zone_name, zone_of
from linli.roles import Can
from linli.types import Millis
from persistence.activity.sql import SqlActivityStore
from persistence.admin.sql import SqlAdminStore
from persistence.events import CONFIRM_TIMEOUT_KIND, ENDED_KIND, PROMOTED_KIND, REMINDER_KIND
from persistence.moderation.sql import SqlModerationStore
from persistence.notifications import Channel
from persistence.notifications.sql import SqlNotificationStore
from persistence.polls.sql import SqlPollStore
from persistence.search.sql import SqlSearchStore
from web import metrics_api, openapi
from web.admin import actions as admin_actions
from web.admin import api as admin_api
from web.admin import pages as admin_pages
from web.admin.demo import seed_admin
from web.api import ROUTES as CORE_API_ROUTES
from web.events import actions as events_actions
from web.events import api as events_api
from web.events import figures as events_figures
from web.events import pages as events_pages
from web.events import search as events_search
from web.events.demo import seed_events
from web.figures import api as figures_api
from web.figures import demo as figures_demo
from web.figures import pages as figures_pages
from web.forum import actions as forum_actions
from web.forum import api as forum_api
from web.forum import pages as forum_pages
from web.forum import search as forum_search
from web.forum.demo import seed as forum_demo
from web.forum.figures import figure_source as forum_figures
from web.meetings import actions as meetings_actions
from web.meetings import api as meetings_api
from web.meetings import pages as meetings_pages
from web.meetings import search as meetings_search
from web.meetings.demo import seed_demo as meetings_demo
from web.moderation import actions as moderation_actions
from web.moderation import api as moderation_api
from web.moderation import audit as moderation_audit
from web.moderation import figures as moderation_figures
from web.moderation import pages as moderation_pages
from web.notices import actions as notices_actions
from web.notices import api as notices_api
from web.notices import figures as notices_figures
from web.notices import pages as notices_pages
from web.notices import search as notices_search
from web.notices.demo import seed_notices
from web.notifications import api as notifications_api
from web.notifications import pages as notifications_pages
from web.notifications import push_api, unsubscribe
from web.onboard import actions as onboard_actions
from web.onboard import api as onboard_api
from web.onboard import figures as onboard_figures
from web.onboard import pages as onboard_pages
from web.pages import PAGE_ROUTES
from web.photos import actions as photos_actions
from web.photos import api as photos_api
from web.polls import actions as polls_actions
from web.polls import api as polls_api
from web.polls import pages as polls_pages
from web.privacy import actions as privacy_actions
from web.privacy import api as privacy_api
from web.privacy import pages as privacy_pages
from web.requests import actions as requests_actions
from web.requests import api as requests_api
from web.requests import figures as requests_figures
from web.requests import pages as requests_pages
from web.requests import search as requests_search
from web.requests.demo import seed_requests
from web.rooms import api as rooms_api
from web.search import actions as search_actions
from web.search import api as search_api
from web.search import pages as search_pages
from web.surveys import actions as surveys_actions
from web.surveys import api as surveys_api
from web.surveys import figures as surveys_figures
from web.surveys import pages as surveys_pages
from web.surveys import search as surveys_search
from web.surveys.demo import seed_surveys
from workers.activity import ActivityWorker
from workers.chat_notify import ChatNotifyWorker
from workers.deliver import DeliveryWorker, Sender
from workers.deliver_email import EmailSender
from workers.deliver_push import PushSender
from workers.live import LiveFollower
from workers.mail.compose import Composer
from workers.mail.smtp import SmtpTransport
from workers.moderation import ModerationWorker
from workers.notify import NotifyWorker
from workers.notify_timers import DIGEST_KIND, PRUNE_KIND, NotificationTimers
from workers.persist import PersistWorker
from workers.search import ChatSearchWorker, SearchWorker
from workers.timers import TimerWorker
from workers.votes import VotesWorker

CORE = Feature(
    name="core",
    nav=[
        NavItem("/", "nav.chat", ("chat",), order=10),
        NavItem("/groups", "nav.groups", ("groups",), order=20),
    ],
    routes=[*CORE_API_ROUTES, *openapi.ROUTES, *PAGE_ROUTES, *metrics_api.ROUTES],
    workers={"persist": lambda s: PersistWorker(s.work_queue, s.store)},
)

MODERATION = Feature(
    name="moderation",
    install=moderation_ops.install,
    routes=[*moderation_api.ROUTES, *moderation_pages.ROUTES, *moderation_audit.ROUTES],
    workers={
        "moderation": lambda s: ModerationWorker(
            s.work_queue, SqlModerationStore(s.database), s.broker, clock=s.clock
        )
    },
    login_checks=[moderation_api.refuse_banned],
    figures=moderation_figures.figure_source,
    timers={
        moderation_actions.PURGE_TIMER: lambda s: partial(moderation_actions.on_purge_timer, s)
    },
    recurring={moderation_actions.PURGE_TIMER: moderation_actions.next_purge},
)

# Chat message basics (issue 22): read positions, edits and deletes by their authors. After
# moderation: its history view reads what moderation's view marked.
MESSAGES = Feature(name="messages", install=messages_ops.install)

# Photos in chat rooms (issue 22): uploaded over HTTP, named by a publish.
PHOTOS = Feature(
    name="photos",
    install=photos_ops.install,
    routes=photos_api.ROUTES,
    timers={photos_actions.UNSENT_TIMER: lambda s: partial(photos_actions.on_unsent_timer, s)},
    recurring={photos_actions.UNSENT_TIMER: photos_actions.next_unsent},
)

POLLS = Feature(
    name="polls",
    nav=[NavItem("/polls", "nav.polls", ("polls", "poll"), order=30)],
    install=polls_ops.install,
    routes=[*polls_api.ROUTES, *polls_pages.ROUTES],
    workers={
        "votes": lambda s: VotesWorker(
            s.work_queue,
            SqlPollStore(s.database),
            s.broker,
            tally_rate=s.settings.poll_tally_rate,
        )
    },
    timers={"polls.close": lambda s: partial(polls_actions.on_close_timer, s)},
)


def notification_timers(services: Services) -> NotificationTimers:
    return NotificationTimers(
        SqlNotificationStore(services.database),
        services.timers,
        zone=lambda: zone_of(services),
        email=services.settings.email_enabled,
        retention_days=services.settings.notification_days,
        clock=services.clock,
    )


NOTIFICATIONS = Feature(
    name="notifications",
    nav=[NavItem("/settings/notifications", "nav.notify_settings", ("notify_settings",), order=90)],
    install=notifications_ops.install,
    routes=[
        *notifications_api.ROUTES,
        *notifications_pages.ROUTES,
        *unsubscribe.ROUTES,
        *push_api.ROUTES,
    ],
    workers={
        # Before "notify": on a shutdown the embedded mode drains the workers in this order, and
        # what chat-notify queues last must still find the notify worker draining after it.
        "chat-notify": lambda s: ChatNotifyWorker(
            s.work_queue, s.store, SqlNotificationStore(s.database), clock=s.clock
        ),
        "notify": lambda s: NotifyWorker(
            s.work_queue,
            SqlNotificationStore(s.database),
            s.broker,
            zone=zone_of(s),
            clock=s.clock,
            email=s.settings.email_enabled,
            current_zone=lambda: zone_of(s),
        ),
        "deliver": lambda s: DeliveryWorker(
            SqlNotificationStore(s.database), delivery_senders(s), clock=s.clock
        ),
    },
    timers={
        DIGEST_KIND: lambda s: notification_timers(s).digest,
        PRUNE_KIND: lambda s: notification_timers(s).prune,
    },
    recurring={
        DIGEST_KIND: lambda s: notification_timers(s).next_digest(s.clock.now_ms()),
        PRUNE_KIND: lambda s: notification_timers(s).next_prune(s.clock.now_ms()),
    },
)

MEETINGS = Feature(
    name="meetings",
    nav=[
        NavItem(
            "/meetings",
            "meetings.nav",
            ("meetings/list", "meetings/meeting", "meetings/run", "meetings/register"),
            order=35,
        )
    ],
    install=meetings_ops.install,
    routes=[*meetings_api.ROUTES, *meetings_pages.ROUTES],
    timers={
        REMINDER_TIMER: lambda s: partial(meetings_actions.on_reminder_timer, s),
        OBJECTIONS_TIMER: lambda s: partial(meetings_actions.on_objections_timer, s),
    },
    demo=meetings_demo,
    reindex=meetings_search.reindex,
)

FORUM = Feature(
    name="forum",
    nav=[
        NavItem("/forum", "forum.nav", ("forum/index", "forum/category", "forum/topic"), order=25)
    ],
    install=forum_ops.install,
    routes=[*forum_api.ROUTES, *forum_pages.ROUTES],
    figures=forum_figures,
    demo=forum_demo,
    reindex=forum_search.reindex,
    held_publishers=forum_actions.HELD_PUBLISHERS,
    place_namers=forum_actions.PLACE_NAMERS,
)

EVENTS = Feature(
    name="events",
    nav=[
        NavItem(
            "/events",
            "events.nav",
            ("events/list", "events/event", "events/manage", "events/checkin"),
            order=40,
        )
    ],
    install=events_ops.install,
    routes=[*events_api.ROUTES, *events_pages.ROUTES],
    timers={
        CONFIRM_TIMEOUT_KIND: lambda s: partial(events_actions.on_confirm_timeout, s),
        PROMOTED_KIND: lambda s: partial(events_actions.on_promoted, s),
        REMINDER_KIND: lambda s: partial(events_actions.on_reminder, s),
        ENDED_KIND: lambda s: partial(events_actions.on_ended, s),
    },
    demo=seed_events,
    figures=events_figures.figure_source,
    reindex=events_search.reindex,
)

SURVEYS = Feature(
    name="surveys",
    nav=[
        NavItem(
            "/surveys",
            "surveys.nav",
            ("surveys/list", "surveys/answer", "surveys/results", "surveys/edit"),
            order=45,
        )
    ],
    routes=[*surveys_api.ROUTES, *surveys_pages.ROUTES],
    timers={
        surveys_actions.OPEN_TIMER: lambda s: partial(surveys_actions.on_open_timer, s),
        surveys_actions.CLOSE_TIMER: lambda s: partial(surveys_actions.on_close_timer, s),
        surveys_actions.REMINDER_TIMER: lambda s: partial(surveys_actions.on_reminder_timer, s),
        surveys_actions.MONTHLY_TIMER: lambda s: partial(surveys_actions.on_monthly_timer, s),
    },
    recurring={
        surveys_actions.MONTHLY_TIMER: lambda s: surveys_actions.next_monthly(
            s.clock.now_ms(), zone_of(s)
        )
    },
    figures=surveys_figures.figure_source,
    reindex=surveys_search.reindex,
    demo=seed_surveys,
)

REQUESTS = Feature(
    name="requests",
    nav=[
        NavItem("/requests", "requests.nav", ("requests/list", "requests/view"), order=40),
        NavItem(
            "/requests/queue",
            "requests.nav_queue",
            ("requests/queue", "requests/figures", "requests/settings"),
            order=41,
            duty=Can.HANDLE_REQUESTS.value,
        ),
    ],
    install=requests_ops.install,
    routes=[*requests_api.ROUTES, *requests_pages.ROUTES],
    timers={
        REQUESTS_OVERDUE: lambda s: partial(requests_actions.on_overdue_timer, s),
        REQUESTS_DIGEST: lambda s: partial(requests_actions.on_digest_timer, s),
    },
    recurring={REQUESTS_DIGEST: requests_actions.next_digest},
    demo=seed_requests,
    figures=requests_figures.figure_source,
    reindex=requests_search.reindex,
)


FIGURES = Feature(
    name="figures",
    routes=[*figures_api.ROUTES, *figures_pages.ROUTES],
    workers={
        "metrics": lambda s: ActivityWorker(
            s.work_queue,
            SqlActivityStore(s.database),
            zone=zone_of(s),
            current_zone=lambda: zone_of(s),
        )
    },
    nav=[NavItem("/figures", "figures.nav", ("figures",), order=80, duty=Can.SEE_FIGURES)],
    demo=figures_demo.seed,
)


NOTICES = Feature(
    name="notices",
    nav=[
        NavItem(
            "/notices",
            "notices.nav",
            ("notices/list", "notices/view", "notices/edit", "notices/archive", "notices/doors"),
            order=15,
        )
    ],
    install=notices_ops.install,
    routes=[*notices_api.ROUTES, *notices_pages.ROUTES],
    timers={
        NOTICE_PUBLISH_TIMER: lambda s: partial(notices_actions.on_publish_timer, s),
        NOTICE_EXPIRE_TIMER: lambda s: partial(notices_actions.on_expire_timer, s),
    },
    demo=seed_notices,
    reindex=notices_search.reindex,
    figures=notices_figures.figure_source,
)

ADMIN = Feature(
    name="admin",
    install=admin_ops.install,
    demo=seed_admin,
    nav=[NavItem("/admin", "admin.nav", admin_pages.PAGES, order=95, duty=Can.ADMINISTER.value)],
    routes=[*admin_api.ROUTES, *admin_pages.ROUTES],
    login_checks=[admin_actions.refuse_disabled],
)

# Posters, registering residents at the desk, first logins (docs/design/0031-onboarding.md).
ONBOARD = Feature(
    name="onboard",
    nav=[
        NavItem("/admin/desk", "onboard.nav", onboard_pages.PAGES, order=94, duty=Can.ONBOARD.value)
    ],
    routes=[*onboard_api.ROUTES, *onboard_pages.ROUTES],
    login_checks=[onboard_actions.refuse_first_login],
    # New registrations by source (issue 19): each poster and invite code, the desk, the rest.
    figures=onboard_figures.figure_source,
)

PRIVACY = Feature(
    name="privacy",
    install=privacy_ops.install,
    routes=[*privacy_api.ROUTES, *privacy_pages.ROUTES],
    timers={
        privacy_actions.RETENTION_TIMER: lambda s: partial(privacy_actions.on_retention_timer, s)
    },
    recurring={privacy_actions.RETENTION_TIMER: privacy_actions.next_retention},
)

SEARCH = Feature(
    name="search",
    nav=[NavItem("/search", "search.nav", ("search",), order=85)],
    routes=[*search_api.ROUTES, *search_pages.ROUTES],
    # Last in FEATURES, so the other features' demo content (polls) is there to index.
    demo=search_actions.seed_demo,
    workers={
        "search": lambda s: SearchWorker(s.work_queue, SqlSearchStore(s.database), clock=s.clock),
        # A consumer group of its own on the persist stream: chat is indexed off the publish path.
        "search-chat": lambda s: ChatSearchWorker(
            s.work_queue, s.store, SqlSearchStore(s.database), clock=s.clock
        ),
    },
)

# Staff in the rooms: every room by name, pins (docs/design/0029-moderation-residents.md).
ROOMS = Feature(name="rooms", routes=rooms_api.ROUTES)

FEATURES: list[Feature] = [
    CORE,
    MODERATION,
    ROOMS,
    MESSAGES,
    PHOTOS,
    POLLS,
    NOTIFICATIONS,
    FIGURES,
    SURVEYS,
    NOTICES,
    REQUESTS,
    EVENTS,
    MEETINGS,
    FORUM,
    ADMIN,
    ONBOARD,
    PRIVACY,
    # Last: its demo indexes the others' demo content.
    SEARCH,
]


def delivery_senders(services: Services) -> dict[Channel, Sender]:
    """The channels the delivery worker sends on (push, e-mail), as configured."""
    senders: dict[Channel, Sender] = {}
    settings = services.settings
    if settings.email_enabled:
        transport = SmtpTransport(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_user,
            password=settings.smtp_password,
            tls=settings.smtp_tls,
        )
        composer = Composer(settings.mail_from, settings.public_url, lambda: zone_of(services))
        senders[Channel.EMAIL] = EmailSender(
            SqlNotificationStore(services.database), transport, composer, clock=services.clock
        )
    senders[Channel.PUSH] = PushSender(
        SqlNotificationStore(services.database),
        services.settings,
        push_api.push_titles(),
        clock=services.clock,
    )
    return senders


def workers_of(features: Sequence[Feature]) -> dict[str, Callable[[Services], Runnable]]:
    """Every worker by its name, across the features (a name used twice is a mistake)."""
    found: dict[str, Callable[[Services], Runnable]] = {}
    for feature in features:
        for name, make in feature.workers.items():
            if name in found:
                raise ValueError(f"worker {name!r} is defined by two features")
            found[name] = make
    return found


def timers_of(features: Sequence[Feature], services: Services) -> Mapping[str, TimerHandler]:
    """Every timer handler by its job kind, bound to ``services``."""
    found: dict[str, TimerHandler] = {}
    for feature in features:
        for kind, make in feature.timers.items():
            if kind in found:
                raise ValueError(f"timer kind {kind!r} is defined by two features")
            found[kind] = make(services)
    return found


def recurring_of(features: Sequence[Feature], services: Services) -> dict[str, int]:
    """Every recurring job's kind and first due time (``Feature.recurring``)."""
    found: dict[str, int] = {}
    for feature in features:
        for kind, first_due in feature.recurring.items():
            if kind in found:
                raise ValueError(f"recurring job {kind!r} is defined by two features")
            found[kind] = first_due(services)
    return found


class _SettingsView:
    """``services`` as they were under other live settings, at one frozen instant: what a
    recurring job's plan was before a change, computed with the functions that plan it."""

    def __init__(self, services: Services, values: Mapping[str, str], now: Millis) -> None:
        self._services = services
        self.live = LiveSettings()
        self.live.replace(values)
        self.clock = ManualClock(now)

    def __getattr__(self, name: str) -> object:
        return getattr(self._services, name)


def replanned(
    features: Sequence[Feature],
    services: Services,
    before: Mapping[str, str],
    after: Mapping[str, str],
) -> tuple[dict[str, Millis], dict[str, Millis]]:
    """Every recurring job's first due time under the settings ``before`` and ``after`` a
    change, at the same instant (only the jobs planned in local time differ)."""
    now = services.clock.now_ms()
    views = (_SettingsView(services, values, now) for values in (before, after))
    old, new = (recurring_of(features, cast(Services, view)) for view in views)
    return old, new


def follow_zone(
    services: Services, changed: Callable[[Mapping[str, str], Mapping[str, str]], None]
) -> None:
    """Call ``changed(before, after)`` with the live settings around each change of the
    neighbourhood's time zone (the settings page), in this process."""
    heard = [dict(services.live.values)]

    def listen(values: Mapping[str, str]) -> None:
        before = heard[0]
        heard[0] = dict(values)
        default = services.settings.time_zone
        if _zone_name_of(before, default) != _zone_name_of(values, default):
            changed(before, values)

    services.live.listeners.append(listen)


def _zone_name_of(values: Mapping[str, str], default: str) -> str:
    live = LiveSettings()
    live.replace(values)
    return zone_name(live, default)


def expect_groups(services: Services, features: Sequence[Feature]) -> None:
    """Tell the work queue every consumer group of each queue (``WorkQueue.expect_groups``),
    from the workers the features define, before any worker acks: a worker whose group does
    not exist yet must not lose the entries another group's worker has done with."""
    found: dict[str, set[str]] = {}
    for make in workers_of(features).values():
        worker = make(services)  # constructors hold references only; nothing runs
        group = getattr(worker, "group", None)
        if isinstance(group, str):
            found.setdefault(worker.queue, set()).add(group)
    for queue, groups in found.items():
        services.work_queue.expect_groups(queue, groups)


def all_workers(features: Sequence[Feature]) -> dict[str, Callable[[Services], Runnable]]:
    """The features' workers and the timers worker that runs their timers (``linli worker
    <name>``, the embedded mode's tasks)."""
    found = workers_of(features)

    def timers(services: Services) -> Runnable:
        worker = TimerWorker(
            services.timers,
            timers_of(features, services),
            clock=services.clock,
            recurring=recurring_of(features, services),
        )
        follow_zone(services, lambda b, a: worker.replan(*replanned(features, services, b, a)))
        return worker

    found["timers"] = timers
    return found


async def run_worker(services: Services, name: str, stop: asyncio.Event) -> None:
    """``linli worker <name>``: one worker in a process of its own, with the admin's settings
    loaded before it is made and followed while it runs (``workers/live.py``)."""
    follower = LiveFollower(services.live, SqlAdminStore(services.database), services.broker)
    await follower.start()
    expect_groups(services, FEATURES)
    worker = all_workers(FEATURES)[name](services)
    refresh = asyncio.create_task(follower.run(stop), name="live-settings")
    try:
        await worker.run(stop)
    finally:
        stop.set()
        await refresh

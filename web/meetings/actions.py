"""Every change of an owners' meeting: store write + live figures + notifications + timers +
audit, with no HTTP in sight (the API, the CLI and an admin console make the same change).

Callers have authorised the actor (``web/meetings/api.py``). Errors are the store's
(``persistence.meetings``) and ``NoticeTooShort`` / ``RegisterError`` below.

The figures on ``meeting:<id>`` are published after every change: at once for a change of
state (an item opened or closed), coalesced to at most ``FIGURES_RATE`` a second for the stream
of check-ins and votes (``FiguresPublisher``), whose last publication always counts whatever
is stored by then.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import math
import secrets
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from gateway.control import send_control
from gateway.meetings.events import (
    OBJECTIONS_TIMER,
    REMINDER_TIMER,
    AttendanceChanged,
    item_result,
    item_tally,
    publish_figures,
    tally_json,
)
from linli.feature import Services
from linli.live import zone_of
from linli.richtext import MAX_SOURCE_CHARS, render
from linli.types import Millis, UserId
from persistence.audit import NewEntry
from persistence.blobs import blob_store
from persistence.db import IntegrityViolation
from persistence.meetings import (
    AlreadyVoted,
    Ballot,
    CheckOut,
    Item,
    ItemFile,
    ItemState,
    Meeting,
    MeetingDraft,
    MeetingKind,
    MeetingNotFound,
    MeetingState,
    MeetingStateError,
    MinutesState,
    NotCheckedIn,
    NotPresent,
    OwnerEntry,
    Proxy,
    ProxyScan,
    QuestionState,
    RegisterEntry,
    Route,
    ScanFile,
    Snapshot,
    VoteCorrection,
)
from persistence.meetings.rules import (
    MINUTES_DAYS,
    OBJECTION_DAYS,
    Choice,
    ThresholdKind,
    objections,
)
from persistence.meetings.sql import SqlMeetingStore
from persistence.notices import Audience, AudienceKind, NoticeDraft
from persistence.notifications import Kind
from persistence.timers import TimerJob
from web.meetings.search import index_meeting
from web.notices.actions import create_notice, notices_store
from web.notifications.actions import notify
from web.uploads import CheckedUpload

log = logging.getLogger(__name__)

FEATURE = "meetings"
DAY_MS = 86_400_000
#: Art. 30: notice in writing 10 days ahead; an urgent extraordinary meeting by a posted notice
#: of at least 2 days. A reconvened meeting (Art. 32) is convened like any other.
NOTICE_DAYS = {MeetingKind.REGULAR: 10, MeetingKind.EXTRAORDINARY: 2, MeetingKind.RECONVENED: 10}
#: How often a meeting's screens get new figures while check-ins and votes stream in: each is a
#: snapshot of the whole roll, and with 300 owners ten a second took the writes' share of the
#: database (design 0022); four a second is still more than a projector needs.
FIGURES_RATE = 4.0
CHECKIN_CODE_DIGITS = 6


class NoticeTooShort(Exception):
    def __init__(self, days: int) -> None:
        super().__init__(f"the meeting must be convened at least {days} days ahead")
        self.days = days


class RegisterError(ValueError):
    """A CSV import's line is wrong (``line`` counts from 1, the header included)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


class NotAnOwner(Exception):
    """The user holds no unit's voice and no proxy in this meeting."""


def meetings_store(services: Services) -> SqlMeetingStore:
    return SqlMeetingStore(services.database)


async def _audit(
    services: Services,
    action: str,
    actor_id: UserId | None,
    meeting_id: int,
    detail: dict[str, object] | None = None,
    reason: str = "",
) -> None:
    await services.audit.append(
        NewEntry(
            feature=FEATURE,
            action=action,
            actor_id=actor_id,
            reason=reason,
            at=services.clock.now_ms(),
            subject=f"meeting:{meeting_id}",
            detail=detail or {},
        )
    )


# -- live figures ----------------------------------------------------------------------------


class FiguresPublisher:
    """At most ``rate`` publications a second per meeting; the last change always counted
    (the polls' ``TallyPublisher`` pattern, in the process that made the change)."""

    def __init__(self, services: Services, rate: float = FIGURES_RATE) -> None:
        self.services = services
        self.interval = 1.0 / rate
        self._last: dict[int, float] = {}
        self._scheduled: dict[int, asyncio.Task[None]] = {}

    def touch(self, meeting_id: int) -> None:
        if meeting_id in self._scheduled:
            return  # that publication has not counted yet: it will include this change
        loop = asyncio.get_running_loop()
        delay = max(0.0, self._last.get(meeting_id, -math.inf) + self.interval - loop.time())
        self._scheduled[meeting_id] = asyncio.create_task(self._publish(meeting_id, delay))

    async def _publish(self, meeting_id: int, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        del self._scheduled[meeting_id]
        self._last[meeting_id] = asyncio.get_running_loop().time()
        try:
            await publish_figures(self.services.broker, meetings_store(self.services), meeting_id)
        except Exception:
            log.warning("figures of meeting %d not published; retrying", meeting_id, exc_info=True)
            await asyncio.sleep(0.5)
            self.touch(meeting_id)

    async def flush(self) -> None:
        tasks = list(self._scheduled.values())
        if tasks:
            await asyncio.wait(tasks)


_publishers: weakref.WeakKeyDictionary[object, FiguresPublisher] = weakref.WeakKeyDictionary()


def publisher(services: Services) -> FiguresPublisher:
    found = _publishers.get(services)
    if found is None:
        found = _publishers[services] = FiguresPublisher(services)
    return found


async def announce(services: Services, meeting_id: int) -> None:
    """Publish the figures now (a change of state: screens learn of it at once)."""
    try:
        await publish_figures(services.broker, meetings_store(services), meeting_id)
    except Exception:
        log.warning("figures of meeting %d not announced", meeting_id, exc_info=True)
        publisher(services).touch(meeting_id)


# -- the register ----------------------------------------------------------------------------

REGISTER_COLUMNS = ("building", "unit", "share", "owner", "username", "voice")


async def import_register(services: Services, text: str, *, actor_id: UserId) -> int:
    """Replace the owners' register from CSV (columns ``REGISTER_COLUMNS``; one row per owner
    of a unit; ``share`` an integer, the same on every row of a unit; ``voice`` 1 on the row of
    the owner who holds the unit's vote, needed only when a unit has several owners; units are
    matched by building name and label, made when missing). The number of units."""
    store = services.store
    buildings = {b.name.strip().casefold(): b for b in await store.list_buildings()}
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().casefold() for h in next(reader, [])]
    missing = [c for c in REGISTER_COLUMNS if c not in header]
    if missing:
        raise RegisterError(1, f"missing columns: {', '.join(missing)}")
    col = {name: header.index(name) for name in REGISTER_COLUMNS}
    units: dict[tuple[int, str], dict[str, object]] = {}
    meetings = meetings_store(services)
    for number, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            raise RegisterError(number, "too few cells")
        cell = {name: row[i].strip() for name, i in col.items()}
        building = buildings.get(cell["building"].casefold())
        if building is None:
            raise RegisterError(number, f"no building called {cell['building']!r}")
        if not cell["unit"] or not cell["owner"]:
            raise RegisterError(number, "a unit and an owner's name are needed")
        try:
            share = int(cell["share"])
        except ValueError:
            raise RegisterError(number, f"share {cell['share']!r} is not a whole number") from None
        if share <= 0:
            raise RegisterError(number, "a share must be positive")
        user_id = None
        if cell["username"]:
            user = await store.get_user_by_username(cell["username"])
            if user is None:
                raise RegisterError(number, f"no account {cell['username']!r}")
            user_id = user.id
        unit_id = await meetings.ensure_unit(building.id, cell["unit"])
        entry = units.setdefault(
            (building.id, str(unit_id)),
            {"unit_id": unit_id, "share": share, "owners": [], "voice": None},
        )
        if entry["share"] != share:
            raise RegisterError(number, "the unit's rows give different shares")
        owners = entry["owners"]
        assert isinstance(owners, list)
        if cell["voice"] in ("1", "yes", "y", "true", "是"):
            if entry["voice"] is not None:
                raise RegisterError(number, "a unit has one voice")
            entry["voice"] = len(owners)
        owners.append(OwnerEntry(cell["owner"], user_id))
    entries = []
    for entry in units.values():
        owners = entry["owners"]
        assert isinstance(owners, list)
        voice = entry["voice"]
        if voice is None and len(owners) > 1:
            raise RegisterError(0, f"unit {entry['unit_id']}: co-owners must mark one voice")
        entries.append(
            RegisterEntry(
                unit_id=int(str(entry["unit_id"])),
                share=int(str(entry["share"])),
                owners=tuple(owners),
                voice=int(str(voice or 0)),
            )
        )
    try:
        count = await meetings.replace_register(entries, now=services.clock.now_ms())
    except IntegrityViolation as exc:
        raise RegisterError(0, str(exc)) from None
    await services.audit.append(
        NewEntry(
            feature=FEATURE,
            action="register_import",
            actor_id=actor_id,
            reason="",
            at=services.clock.now_ms(),
            subject="register",
            detail={"units": count},
        )
    )
    return count


# -- before the meeting ----------------------------------------------------------------------


async def create_meeting(services: Services, draft: MeetingDraft, *, actor_id: UserId) -> Meeting:
    meeting = await meetings_store(services).create_meeting(
        draft,
        created_by=actor_id,
        projector_token=secrets.token_urlsafe(24),
        checkin_code="".join(secrets.choice("0123456789") for _ in range(CHECKIN_CODE_DIGITS)),
        now=services.clock.now_ms(),
    )
    await _audit(services, "meeting_create", actor_id, meeting.id, {"title": draft.title})
    await index_meeting(services, meeting)
    return meeting


async def update_meeting(
    services: Services, meeting_id: int, draft: MeetingDraft, *, actor_id: UserId
) -> Meeting:
    meeting = await meetings_store(services).update_meeting(meeting_id, draft)
    await _audit(services, "meeting_edit", actor_id, meeting.id, {"title": draft.title})
    await index_meeting(services, meeting)
    return meeting


def reminder_key(meeting_id: int) -> str:
    return f"{REMINDER_TIMER}:{meeting_id}"


async def _owner_users(services: Services, meeting_id: int) -> list[UserId]:
    """Every owner with an account (co-owners too: each is told), from the register."""
    roll = await meetings_store(services).roll(meeting_id)
    register = await meetings_store(services).register()
    on_roll = {r.unit_id for r in roll}
    users = {o.user_id for u in register if u.unit_id in on_roll for o in u.owners}
    users |= {r.user_id for r in roll}
    return sorted(u for u in users if u is not None)


async def convene(services: Services, meeting_id: int, *, actor_id: UserId) -> Meeting:
    """Draft → convened: the roll fixed, every owner notified, the reminder timer set. Refused
    (``NoticeTooShort``) when the meeting starts sooner than the Art. 30 notice allows."""
    store = meetings_store(services)
    now = services.clock.now_ms()
    current = await store.get_meeting(meeting_id)
    if current is None:
        raise MeetingNotFound(f"meeting {meeting_id}")
    days = NOTICE_DAYS[current.kind]
    if current.starts_at - now < days * DAY_MS:
        raise NoticeTooShort(days)
    meeting = await store.convene(meeting_id, now=now)
    await _audit(services, "meeting_convene", actor_id, meeting_id, {"title": meeting.title})
    await index_meeting(services, meeting)
    await notify(
        services,
        key=f"meeting:{meeting_id}:convened",
        kind=Kind.POLL,
        text_zh=f"開會通知：{meeting.title}（{meeting.place}）",
        text_en=f"Meeting notice: {meeting.title} ({meeting.place})",
        link=f"/meetings/{meeting_id}",
        user_ids=await _owner_users(services, meeting_id),
        actor_id=actor_id,
    )
    remind_at = meeting.starts_at - DAY_MS
    if remind_at > now:
        await services.timers.schedule(
            reminder_key(meeting_id), REMINDER_TIMER, remind_at, {"meeting_id": meeting_id}, now=now
        )
    await announce(services, meeting_id)
    return meeting


async def on_reminder_timer(services: Services, job: TimerJob) -> None:
    """A day before: remind the owners (idempotent: the notification key reaches nobody twice)."""
    meeting_id = job.payload.get("meeting_id")
    if type(meeting_id) is not int:
        log.error("meetings.reminder without a meeting id: %r", job.payload)
        return
    meeting = await meetings_store(services).get_meeting(meeting_id)
    if meeting is None or meeting.state.value != "convened":
        return
    await notify(
        services,
        key=f"meeting:{meeting_id}:reminder",
        kind=Kind.POLL,
        text_zh=f"明天開會：{meeting.title}（{meeting.place}）",
        text_en=f"Meeting tomorrow: {meeting.title} ({meeting.place})",
        link=f"/meetings/{meeting_id}",
        user_ids=await _owner_users(services, meeting_id),
    )


# -- proxies and check-in ------------------------------------------------------------------


async def set_proxy(
    services: Services,
    meeting_id: int,
    unit_ids: Sequence[int],
    *,
    proxy_user_id: UserId | None,
    proxy_name: str,
    route: Route,
    reference: str,
    actor_id: UserId,
    scan: CheckedUpload | None = None,
    scan_to_follow: bool = False,
) -> Meeting:
    """Record the proxy of ``unit_ids`` in one transaction (all or nothing). A paper form's
    ``scan`` (checked already) goes into the blob store first and its rows are written with the
    proxies, so a failure leaves no proxy without its scan (at most an unreferenced blob, which
    is deleted); audited ``proxy_set`` with the scan's hash or ``scan_to_follow``."""
    store = meetings_store(services)
    key = f"user:{proxy_user_id}" if proxy_user_id is not None else f"name:{proxy_name}"
    now = services.clock.now_ms()
    proxies = [
        Proxy(
            unit_id=unit_id,
            proxy_key=key,
            proxy_user_id=proxy_user_id,
            proxy_name=proxy_name,
            route=route,
            reference=reference,
            recorded_by=actor_id,
            created_at=now,
            scan_to_follow=scan_to_follow and scan is None,
        )
        for unit_id in unit_ids
    ]
    blobs = blob_store(services.settings, services.database)
    stored = None if scan is None else await _put_scan(services, scan)
    try:
        meeting = await store.set_proxies(meeting_id, proxies, stored)
    except BaseException:
        if stored is not None:
            await blobs.delete(stored.blob_id)
        raise
    detail: dict[str, object] = {
        "units": list(unit_ids), "proxy": key, "route": str(route), "reference": reference,
    }  # fmt: skip
    if route is Route.PAPER:
        detail["scan"] = None if stored is None else _scan_detail(stored)
        detail["scan_to_follow"] = stored is None and scan_to_follow
    await _audit(services, "proxy_set", actor_id, meeting_id, detail)
    publisher(services).touch(meeting_id)
    return meeting


async def _put_scan(services: Services, upload: CheckedUpload) -> ScanFile:
    blobs = blob_store(services.settings, services.database)
    stored = await blobs.put(upload.data, now=services.clock.now_ms())
    return ScanFile(
        blob_id=stored.id,
        filename=upload.filename,
        media_type=upload.kind.media_type,
        size=stored.size,
        sha256=stored.sha256,
    )


def _scan_detail(scan: ScanFile) -> dict[str, object]:
    return {"filename": scan.filename, "sha256": scan.sha256, "size": scan.size}


async def attach_proxy_scan(
    services: Services, meeting_id: int, unit_id: int, upload: CheckedUpload, *, actor_id: UserId
) -> ProxyScan:
    """The scan of a unit's paper proxy, added later or replaced (before, on or after the
    night): blob first, then the row; audited ``proxy_scan`` (the first) or
    ``proxy_scan_replace`` (with the replaced scan's hash; its blob is kept)."""
    store = meetings_store(services)
    stored = await _put_scan(services, upload)
    now = services.clock.now_ms()
    try:
        old = await store.set_proxy_scan(meeting_id, unit_id, stored, by=actor_id, now=now)
    except BaseException:
        await blob_store(services.settings, services.database).delete(stored.blob_id)
        raise
    detail: dict[str, object] = {"unit": unit_id, "scan": _scan_detail(stored)}
    if old is not None:
        detail["replaced"] = _scan_detail(old.file)
    await _audit(
        services,
        "proxy_scan" if old is None else "proxy_scan_replace",
        actor_id,
        meeting_id,
        detail,
    )
    return ProxyScan(unit_id, stored, actor_id, now)


async def view_proxy_scan(
    services: Services, meeting_id: int, unit_id: int, *, actor_id: UserId
) -> tuple[ProxyScan, bytes] | None:
    """The scan and its bytes for staff, audited ``proxy_scan_view`` (a 委託書 carries the
    owner's signature and seal: who looked at it is on record); None when there is none."""
    found = next(
        (s for s in await meetings_store(services).proxy_scans(meeting_id) if s.unit_id == unit_id),
        None,
    )
    if found is None:
        return None
    data = await blob_store(services.settings, services.database).get(found.file.blob_id)
    if data is None:
        return None
    await _audit(
        services,
        "proxy_scan_view",
        actor_id,
        meeting_id,
        {"unit": unit_id, "sha256": found.file.sha256},
    )
    return found, data


async def remove_proxy(
    services: Services, meeting_id: int, unit_id: int, *, actor_id: UserId
) -> bool:
    removed = await meetings_store(services).remove_proxy(meeting_id, unit_id)
    if removed:
        await _audit(services, "proxy_remove", actor_id, meeting_id, {"unit": unit_id})
        publisher(services).touch(meeting_id)
    return removed


@dataclass(frozen=True)
class Holdings:
    """What a user holds in a meeting: the units whose voice they are, and those entrusted."""

    own: tuple[int, ...]
    entrusted: tuple[int, ...]

    @property
    def units(self) -> tuple[int, ...]:
        return self.own + tuple(u for u in self.entrusted if u not in self.own)


def holdings(snapshot: Snapshot, user_id: UserId) -> Holdings:
    entrusted = tuple(p.unit_id for p in snapshot.proxies if p.proxy_user_id == user_id)
    # A unit entrusted to someone else is still the owner's to attend in person.
    own = tuple(r.unit_id for r in snapshot.roll if r.user_id == user_id)
    return Holdings(own, entrusted)


async def check_in_self(services: Services, meeting_id: int, *, user_id: UserId) -> list[int]:
    """The owner (or proxy) at the door, with the code: every unit they hold is present — their
    own in person, the entrusted by proxy. The units this call checked in."""
    store = meetings_store(services)
    held = await store.held(meeting_id, user_id)
    if not held.units:
        raise NotAnOwner
    entries: list[tuple[int, str | None]] = [(u, None) for u in held.own]
    entries += [(u, f"user:{user_id}") for u in held.entrusted]
    added = await store.check_in(
        meeting_id, entries, route=Route.CODE, recorded_by=user_id, now=services.clock.now_ms()
    )
    if added:
        publisher(services).touch(meeting_id)
        await tell_holders(services, meeting_id, added)
    return added


class BadToken(Exception):
    """A personal check-in QR that is not this meeting's."""


async def owner_token(services: Services, meeting_id: int, *, user_id: UserId) -> str:
    """The owner's (or proxy's) personal check-in token for the meeting, made once. Raises
    NotAnOwner for someone who holds nothing in it."""
    store = meetings_store(services)
    if not (await store.held(meeting_id, user_id)).units:
        raise NotAnOwner
    return await store.owner_token(
        meeting_id, user_id, secrets.token_urlsafe(18), now=services.clock.now_ms()
    )


async def token_holder(services: Services, meeting_id: int, token: str) -> UserId:
    user_id = await meetings_store(services).token_user(meeting_id, token)
    if user_id is None:
        raise BadToken
    return user_id


async def check_in_by_token(
    services: Services, meeting_id: int, token: str, *, actor_id: UserId
) -> tuple[UserId, list[int]]:
    """The desk scanned an owner's personal QR: every unit they hold is present, as if they
    had typed the room's code (their own in person, the entrusted by proxy), recorded as the
    desk's (route ``qr``) and audited. (owner, the units this call checked in)."""
    user_id = await token_holder(services, meeting_id, token)
    store = meetings_store(services)
    held = await store.held(meeting_id, user_id)
    entries: list[tuple[int, str | None]] = [(u, None) for u in held.own]
    entries += [(u, f"user:{user_id}") for u in held.entrusted]
    added = await store.check_in(
        meeting_id, entries, route=Route.QR, recorded_by=actor_id, now=services.clock.now_ms()
    )
    if added:
        await _audit(
            services, "checkin_qr", actor_id, meeting_id, {"units": added, "owner": user_id}
        )
        publisher(services).touch(meeting_id)
        await tell_holders(services, meeting_id, added)
    return user_id, added


async def check_in_by_staff(
    services: Services,
    meeting_id: int,
    unit_ids: Sequence[int],
    *,
    by_proxy: bool,
    actor_id: UserId,
) -> list[int]:
    """Staff tick units on the printed list: in person, or through their recorded proxy."""
    store = meetings_store(services)
    proxies = await store.proxy_keys(meeting_id, unit_ids) if by_proxy else {}
    entries = [(u, proxies.get(u)) for u in unit_ids]
    added = await store.check_in(
        meeting_id, entries, route=Route.STAFF, recorded_by=actor_id, now=services.clock.now_ms()
    )
    if added:
        await _audit(
            services, "checkin_staff", actor_id, meeting_id, {"units": added, "by_proxy": by_proxy}
        )
        publisher(services).touch(meeting_id)
        await tell_holders(services, meeting_id, added)
    return added


async def tell_holders(services: Services, meeting_id: int, unit_ids: Sequence[int]) -> None:
    """The owners' own pages learn at once that these units came or left: each account that
    holds one (its voice, its proxy) gets the units of theirs checked in now, over the control
    channel to whichever gateway they are on. Only they: the public figures name nobody, and a
    page per waiting owner refetching on every check-in would be the rush's load again."""
    store = meetings_store(services)
    users = await store.holders(meeting_id, unit_ids)
    if not users:
        return
    present = {u: list((await store.held(meeting_id, u)).checked_in) for u in users}
    await send_control(services.broker, AttendanceChanged(meeting_id=meeting_id, present=present))


async def _checked_out(
    services: Services,
    meeting_id: int,
    ended: Sequence[CheckOut],
    *,
    action: str,
    actor_id: UserId,
    owner: UserId | None,
) -> list[int]:
    units = [stay.unit_id for stay in ended]
    detail: dict[str, object] = {
        "units": units,
        "since": {str(stay.unit_id): stay.at for stay in ended},
        "by_proxy": [stay.unit_id for stay in ended if stay.proxy_key is not None],
    }
    if owner is not None:
        detail["owner"] = owner
    await _audit(services, action, actor_id, meeting_id, detail)
    publisher(services).touch(meeting_id)
    await tell_holders(services, meeting_id, units)
    return units


async def check_out_self(services: Services, meeting_id: int, *, user_id: UserId) -> list[int]:
    """The owner (or proxy) leaves: every unit they brought in ends its stay (their own in
    person, the entrusted they brought as the proxy); audited ``checkout`` (who: the units and
    the owner; when; by whom: themselves). Votes already cast stay cast. Raises NotAnOwner,
    NotCheckedIn (none of theirs is in), NotInSession. The units checked out."""
    store = meetings_store(services)
    held = await store.held(meeting_id, user_id)
    if not held.units:
        raise NotAnOwner
    # Asked even with nothing to end: a meeting not under way says so first.
    ended = await store.check_out(
        meeting_id, held.present, recorded_by=user_id, now=services.clock.now_ms()
    )
    if not ended:
        raise NotCheckedIn(list(held.units))
    return await _checked_out(
        services, meeting_id, ended, action="checkout", actor_id=user_id, owner=user_id
    )


async def check_out_by_staff(
    services: Services, meeting_id: int, unit_ids: Sequence[int], *, actor_id: UserId
) -> list[int]:
    """Staff at the door check units out (an owner leaving who tells the desk), all or nothing;
    audited ``checkout_staff``. Raises NotOnRoll, NotCheckedIn, NotInSession."""
    ended = await meetings_store(services).check_out(
        meeting_id, unit_ids, recorded_by=actor_id, now=services.clock.now_ms()
    )
    return await _checked_out(
        services, meeting_id, ended, action="checkout_staff", actor_id=actor_id, owner=None
    )


# -- votes -----------------------------------------------------------------------------------


async def vote(
    services: Services, meeting_id: int, item_id: int, choice: Choice, *, user_id: UserId
) -> list[int]:
    """An owner's or proxy's vote from their phone: one ballot for every unit they hold that is
    present and has not voted (their own as ``phone``, the entrusted as ``proxy``). Raises
    NotAnOwner, NotPresent (none of their units checked in), AlreadyVoted (all voted)."""
    store = meetings_store(services)
    held = await store.held(meeting_id, user_id, item_id)
    if not held.units:
        raise NotAnOwner
    if not held.present:
        raise NotPresent("not checked in")
    todo = [u for u in held.present if u not in held.voted]
    if not todo:
        raise AlreadyVoted(list(held.present))
    ballots = [Ballot(u, choice, Route.PHONE if u in held.own else Route.PROXY) for u in todo]
    recorded = await store.cast_votes(
        item_id, ballots, cast_by=user_id, now=services.clock.now_ms()
    )
    publisher(services).touch(meeting_id)
    return recorded


async def paper_vote(
    services: Services,
    meeting_id: int,
    item_id: int,
    unit_id: int,
    choice: Choice,
    *,
    actor_id: UserId,
) -> list[int]:
    """A paper ballot typed in by staff, recorded as such."""
    store = meetings_store(services)
    meeting = await store.get_meeting(meeting_id)
    if meeting is None or not any(i.id == item_id for i in meeting.items):
        raise MeetingNotFound(f"item {item_id}")
    recorded = await store.cast_votes(
        item_id,
        [Ballot(unit_id, choice, Route.PAPER)],
        cast_by=actor_id,
        now=services.clock.now_ms(),
    )
    await _audit(
        services,
        "vote_paper",
        actor_id,
        meeting_id,
        {"item": item_id, "unit": unit_id, "choice": str(choice)},
    )
    publisher(services).touch(meeting_id)
    return recorded


async def correct_vote(
    services: Services,
    meeting_id: int,
    item_id: int,
    unit_id: int,
    choice: Choice,
    *,
    reason: str,
    actor_id: UserId,
) -> VoteCorrection:
    """Staff correct a recorded vote during the meeting (a paper ballot typed in wrongly), with
    a reason, audited; every screen's tally moves at once. A closed item's stored result is
    counted again from the rows, so the minutes and the projector keep showing the same."""
    store = meetings_store(services)
    meeting = await store.get_meeting(meeting_id)
    if meeting is None or not any(i.id == item_id for i in meeting.items):
        raise MeetingNotFound(f"item {item_id}")
    correction = await store.correct_vote(
        item_id, unit_id, choice, reason=reason, corrected_by=actor_id, now=services.clock.now_ms()
    )
    after = await store.get_meeting(meeting_id)
    if after is not None and any(
        i.id == item_id and i.state is ItemState.CLOSED for i in after.items
    ):
        await record_result(services, meeting_id, item_id)
    await _audit(
        services,
        "vote_correct",
        actor_id,
        meeting_id,
        {
            "item": item_id,
            "unit": unit_id,
            "from": str(correction.old_choice),
            "to": str(correction.new_choice),
        },
        reason=reason,
    )
    await announce(services, meeting_id)
    return correction


# -- agenda files ----------------------------------------------------------------------------


async def add_item_file(
    services: Services, meeting_id: int, item_id: int, upload: CheckedUpload, *, actor_id: UserId
) -> ItemFile:
    """A checked upload attached to an agenda item: the bytes into the blob store, then the row
    (a crash between leaves an unreferenced blob, never a row without bytes); audited."""
    store = meetings_store(services)
    meeting = await store.get_meeting(meeting_id)
    if meeting is None or not any(i.id == item_id for i in meeting.items):
        raise MeetingNotFound(f"item {item_id}")
    if meeting.state is MeetingState.CLOSED:
        raise MeetingStateError("the meeting is over")
    now = services.clock.now_ms()
    blobs = blob_store(services.settings, services.database)
    stored = await blobs.put(upload.data, now=now)
    try:
        added = await store.add_item_file(
            item_id,
            blob_id=stored.id,
            filename=upload.filename,
            media_type=upload.kind.media_type,
            size=stored.size,
            sha256=stored.sha256,
            added_by=actor_id,
            now=now,
        )
    except BaseException:
        await blobs.delete(stored.id)
        raise
    await _audit(
        services,
        "item_file",
        actor_id,
        meeting_id,
        {"item": item_id, "filename": added.filename, "sha256": added.sha256},
    )
    return added


# -- the chair -------------------------------------------------------------------------------


async def open_meeting(services: Services, meeting_id: int, *, actor_id: UserId) -> Meeting:
    meeting = await meetings_store(services).open_meeting(meeting_id, now=services.clock.now_ms())
    await services.timers.cancel(reminder_key(meeting_id))
    await _audit(services, "meeting_open", actor_id, meeting_id)
    await announce(services, meeting_id)
    return meeting


async def close_meeting(services: Services, meeting_id: int, *, actor_id: UserId) -> Meeting:
    meeting = await meetings_store(services).close_meeting(meeting_id, now=services.clock.now_ms())
    await _audit(services, "meeting_close", actor_id, meeting_id)
    await announce(services, meeting_id)
    return meeting


async def open_item(
    services: Services, meeting_id: int, item_id: int, *, actor_id: UserId
) -> Meeting:
    meeting = await meetings_store(services).open_item(
        meeting_id, item_id, now=services.clock.now_ms()
    )
    await _audit(services, "item_open", actor_id, meeting_id, {"item": item_id})
    await announce(services, meeting_id)
    return meeting


async def close_item(
    services: Services, meeting_id: int, item_id: int, *, actor_id: UserId
) -> Meeting:
    """Close the vote: from here no vote counts; the result is counted from the rows and kept
    with the item (the minutes and the projector show those very figures)."""
    store = meetings_store(services)
    await store.close_item(meeting_id, item_id, now=services.clock.now_ms())
    meeting = await record_result(services, meeting_id, item_id)
    await _audit(
        services,
        "item_close",
        actor_id,
        meeting_id,
        {"item": item_id, "result": next(i.result for i in meeting.items if i.id == item_id)},
    )
    await announce(services, meeting_id)
    return meeting


async def record_result(services: Services, meeting_id: int, item_id: int) -> Meeting:
    store = meetings_store(services)
    snapshot = await store.snapshot(meeting_id)
    assert snapshot is not None
    item = next(i for i in snapshot.meeting.items if i.id == item_id)
    if item.state is not ItemState.CLOSED:
        raise MeetingStateError(f"item {item_id} is not closed")
    t = item_tally(snapshot, item)
    return await store.set_item_result(
        meeting_id, item_id, result=item_result(item, t), figures=tally_json(t)
    )


# -- after -----------------------------------------------------------------------------------


def minutes_due(meeting: Meeting) -> Millis | None:
    """Art. 34: the minutes within 15 days of the meeting."""
    return None if meeting.closed_at is None else meeting.closed_at + MINUTES_DAYS * DAY_MS


async def save_minutes(
    services: Services, meeting_id: int, text: str, state: MinutesState, *, actor_id: UserId
) -> Meeting:
    store = meetings_store(services)
    meeting = await store.get_meeting(meeting_id)
    if meeting is None:
        raise MeetingNotFound(f"meeting {meeting_id}")
    if meeting.minutes_state is MinutesState.PUBLISHED:
        raise MeetingStateError("the minutes are published already")
    if state is MinutesState.PUBLISHED and meeting.minutes_state is not MinutesState.APPROVED:
        raise MeetingStateError("the chair approves the minutes before they are published")
    now = services.clock.now_ms()
    saved = await store.save_minutes(meeting_id, text, state, by=actor_id, now=now)
    await _audit(services, f"minutes_{state}", actor_id, meeting_id)
    await index_meeting(services, saved)
    if state is MinutesState.PUBLISHED:
        await _publish_minutes(services, saved, actor_id, now)
        saved = await store.get_meeting(meeting_id) or saved  # with its notice and windows
    await announce(services, meeting_id)
    return saved


def objections_key(item_id: int) -> str:
    return f"{OBJECTIONS_TIMER}:{item_id}"


async def _publish_minutes(
    services: Services, meeting: Meeting, actor_id: UserId, now: Millis
) -> None:
    """The minutes go out as a notice in 會議紀錄 to the owners' households (the notices count
    its reach per household), linked both ways; owners with an account who live elsewhere are
    told directly. An Art. 32 resolution that passed opens its 7-day window for written
    objections (Art. 32 §2), closed by a timer, and the notice says until when."""
    store = meetings_store(services)
    until = now + OBJECTION_DAYS * DAY_MS
    windows = []
    for item in meeting.items:
        if (
            meeting.kind is MeetingKind.RECONVENED
            and item.draft.threshold.kind is ThresholdKind.ART32
            and item.result == "passed"
            and item.objection_until is None
        ):
            windows.append(item)
            await store.set_objection_window(item.id, until)
            await services.timers.schedule(
                objections_key(item.id),
                OBJECTIONS_TIMER,
                until,
                {"meeting_id": meeting.id, "item_id": item.id},
                now=now,
            )
    notice = await _minutes_notice(services, meeting, windows, until, actor_id=actor_id)
    told = set() if notice is None else set(await _residents(services, meeting.id))
    await notify(
        services,
        key=f"meeting:{meeting.id}:minutes",
        kind=Kind.POLL,
        text_zh=f"會議紀錄：{meeting.title}",
        text_en=f"Minutes: {meeting.title}",
        link=f"/meetings/{meeting.id}" if notice is None else f"/notices/{notice}",
        user_ids=[u for u in await _owner_users(services, meeting.id) if u not in told],
        actor_id=actor_id,
    )


#: The notices' category the minutes go out in (seeded by the notices' migration).
MINUTES_CATEGORY = "minutes"


async def _residents(services: Services, meeting_id: int) -> list[UserId]:
    units = [r.unit_id for r in await meetings_store(services).roll(meeting_id)]
    return await notices_store(services).residents_of(units)


async def _minutes_notice(
    services: Services,
    meeting: Meeting,
    windows: Sequence[Item],
    until: Millis,
    *,
    actor_id: UserId,
) -> int | None:
    """The published minutes as a notice to the roll's units (their households), asking for an
    acknowledgement when an objection window opens (Art. 32 §2: the minutes reach every
    owner); its id, or None when there is no 會議紀錄 category or no such actor."""
    categories = await notices_store(services).list_categories()
    category = next((c for c in categories if c.slug == MINUTES_CATEGORY), None)
    actor = await services.store.get_user(actor_id)
    units = tuple(r.unit_id for r in await meetings_store(services).roll(meeting.id))
    if category is None or actor is None or not units:
        log.warning("minutes of meeting %d not sent as a notice", meeting.id)
        return None
    head = [f"[會議頁面 The meeting's page](/meetings/{meeting.id})", ""]
    if windows:
        local = datetime.fromtimestamp(until / 1000, zone_of(services))
        stamp = local.strftime("%Y-%m-%d %H:%M")
        titles = "、".join(f"第 {i.position} 案" for i in windows)
        head = [
            f"**書面異議期限：{stamp}**（公寓大廈管理條例第三十二條）。{titles}以重新召集會議"
            "決議；區分所有權人可於期限內以書面提出異議，異議超過全體區分所有權人及其區分"
            "所有權比例各半數時，決議不成立。",
            "",
            f"**Written objections until {stamp}** (Condominium Management Act, Art. 32). An "
            "owner may object in writing until then; the resolution fails if the objections "
            "exceed half of all owners and half of all shares.",
            "",
            *head,
        ]
    body = "\n".join([*head, meeting.minutes or ""])[:MAX_SOURCE_CHARS]
    draft = NoticeDraft(
        category_id=category.id,
        title=f"會議紀錄 Minutes：{meeting.title}"[:120],
        body=body,
        body_html=render(body),
        audience=Audience(AudienceKind.UNITS, units=units),
        requires_ack=bool(windows),
        pinned=bool(windows),
    )
    notice = await create_notice(services, draft, actor=actor, publish=True)
    await meetings_store(services).set_minutes_notice(meeting.id, notice.id)
    await _audit(services, "minutes_notice", actor_id, meeting.id, {"notice": notice.id})
    return notice.id


async def add_objection(
    services: Services, meeting_id: int, item_id: int, unit_id: int, *, actor_id: UserId
) -> bool:
    added = await meetings_store(services).add_objection(
        item_id, unit_id, recorded_by=actor_id, now=services.clock.now_ms()
    )
    if added:
        await _audit(
            services, "objection", actor_id, meeting_id, {"item": item_id, "unit": unit_id}
        )
        publisher(services).touch(meeting_id)
    return added


async def on_objections_timer(services: Services, job: TimerJob) -> None:
    """The window has closed: count the objections against all owners and shares, once."""
    meeting_id, item_id = job.payload.get("meeting_id"), job.payload.get("item_id")
    if type(meeting_id) is not int or type(item_id) is not int:
        log.error("meetings.objections without ids: %r", job.payload)
        return
    store = meetings_store(services)
    snapshot = await store.snapshot(meeting_id)
    if snapshot is None:
        return
    item = next((i for i in snapshot.meeting.items if i.id == item_id), None)
    if item is None or item.objection_until is None or item.objection_result is not None:
        return
    if item.objection_until > services.clock.now_ms():
        await services.timers.schedule(
            objections_key(item_id),
            OBJECTIONS_TIMER,
            item.objection_until,
            dict(job.payload),
            now=services.clock.now_ms(),
        )
        return
    outcome = objections([r.member for r in snapshot.roll], snapshot.objections.get(item_id, ()))
    result = "overturned" if outcome.overturned else "stands"
    if await store.finish_objections(item_id, result):
        await _audit(
            services,
            "objections_closed",
            None,
            meeting_id,
            {"item": item_id, "result": result, "heads": outcome.heads, "share": outcome.share},
        )
        await announce(services, meeting_id)


# -- questions from the floor ----------------------------------------------------------------


async def ask(services: Services, meeting_id: int, text: str, *, user_id: UserId) -> int:
    """A question from the floor, queued for the moderators (the staff)."""
    question_id = await meetings_store(services).ask(
        meeting_id, user_id, text, now=services.clock.now_ms()
    )
    publisher(services).touch(meeting_id)
    return question_id


async def upvote(services: Services, meeting_id: int, question_id: int, *, user_id: UserId) -> bool:
    added = await meetings_store(services).upvote(meeting_id, question_id, user_id)
    if added:
        publisher(services).touch(meeting_id)
    return added


async def moderate_question(
    services: Services,
    meeting_id: int,
    question_id: int,
    state: QuestionState,
    *,
    actor_id: UserId,
) -> None:
    """Show a question on every screen, mark it answered, or hide it (audited)."""
    await meetings_store(services).set_question_state(meeting_id, question_id, state)
    await _audit(
        services, "question_" + str(state), actor_id, meeting_id, {"question": question_id}
    )
    await announce(services, meeting_id)

"""Events as iCalendar (RFC 5545) with the ``icalendar`` package: one ``.ics`` per event (a
``VEVENT`` per session) and a person's feed (the sessions they hold a place in or wait for).

Times are written in the neighbourhood's zone (``TZID=Asia/Taipei``) with its ``VTIMEZONE``
(``Calendar.add_missing_timezones``), so a calendar app shows the local time the organiser meant
whatever the phone's own zone. ``UID``s are stable (``event-<id>-session-<id>@linli``), so a
re-read feed updates entries instead of adding copies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar
from icalendar import Event as VEvent

from linli.richtext import plain
from persistence.events import Event, EventState, Signup, SignupState

PRODID = "-//Linli//Events//EN"


def _at(ms: int, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=zone)


def _calendar(name: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    return cal


def _add_sessions(
    cal: Calendar, event: Event, zone: ZoneInfo, signup: Signup | None = None
) -> None:
    for session in event.sessions:
        if signup is not None and signup.session_id != session.id:
            continue
        v = VEvent()
        v.add("uid", f"event-{event.id}-session-{session.id}@linli")
        v.add("dtstamp", datetime.fromtimestamp(event.created_at / 1000, tz=UTC))
        v.add("dtstart", _at(session.starts_at, zone))
        v.add("dtend", _at(session.ends_at, zone))
        title = event.draft.title + (f" — {session.label}" if session.label else "")
        if signup is not None and signup.state is SignupState.WAITLISTED:
            title = f"[候補 {signup.position or ''}] {title}"
        v.add("summary", title)
        v.add("location", event.draft.place)
        v.add("description", plain(event.draft.body, 1000))
        cancelled = event.state is EventState.CANCELLED
        v.add("status", "CANCELLED" if cancelled else "CONFIRMED")
        cal.add_component(v)


def event_ics(event: Event, zone: ZoneInfo) -> bytes:
    cal = _calendar(event.draft.title)
    _add_sessions(cal, event, zone)
    cal.add_missing_timezones()
    return bytes(cal.to_ical())


def feed_ics(events: Sequence[Event], signups: Mapping[int, Signup], zone: ZoneInfo) -> bytes:
    cal = _calendar("鄰里活動 Linli events")
    for event in events:
        _add_sessions(cal, event, zone, signups.get(event.id))
    cal.add_missing_timezones()
    return bytes(cal.to_ical())

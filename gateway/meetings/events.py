"""What of the meetings feature crosses processes: the live figures on ``meeting:<id>``.

Like a poll's tally, a ``meeting:<id>`` publication is the meeting's whole state, never a delta:
attendance against each threshold's quorum, the item on the floor with its tally, and every
item's state and result, counted from one consistent snapshot of the stored rows
(``MeetingStore.snapshot``) and tagged with the meeting's ``version``. A screen keeps the
snapshot with the highest version, however it came (a live ``pub``, the HTTP API, the
projector's event stream), so a lost publication loses only an intermediate frame. Published
with ``persist=False``: the store keeps the rows, not the figures.

``data`` (msgpack like every publication; JSON on the projector's stream)::

    {"kind": "meeting", "meeting_id": 3, "version": 57, "state": "open",
     "attendance": {...}, "quorum": {"art31": {...}, ...}, "item": {...} | null,
     "items": [...], "ts": 1700000000000}

Fractions travel as ``[numerator, denominator]`` beside the text people read ("56.7"): a test
can check them exactly, a screen shows the text.
"""

from __future__ import annotations

import time
from fractions import Fraction
from typing import Any

import msgpack

from channels.broker import Broker
from channels.names import meeting_channel
from gateway.control import ControlCommand
from persistence.meetings import PUBLIC_QUESTIONS, Item, ItemState, MeetingStore, Snapshot
from persistence.meetings.rules import (
    DEFAULT_THRESHOLDS,
    Attendance,
    Choice,
    ItemTally,
    Ratio,
    Threshold,
    ThresholdKind,
    attendance,
    number,
    percent,
    quorum,
    tally,
)


class AttendanceChanged(ControlCommand, frozen=True, tag="meeting_attendance"):
    """Units of these users were checked in or out: every gateway pushes each of them
    ``{"push": "meeting_attendance", "meeting_id", "present"}`` (``gateway/meetings/ops.py``),
    so the owner's own page says at once whether they are checked in. ``present``: user id ->
    the units they hold (own or entrusted) that are checked in now. At most once, like all
    control: the page reads ``GET /api/meetings/<id>`` again when it (re)connects."""

    meeting_id: int
    present: dict[int, list[int]]


#: The timer job kinds (``workers/timers.py``).
REMINDER_TIMER = "meetings.reminder"
OBJECTIONS_TIMER = "meetings.objections"


def frac(value: Fraction | int) -> list[int]:
    value = Fraction(value)
    return [value.numerator, value.denominator]


def ratio_json(ratio: Ratio) -> dict[str, Any]:
    return {"num": ratio.num, "den": ratio.den, "strict": ratio.strict}


def threshold_json(threshold: Threshold) -> dict[str, Any]:
    return {
        "kind": str(threshold.kind),
        "quorum_heads": ratio_json(threshold.quorum_heads),
        "quorum_share": ratio_json(threshold.quorum_share),
        "pass_heads": ratio_json(threshold.pass_heads),
        "pass_share": ratio_json(threshold.pass_share),
        "min_present": threshold.min_present,
    }


def _weight(
    heads: Fraction, share: Fraction, att: Attendance, *, of_present: bool
) -> dict[str, Any]:
    """Heads and share, with their percentages of those present (a tally) or of everyone."""
    whole_heads = att.heads if of_present else Fraction(att.total_heads)
    whole_share = att.share if of_present else Fraction(att.total_share)
    return {
        "heads": frac(heads),
        "share": frac(share),
        "heads_text": number(heads),
        "heads_pct": percent(heads, whole_heads),
        "share_pct": percent(share, whole_share),
    }


def attendance_json(att: Attendance) -> dict[str, Any]:
    return {
        "total_heads": att.total_heads,
        "total_share": att.total_share,
        "present_units": att.present_units,
        "in_person_units": att.in_person_units,
        "proxy_units": att.proxy_units,
        **_weight(att.heads, att.share, att, of_present=False),
        "in_person": _weight(att.in_person.heads, att.in_person.share, att, of_present=False),
        "by_proxy": _weight(att.by_proxy.heads, att.by_proxy.share, att, of_present=False),
        "caps": [
            {
                "rule": cap.rule,
                "held_heads": number(cap.held_heads),
                "counted_heads": number(cap.counted_heads),
                "held_share_pct": percent(cap.held_share, att.total_share),
                "counted_share_pct": percent(cap.counted_share, att.total_share),
            }
            for cap in att.caps
        ],
    }


def quorum_json(att: Attendance, threshold: Threshold) -> dict[str, Any]:
    q = quorum(att, threshold)
    return {
        "met": q.met,
        "heads_met": q.heads_met,
        "share_met": q.share_met,
        "min_met": q.min_met,
        "threshold": threshold_json(threshold),
    }


def tally_json(t: ItemTally) -> dict[str, Any]:
    att = t.attendance
    return {
        "counted": {
            str(choice): _weight(w.heads, w.share, att, of_present=True)
            for choice, w in t.counted.items()
        },
        "not_voted": _weight(t.not_voted.heads, t.not_voted.share, att, of_present=True),
        "votes": t.votes,
        "present": _weight(att.heads, att.share, att, of_present=False),
        "present_units": att.present_units,
        "quorum_met": t.quorum.met,
        "heads_met": t.heads_met,
        "share_met": t.share_met,
        "passes": t.passes,
    }


def item_present(snapshot: Snapshot, item: Item) -> dict[int, str | None]:
    """Who an item's figures count as present: while open, those present now; once closed,
    those present at the close (later arrivals did not take part, and those who had checked out
    had left). A unit that voted on the item counts too, with the stay it voted in, even if it
    checked out before the close: a vote cast stays cast (design 0022, session 6)."""
    at = item.closed_at
    present = snapshot.present if at is None else snapshot.present_at(at)
    for vote in snapshot.votes:
        if vote.item_id == item.id and vote.unit_id not in present:
            present[vote.unit_id] = snapshot.stay_key(vote.unit_id, vote.cast_at)
    return present


def item_tally(snapshot: Snapshot, item: Item) -> ItemTally:
    """The item's figures from the rows, against ``item_present``."""
    roll = [r.member for r in snapshot.roll]
    return tally(
        roll, item_present(snapshot, item), snapshot.votes_of(item.id), item.draft.threshold
    )


def item_result(item: Item, t: ItemTally) -> str | None:
    if not item.draft.resolution:
        return None
    return "passed" if t.passes else "failed"


def item_json(snapshot: Snapshot, item: Item) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": item.id,
        "position": item.position,
        "title": item.draft.title,
        "explanation": item.draft.explanation,
        "resolution": item.draft.resolution,
        "threshold": threshold_json(item.draft.threshold),
        "state": str(item.state),
        "opened_at": item.opened_at,
        "closed_at": item.closed_at,
        "result": item.result,
        "objection_until": item.objection_until,
        "objection_result": item.objection_result,
        "objections": len(snapshot.objections.get(item.id, ())),
        # Staff corrections of recorded votes: when, from and to, never whose (the channel is
        # every signed-in reader's; the roll and the minutes name the unit and the reason).
        "corrections": [
            {"at": c.corrected_at, "from": str(c.old_choice), "to": str(c.new_choice)}
            for c in snapshot.corrections
            if c.item_id == item.id
        ],
    }
    if item.state is not ItemState.PENDING:
        # Closed: the figures stored at the close (what the minutes say); open: live.
        body["tally"] = (
            item.figures
            if item.state is ItemState.CLOSED and item.figures is not None
            else tally_json(item_tally(snapshot, item))
        )
        body["final"] = item.state is ItemState.CLOSED
    return body


def figures_body(snapshot: Snapshot) -> dict[str, Any]:
    meeting = snapshot.meeting
    roll = [r.member for r in snapshot.roll]
    att = attendance(roll, snapshot.present)
    # The item on the floor: the open one, else the one closed last (its result stays up).
    floor = next((i for i in meeting.items if i.state is ItemState.OPEN), None)
    if floor is None:
        closed = [i for i in meeting.items if i.state is ItemState.CLOSED]
        floor = max(closed, key=lambda i: (i.closed_at or 0, i.position)) if closed else None
    return {
        "kind": "meeting",
        "meeting_id": meeting.id,
        "version": meeting.version,
        "state": str(meeting.state),
        "attendance": attendance_json(att),
        "quorum": {
            str(kind): quorum_json(att, DEFAULT_THRESHOLDS[kind])
            for kind in (ThresholdKind.ART31, ThresholdKind.ART32, ThresholdKind.MAJORITY)
        },
        "item": None if floor is None else item_json(snapshot, floor),
        "items": [
            {
                "id": i.id,
                "position": i.position,
                "title": i.draft.title,
                "state": str(i.state),
                "result": i.result,
            }
            for i in meeting.items
        ],
        # Moderated questions only: a queued one is not for every screen yet.
        "questions": [
            {"id": q.id, "text": q.text, "state": str(q.state), "votes": q.votes}
            for q in snapshot.questions
            if q.state in PUBLIC_QUESTIONS
        ],
        "ts": int(time.time() * 1000),
    }


async def publish_figures(broker: Broker, store: MeetingStore, meeting_id: int) -> int | None:
    """Count the meeting's rows now and publish the figures; their version (None: no such
    meeting)."""
    snapshot = await store.snapshot(meeting_id)
    if snapshot is None:
        return None
    body = figures_body(snapshot)
    await broker.publish(meeting_channel(meeting_id), msgpack.packb(body), persist=False)
    return snapshot.meeting.version


__all__ = ["AttendanceChanged", "Choice", "figures_body", "publish_figures"]

"""The requests store's contract on SQLite and PostgreSQL: the lifecycle and its refusals, the
first response stamped once, merges keeping followers and history, the reopen window, one rating
per resolution (also under concurrency), overdue marking, similar open requests, and the plan's
figures over a generated year of requests equal to values computed here independently."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from persistence.requests import (
    DAY_MS,
    MAX_PHOTOS,
    AlreadyRated,
    Category,
    EventKind,
    NewRequest,
    Query,
    ReopenExpired,
    RequestStateError,
    Status,
    TooManyPhotos,
)
from persistence.requests.sql import SqlRequestStore
from persistence.store import Role, Store
from tests.contract.test_store import NOW, store  # noqa: F401  (fixture)

HOUR = 3_600_000
TAIPEI = ZoneInfo("Asia/Taipei")


@dataclass
class Hood:
    a: int
    b: int
    ann: int
    bob: int
    ho: int
    fixer: int


async def _hood(store: Store) -> Hood:  # noqa: F811
    a = await store.create_building("Block A", now=NOW)
    b = await store.create_building("Block B", now=NOW)
    ids = {}
    for name, role, building in (
        ("ann", Role.RESIDENT, a.id),
        ("bob", Role.RESIDENT, b.id),
        ("ho", Role.MANAGEMENT, None),
        ("fixer", Role.MANAGEMENT, None),
    ):
        user = await store.create_user(
            username=name,
            display_name=name.title(),
            password_hash="h",
            role=role,
            building_id=building,
            unit_label="1A" if building else None,
            now=NOW,
        )
        ids[name] = user.id
    return Hood(a.id, b.id, ids["ann"], ids["bob"], ids["ho"], ids["fixer"])


def _new(hood: Hood, **fields: object) -> NewRequest:
    base: dict[str, object] = {
        "category": Category.REPAIR,
        "text": "5F corridor light is out",
        "author_id": hood.ann,
        "building_id": hood.a,
        "floor": "5",
    }
    base.update(fields)
    return NewRequest(**base)  # type: ignore[arg-type]


async def test_lifecycle_and_refusals(store: Store) -> None:  # noqa: F811
    hood = await _hood(store)
    requests = SqlRequestStore(store.database)
    r = await requests.create_request(_new(hood), now=NOW)
    assert r.status is Status.RECEIVED and r.version == 1
    # Filed on a Tuesday at 22:13 UTC: 1 working day is Wednesday's 22:13; 14 working days
    # cross two weekends and end on Monday three weeks on, 20 calendar days later.
    assert r.respond_by == NOW + DAY_MS and r.resolve_by == NOW + 20 * DAY_MS
    assert await requests.follower_ids(r.id) == [hood.ann]

    # A note is not a response; a status change is, once.
    await requests.add_note(r.id, actor_id=hood.ho, text="ladder needed", now=NOW + 1)
    assert (await requests.get_request(r.id)).first_response_at is None  # type: ignore[union-attr]
    r = await requests.change_status(
        r.id, Status.IN_PROGRESS, actor_id=hood.ho, now=NOW + HOUR, reply="On our way"
    )
    assert r.first_response_at == NOW + HOUR
    r = await requests.change_status(r.id, Status.WAITING, actor_id=hood.ho, now=NOW + 2 * HOUR)
    assert r.first_response_at == NOW + HOUR
    with pytest.raises(RequestStateError):
        await requests.change_status(r.id, Status.CLOSED, actor_id=hood.ho, now=NOW + 3 * HOUR)
    with pytest.raises(ValueError):
        await requests.change_status(r.id, Status.REJECTED, actor_id=hood.ho, now=NOW + 3 * HOUR)
    r = await requests.change_status(r.id, Status.RESOLVED, actor_id=hood.ho, now=NOW + DAY_MS)
    assert r.resolved_at == NOW + DAY_MS and r.resolutions == 1
    r = await requests.change_status(r.id, Status.CLOSED, actor_id=hood.ho, now=NOW + 2 * DAY_MS)
    assert r.closed_at == NOW + 2 * DAY_MS and r.status is Status.CLOSED

    public = await requests.events(r.id, internal=False)
    assert [e.kind for e in public] == [EventKind.FILED] + [EventKind.STATUS] * 4
    assert [e.status for e in public[1:]] == ["in_progress", "waiting", "resolved", "closed"]
    assert public[1].text == "On our way" and public[1].actor_name == "Ho"
    staff = await requests.events(r.id, internal=True)
    assert [e.kind for e in staff][:2] == [EventKind.FILED, EventKind.NOTE]

    rejected = await requests.create_request(_new(hood, category=Category.COMPLAINT), now=NOW)
    rejected = await requests.change_status(
        rejected.id, Status.REJECTED, actor_id=hood.ho, now=NOW + 5, reason="Not ours to handle"
    )
    assert rejected.reject_reason == "Not ours to handle" and rejected.status is Status.REJECTED
    with pytest.raises(RequestStateError):
        await requests.reopen(rejected.id, actor_id=hood.ann, text="", window_ms=DAY_MS, now=NOW)


async def test_concurrent_changes_apply_once(store: Store) -> None:  # noqa: F811
    hood = await _hood(store)
    requests = SqlRequestStore(store.database)
    r = await requests.create_request(_new(hood), now=NOW)
    results = await asyncio.gather(
        *(
            requests.change_status(
                r.id, Status.RESOLVED, actor_id=hood.ho, now=NOW + i, expected=Status.RECEIVED
            )
            for i in range(1, 6)
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(x, BaseException) for x in results) == 1
    assert all(isinstance(x, RequestStateError) for x in results if isinstance(x, BaseException))
    assert (await requests.get_request(r.id)).resolutions == 1  # type: ignore[union-attr]
    ratings = await asyncio.gather(
        *(
            requests.rate(r.id, user_id=hood.ann, score=4, comment="", now=NOW + 10 + i)
            for i in range(5)
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(x, BaseException) for x in ratings) == 1
    assert all(isinstance(x, AlreadyRated) for x in ratings if isinstance(x, BaseException))


async def test_rating_once_per_resolution_and_reopen_window(store: Store) -> None:  # noqa: F811
    hood = await _hood(store)
    requests = SqlRequestStore(store.database)
    r = await requests.create_request(_new(hood), now=NOW)
    with pytest.raises(RequestStateError):
        await requests.rate(r.id, user_id=hood.ann, score=5, comment="", now=NOW)
    await requests.change_status(r.id, Status.RESOLVED, actor_id=hood.ho, now=NOW + DAY_MS)
    rating = await requests.rate(r.id, user_id=hood.ann, score=2, comment="slow", now=NOW + DAY_MS)
    assert (rating.resolution, rating.score) == (1, 2)
    assert await requests.rating_of(r.id) == rating
    with pytest.raises(AlreadyRated):
        await requests.rate(r.id, user_id=hood.ann, score=5, comment="", now=NOW + DAY_MS)
    window = 14 * DAY_MS
    with pytest.raises(ReopenExpired):
        await requests.reopen(
            r.id, actor_id=hood.ann, text="", window_ms=window, now=NOW + DAY_MS + window + 1
        )
    r = await requests.reopen(
        r.id, actor_id=hood.ann, text="It broke again", window_ms=window, now=NOW + 3 * DAY_MS
    )
    assert r.status is Status.IN_PROGRESS and r.resolved_at is None
    assert await requests.rating_of(r.id) == rating  # the latest resolution's, until the next
    await requests.change_status(r.id, Status.RESOLVED, actor_id=hood.ho, now=NOW + 4 * DAY_MS)
    second = await requests.rate(r.id, user_id=hood.ann, score=5, comment="", now=NOW + 4 * DAY_MS)
    assert second.resolution == 2
    # The daily sweep closes what is past the window.
    assert await requests.close_resolved(resolved_before=NOW + 4 * DAY_MS, now=NOW) == []
    assert await requests.close_resolved(resolved_before=NOW + 5 * DAY_MS, now=NOW) == [r.id]


async def test_merge_moves_followers_and_keeps_history(store: Store) -> None:  # noqa: F811
    hood = await _hood(store)
    requests = SqlRequestStore(store.database)
    lift = await store.create_user(
        username="cy",
        display_name="Cy",
        password_hash="h",
        role=Role.RESIDENT,
        building_id=hood.a,
        unit_label="2B",
        now=NOW,
    )
    place = await requests.add_place("電梯", building_id=None, now=NOW)
    kept = await requests.create_request(_new(hood, place_id=place.id), now=NOW)
    dup = await requests.create_request(_new(hood, author_id=lift.id, place_id=place.id), now=NOW)
    assert await requests.follow(dup.id, hood.bob, now=NOW) is True
    assert await requests.follow(dup.id, hood.bob, now=NOW) is False
    similar = await requests.similar_open(
        category=Category.REPAIR, building_id=hood.a, place_id=place.id, floor=""
    )
    assert [s.id for s in similar] == [kept.id, dup.id]
    dup, kept = await requests.merge(dup.id, kept.id, actor_id=hood.ho, now=NOW + 5)
    assert dup.status is Status.MERGED and dup.merged_into == kept.id
    assert await requests.follower_ids(kept.id) == sorted([hood.ann, lift.id, hood.bob])
    assert [e.kind for e in await requests.events(dup.id, internal=False)][-1] is EventKind.MERGED
    assert [e.text for e in await requests.events(kept.id, internal=False)][-1] == f"#{dup.id}"
    with pytest.raises(RequestStateError):
        await requests.merge(dup.id, kept.id, actor_id=hood.ho, now=NOW + 6)
    # A merged request is no longer suggested; a private one never is.
    await requests.create_request(_new(hood, place_id=place.id, private=True), now=NOW)
    similar = await requests.similar_open(
        category=Category.REPAIR, building_id=hood.a, place_id=place.id, floor=""
    )
    assert [s.id for s in similar] == [kept.id]


async def test_overdue_marking_and_queue_order(store: Store) -> None:  # noqa: F811
    hood = await _hood(store)
    requests = SqlRequestStore(store.database)
    team = await requests.create_team("維修組", now=NOW)
    await requests.set_team_members(team.id, [hood.fixer])
    await requests.route(Category.REPAIR, team_id=team.id, first_response_ms=HOUR)
    assert await requests.handler_ids(Category.REPAIR) == [hood.fixer]
    assert await requests.handler_ids(Category.QUESTION) is None
    old = await requests.create_request(_new(hood), now=NOW)
    new = await requests.create_request(_new(hood), now=NOW + 10 * HOUR)
    assert old.respond_by == NOW + HOUR
    assert await requests.mark_overdue(old.id, now=NOW + HOUR) is None  # not past yet
    marked = await requests.mark_overdue(old.id, now=NOW + HOUR + 1)
    assert marked is not None and marked.overdue_at == NOW + HOUR + 1
    assert await requests.mark_overdue(old.id, now=NOW + 2 * HOUR) is None  # once
    queue = await requests.list_requests(
        Query(categories=[Category.REPAIR], order="overdue"), now=NOW + 10 * HOUR
    )
    assert [q.id for q in queue] == [old.id, new.id]
    load = await requests.team_load([Category.REPAIR], now=NOW + 10 * HOUR)
    assert [(x.open, x.overdue) for x in load] == [(2, 1)]
    assert [t.categories for t in await requests.teams()] == [(Category.REPAIR,)]


# -- the figures over a generated year --------------------------------------------------------


@dataclass
class Model:
    """What the test did, kept by the test: the figures are computed from this, not the store."""

    category: Category
    building: int
    created: int
    status: Status = Status.RECEIVED
    first_response: int | None = None
    resolved: int | None = None
    resolutions: int = 0
    respond_by: int = 0
    resolve_by: int = 0
    #: The ends of the 7, 30 and 365 (calendar) days from filing.
    due: dict[int, int] = field(default_factory=dict)
    ratings: list[int] = field(default_factory=list)


def _month(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, TAIPEI).strftime("%Y-%m")


def _rank(values: list[int], share: float) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    import math

    return ordered[math.ceil(share * len(ordered)) - 1]


def _expected(models: list[Model], now: int) -> dict[str, object]:
    counted = [m for m in models if m.status not in (Status.REJECTED, Status.MERGED)]
    done = [m for m in counted if m.status in (Status.RESOLVED, Status.CLOSED)]
    out: dict[str, object] = {
        "filed": len(models),
        "rejected": sum(m.status is Status.REJECTED for m in models),
        "merged": sum(m.status is Status.MERGED for m in models),
        "counted": len(counted),
        "open": sum(
            m.status in (Status.RECEIVED, Status.IN_PROGRESS, Status.WAITING) for m in counted
        ),
        "overdue": sum(
            m.status in (Status.RECEIVED, Status.IN_PROGRESS, Status.WAITING)
            and (m.resolve_by < now or (m.first_response is None and m.respond_by < now))
            for m in counted
        ),
        "resolutions": sum(m.resolutions for m in counted),
        "ratings": sum(len(m.ratings) for m in counted),
        "rating_sum": sum(sum(m.ratings) for m in counted),
    }
    # Each window ends at a time of its own per request: n calendar days, or its own target
    # (working time).
    ends = [(f"eligible_{d}", f"resolved_{d}", d) for d in (7, 30, 365)]
    ends.append(("eligible_target", "resolved_on_target", 0))
    for eligible, resolved, days in ends:

        def end(m: Model, days: int = days) -> int:
            return m.due[days] if days else m.resolve_by

        within = [m for m in done if m.resolved is not None and m.resolved <= end(m)]
        ids = {id(m) for m in within}
        decided = [m for m in counted if id(m) in ids or end(m) <= now]
        out[eligible] = len(decided)
        out[resolved] = len(within)
    firsts = [m.first_response - m.created for m in counted if m.first_response is not None]
    resolutions = [m.resolved - m.created for m in done if m.resolved is not None]
    out["first_response_median"] = _rank(firsts, 0.5)
    out["first_response_p90"] = _rank(firsts, 0.9)
    out["resolution_median"] = _rank(resolutions, 0.5)
    out["resolution_p90"] = _rank(resolutions, 0.9)
    return out


def _bucket_dict(bucket: object) -> dict[str, object]:
    return {k: getattr(bucket, k) for k in _expected([], 0)}


@pytest.mark.timeout(240)
class WorkingClock:
    """The test's own working time, a different formulation from the store's day-by-day walk:
    W(t) = the working days wholly before t's day times a day, plus the part of t's day gone if
    it is a working day; the end of d ms of working time from t is the first instant where W
    has grown by d, found from the list of working days' starts. Taipei's days are all 24 h."""

    def __init__(self, first: date, last: date, holidays: set[date]) -> None:
        self.starts: list[int] = []
        day = first
        while day <= last:
            if day.weekday() < 5 and day not in holidays:
                self.starts.append(_midnight(day))
            day += timedelta(days=1)

    def worked(self, t: int) -> int:
        import bisect

        i = bisect.bisect_right(self.starts, t)  # working days starting at or before t
        if i and t - self.starts[i - 1] < DAY_MS:  # t falls in that working day
            return (i - 1) * DAY_MS + (t - self.starts[i - 1])
        return i * DAY_MS

    def end(self, t: int, duration: int) -> int:
        goal = self.worked(t) + duration
        q = -(-goal // DAY_MS) - 1  # the working day (0-based) in which the goal is reached
        return self.starts[q] + (goal - q * DAY_MS)


def _midnight(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=TAIPEI).timestamp() * 1000)


async def test_targets_count_working_days_across_a_weekend_and_a_holiday(
    store: Store,  # noqa: F811
) -> None:
    """Hand-computed: Thursday 8 October 2026, 19:00 in Taipei; Friday 9th a holiday (國慶日
    補假), then the weekend. First response within 1 working day, resolution within 3."""
    hood = await _hood(store)
    requests = SqlRequestStore(store.database, zone=TAIPEI)
    assert await requests.holidays() == []
    await requests.set_holiday(date(2026, 10, 9), "國慶日補假", now=NOW)
    await requests.set_holiday(date(2026, 10, 9), "國慶日補假 (National Day)", now=NOW)  # renamed
    await requests.set_holiday(date(2026, 1, 1), "元旦", now=NOW)
    assert [(h.day, h.name) for h in await requests.holidays(since=date(2026, 6, 1))] == [
        (date(2026, 10, 9), "國慶日補假 (National Day)")
    ]
    await requests.route(Category.REPAIR, team_id=None, resolution_ms=3 * DAY_MS)

    def at(day: int, hour: int, minute: int = 0) -> int:
        return int(datetime(2026, 10, day, hour, minute, tzinfo=TAIPEI).timestamp() * 1000)

    thursday = await requests.create_request(_new(hood), now=at(8, 19))
    # Thursday's last 5 hours, then Monday's first 19: Monday 12th 19:00 (not Friday 19:00).
    assert thursday.respond_by == at(12, 19)
    # 5 h Thursday + 24 h Monday + 24 h Tuesday + 19 h Wednesday = 72 h: Wednesday 14th 19:00.
    assert thursday.resolve_by == at(14, 19)
    saturday = await requests.create_request(_new(hood), now=at(10, 10))
    assert saturday.respond_by == at(13, 0)  # all of Monday: Tuesday 00:00

    monday_morning = at(12, 9)
    assert not thursday.overdue(monday_morning)
    assert await requests.mark_overdue(thursday.id, now=monday_morning) is None
    queue = await requests.list_requests(Query(order="overdue"), now=monday_morning)
    assert [q.id for q in queue] == [thursday.id, saturday.id]
    load = await requests.team_load([Category.REPAIR], now=monday_morning)
    assert [(x.open, x.overdue) for x in load] == [(2, 0)]
    assert (await requests.mark_overdue(thursday.id, now=at(12, 19) + 1)) is not None

    # The plan's windows are calendar days: 7 days from Thursday 19:00 end on the 15th at 19:00.
    # Resolved a minute before that: within 7 days, but past its own target of 3 working days
    # (Wednesday 14th 19:00).
    await requests.change_status(thursday.id, Status.RESOLVED, actor_id=hood.ho, now=at(15, 18, 59))
    month_start = int(datetime(2026, 10, 1, tzinfo=TAIPEI).timestamp() * 1000)
    figures = await requests.figures(
        since=month_start, until=at(31, 0), now=at(15, 23), zone=TAIPEI
    )
    total = figures.total
    assert (total.eligible_7, total.resolved_7) == (1, 1)  # Saturday's is open, its 7 not over
    # Saturday's 3 working days (Monday to Wednesday) ended on Thursday 00:00: both passed.
    assert (total.eligible_target, total.resolved_on_target) == (2, 0)
    assert total.overdue == 1  # Saturday's: no response by Tuesday 00:00
    assert await requests.remove_holiday(date(2026, 10, 9))
    assert not await requests.remove_holiday(date(2026, 10, 9))
    again = await requests.create_request(_new(hood), now=at(8, 19))
    assert again.respond_by == at(9, 19)  # without the holiday: Friday 19:00
    assert (await requests.get_request(thursday.id)).respond_by == at(12, 19)  # type: ignore[union-attr]


async def test_figures_over_a_generated_year(store: Store) -> None:  # noqa: F811
    hood = await _hood(store)
    requests = SqlRequestStore(store.database, zone=TAIPEI)
    holidays = {date(2025, 1, 1), date(2025, 2, 28), date(2025, 10, 10), date(2026, 1, 1)}
    for day in sorted(holidays):
        await requests.set_holiday(day, "holiday", now=NOW)
    clock = WorkingClock(date(2024, 12, 1), date(2028, 1, 1), holidays)
    rng = random.Random(16)
    start = int(datetime(2025, 1, 1, tzinfo=TAIPEI).timestamp() * 1000)
    end = int(datetime(2026, 1, 1, tzinfo=TAIPEI).timestamp() * 1000)
    now = end + 3 * DAY_MS
    rules = await requests.rules()
    models: list[Model] = []
    ids: list[int] = []
    # ~300 requests spread over the year, with a few right at local month boundaries (the UTC
    # day before, which is already the next month in Taipei).
    times = sorted(rng.randrange(start, end) for _ in range(290))
    times += [int(datetime(2025, m, 1, 0, 30, tzinfo=TAIPEI).timestamp() * 1000) for m in (3, 7)]
    times += [end - 1, start]
    for created in sorted(times):
        category = rng.choice(list(Category))
        building = rng.choice([hood.a, hood.b])
        author = hood.ann if building == hood.a else hood.bob
        r = await requests.create_request(
            _new(hood, category=category, building_id=building, author_id=author), now=created
        )
        rule = rules[category]
        model = Model(
            category,
            building,
            created,
            respond_by=clock.end(created, rule.first_response_ms),
            resolve_by=clock.end(created, rule.resolution_ms),
            due={days: created + days * DAY_MS for days in (7, 30, 365)},
        )
        assert (r.respond_by, r.resolve_by) == (model.respond_by, model.resolve_by)
        models.append(model)
        ids.append(r.id)
        fate = rng.random()
        t = created
        if fate < 0.06:
            t += rng.randrange(1, 5 * DAY_MS)
            await requests.change_status(
                r.id, Status.REJECTED, actor_id=hood.ho, now=min(t, now), reason="no"
            )
            model.status, model.first_response = Status.REJECTED, min(t, now)
            continue
        if fate < 0.10 and len(ids) > 1:
            target = next(
                (
                    i
                    for i, m in zip(ids[:-1], models[:-1], strict=True)
                    if m.status in (Status.RECEIVED, Status.IN_PROGRESS)
                ),
                None,
            )
            if target is not None:
                await requests.merge(r.id, target, actor_id=hood.ho, now=created + 1)
                model.status = Status.MERGED
                continue
        if fate < 0.2:
            continue  # never answered: open, overdue if old
        t += rng.randrange(HOUR // 2, 5 * DAY_MS)
        if t >= now:
            continue
        if rng.random() < 0.5:
            await requests.add_reply(r.id, actor_id=hood.ho, text="seen", staff=True, now=t)
            model.first_response = t
            await requests.add_note(r.id, actor_id=hood.ho, text="n", now=t)
        else:
            await requests.change_status(r.id, Status.IN_PROGRESS, actor_id=hood.ho, now=t)
            model.first_response, model.status = t, Status.IN_PROGRESS
        if rng.random() < 0.15:
            continue
        t += rng.choice([rng.randrange(HOUR, 6 * DAY_MS), rng.randrange(6 * DAY_MS, 60 * DAY_MS)])
        if t >= now:
            continue
        await requests.change_status(r.id, Status.RESOLVED, actor_id=hood.ho, now=t)
        model.status, model.resolved, model.resolutions = Status.RESOLVED, t, 1
        if rng.random() < 0.6:
            score = rng.randint(1, 5)
            await requests.rate(r.id, user_id=author, score=score, comment="", now=t + 1)
            model.ratings.append(score)
        if rng.random() < 0.15 and t + 2 * DAY_MS < now:
            t += DAY_MS
            await requests.reopen(r.id, actor_id=author, text="again", window_ms=14 * DAY_MS, now=t)
            model.status, model.resolved = Status.IN_PROGRESS, None
            if rng.random() < 0.7:
                t += rng.randrange(HOUR, DAY_MS)
                await requests.change_status(r.id, Status.RESOLVED, actor_id=hood.ho, now=t)
                model.status, model.resolved, model.resolutions = Status.RESOLVED, t, 2
        elif rng.random() < 0.3 and t + DAY_MS < now:
            await requests.change_status(r.id, Status.CLOSED, actor_id=hood.ho, now=t + DAY_MS)
            model.status = Status.CLOSED

    figures = await requests.figures(since=start, until=end, now=now, zone=TAIPEI)
    assert _bucket_dict(figures.total) == _expected(models, now)
    assert figures.total.filed == len(times)
    for category in Category:
        group = [m for m in models if m.category is category]
        assert _bucket_dict(figures.by_category[str(category)]) == _expected(group, now), category
    for building in (hood.a, hood.b):
        group = [m for m in models if m.building == building]
        assert _bucket_dict(figures.by_building[str(building)]) == _expected(group, now)
    months = sorted({_month(m.created) for m in models})
    assert list(figures.by_month) == [f"2025-{m:02d}" for m in range(1, 13)]
    for month in months:
        group = [m for m in models if _month(m.created) == month]
        assert _bucket_dict(figures.by_month[month]) == _expected(group, now), month
    by_month: dict[str, int] = defaultdict(int)
    for m in models:
        by_month[_month(m.created)] += 1
    assert by_month["2025-03"] >= 1 and by_month["2025-07"] >= 1
    # The figures are not trivial: every kind of count is there.
    total = figures.total
    assert total.rejected and total.merged and total.overdue and total.ratings
    assert 0 < total.resolved_7 < total.resolved_30 <= total.resolved_365


async def test_five_photos_at_most_even_at_once(store: Store) -> None:  # noqa: F811
    hood = await _hood(store)
    requests = SqlRequestStore(store.database)
    r = await requests.create_request(_new(hood), now=NOW)

    async def add(i: int) -> object:
        return await requests.add_photo(
            r.id,
            blob_id=f"b{i}",
            thumb_id=f"t{i}",
            filename=f"p{i}.jpg",
            media_type="image/jpeg",
            width=4,
            height=3,
            added_by=hood.ann,
            now=NOW + i,
        )

    results = await asyncio.gather(*(add(i) for i in range(8)), return_exceptions=True)
    for result in results:
        assert not isinstance(result, BaseException) or isinstance(result, TooManyPhotos)
    assert sum(not isinstance(x, BaseException) for x in results) == MAX_PHOTOS
    photos = await requests.photos(r.id)
    assert [p.position for p in photos] == list(range(1, MAX_PHOTOS + 1))
    with pytest.raises(TooManyPhotos):
        await add(99)

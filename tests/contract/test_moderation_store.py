"""The ModerationStore contract, against SQLite and PostgreSQL (a fresh schema each)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from persistence.audit import AuditQuery, NewEntry
from persistence.audit.sql import SqlAuditLog
from persistence.db import IntegrityViolation
from persistence.factory import open_store
from persistence.migrate import migrate
from persistence.moderation import (
    FlagReason,
    HeldState,
    MessageAction,
    MessageSnapshot,
    NewFlag,
    Review,
    SanctionKind,
    Visibility,
    WordAction,
    normalise_text,
)
from persistence.moderation.sql import SqlModerationStore
from persistence.store import NotFound, Role, Store

NOW = 1_700_000_000_000
HOUR = 3_600_000
ROOM = "building:1"


@pytest.fixture
async def stores(db_url: str) -> AsyncIterator[tuple[Store, SqlModerationStore]]:
    await migrate(db_url)
    store = await open_store(db_url)
    try:
        yield store, SqlModerationStore(store.database)
    finally:
        await store.close()


async def _users(store: Store, *names: str) -> list[int]:
    ids = []
    for name in names:
        user = await store.create_user(
            username=name,
            display_name=name.title(),
            password_hash="h",
            role=Role.MODERATOR if name.startswith("mod") else Role.RESIDENT,
            building_id=None,
            unit_label=None,
            now=NOW,
        )
        ids.append(user.id)
    return ids


def _flag(offset: int, flagger: int, reason: FlagReason = FlagReason.SPAM) -> NewFlag:
    return NewFlag(
        channel=ROOM,
        offset=offset,
        flagger_id=flagger,
        reason=reason,
        note="",
        author_id=99,
        author_name="Spammer",
        body=f"buy now {offset}",
        posted_at=NOW - 1000,
    )


async def test_flags_are_unique_per_flagger_and_counted(
    stores: tuple[Store, SqlModerationStore],
) -> None:
    store, mod = stores
    ann, amy, bob = await _users(store, "ann", "amy", "bob")
    first = await mod.record_flag(_flag(5, ann), now=NOW)
    assert (first.inserted, first.flag_count, first.visibility) == (True, 1, Visibility.VISIBLE)
    again = await mod.record_flag(_flag(5, ann, FlagReason.OTHER), now=NOW + 1)
    assert (again.inserted, again.flag_count) == (False, 1)
    second = await mod.record_flag(_flag(5, amy, FlagReason.HARASSMENT), now=NOW + 2)
    assert (second.inserted, second.flag_count) == (True, 2)
    await mod.record_flag(_flag(7, bob), now=NOW + 3)

    flags = await mod.flags_of(ROOM, 5)
    assert [(f.flagger_id, f.flagger_name, f.reason, f.created_at) for f in flags] == [
        (ann, "Ann", FlagReason.SPAM, NOW),
        (amy, "Amy", FlagReason.HARASSMENT, NOW + 2),
    ]
    message = await mod.get_message(ROOM, 5)
    assert message is not None
    assert (message.body, message.author_id, message.flag_count, message.review) == (
        "buy now 5",
        99,
        2,
        Review.OPEN,
    )
    assert (message.first_flag_at, message.last_flag_at) == (NOW, NOW + 2)
    queue = await mod.queue(review=Review.OPEN, channel_prefix=None, limit=10)
    assert [(m.offset, m.flag_count) for m in queue] == [(7, 1), (5, 2)]  # last flagged first
    assert await mod.queue(review=None, channel_prefix="building:2", limit=10) == []
    assert len(await mod.queue(review=None, channel_prefix="building", limit=10)) == 2
    assert len(await mod.queue(review=None, channel_prefix=ROOM, limit=10)) == 2
    assert await mod.flagged_by(ann, ROOM) == [5]
    assert await mod.flagged_by(bob, ROOM) == [7]


async def test_auto_hide_at_threshold_once_and_not_after_a_restore(
    stores: tuple[Store, SqlModerationStore],
) -> None:
    store, mod = stores
    ann, amy, bob, moderator = await _users(store, "ann", "amy", "bob", "mod1")
    await mod.record_flag(_flag(5, ann), now=NOW)
    assert await mod.auto_hide(ROOM, 5, threshold=2, now=NOW) is False
    await mod.record_flag(_flag(5, amy), now=NOW + 1)
    assert await mod.auto_hide(ROOM, 5, threshold=2, now=NOW + 1) is True
    assert await mod.auto_hide(ROOM, 5, threshold=2, now=NOW + 1) is False  # already hidden
    message = await mod.get_message(ROOM, 5)
    assert message is not None and message.visibility is Visibility.HIDDEN and message.auto_hidden
    assert message.first_action_at is None  # the rule is not a moderator's action
    assert await mod.hidden_states(ROOM, 1, 10) == {5: Visibility.HIDDEN}

    result = await mod.act_on_message(
        ROOM, 5, MessageAction.DISMISS, actor_id=moderator, reason="not spam", now=NOW + HOUR
    )
    assert result.changed and result.message.visibility is Visibility.VISIBLE
    assert result.message.review is Review.HANDLED
    assert result.message.first_action_at == NOW + HOUR
    await mod.record_flag(_flag(5, bob), now=NOW + 2 * HOUR)
    assert (await mod.get_message(ROOM, 5)).review is Review.OPEN  # type: ignore[union-attr]
    assert await mod.auto_hide(ROOM, 5, threshold=2, now=NOW + 2 * HOUR) is False
    assert await mod.hidden_states(ROOM, 1, 10) == {}

    entries = await mod.audit_log()
    assert [(e.action, e.actor_id, e.actor_name, e.offset) for e in entries] == [
        ("dismiss", moderator, "Mod1", 5),
        ("auto_hide", None, None, 5),
    ]


async def test_moderator_actions_and_their_audit(stores: tuple[Store, SqlModerationStore]) -> None:
    store, mod = stores
    ann, moderator = await _users(store, "ann", "mod1")
    with pytest.raises(NotFound):
        await mod.act_on_message(
            ROOM, 3, MessageAction.HIDE, actor_id=moderator, reason="x", now=NOW
        )
    snapshot = MessageSnapshot(author_id=ann, author_name="Ann", body="私隱資料", posted_at=NOW)
    hidden = await mod.act_on_message(
        ROOM, 3, MessageAction.HIDE, actor_id=moderator, reason="私隱", now=NOW, snapshot=snapshot
    )
    assert hidden.changed and hidden.message.visibility is Visibility.HIDDEN
    assert hidden.message.first_flag_at is None  # never flagged: not in the queue
    assert await mod.queue(review=None, channel_prefix=None, limit=10) == []
    again = await mod.act_on_message(
        ROOM, 3, MessageAction.HIDE, actor_id=moderator, reason="again", now=NOW + 1
    )
    assert not again.changed
    restored = await mod.act_on_message(
        ROOM, 3, MessageAction.RESTORE, actor_id=moderator, reason="ok", now=NOW + 2
    )
    assert restored.changed and restored.message.visibility is Visibility.VISIBLE
    deleted = await mod.act_on_message(
        ROOM, 3, MessageAction.DELETE, actor_id=moderator, reason="gone", now=NOW + 3
    )
    assert deleted.message.visibility is Visibility.DELETED
    final = await mod.act_on_message(
        ROOM, 3, MessageAction.RESTORE, actor_id=moderator, reason="undo", now=NOW + 4
    )
    assert not final.changed and final.message.visibility is Visibility.DELETED
    assert await mod.hidden_states(ROOM, 3, 3) == {3: Visibility.DELETED}

    log = await mod.audit_log()
    assert [(e.action, e.reason, e.at, e.target_user_id) for e in log] == [
        ("delete", "gone", NOW + 3, ann),
        ("restore", "ok", NOW + 2, ann),
        ("hide", "私隱", NOW, ann),
    ]
    assert log[0].detail == {"from": "visible", "to": "deleted"}
    assert [e.id for e in await mod.audit_log(before_id=log[0].id, limit=1)] == [log[1].id]


async def test_audit_log_cannot_be_changed(stores: tuple[Store, SqlModerationStore]) -> None:
    store, mod = stores
    (moderator,) = await _users(store, "mod1")
    entry = await mod.add_audit("warn", actor_id=moderator, reason="be kind", now=NOW)
    db = store.database
    with pytest.raises(IntegrityViolation):
        await db.execute("UPDATE audit_log SET reason = 'nothing' WHERE id = $1", entry)
    with pytest.raises(IntegrityViolation):
        await db.execute("DELETE FROM audit_log WHERE id = $1", entry)
    assert [(e.id, e.reason) for e in await mod.audit_log()] == [(entry, "be kind")]


async def test_sanctions_expire_and_lift(stores: tuple[Store, SqlModerationStore]) -> None:
    store, mod = stores
    ann, moderator = await _users(store, "ann", "mod1")
    mute = await mod.add_sanction(
        ann,
        SanctionKind.MUTE,
        channel=ROOM,
        expires_at=NOW + HOUR,
        actor_id=moderator,
        reason="flooding",
        now=NOW,
        channel_context=(ROOM, 12),
    )
    assert mute.applies(ROOM, NOW) and not mute.applies("building:2", NOW)
    assert not mute.applies(ROOM, NOW + HOUR)
    assert [s.id for s in await mod.active_sanctions(ann, now=NOW)] == [mute.id]
    assert await mod.active_sanctions(ann, now=NOW + HOUR) == []
    ban = await mod.add_sanction(
        ann,
        SanctionKind.BAN,
        channel=None,
        expires_at=None,
        actor_id=moderator,
        reason="r",
        now=NOW + 1,
    )
    assert ban.applies("group:x", NOW + 10 * HOUR)
    assert [s.kind for s in await mod.active_sanctions(ann, now=NOW + 2)] == [
        SanctionKind.MUTE,
        SanctionKind.BAN,
    ]
    assert (
        await mod.lift_sanctions(
            ann, SanctionKind.BAN, actor_id=moderator, reason="appeal", now=NOW + 3
        )
        == 1
    )
    assert [s.kind for s in await mod.active_sanctions(ann, now=NOW + 4)] == [SanctionKind.MUTE]
    assert [(e.action, e.channel, e.offset) for e in await mod.audit_log()] == [
        ("unban", None, None),
        ("ban", None, None),
        ("mute", ROOM, 12),
    ]


async def test_words_are_normalised_and_unique(stores: tuple[Store, SqlModerationStore]) -> None:
    store, mod = stores
    (admin,) = await _users(store, "mod1")
    word = await mod.add_word(
        "ＢＵＹ\u200bＮＯＷ", WordAction.BLOCK, actor_id=admin, reason="spam", now=NOW
    )
    assert word.pattern == "buynow" == normalise_text("Buy\u200bNow")
    await mod.add_word("賭博", WordAction.HOLD, actor_id=admin, reason="r", now=NOW)
    again = await mod.add_word("buynow", WordAction.HOLD, actor_id=admin, reason="r", now=NOW)
    assert again.id == word.id
    assert [(w.pattern, w.action) for w in await mod.list_words()] == [
        ("buynow", WordAction.HOLD),
        ("賭博", WordAction.HOLD),
    ]
    assert await mod.remove_word(word.id, actor_id=admin, reason="r", now=NOW) is True
    assert await mod.remove_word(word.id, actor_id=admin, reason="r", now=NOW) is False
    assert [w.pattern for w in await mod.list_words()] == ["賭博"]
    with pytest.raises(ValueError):
        await mod.add_word(" \u200b ", WordAction.BLOCK, actor_id=admin, reason="r", now=NOW)


async def test_held_messages_are_held_once_and_decided_once(
    stores: tuple[Store, SqlModerationStore],
) -> None:
    store, mod = stores
    ann, moderator = await _users(store, "ann", "mod1")
    held, new = await mod.hold_message(
        channel=ROOM,
        author_id=ann,
        author_name="Ann",
        body="賭博網站",
        cmid="c1",
        matched="賭博",
        now=NOW,
    )
    assert new and held.state is HeldState.HELD
    same, new_again = await mod.hold_message(
        channel=ROOM,
        author_id=ann,
        author_name="Ann",
        body="賭博網站",
        cmid="c1",
        matched="賭博",
        now=NOW + 1,
    )
    assert not new_again and same.id == held.id
    assert [h.id for h in await mod.list_held(state=HeldState.HELD)] == [held.id]
    assert [h.id for h in await mod.list_held(state=None, author_id=ann)] == [held.id]
    assert await mod.decide_held(
        held.id, approve=True, actor_id=moderator, reason="fine", now=NOW + 2, published_offset=9
    )
    assert not await mod.decide_held(
        held.id, approve=False, actor_id=moderator, reason="no", now=NOW + 3
    )
    decided = await mod.get_held(held.id)
    assert decided is not None and decided.state is HeldState.APPROVED
    assert decided.published_offset == 9
    assert await mod.list_held(state=HeldState.HELD) == []
    with pytest.raises(NotFound):
        await mod.decide_held(12345, approve=True, actor_id=moderator, reason="x", now=NOW)


async def test_settings_rules_and_figure_rows(stores: tuple[Store, SqlModerationStore]) -> None:
    store, mod = stores
    ann, amy, moderator = await _users(store, "ann", "amy", "mod1")
    assert await mod.get_setting("auto_hide_threshold") is None
    await mod.set_setting("auto_hide_threshold", "4", actor_id=moderator, reason="r", now=NOW)
    assert await mod.get_setting("auto_hide_threshold") == "4"
    assert await mod.get_rules("en") is None
    await mod.set_rules("zh-Hant", "# 守則", actor_id=moderator, reason="r", now=NOW)
    assert await mod.get_rules("zh-Hant") == ("# 守則", NOW)

    await mod.record_flag(_flag(1, ann), now=NOW)
    await mod.record_flag(_flag(1, amy), now=NOW + 5)
    await mod.record_flag(_flag(2, ann), now=NOW + HOUR)
    await mod.act_on_message(
        ROOM, 1, MessageAction.HIDE, actor_id=moderator, reason="r", now=NOW + 2 * HOUR
    )
    rows = await mod.handling_rows(since=NOW, until=NOW + 2 * HOUR)
    assert [(r.first_flag_at, r.first_action_at) for r in rows] == [
        (NOW, NOW + 2 * HOUR),
        (NOW + HOUR, None),
    ]
    assert await mod.handling_rows(since=NOW + 1, until=NOW + HOUR) == []
    assert await mod.count_flags(since=NOW, until=NOW + HOUR) == 2
    assert await mod.count_flags(since=NOW, until=NOW + HOUR + 1) == 3


async def test_deleted_text_is_kept_then_purged_once(
    stores: tuple[Store, SqlModerationStore],
) -> None:
    store, mod = stores
    [author, flagger, moderator] = await _users(store, "ann", "amy", "mod1")
    for offset in (1, 2, 3):
        flag = _flag(offset, flagger)
        await mod.record_flag(
            NewFlag(
                flag.channel, offset, flagger, flag.reason, "", author, "Ann", f"text {offset}", NOW
            ),
            now=NOW,
        )
    await mod.act_on_message(
        ROOM, 1, MessageAction.DELETE, actor_id=moderator, reason="r", now=NOW + HOUR
    )
    await mod.act_on_message(
        ROOM, 2, MessageAction.DELETE, actor_id=moderator, reason="r", now=NOW + 5 * HOUR
    )
    await mod.act_on_message(ROOM, 3, MessageAction.HIDE, actor_id=moderator, reason="r", now=NOW)
    deleted = await mod.get_message(ROOM, 1)
    assert deleted is not None and deleted.deleted_at == NOW + HOUR
    assert deleted.body == "text 1" and not deleted.text_purged  # kept for the moderators
    # The sweep blanks what was deleted before its cutoff only, once.
    assert await mod.purge_deleted_text(before=NOW + 2 * HOUR, now=NOW + 10 * HOUR) == 1
    assert await mod.purge_deleted_text(before=NOW + 2 * HOUR, now=NOW + 11 * HOUR) == 0
    first, second, hidden = [await mod.get_message(ROOM, o) for o in (1, 2, 3)]
    assert first is not None and first.body == "" and first.text_purged
    assert second is not None and second.body == "text 2" and not second.text_purged
    assert hidden is not None and hidden.body == "text 3" and hidden.deleted_at is None
    # The history of a message: its audit entries, newest first.
    history = await mod.message_history(ROOM, 1)
    assert [(e.action, e.actor_id) for e in history] == [("delete", moderator)]


async def test_audit_search_filters_and_facets(stores: tuple[Store, SqlModerationStore]) -> None:
    store, mod = stores
    [author, other, moderator] = await _users(store, "ann", "bob", "mod1")
    audit = SqlAuditLog(store.database)
    await mod.add_audit("warn", actor_id=moderator, reason="a", now=NOW, target_user_id=author)
    await mod.add_audit(
        "warn", actor_id=moderator, reason="b", now=NOW + HOUR, target_user_id=other
    )
    await mod.add_audit("mute", actor_id=moderator, reason="c", now=NOW + 2 * HOUR, channel=ROOM)
    await audit.append(
        NewEntry(
            feature="polls",
            action="poll_close",
            actor_id=None,
            reason="d",
            at=NOW + 3 * HOUR,
            subject="poll:1",
        )
    )
    everything = await audit.search(AuditQuery())
    assert [e.reason for e in everything] == ["d", "c", "b", "a"]
    assert [e.reason for e in await audit.search(AuditQuery(feature="moderation"))] == [
        "c",
        "b",
        "a",
    ]
    assert [e.reason for e in await audit.search(AuditQuery(action="warn"))] == ["b", "a"]
    assert [e.reason for e in await audit.search(AuditQuery(target_user_id=author))] == ["a"]
    assert [e.reason for e in await audit.search(AuditQuery(channel=ROOM))] == ["c"]
    assert [e.reason for e in await audit.search(AuditQuery(actor_id=moderator))] == [
        "c",
        "b",
        "a",
    ]
    window = AuditQuery(since=NOW + HOUR, until=NOW + 3 * HOUR)
    assert [e.reason for e in await audit.search(window)] == ["c", "b"]  # until is exclusive
    assert [e.reason for e in await audit.search(AuditQuery(limit=1))] == ["d"]
    facets = await audit.facets(feature="moderation")
    assert facets.actors == [(moderator, "Mod1")]
    assert facets.actions == ["mute", "warn"]
    assert facets.targets == [(author, "Ann"), (other, "Bob")]
    assert facets.channels == [ROOM]
    assert (await audit.facets()).actions == ["mute", "poll_close", "warn"]

"""Finding ``@name`` mentions in chat text (``workers/chat_notify.py``): Chinese names inside a
sentence without spaces, the longest name first, Latin names not running on, and which persist
entries are chat messages at all."""

from __future__ import annotations

import msgpack
import pytest

from channels.workqueue import WorkItem
from workers.chat_notify import ChatMessage, Mentions, chat_message, quote

MEMBERS = {
    1: "陳太",
    2: "陳太太",
    3: "李生",
    4: "Amy",
    5: "Amy Chen",
    6: "amy",  # another Amy: a mention of the name mentions both
    7: "Bob",
    8: "  ",  # a blank name mentions nobody
    9: "Straße",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@陳太今日收水費", {1}),
        ("早晨！@陳太今日收水費，@李生記得", {1, 3}),
        ("@陳太太好", {2}),  # longest first: 陳太太, not 陳太
        ("@陳太@李生", {1, 3}),
        ("陳太 李生", set()),  # no @
        ("@ 陳太", set()),  # a space after @ is not a name
        ("@@陳太", {1}),
        ("email me at x@陳太", {1}),  # an @ anywhere starts a mention
        ("@amy 早晨", {4, 6}),  # case-insensitive, and both Amys
        ("@Amy Chen, hi", {5}),
        ("@Amyx", set()),  # a Latin name does not run on into another word
        ("@Amy2", set()),
        ("@Amy的貓", {4, 6}),  # but Chinese after it is fine
        ("@Amy, @Bob.", {4, 6, 7}),
        ("@BOB", {7}),
        ("@strasse and @Straße", {9}),
        ("@陳", set()),
        ("@", set()),
        ("", set()),
    ],
)
def test_mentions(text: str, expected: set[int]) -> None:
    assert Mentions(MEMBERS).find(text) == expected


def test_no_members_no_mentions() -> None:
    assert Mentions({}).find("@陳太") == set()


def test_quote_is_one_line_of_at_most_80_characters() -> None:
    assert quote("一\n二  三") == "一 二 三"
    long = "水" * 100
    assert quote(long) == "水" * 80 + "…"
    assert quote("水" * 80) == "水" * 80


def _item(channel: str, body: object, offset: int = 5) -> WorkItem:
    return WorkItem("1-0", channel, offset, 1, msgpack.packb(body), 1)


def test_chat_message_reads_chat_bodies_only() -> None:
    body = {
        "kind": "chat",
        "text": "@陳太 hi",
        "author": {"id": 3, "name": "李生"},
        "ts": 1_700_000_000_000,
        "cmid": "c1",
    }
    assert chat_message(_item("building:1", body)) == ChatMessage(
        "building:1", 5, 3, "李生", "@陳太 hi", 1_700_000_000_000
    )
    assert chat_message(_item("group:gardening", body)) is not None
    # Moderation's events in the same rooms, other channels, other shapes: not chat.
    assert chat_message(_item("building:1", {"kind": "hide", "target": 4})) is None
    assert chat_message(_item("poll:1", body)) is None
    assert chat_message(_item("mod:flags", body)) is None
    assert chat_message(_item("nonsense", body)) is None
    assert chat_message(_item("building:1", [1, 2])) is None
    assert chat_message(_item("building:1", {**body, "author": {"id": "3", "name": "x"}})) is None
    assert chat_message(_item("building:1", {**body, "ts": 1.5})) is None
    broken = WorkItem("1-0", "building:1", 5, 1, b"\xc1", 1)
    assert chat_message(broken) is None

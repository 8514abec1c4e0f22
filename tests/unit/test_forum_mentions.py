"""Who a forum post mentions: ``@`` + a display name or a username among the topic's readers,
the longest name first, Latin names not running on into the next word."""

from __future__ import annotations

from persistence.forum import Person
from web.forum.actions import mentioned_in

PEOPLE = [
    Person(1, "chan12a", "陳太"),
    Person(2, "chantai", "陳太太"),
    Person(3, "amy", "Amy"),
    Person(4, "lee", "李伯 Mr Lee"),
]


def test_display_names_and_usernames() -> None:
    assert mentioned_in("@陳太 你好", PEOPLE) == {1}
    assert mentioned_in("@陳太太今日有空嗎", PEOPLE) == {2}  # the longest name wins
    assert mentioned_in("thanks @amy and @李伯 Mr Lee", PEOPLE) == {3, 4}
    assert mentioned_in("@chan12a", PEOPLE) == {1}
    assert mentioned_in("@AMY!", PEOPLE) == {3}  # case does not matter


def test_no_mention_without_a_reader_of_that_name() -> None:
    assert mentioned_in("@Amyx is not Amy", PEOPLE) == set()
    assert mentioned_in("mail amy@example.com", PEOPLE) == set()
    assert mentioned_in("@Bob", PEOPLE) == set()  # not among the readers: nobody
    assert mentioned_in("no at sign, Amy", PEOPLE) == set()

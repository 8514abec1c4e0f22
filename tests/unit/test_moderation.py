"""The pure parts of moderation: text normalisation and the word list, the ``flag`` op's parser,
and the figures' arithmetic."""

from __future__ import annotations

from datetime import UTC

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gateway.moderation  # noqa: F401  (registers the flag op)
from gateway.moderation.ops import FlagRequest
from gateway.wire import Format, FrameError, decode_request
from linli.periods import DAY_MS
from persistence.moderation import (
    FlagReason,
    HandlingRow,
    Word,
    WordAction,
    find_word,
    normalise_text,
)
from web.moderation.figures import Period, figures, nearest_rank, periods

HOUR = 3_600_000


def test_normalise_text_folds_width_case_and_invisible_characters() -> None:
    assert normalise_text("ＢＵＹ　Now") == "buy now"
    assert normalise_text("六\u200b合\u200d彩") == "六合彩"
    assert normalise_text("Straße") == "strasse"
    assert normalise_text("⑥合彩") == "6合彩"


def test_find_word_matches_inside_sentences_without_spaces_block_first() -> None:
    words = [Word(1, "賭場", WordAction.HOLD), Word(2, "六合彩", WordAction.BLOCK)]
    assert find_word(words, "今晚一齊買六合彩啦") == words[1]
    assert find_word(words, "網上賭場同六合彩") == words[1]  # block wins over hold
    assert find_word(words, "網上賭場") == words[0]
    assert find_word(words, "六 合 彩") is None  # spaces inside a phrase are a different text
    assert find_word(words, "今日天氣好") is None


_HAN = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
_TEXT = st.one_of(_HAN, st.characters(min_codepoint=0x61, max_codepoint=0x7A), st.just("，"))


@given(
    st.text(_TEXT, max_size=30),
    st.text(_HAN, min_size=1, max_size=5),
    st.text(_TEXT, max_size=30),
    st.lists(st.integers(min_value=0, max_value=5), max_size=3),
)
def test_a_chinese_phrase_is_found_wherever_it_is_embedded(
    before: str, phrase: str, after: str, invisible_at: list[int]
) -> None:
    """Inside any sentence, with no spaces around it, and with zero-width spaces slipped in."""
    words = [Word(1, normalise_text(phrase), WordAction.BLOCK)]
    for index in sorted(invisible_at, reverse=True):
        phrase = phrase[:index] + "\u200b" + phrase[index:]
    assert find_word(words, before + phrase + after) == words[0]


def _flag_frame(**fields: object) -> str:
    return orjson.dumps({"op": "flag", "id": 4, "channel": "building:1", **fields}).decode()


def test_flag_op_parses_and_refuses_bad_fields() -> None:
    request = decode_request(_flag_frame(offset=7, reason="spam", text=" 廣告 "), Format.JSON)
    assert isinstance(request, FlagRequest)
    assert (request.offset, request.reason, request.note) == (7, FlagReason.SPAM, "廣告")
    for bad in (
        {"offset": 0, "reason": "spam"},
        {"offset": "7", "reason": "spam"},
        {"offset": 7, "reason": "rude"},
        {"offset": 7, "reason": "other"},  # other needs a text
        {"offset": 7, "reason": "spam", "text": "x" * 501},
    ):
        with pytest.raises(FrameError) as caught:
            decode_request(_flag_frame(**bad), Format.JSON)
        assert caught.value.request_id == 4 and str(caught.value.code) == "bad_request"


def test_figures_of_a_hand_computed_period() -> None:
    period = Period(0, 7 * DAY_MS, "w")
    rows = [
        HandlingRow(0, 2 * HOUR),
        HandlingRow(HOUR, 30 * HOUR),
        HandlingRow(2 * HOUR, 3 * HOUR),
        HandlingRow(3 * HOUR, None),
    ]
    assert figures(rows, 5, period) == {
        "start": 0,
        "end": 7 * DAY_MS,
        "label": "w",
        "flags_received": 5,
        "messages_flagged": 4,
        "handled": 3,
        "time_to_first_action": {"median_ms": 2 * HOUR, "p90_ms": 29 * HOUR},
        "handled_within_24h": 0.5,
    }
    empty = figures([], 0, period)
    assert empty["time_to_first_action"] == {"median_ms": None, "p90_ms": None}
    assert empty["handled_within_24h"] is None


def test_nearest_rank() -> None:
    values = list(range(1, 11))
    assert [nearest_rank(values, p) for p in (10, 50, 90, 100)] == [1, 5, 9, 10]
    assert nearest_rank([7], 90) == 7
    assert nearest_rank([], 50) is None


def test_calendar_periods() -> None:
    now = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC, a Tuesday
    assert [p.label for p in periods("month", 3, now, zone=UTC)] == [
        "2023-09",
        "2023-10",
        "2023-11",
    ]
    months = periods("month", 2, now, zone=UTC)
    assert months[0].end == months[1].start
    assert [p.label for p in periods("week", 2, now, zone=UTC)] == ["2023-W45", "2023-W46"]
    days = periods("day", 2, now, zone=UTC)
    assert [p.label for p in days] == ["2023-11-13", "2023-11-14"]
    assert days[1].end - days[1].start == DAY_MS and days[1].start <= now < days[1].end
    with pytest.raises(ValueError):
        periods("year", 1, now, zone=UTC)

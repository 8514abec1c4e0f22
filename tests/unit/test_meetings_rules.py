"""The meeting rules on hand-made communities, each figure worked out by hand in the comment
beside it (not by the code under test): thresholds at exactly 2/3, 3/4 and 1/2, the Art. 27
caps of an owner and of a proxy, a reconvened meeting, objections, and the rounding shown."""

from __future__ import annotations

from fractions import Fraction

import pytest

from persistence.meetings.rules import (
    DEFAULT_THRESHOLDS,
    Choice,
    Member,
    Ratio,
    ThresholdKind,
    attendance,
    number,
    objections,
    percent,
    quorum,
    tally,
)

ART31 = DEFAULT_THRESHOLDS[ThresholdKind.ART31]
ART32 = DEFAULT_THRESHOLDS[ThresholdKind.ART32]
MAJORITY = DEFAULT_THRESHOLDS[ThresholdKind.MAJORITY]


def even(n: int, share: int = 10) -> list[Member]:
    """n units, each its own owner, each ``share``."""
    return [Member(u, f"owner:{u}", share) for u in range(1, n + 1)]


def in_person(*units: int) -> dict[int, str | None]:
    return dict.fromkeys(units)


def test_quorum_at_exactly_two_thirds() -> None:
    roll = even(12)  # 12 units, 120 shares: 2/3 is 8 units and 80 shares
    assert quorum(attendance(roll, in_person(*range(1, 9))), ART31).met  # 8/12 = 2/3
    short = quorum(attendance(roll, in_person(*range(1, 8))), ART31)  # 7/12 < 2/3
    assert not short.met and not short.heads_met and not short.share_met


def test_quorum_needs_heads_and_shares_both() -> None:
    # 9 units: shares 5,5,5,5,5,5,15,15,15 = 75 (each under 1/5 of 75 = 15, so no cap).
    roll = [Member(u, f"o{u}", 5) for u in range(1, 7)] + [
        Member(u, f"o{u}", 15) for u in range(7, 10)
    ]
    # The six small ones: 6/9 = 2/3 of heads, but 30/75 = 2/5 of shares.
    result = quorum(attendance(roll, in_person(*range(1, 7))), ART31)
    assert result.heads_met and not result.share_met and not result.met
    # Four small and the three large: 7/9 heads, 20 + 45 = 65/75 shares.
    assert quorum(attendance(roll, in_person(1, 2, 3, 4, 7, 8, 9)), ART31).met


def test_pass_at_exactly_three_quarters() -> None:
    roll = even(12)
    present = in_person(*range(1, 9))  # 8 present
    votes = dict.fromkeys(range(1, 7), Choice.FOR) | {7: Choice.AGAINST}  # 6 for, 8 abstains none
    t = tally(roll, present, votes, ART31)
    assert t.quorum.met and t.heads_met and t.share_met and t.passes  # 6/8 = 3/4
    assert t.counted[Choice.FOR].heads == 6 and t.counted[Choice.FOR].share == 60
    assert t.not_voted.heads == 1 and t.votes == 7
    fewer = tally(roll, present, dict.fromkeys(range(1, 6), Choice.FOR), ART31)  # 5/8
    assert not fewer.passes and not fewer.heads_met


def test_abstaining_does_not_consent() -> None:
    roll = even(12)
    present = in_person(*range(1, 9))
    votes = dict.fromkeys(range(1, 6), Choice.FOR) | {6: Choice.ABSTAIN}
    t = tally(roll, present, votes, ART31)
    assert t.counted[Choice.ABSTAIN].heads == 1 and not t.passes


def test_votes_of_absent_units_are_not_counted() -> None:
    roll = even(12)
    t = tally(roll, in_person(*range(1, 9)), {12: Choice.FOR}, ART31)
    assert t.counted[Choice.FOR].heads == 0 and t.votes == 0


def test_owner_of_many_units_is_capped_art27_2() -> None:
    # 10 units of 10 shares; owner X holds 3 (units 1-3): 3 > 10/5 = 2 units, 30 > 100/5 = 20.
    roll = [Member(u, "X" if u <= 3 else f"o{u}", 10) for u in range(1, 11)]
    att = attendance(roll, in_person(1, 2, 3))
    # X counts 2 heads and 20 shares: each unit 2/3 of a head and 20/3 shares.
    assert att.heads == 2 and att.share == 20 and att.present_units == 3
    (cap,) = att.caps
    assert (cap.rule, cap.key) == ("art27_2", "X")
    assert cap.held_heads == 3 and cap.counted_heads == 2
    # X and five others present: 2 + 5 = 7 counted heads of 10 (70 shares): over 2/3.
    assert quorum(attendance(roll, in_person(1, 2, 3, 4, 5, 6, 7, 8)), ART31).met


def test_proxy_beyond_a_fifth_is_not_counted_art27_3() -> None:
    # 20 units of 5 shares (100). One proxy P holds 5 principals: 5 > 20/5 = 4 heads and
    # 25 > 100/5 = 20 shares, so P's principals count 4 heads and 20 shares.
    roll = even(20, share=5)
    present: dict[int, str | None] = dict.fromkeys(range(1, 6), "user:99")
    present |= in_person(*range(6, 16))  # ten more in person
    att = attendance(roll, present)
    assert att.by_proxy.heads == 4 and att.by_proxy.share == 20
    assert att.in_person.heads == 10 and att.in_person.share == 50
    assert att.heads == 14 and att.share == 70 and att.proxy_units == 5
    (cap,) = att.caps
    assert cap.rule == "art27_3" and cap.held_heads == 5 and cap.counted_heads == 4
    # 14/20 = 7/10 >= 2/3: the quorum holds even with the cut; without the cut it would be 15.
    assert quorum(att, ART31).met
    # P votes for with every principal: 4 heads of 14 counted, each principal 4/5 of a head.
    votes = dict.fromkeys(range(1, 6), Choice.FOR)
    t = tally(roll, present, votes, ART31)
    assert t.counted[Choice.FOR].heads == 4 and t.counted[Choice.FOR].share == 20


def test_proxy_at_exactly_a_fifth_is_counted_whole() -> None:
    roll = even(20, share=5)
    present: dict[int, str | None] = dict.fromkeys(range(1, 5), "user:99")  # 4 = 20/5
    att = attendance(roll, present)
    assert att.caps == () and att.by_proxy.heads == 4 and att.by_proxy.share == 20


def test_proxy_cap_with_an_uneven_fifth_is_exact() -> None:
    # 12 units of 1 share: a fifth is 12/5 = 2.4 heads; a proxy of 3 counts exactly 12/5.
    roll = even(12, share=1)
    att = attendance(roll, dict.fromkeys((1, 2, 3), "name:Chan"))
    assert att.heads == Fraction(12, 5) and att.share == Fraction(12, 5)
    assert number(att.heads) == "2.40"


def test_reconvened_meeting_art32() -> None:
    roll = even(20, share=5)
    # 1/5 of 20 is 4 heads and 20 shares, and at least 3 present.
    att4 = attendance(roll, in_person(1, 2, 3, 4))
    assert quorum(att4, ART32).met
    assert not quorum(attendance(roll, in_person(1, 2, 3)), ART32).met
    # A tiny roll: 1/5 of 10 is 2, but Art. 32 still needs 3 owners.
    small = quorum(attendance(even(10), in_person(1, 2)), ART32)
    assert small.heads_met and small.share_met and not small.min_met and not small.met
    # A majority is more than half: 2 of 4 is a tie and fails; 3 of 4 passes.
    tie = tally(roll, in_person(1, 2, 3, 4), {1: Choice.FOR, 2: Choice.FOR}, ART32)
    assert not tie.passes and not tie.heads_met
    win = tally(roll, in_person(1, 2, 3, 4), dict.fromkeys((1, 2, 3), Choice.FOR), ART32)
    assert win.passes


def test_majority_threshold_is_strict() -> None:
    roll = even(10)
    assert not quorum(attendance(roll, in_person(*range(1, 6))), MAJORITY).met  # 5/10
    assert quorum(attendance(roll, in_person(*range(1, 7))), MAJORITY).met  # 6/10


def test_objections_overturn_only_past_half_of_both() -> None:
    # 10 units; shares 30, 10 x 9 = 120 (the roll's totals, uncapped).
    roll = [Member(1, "o1", 30)] + [Member(u, f"o{u}", 10) for u in range(2, 11)]
    assert not objections(roll, [2, 3, 4, 5, 6]).overturned  # exactly half the heads
    heads_only = objections(roll, [2, 3, 4, 5, 6, 7])  # 6/10 heads, 60/120 shares: half
    assert heads_only.heads == 6 and heads_only.share == 60 and not heads_only.overturned
    assert objections(roll, [1, 2, 3, 4, 5, 6]).overturned  # 6/10 and 80/120
    assert objections(roll, [99]).heads == 0  # not on the roll


def test_ratio_bounds_and_empty_whole() -> None:
    with pytest.raises(ValueError):
        Ratio(4, 3)
    assert not Ratio(0, 1).met(0, 0)


@pytest.mark.parametrize(
    ("part", "whole", "shown"),
    [
        (68, 120, "56.7"),
        (1, 8, "12.5"),
        (1, 16, "6.3"),
        (2, 3, "66.7"),
        (0, 5, "0.0"),
        (5, 5, "100.0"),
    ],
)
def test_percent_rounds_half_up_exactly(part: int, whole: int, shown: str) -> None:
    assert percent(part, whole) == shown

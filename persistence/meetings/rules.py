"""The counting rules of an owners' meeting (區分所有權人會議), as pure functions over stored rows,
with exact fractions: no floating point decides anything.

Legal basis (公寓大廈管理條例 and its 施行細則), each a default that a community's 規約 may
change (the thresholds are configuration: ``Threshold``):

* **Art. 27 §1** — each unit (專有部分) has one vote; co-owners choose one of them to cast it.
  So the headcount is counted in units, each with weight 1, and its share (區分所有權比例).
* **施行細則 Art. 2** — one owner's several units add up; **Art. 27 §2** — what one owner holds
  beyond 1/5 of all shares, or beyond 1/5 of all units, is not counted (``owner_key`` groups an
  owner's units).
* **Art. 27 §3** — what one proxy (受託人) holds for others beyond 1/5 of all shares or beyond
  1/5 of the headcount is not counted (``proxy_key`` groups a proxy's principals). The caps are
  applied to the counted weights after §2's, so a capped owner who also appoints a proxy is
  not counted twice over.
* **Art. 31** — a resolution needs 2/3 of the headcount and 2/3 of the shares present, and the
  consent of 3/4 of those present by headcount and 3/4 of their shares ("以上": at least).
* **Art. 32** — a reconvened meeting needs at least 3 owners and 1/5 of the headcount and of the
  shares present, and decides by a majority ("過半數": more than half) of both. Its minutes go
  to every owner; written objections within 7 days overturn it only if they come from more
  than half of all owners and more than half of all shares.

A cap counts a group's weights times ``min(1, cap / held)``: every unit of the group keeps the
same fraction of its weight, so a proxy who votes differently for different principals is
counted in proportion and the sum over the group is exactly the cap. Denominators are always
the whole roll (every unit and every share), uncapped: the law's "全體".
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

#: Art. 27 §2 and §3: one owner's or one proxy's counted weight is at most this of the whole.
CAP = Fraction(1, 5)


class ThresholdKind(enum.StrEnum):
    ART31 = "art31"
    ART32 = "art32"
    MAJORITY = "majority"
    CUSTOM = "custom"


class Choice(enum.StrEnum):
    FOR = "for"
    AGAINST = "against"
    ABSTAIN = "abstain"


@dataclass(frozen=True, slots=True)
class Ratio:
    """ "At least ``num/den``" (以上), or "more than ``num/den``" (過半數) when ``strict``."""

    num: int
    den: int
    strict: bool = False

    def __post_init__(self) -> None:
        if not (0 <= self.num <= self.den and self.den > 0):
            raise ValueError(f"a ratio needs 0 <= num <= den, den > 0: {self.num}/{self.den}")

    @property
    def fraction(self) -> Fraction:
        return Fraction(self.num, self.den)

    def met(self, part: Fraction | int, whole: Fraction | int) -> bool:
        """Whether ``part`` of ``whole`` reaches the ratio (an empty whole reaches nothing)."""
        if whole <= 0:
            return False
        share = Fraction(part) / Fraction(whole)
        return share > self.fraction if self.strict else share >= self.fraction


@dataclass(frozen=True, slots=True)
class Threshold:
    """What a resolution needs: who must be present (quorum, of the whole roll), and who must
    consent (of those present)."""

    kind: ThresholdKind
    quorum_heads: Ratio
    quorum_share: Ratio
    pass_heads: Ratio
    pass_share: Ratio
    #: At least this many units present (Art. 32's "三人以上").
    min_present: int = 0


DEFAULT_THRESHOLDS: Mapping[ThresholdKind, Threshold] = {
    ThresholdKind.ART31: Threshold(
        ThresholdKind.ART31, Ratio(2, 3), Ratio(2, 3), Ratio(3, 4), Ratio(3, 4)
    ),
    ThresholdKind.ART32: Threshold(
        ThresholdKind.ART32,
        Ratio(1, 5),
        Ratio(1, 5),
        Ratio(1, 2, strict=True),
        Ratio(1, 2, strict=True),
        min_present=3,
    ),
    # For ordinary business where the bylaws ask only for a majority: more than half present,
    # more than half of those present consenting.
    ThresholdKind.MAJORITY: Threshold(
        ThresholdKind.MAJORITY,
        Ratio(1, 2, strict=True),
        Ratio(1, 2, strict=True),
        Ratio(1, 2, strict=True),
        Ratio(1, 2, strict=True),
    ),
}
#: Art. 32 §2: objections overturn a reconvened meeting's resolution only when they exceed
#: half of all owners and half of all shares.
OBJECTION_RATIO = Ratio(1, 2, strict=True)
#: Art. 32 §2: the written-objection window, from the minutes' dispatch.
OBJECTION_DAYS = 7
#: Art. 34: minutes within 15 days of the meeting.
MINUTES_DAYS = 15


@dataclass(frozen=True, slots=True)
class Member:
    """One unit on the meeting's roll: one vote (Art. 27 §1) with its share."""

    unit_id: int
    #: Groups one owner's units for Art. 27 §2 (the owner who holds the units' voice).
    owner_key: str
    share: int


@dataclass(frozen=True, slots=True)
class Weight:
    heads: Fraction
    share: Fraction


@dataclass(frozen=True, slots=True)
class Cap:
    """One owner or proxy whose weight was cut: what they held and what counts."""

    rule: str  # "art27_2" (an owner) or "art27_3" (a proxy)
    key: str
    held_heads: Fraction
    held_share: Fraction
    counted_heads: Fraction
    counted_share: Fraction


@dataclass(frozen=True, slots=True)
class Attendance:
    total_heads: int
    total_share: int
    #: Units present (in person or by proxy), uncapped.
    present_units: int
    in_person_units: int
    proxy_units: int
    #: Counted weights (after the caps).
    heads: Fraction
    share: Fraction
    in_person: Weight
    by_proxy: Weight
    caps: tuple[Cap, ...]


@dataclass(frozen=True, slots=True)
class QuorumResult:
    heads_met: bool
    share_met: bool
    min_met: bool

    @property
    def met(self) -> bool:
        return self.heads_met and self.share_met and self.min_met


@dataclass(frozen=True, slots=True)
class ItemTally:
    attendance: Attendance
    quorum: QuorumResult
    counted: Mapping[Choice, Weight]
    #: Present units that have not voted (count as not consenting).
    not_voted: Weight
    votes: int
    heads_met: bool
    share_met: bool

    @property
    def passes(self) -> bool:
        return self.quorum.met and self.heads_met and self.share_met


@dataclass(frozen=True, slots=True)
class ObjectionResult:
    heads: int
    share: int
    total_heads: int
    total_share: int
    overturned: bool


@dataclass
class _Group:
    heads: Fraction = Fraction(0)
    share: Fraction = Fraction(0)
    units: list[int] = field(default_factory=list)


def _factor(held: Fraction, cap: Fraction) -> Fraction:
    return Fraction(1) if held <= cap else cap / held


def counted_weights(
    members: Iterable[Member], present: Mapping[int, str | None]
) -> tuple[dict[int, Weight], tuple[Cap, ...], int, int]:
    """Each present unit's counted weight (``present``: unit id -> the proxy's key, or None in
    person), the caps applied, and the roll's totals (units, shares)."""
    roll = list(members)
    total_heads = len(roll)
    total_share = sum(m.share for m in roll)
    cap_heads = CAP * total_heads
    cap_share = CAP * total_share
    caps: list[Cap] = []
    # Art. 27 §2, per owner, over everything the owner holds (present or not).
    owners: dict[str, _Group] = {}
    for m in roll:
        group = owners.setdefault(m.owner_key, _Group())
        group.heads += 1
        group.share += m.share
    factors: dict[str, tuple[Fraction, Fraction]] = {}
    for key, group in sorted(owners.items()):
        fh, fs = _factor(group.heads, cap_heads), _factor(group.share, cap_share)
        factors[key] = (fh, fs)
        if fh != 1 or fs != 1:
            caps.append(
                Cap("art27_2", key, group.heads, group.share, group.heads * fh, group.share * fs)
            )
    weights: dict[int, Weight] = {}
    for m in roll:
        if m.unit_id in present:
            fh, fs = factors[m.owner_key]
            weights[m.unit_id] = Weight(fh, m.share * fs)
    # Art. 27 §3, per proxy, over the principals present through them.
    proxies: dict[str, _Group] = {}
    for unit_id, proxy in present.items():
        if proxy is None or unit_id not in weights:
            continue
        group = proxies.setdefault(proxy, _Group())
        group.heads += weights[unit_id].heads
        group.share += weights[unit_id].share
        group.units.append(unit_id)
    for key, group in sorted(proxies.items()):
        fh, fs = _factor(group.heads, cap_heads), _factor(group.share, cap_share)
        if fh == 1 and fs == 1:
            continue
        caps.append(
            Cap("art27_3", key, group.heads, group.share, group.heads * fh, group.share * fs)
        )
        for unit_id in group.units:
            w = weights[unit_id]
            weights[unit_id] = Weight(w.heads * fh, w.share * fs)
    return weights, tuple(caps), total_heads, total_share


def attendance(members: Iterable[Member], present: Mapping[int, str | None]) -> Attendance:
    weights, caps, total_heads, total_share = counted_weights(members, present)
    in_person = [u for u in weights if present[u] is None]
    by_proxy = [u for u in weights if present[u] is not None]
    return Attendance(
        total_heads=total_heads,
        total_share=total_share,
        present_units=len(weights),
        in_person_units=len(in_person),
        proxy_units=len(by_proxy),
        heads=sum((w.heads for w in weights.values()), Fraction(0)),
        share=sum((w.share for w in weights.values()), Fraction(0)),
        in_person=_sum(weights, in_person),
        by_proxy=_sum(weights, by_proxy),
        caps=caps,
    )


def _sum(weights: Mapping[int, Weight], units: Iterable[int]) -> Weight:
    chosen = [weights[u] for u in units]
    return Weight(
        sum((w.heads for w in chosen), Fraction(0)), sum((w.share for w in chosen), Fraction(0))
    )


def quorum(att: Attendance, threshold: Threshold) -> QuorumResult:
    return QuorumResult(
        heads_met=threshold.quorum_heads.met(att.heads, att.total_heads),
        share_met=threshold.quorum_share.met(att.share, att.total_share),
        min_met=att.present_units >= threshold.min_present,
    )


def tally(
    members: Iterable[Member],
    present: Mapping[int, str | None],
    votes: Mapping[int, Choice],
    threshold: Threshold,
) -> ItemTally:
    """An item's figures: consent is counted against those present (by headcount and share);
    a present unit that did not vote, or abstained, does not consent. Votes of units not
    present are not counted (the store never accepts one)."""
    roll = list(members)
    weights, _, _, _ = counted_weights(roll, present)
    att = attendance(roll, present)
    counted = {
        choice: _sum(weights, [u for u, c in votes.items() if c is choice and u in weights])
        for choice in Choice
    }
    not_voted = _sum(weights, [u for u in weights if u not in votes])
    consent = counted[Choice.FOR]
    return ItemTally(
        attendance=att,
        quorum=quorum(att, threshold),
        counted=counted,
        not_voted=not_voted,
        votes=sum(1 for u in votes if u in weights),
        heads_met=threshold.pass_heads.met(consent.heads, att.heads),
        share_met=threshold.pass_share.met(consent.share, att.share),
    )


def objections(members: Iterable[Member], objectors: Iterable[int]) -> ObjectionResult:
    """Art. 32 §2: the outcome of the written objections to a reconvened meeting's resolution,
    against all owners and all shares (uncapped: the law counts 全體區分所有權人)."""
    roll = {m.unit_id: m for m in members}
    units = {u for u in objectors if u in roll}
    heads = len(units)
    share = sum(roll[u].share for u in units)
    total_heads = len(roll)
    total_share = sum(m.share for m in roll.values())
    return ObjectionResult(
        heads=heads,
        share=share,
        total_heads=total_heads,
        total_share=total_share,
        overturned=OBJECTION_RATIO.met(heads, total_heads)
        and OBJECTION_RATIO.met(share, total_share),
    )


def percent(part: Fraction | int, whole: Fraction | int) -> str:
    """``part`` of ``whole`` in per cent with one decimal, rounded half up, exactly ("56.7")."""
    if whole == 0:
        return "0.0"
    tenths = Fraction(part) * 1000 / Fraction(whole)
    rounded = int(tenths + Fraction(1, 2)) if tenths >= 0 else -int(-tenths + Fraction(1, 2))
    return f"{rounded // 10}.{rounded % 10}"


def number(value: Fraction) -> str:
    """A counted weight for people: whole numbers as such, others to two decimals (a cap)."""
    if value.denominator == 1:
        return str(value.numerator)
    hundredths = int(value * 100 + Fraction(1, 2))
    return f"{hundredths // 100}.{hundredths % 100:02d}"

"""The minutes Linli drafts after a meeting (Art. 34), in both languages, from the same rows and
the same figures as the projector showed: attendance, each item with its result by headcount
and share and the threshold used, the proxies and the caps applied. Staff edit the draft and
the chair approves it; the stored text is what is published and printed.
"""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction
from typing import Any

from gateway.meetings.events import item_tally, tally_json
from linli.types import Millis
from persistence.meetings import Item, ItemState, MeetingKind, Snapshot
from persistence.meetings.rules import Choice, Ratio, ThresholdKind, attendance, number, percent

_KIND_ZH = {
    MeetingKind.REGULAR: "定期會議",
    MeetingKind.EXTRAORDINARY: "臨時會議",
    MeetingKind.RECONVENED: "重新召集會議",
}
_THRESHOLD_ZH = {
    ThresholdKind.ART31: "第三十一條",
    ThresholdKind.ART32: "第三十二條（重新召集）",
    ThresholdKind.MAJORITY: "過半數",
    ThresholdKind.CUSTOM: "規約自訂",
}
_THRESHOLD_EN = {
    ThresholdKind.ART31: "Art. 31",
    ThresholdKind.ART32: "Art. 32 (reconvened)",
    ThresholdKind.MAJORITY: "simple majority",
    ThresholdKind.CUSTOM: "custom (bylaws)",
}


_CHOICE_ZH = {Choice.FOR: "同意", Choice.AGAINST: "反對", Choice.ABSTAIN: "棄權"}


def _ratio(r: Ratio, zh: bool) -> str:
    if zh:
        return f"{r.num}/{r.den}{'以上' if not r.strict else '（超過）'}"
    return f"{'more than ' if r.strict else 'at least '}{r.num}/{r.den}"


def _when(ms: Millis | None, zone: Any) -> str:
    if ms is None:
        return "—"
    return datetime.fromtimestamp(ms / 1000, zone).strftime("%Y-%m-%d %H:%M")


def _figures(item: Item, snapshot: Snapshot) -> dict[str, Any]:
    if item.figures is not None:
        return dict(item.figures)
    return tally_json(item_tally(snapshot, item))


def draft(snapshot: Snapshot, zone: Any) -> str:
    meeting = snapshot.meeting
    roll = [r.member for r in snapshot.roll]
    att = attendance(roll, snapshot.present)
    zh: list[str] = []
    en: list[str] = []
    heads_pct = percent(att.heads, att.total_heads)
    share_pct = percent(att.share, att.total_share)
    zh += [
        f"# {meeting.title} 會議紀錄",
        "",
        f"- 會議種類：{_KIND_ZH[meeting.kind]}",
        f"- 時間：{_when(meeting.opened_at or meeting.starts_at, zone)}",
        f"- 地點：{meeting.place}",
        f"- 出席：{att.present_units}/{att.total_heads} 戶（計入 {number(att.heads)}，"
        f"{heads_pct} %），區分所有權 {share_pct} %",
        f"- 親自出席 {att.in_person_units} 戶，委託出席 {att.proxy_units} 戶",
    ]
    en += [
        f"# Minutes: {meeting.title}",
        "",
        f"- Kind: {meeting.kind.value}",
        f"- When: {_when(meeting.opened_at or meeting.starts_at, zone)}",
        f"- Where: {meeting.place}",
        f"- Present: {att.present_units}/{att.total_heads} units (counted {number(att.heads)}, "
        f"{heads_pct} %), ownership share {share_pct} %",
        f"- In person {att.in_person_units}, by proxy {att.proxy_units}",
    ]
    # Who left before the end (checked out, not back by the close): their votes cast count.
    left = {c.unit_id for c in snapshot.checkouts} - set(snapshot.present)
    if left:
        zh.append(f"- 提前離席 {len(left)} 戶（離席前已投的票照計）")
        en.append(f"- Left before the end: {len(left)} units (votes cast before leaving count)")
    if att.caps:
        zh.append("- 代理或持有超過五分之一的部分不計入（第二十七條）：")
        en.append("- Beyond one fifth, not counted (Art. 27):")
        for cap in att.caps:
            zh.append(f"  - 持有 {number(cap.held_heads)} 戶，計入 {number(cap.counted_heads)} 戶")
            en.append(
                f"  - held {number(cap.held_heads)} units, counted {number(cap.counted_heads)}"
            )
    zh += ["", "## 議案", ""]
    en += ["", "## Items", ""]
    for item in meeting.items:
        zh.append(f"### 第 {item.position} 案：{item.draft.title}")
        en.append(f"### Item {item.position}: {item.draft.title}")
        zh.append("")
        en.append("")
        if item.draft.explanation:
            zh += [item.draft.explanation, ""]
            en += [item.draft.explanation, ""]
        if not item.draft.resolution or item.state is not ItemState.CLOSED:
            zh += ["（報告事項，未表決）" if not item.draft.resolution else "（未表決）", ""]
            en += ["(Report, no vote)" if not item.draft.resolution else "(Not voted on)", ""]
            continue
        f = _figures(item, snapshot)
        th = item.draft.threshold
        counted = f["counted"]
        yes, no, blank = counted[Choice.FOR], counted[Choice.AGAINST], counted[Choice.ABSTAIN]
        here = f["present"]
        q_heads, q_share = _ratio(th.quorum_heads, True), _ratio(th.quorum_share, True)
        p_heads, p_share = _ratio(th.pass_heads, True), _ratio(th.pass_share, True)
        zh += [
            f"- 門檻：{_THRESHOLD_ZH[th.kind]}；出席 {q_heads} 人數及 {q_share} 區分所有權，"
            f"同意 {p_heads} 人數及 {p_share} 區分所有權",
            f"- 出席：{here['heads_text']} 戶，區分所有權 {here['share_pct']} %",
            f"- 同意：{yes['heads_text']} 戶（{yes['heads_pct']} %），"
            f"區分所有權 {yes['share_pct']} %",
            f"- 反對：{no['heads_text']} 戶（{no['heads_pct']} %），區分所有權 {no['share_pct']} %",
            f"- 棄權：{blank['heads_text']} 戶；未投票：{f['not_voted']['heads_text']} 戶",
            f"- 結果：**{'通過' if item.result == 'passed' else '未通過'}**",
            "",
        ]
        en += [
            f"- Threshold: {_THRESHOLD_EN[th.kind]}; present {_ratio(th.quorum_heads, False)} of "
            f"owners and {_ratio(th.quorum_share, False)} of shares, consent "
            f"{_ratio(th.pass_heads, False)} and {_ratio(th.pass_share, False)} of those present",
            f"- Present: {here['heads_text']} units, {here['share_pct']} % of shares",
            f"- For: {yes['heads_text']} ({yes['heads_pct']} %), share {yes['share_pct']} %",
            f"- Against: {no['heads_text']} ({no['heads_pct']} %), share {no['share_pct']} %",
            f"- Abstained: {blank['heads_text']}; did not vote: {f['not_voted']['heads_text']}",
            f"- Result: **{'passed' if item.result == 'passed' else 'not passed'}**",
            "",
        ]
        # Staff corrections of recorded votes, with their reasons: the figures above count them.
        fixed = [c for c in snapshot.corrections if c.item_id == item.id]
        labels = {r.unit_id: r.label for r in snapshot.roll}
        if fixed:
            zh[-1:] = [f"- 更正投票 {len(fixed)} 次（已計入上列數字）：", ""]
            en[-1:] = [f"- Votes corrected by staff: {len(fixed)} (counted above):", ""]
            for c in fixed:
                unit, when = labels.get(c.unit_id, str(c.unit_id)), _when(c.corrected_at, zone)
                old_zh, new_zh = _CHOICE_ZH[c.old_choice], _CHOICE_ZH[c.new_choice]
                zh.insert(-1, f"  - {unit}：{old_zh} → {new_zh}（{when}，{c.reason}）")
                en.insert(-1, f"  - {unit}: {c.old_choice} → {c.new_choice} ({when}, {c.reason})")
    zh += ["---", ""]
    return "\n".join([*zh, *en]).rstrip() + "\n"


def fraction_of(pair: list[int]) -> Fraction:
    return Fraction(pair[0], pair[1])

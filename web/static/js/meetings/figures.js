// @ts-check
// The live figures of a meeting, shown the same way on the owner's page, the chair's page and
// the projector: attendance against each threshold's quorum, and the item on the floor with its
// tally by headcount and by share. Every number is the server's (exact fractions counted from
// the stored rows, with the text to show); this file only lays them out. A snapshot with a lower
// version than the one shown is ignored, so the order in which they arrive does not matter.
import { t } from "../i18n.js";
import { node } from "../lib/dom.js";

/**
 * @typedef {{heads: number[], share: number[], heads_text: string, heads_pct: string, share_pct: string}} Weight
 * @typedef {{num: number, den: number, strict: boolean}} RatioJson
 * @typedef {{kind: string, quorum_heads: RatioJson, quorum_share: RatioJson, pass_heads: RatioJson,
 *   pass_share: RatioJson, min_present: number}} ThresholdJson
 * @typedef {{met: boolean, heads_met: boolean, share_met: boolean, min_met: boolean, threshold: ThresholdJson}} QuorumJson
 * @typedef {{counted: Record<string, Weight>, not_voted: Weight, votes: number, present: Weight,
 *   present_units: number, quorum_met: boolean, heads_met: boolean, share_met: boolean, passes: boolean}} TallyJson
 * @typedef {{id: number, position: number, title: string, explanation: string, resolution: boolean,
 *   threshold: ThresholdJson, state: string, result: string | null, tally?: TallyJson, final?: boolean,
 *   objection_until: number | null, objection_result: string | null, objections: number}} FloorItem
 * @typedef {{total_heads: number, total_share: number, present_units: number, in_person_units: number,
 *   proxy_units: number, heads: number[], share: number[], heads_text: string, heads_pct: string,
 *   share_pct: string, caps: {rule: string, held_heads: string, counted_heads: string}[]}} AttendanceJson
 * @typedef {{kind: "meeting", meeting_id: number, version: number, state: string, attendance: AttendanceJson,
 *   quorum: Record<string, QuorumJson>, item: FloorItem | null,
 *   items: {id: number, position: number, title: string, state: string, result: string | null}[],
 *   questions: Question[]}} Figures
 * @typedef {{id: number, text: string, state: string, votes: number}} Question
 */

/** @param {RatioJson} r */
export function ratioText(r) {
  return t(r.strict ? "meetings.ratio.more_than" : "meetings.ratio.at_least", { n: r.num, d: r.den });
}

export class FiguresView {
  /**
   * @param {HTMLElement} root  where the figures go (emptied and filled)
   * @param {{big?: boolean}} [options]
   */
  constructor(root, options = {}) {
    this.root = root;
    this.big = Boolean(options.big);
    this.version = -1;
    /** @type {Figures | null} */
    this.current = null;
    /** @type {(figures: Figures) => void} */
    this.onChange = () => {};
  }

  /** @param {Figures} figures @returns {boolean} whether it was newer and is shown */
  apply(figures) {
    if (figures.version <= this.version) return false;
    this.version = figures.version;
    this.current = figures;
    this.render(figures);
    this.onChange(figures);
    return true;
  }

  /** @param {Figures} f */
  render(f) {
    const a = f.attendance;
    const q = f.quorum.art31;
    const attendance = node("p", "mt-attendance");
    attendance.dataset.present = String(a.present_units);
    attendance.textContent = t("meetings.fig.attendance", {
      present: a.heads_text, total: a.total_heads, heads_pct: a.heads_pct, share_pct: a.share_pct,
    });
    const quorum = node("p", q.met ? "mt-quorum mt-ok" : "mt-quorum mt-not-yet",
      q.met ? t("meetings.fig.quorum_met") : t("meetings.fig.quorum_not_yet"));
    const split = node("p", "mt-split", t("meetings.fig.split", {
      in_person: a.in_person_units, proxy: a.proxy_units,
    }));
    /** @type {HTMLElement[]} */
    const parts = [attendance, quorum, split];
    if (a.caps.length) parts.push(node("p", "mt-caps", t("meetings.fig.caps")));
    const item = f.item;
    if (item) parts.push(this.itemView(item));
    // The projector shows the questions on the floor (moderated ones only ever come here).
    const shown = (f.questions ?? []).filter((q) => q.state === "shown").slice(0, 3);
    if (this.big && shown.length) {
      const list = node("ol", "mt-questions");
      list.setAttribute("aria-label", t("meetings.qa.title"));
      for (const q of shown) {
        list.append(node("li", "", t("meetings.qa.line", { text: q.text, votes: q.votes })));
      }
      parts.push(list);
    }
    this.root.replaceChildren(...parts);
  }

  /** @param {FloorItem} item */
  itemView(item) {
    const box = node("section", "mt-item");
    box.dataset.state = item.state;
    box.append(node(this.big ? "h2" : "h3", "mt-item-title",
      t("meetings.item.heading", { n: item.position, title: item.title })));
    const tally = item.tally;
    if (!item.resolution || !tally) {
      box.append(node("p", "mt-item-state", t(`meetings.item.state.${item.state}`)));
      return box;
    }
    const th = item.threshold;
    box.append(node("p", "mt-threshold", t("meetings.fig.threshold", {
      heads: ratioText(th.pass_heads), share: ratioText(th.pass_share),
    })));
    const list = node("dl", "mt-tally");
    for (const choice of ["for", "against", "abstain"]) {
      const w = tally.counted[choice];
      const row = node("div", `mt-row mt-${choice}`);
      row.append(node("dt", "", t(`meetings.choice.${choice}`)));
      const dd = node("dd", "", t("meetings.fig.weight", {
        heads: w.heads_text, heads_pct: w.heads_pct, share_pct: w.share_pct,
      }));
      dd.dataset.heads = w.heads_text;
      const bar = node("span", "mt-bar");
      bar.style.width = `${Math.min(100, Number(w.share_pct))}%`;
      dd.append(bar);
      row.append(dd);
      list.append(row);
    }
    box.append(list);
    box.append(node("p", "mt-votes", t("meetings.fig.votes", {
      votes: tally.votes, present: tally.present_units, not_voted: tally.not_voted.heads_text,
    })));
    const outcome = item.state === "closed"
      ? t(item.result === "passed" ? "meetings.result.passed" : "meetings.result.failed")
      : t(tally.passes ? "meetings.result.would_pass" : "meetings.result.would_fail");
    const verdict = node("p", `mt-verdict ${tally.passes ? "mt-ok" : "mt-not-yet"}`, outcome);
    verdict.id = "mt-verdict";
    verdict.dataset.final = String(item.state === "closed");
    box.append(verdict);
    return box;
  }
}

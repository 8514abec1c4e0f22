// @ts-check
// Tally snapshots and how they are drawn, shared by the poll page and the projector. A tally is
// the poll's whole count with a version (docs/protocol.md, "Polls"): keep the highest version,
// whichever way it arrived, and redraw from it — never add deltas.
import { t } from "./i18n.js";
import { part } from "./lib/dom.js";

/** @typedef {import("./types.js").TallyData} TallyData */

export class TallyView {
  /**
   * @param {HTMLOListElement} list  where the bars go
   * @param {HTMLElement} voters  the count line
   */
  constructor(list, voters) {
    this.list = list;
    this.voters = voters;
    /** @type {string[]} */
    this.options = [];
    /** The newest snapshot shown. @type {TallyData | null} */
    this.tally = null;
  }

  /** @param {string[]} options  the poll's option texts, in order */
  setOptions(options) {
    this.options = options;
    this.list.replaceChildren(
      ...options.map((text, index) => {
        const item = document.createElement("li");
        item.className = "bar";
        item.dataset.option = String(index);
        const label = document.createElement("span");
        label.className = "bar-label";
        label.textContent = text;
        const track = document.createElement("span");
        track.className = "bar-track";
        const fill = document.createElement("span");
        fill.className = "bar-fill";
        track.append(fill);
        const figure = document.createElement("span");
        figure.className = "bar-figure";
        item.append(label, track, figure);
        return item;
      }),
    );
    if (this.tally) this.draw();
  }

  /**
   * Apply a snapshot; returns false when it is older than the one shown.
   * @param {TallyData} tally
   */
  apply(tally) {
    if (this.tally && tally.version < this.tally.version) return false;
    this.tally = tally;
    this.draw();
    return true;
  }

  draw() {
    const tally = this.tally;
    if (!tally) return;
    const voters = tally.voters;
    this.voters.textContent = t("poll.voters", { count: voters });
    this.voters.dataset.voters = String(voters);
    this.list.dataset.state = tally.state;
    this.list.dataset.version = String(tally.version);
    for (const item of this.list.children) {
      if (!(item instanceof HTMLElement)) continue;
      const index = Number(item.dataset.option);
      const figure = part(item, ".bar-figure");
      const fill = part(item, ".bar-fill");
      if (!tally.counts) {
        figure.textContent = t("poll.hidden_until_close");
        fill.style.width = "0";
        item.dataset.count = "";
        continue;
      }
      const count = tally.counts[index] ?? 0;
      const percent = voters ? Math.round((1000 * count) / voters) / 10 : 0;
      item.dataset.count = String(count);
      figure.textContent = t("poll.count", { count, percent });
      fill.style.width = `${voters ? (100 * count) / voters : 0}%`;
    }
  }
}

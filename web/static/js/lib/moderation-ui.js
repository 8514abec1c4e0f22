// @ts-check
// Moderation as a resident (or a moderator reading the room) sees it beside a message list
// (message-list.js): a Report button on others' messages that opens the report dialog
// (report.js) and turns into "You reported this"; moderators' hide, restore and delete events
// applied to the messages shown (docs/protocol.md, Moderation events); and, after a room is
// opened, what only this resident sees there: the messages they reported and their own messages
// the word list holds for review. For any page built on a MessageList: the chat page today, a
// forum or the notices later.
import { api } from "../common.js";
import { t } from "../i18n.js";
import { openReport } from "../report.js";
import { node, part } from "./dom.js";
import { showModerated, showRestored } from "./message-list.js";

/** @typedef {import("../client.js").LinliClient} LinliClient */
/** @typedef {import("./message-list.js").MessageList} MessageList */
/** @typedef {import("../types.js").ModerationEventData} ModerationEventData */
/** @typedef {import("../types.js").PublicationData} PublicationData */
/** @template T @typedef {import("../types.js").ApiResult<T>} ApiResult */

/** @param {Element | null} element @returns {HTMLElement | null} */
const asElement = (element) => (element instanceof HTMLElement ? element : null);

/**
 * @param {PublicationData | undefined} data
 * @returns {data is ModerationEventData}
 */
export function isModerationEvent(data) {
  return data?.kind === "hide" || data?.kind === "restore" || data?.kind === "delete";
}

/**
 * "You reported this" instead of the Report button (after a report, or from /api/flags/mine).
 * @param {HTMLElement} li  a message item
 */
export function markReported(li) {
  const tools = li.querySelector(".report-tools");
  if (!tools || tools.querySelector(".reported")) return;
  tools.replaceChildren(reportedMark());
}

/** Focusable by script only: it takes the focus of the button it replaces. */
function reportedMark() {
  const mark = node("span", "reported", t("chat.reported"));
  mark.tabIndex = -1;
  return mark;
}

export class ModerationUI {
  /**
   * @param {object} options
   * @param {LinliClient} options.client  sends reports, reads a restored message again
   * @param {MessageList} options.messages  the messages shown
   * @param {() => string | null} options.channel  the channel shown (null: none)
   * @param {HTMLElement} options.status  a live region: "report sent" is said there
   */
  constructor({ client, messages, channel, status }) {
    this.client = client;
    this.messages = messages;
    this.channel = channel;
    this.status = status;
    /** Offsets this resident reported in the channel shown. @type {Set<number>} */
    this.flagged = new Set();
  }

  /** Forget the channel shown (another one comes). */
  clear() {
    this.flagged = new Set();
  }

  /**
   * The tools of a confirmed message by someone else (a MessageList's `tools`): its Report
   * button, or the mark when it was reported already.
   * @param {HTMLLIElement} li
   * @param {number} offset
   * @returns {HTMLElement}
   */
  reportTools(li, offset) {
    const tools = node("span", "report-tools");
    tools.append(this.flagged.has(offset) ? reportedMark() : this.reportButton(li, offset));
    return tools;
  }

  /**
   * @param {HTMLLIElement} li
   * @param {number} offset
   */
  reportButton(li, offset) {
    const button = node("button", "report-button", t("chat.report"));
    button.type = "button";
    button.setAttribute("aria-label", t("chat.report_label", { name: li.dataset.author ?? "" }));
    button.addEventListener("click", () => {
      const channel = this.channel();
      if (!channel) return;
      openReport({
        client: this.client,
        channel,
        offset,
        text: li.classList.contains("moderated") ? "" : (part(li, ".text").textContent ?? ""),
        trigger: button,
        done: () => {
          // Another room may be on screen by now: its reports are its own.
          if (this.channel() === channel) this.flagged.add(offset);
          markReported(li);
          this.status.textContent = t("chat.report_done");
        },
        // The button is gone once the report is in: focus goes to the mark that replaced it.
        restoreFocus: () => (button.isConnected ? button : asElement(li.querySelector(".reported"))),
      });
    });
    return button;
  }

  /**
   * Apply a publication of `channel` if it is a `hide`, `restore` or `delete` event
   * (idempotent: the same event may come twice).
   * @param {string} channel
   * @param {PublicationData | undefined} data
   * @returns {boolean} whether it was one (a chat list has nothing else to do with it)
   */
  apply(channel, data) {
    if (!isModerationEvent(data)) return false;
    if (this.channel() !== channel || typeof data.target !== "number") return true;
    const li = this.messages.item(data.target);
    if (!li || li.dataset.moderation === "deleted") return true; // not in view, or final
    if (data.kind === "hide" || data.kind === "delete") {
      showModerated(li, data.kind === "delete" ? "deleted" : "hidden");
    } else if (data.kind === "restore" && li.dataset.moderation === "hidden") {
      li.dataset.moderation = "restoring";
      if (typeof data.text === "string") showRestored(li, data.text);
      else this.refetch(channel, data.target, li);
    }
    return true;
  }

  /**
   * The event does not carry the text: read the message again (the server shows it now, with
   * its photo if it has one).
   * @param {string} channel
   * @param {number} offset
   * @param {HTMLElement} li
   */
  async refetch(channel, offset, li) {
    let reply;
    try {
      reply = await this.client.history(channel, { after: offset - 1, limit: 1 });
    } catch {
      reply = null;
    }
    if (li.dataset.moderation !== "restoring") return; // hidden or deleted again meanwhile
    const data = reply?.publications?.find((p) => p.offset === offset)?.data;
    if (data?.kind === "chat" && !data.moderation) showRestored(li, data.text ?? "", data.photo);
    else if (data?.kind === "chat" && data.moderation) showModerated(li, data.moderation);
    else li.dataset.moderation = "hidden";
  }

  /**
   * What only this resident sees in `channel`: the messages they reported and their messages the
   * word list holds for review.
   * @param {string} channel
   */
  async loadMine(channel) {
    /** @type {[ApiResult<import("../types.js").MyFlagsBody>, ApiResult<import("../types.js").MyHeldBody>]} */
    const [flags, held] = await Promise.all([
      api("GET", `/api/flags/mine?channel=${encodeURIComponent(channel)}`),
      api("GET", "/api/held/mine"),
    ]);
    if (this.channel() !== channel) return;
    for (const offset of flags.ok ? flags.data.offsets : []) {
      this.flagged.add(offset);
      const li = this.messages.item(offset);
      if (li) markReported(li);
    }
    const waiting = (held.ok ? held.data.held : [])
      .filter((h) => h.channel === channel && h.state === "held")
      .sort((a, b) => a.at - b.at);
    for (const h of waiting) this.messages.addHeld(h.text, h.at, h.id);
  }
}

// @ts-check
// A room's messages as a list, for any page that shows a channel's chat messages (the chat page
// today; a forum thread or the notices later): each message drawn with textContent only (never
// innerHTML: <img src=x onerror=alert(1)> shows as the characters it is), in offset order, with
// the reader's own messages while they are sending, failed or held for review, and messages a
// moderator hid or deleted. The list keeps to the bottom while the reader is there and keeps
// their place when older messages are put above.
//
// The page decides which publications reach it and what the items' tools are (moderation-ui.js
// gives the Report button); the list knows no connection and no room list.
import { formatFullTime, formatTime, t } from "../i18n.js";
import { renderCard } from "./cards.js";
import { node, part } from "./dom.js";
import { avatar, groupRuns } from "./message-runs.js";
import { setLanguage, setMessageText } from "./message-text.js";
import { photoThumb } from "../chat_photos.js";

/** @typedef {import("../types.js").ChatData} ChatData */
/** @typedef {import("../types.js").Publication} Publication */

/** Within this many pixels of the bottom counts as "reading the newest": new messages scroll. */
const STICKY_PX = 80;

/**
 * What an item shows: a chat message, or one of the reader's own not (yet) in the room.
 * @typedef {{text?: string, author?: {id?: number, name: string}, ts: number, moderation?: ChatData["moderation"], card?: ChatData["card"], official?: boolean, moderation_reason?: string, photo?: ChatData["photo"]}} ItemData
 */

/**
 * Makes the tools of a confirmed message by someone else (moderation-ui.js: its Report button);
 * what it returns goes at the end of the item's meta line.
 * @callback ItemTools
 * @param {HTMLLIElement} li  the item, not yet in the document
 * @param {number} offset
 * @returns {Node}
 */

/** @param {Element | null} element @returns {HTMLElement | null} */
const asItem = (element) => (element instanceof HTMLElement ? element : null);

/**
 * Show the message `li` as hidden or deleted by a moderator (its text is not kept). Its Report
 * button goes too: there is nothing left to report on.
 * @param {HTMLElement} li
 * @param {"hidden" | "deleted"} state
 */
export function showModerated(li, state) {
  li.classList.add("moderated");
  li.dataset.moderation = state;
  const text = part(li, ".text");
  text.textContent = t(state === "deleted" ? "chat.deleted" : "chat.hidden");
  text.hidden = false;
  setLanguage(text, null);
  const button = asItem(li.querySelector(".report-button"));
  if (button) button.hidden = true;
  li.querySelector(".msg-photo")?.remove(); // its address no longer serves it either
}

/**
 * Show the hidden message `li` again, with its text and its photo (the hide removed it).
 * @param {HTMLElement} li
 * @param {string} text
 * @param {ItemData["photo"]} [photo]
 */
export function showRestored(li, text, photo) {
  li.classList.remove("moderated");
  delete li.dataset.moderation;
  const line = part(li, ".text");
  setMessageText(line, text);
  if (photo && !li.querySelector(".msg-photo")) line.after(photoThumb(photo, text));
  // A photo without a caption has no text line.
  line.hidden = Boolean(photo) && !text;
  const button = asItem(li.querySelector(".report-button"));
  if (button) button.hidden = false;
}

export class MessageList {
  /**
   * @param {object} parts
   * @param {HTMLOListElement} parts.list  where the items go
   * @param {HTMLElement} parts.scroller  the element that scrolls them
   * @param {HTMLElement} parts.empty  the "no messages yet" hint
   * @param {{id: number, display_name: string}} parts.me  the reader: their messages are marked
   * @param {ItemTools} [parts.tools]  the tools of others' confirmed messages
   * @param {(li: HTMLLIElement, data: ItemData, offset: number | undefined) => void} [parts.decorate]
   *   called on every item made (chat_staff.js: badges, reasons, the pin button)
   */
  constructor({ list, scroller, empty, me, tools, decorate }) {
    this.list = list;
    this.scroller = scroller;
    this.empty = empty;
    this.me = me;
    this.tools = tools;
    this.decorate = decorate;
    /** Confirmed messages by offset. @type {Map<number, HTMLLIElement>} */
    this.items = new Map();
    /** The reader's messages waiting for their ack, by client_msg_id. @type {Map<string, HTMLLIElement>} */
    this.pendingItems = new Map();
    /** The reader's messages the word list holds for review. @type {HTMLLIElement[]} */
    this.heldItems = [];
    /** The lowest offset shown (where the next older page ends). @type {number | null} */
    this.oldest = null;
  }

  /** Start over empty (another room). */
  clear() {
    this.list.replaceChildren();
    this.items = new Map();
    this.pendingItems = new Map();
    this.heldItems = [];
    this.oldest = null;
  }

  /** The confirmed messages shown. */
  get size() {
    return this.items.size;
  }

  /** @param {number} offset @returns {HTMLLIElement | undefined} the message at `offset`, if shown */
  item(offset) {
    return this.items.get(offset);
  }

  // -- scrolling -----------------------------------------------------------------------------------

  nearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < STICKY_PX;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  /**
   * Run `work`, which puts older messages above, keeping the reader's place: the list grows
   * above what they are looking at.
   * @param {() => void} work
   */
  keepingPlace(work) {
    const before = this.scroller.scrollHeight - this.scroller.scrollTop;
    work();
    this.scroller.scrollTop = this.scroller.scrollHeight - before;
  }

  /** Show the "no messages yet" hint when nothing confirmed or sending is shown. */
  showEmptyHint() {
    this.empty.hidden = this.items.size + this.pendingItems.size > 0;
  }

  // -- items ---------------------------------------------------------------------------------------

  /**
   * The item of one message: author, time, status, text, and the tools of others' messages.
   * @param {ItemData} data
   * @param {{mine: boolean, offset?: number, cmid?: string}} how
   * @returns {HTMLLIElement}
   */
  render(data, { mine, offset, cmid }) {
    const li = node("li", mine ? "message mine" : "message");
    const meta = node("p", "meta");
    const name = data.author?.name ?? "";
    // Who wrote it, for the runs (lib/message-runs.js): the reader's own messages, sending or
    // not, are one author.
    const key = mine ? "me" : String(data.author?.id ?? name);
    li.dataset.authorKey = key;
    li.dataset.ts = String(data.ts);
    if (!mine) meta.append(avatar(name, key));
    const author = node("span", "author", name);
    if (mine) author.append(node("span", "you", ` (${t("chat.you")})`));
    meta.append(author);
    const time = node("time", "time", formatTime(data.ts));
    time.dateTime = new Date(data.ts).toISOString();
    time.title = formatFullTime(data.ts);
    meta.append(" ", time);
    const status = node("span", "status");
    meta.append(" ", status);
    const text = node("p", "text");
    setMessageText(text, data.text ?? "");
    li.append(meta, text);
    if (data.photo) {
      text.after(photoThumb(data.photo, data.text ?? ""));
      // A photo without a caption has no text line.
      if (!data.text) text.hidden = true;
    }
    const card = renderCard(data.card);
    if (card) li.append(card);
    if (offset !== undefined) li.dataset.offset = String(offset);
    if (cmid) li.dataset.cmid = cmid;
    if (!mine && offset !== undefined) {
      li.dataset.author = data.author?.name ?? "";
      if (this.tools) meta.append(" ", this.tools(li, offset));
    }
    if (data.moderation === "hidden" || data.moderation === "deleted") showModerated(li, data.moderation);
    this.decorate?.(li, data, offset);
    return li;
  }

  /**
   * A chat publication (history, recovery or live; other kinds are ignored): shown in offset
   * order once, replacing the reader's own message that was waiting for it.
   * @param {Publication} pub
   */
  add(pub) {
    const data = pub.data;
    if (data?.kind !== "chat") return;
    const existing = this.items.get(pub.offset);
    if (existing) {
      // Acknowledged before its echo arrived: take the server's time now.
      const time = part(existing, "time");
      time.textContent = formatTime(data.ts);
      time.title = formatFullTime(data.ts);
      // The reader's own photo, confirmed by its ack before the echo brought the photo.
      if (data.photo && !data.moderation && !data.deleted && !existing.querySelector(".msg-photo")) {
        const text = part(existing, ".text");
        text.after(photoThumb(data.photo, data.text ?? ""));
        if (!data.text) text.hidden = true;
      }
      return;
    }
    const stick = this.nearBottom();
    const mine = data.author?.id === this.me.id;
    const waiting = mine ? this.pendingItems.get(data.cmid) : undefined;
    if (mine && typeof data.cmid === "string" && data.cmid.startsWith("held-")) this.dropHeld(data);
    if (waiting) {
      this.pendingItems.delete(data.cmid);
      waiting.remove();
    }
    const li = this.render(data, { mine, offset: pub.offset });
    this.placeConfirmed(li, pub.offset);
    this.items.set(pub.offset, li);
    if (this.oldest === null || pub.offset < this.oldest) this.oldest = pub.offset;
    this.empty.hidden = true;
    groupRuns(this.list);
    if (stick || waiting) this.scrollToBottom();
  }

  /** Take the confirmed messages away (the room is read again); sending and held ones stay. */
  removeConfirmed() {
    for (const [offset, li] of this.items) {
      li.remove();
      this.items.delete(offset);
    }
    this.oldest = null;
    groupRuns(this.list);
  }

  /**
   * Put a confirmed message in offset order: before the first later one, else before the
   * messages still sending (they are newer than anything confirmed).
   * @param {HTMLLIElement} li
   * @param {number} offset
   */
  placeConfirmed(li, offset) {
    for (let child = asItem(this.list.lastElementChild); child; child = asItem(child.previousElementSibling)) {
      if (child.dataset.offset !== undefined && Number(child.dataset.offset) < offset) {
        child.after(li);
        return;
      }
    }
    this.list.prepend(li);
  }

  // -- the reader's own messages ---------------------------------------------------------------

  /**
   * The reader's message `text`, sent as `cmid` and waiting for its ack.
   * @param {string} cmid
   * @param {string} text
   */
  addPending(cmid, text) {
    const li = this.render({ text, author: { name: this.me.display_name }, ts: Date.now() }, { mine: true, cmid });
    li.classList.add("pending");
    part(li, ".status").textContent = t("chat.sending");
    this.list.append(li);
    this.pendingItems.set(cmid, li);
    this.empty.hidden = true;
    groupRuns(this.list);
    this.scrollToBottom();
  }

  /**
   * The server acknowledged `cmid` at `offset`: the waiting item becomes that message (unless its
   * echo came first and is shown already).
   * @param {string} cmid
   * @param {number} offset
   */
  confirm(cmid, offset) {
    const li = this.pendingItems.get(cmid);
    if (!li) return;
    this.pendingItems.delete(cmid);
    li.remove();
    if (this.items.has(offset)) return; // its echo came first
    li.classList.remove("pending");
    part(li, ".status").textContent = "";
    li.dataset.offset = String(offset);
    this.placeConfirmed(li, offset);
    this.items.set(offset, li);
    groupRuns(this.list);
  }

  /**
   * The message `cmid` was refused for good: marked failed with `reason` (not sent again).
   * @param {string} cmid
   * @param {string} reason
   * @returns {boolean} whether it was shown
   */
  markFailed(cmid, reason) {
    const li = this.pendingItems.get(cmid);
    if (!li) return false;
    this.pendingItems.delete(cmid);
    li.classList.replace("pending", "failed");
    part(li, ".status").textContent = reason;
    return true;
  }

  /**
   * The message `cmid` is held for review: not an error; only its author sees it until a
   * moderator approves it.
   * @param {string} cmid
   */
  markHeld(cmid) {
    const li = this.pendingItems.get(cmid);
    if (!li) return;
    this.pendingItems.delete(cmid);
    li.classList.replace("pending", "held");
    part(li, ".status").textContent = t("chat.held");
    this.heldItems.push(li);
  }

  /**
   * A message of the reader's that the word list holds (from /api/held/mine); shown once per id.
   * @param {string} text
   * @param {number} ts
   * @param {number} [id]
   */
  addHeld(text, ts, id) {
    if (id !== undefined && this.heldItems.some((li) => li.dataset.heldId === String(id))) return;
    const li = this.render({ text, author: { name: this.me.display_name }, ts }, { mine: true });
    li.classList.add("held");
    part(li, ".status").textContent = t("chat.held");
    if (id !== undefined) li.dataset.heldId = String(id);
    this.list.append(li);
    this.heldItems.push(li);
    this.empty.hidden = true;
    groupRuns(this.list);
  }

  /**
   * A held message was approved: it arrives as the author's chat message with cmid held-<id>.
   * @param {ChatData} data
   */
  dropHeld(data) {
    const id = data.cmid.slice("held-".length);
    const index = this.heldItems.findIndex(
      (li) => li.dataset.heldId === id || (!li.dataset.heldId && part(li, ".text").textContent === data.text),
    );
    if (index < 0) return;
    this.heldItems[index].remove();
    this.heldItems.splice(index, 1);
    groupRuns(this.list);
  }
}

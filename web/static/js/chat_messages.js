// @ts-check
// Chat message basics on the chat page (issue 22; the wire ops are in docs/protocol.md, "Chat
// messages: read positions, replies, edits and deletes"):
//
// * ServerUnread: unread counts from the server's read positions (`reads`, `read`, the `read`
//   push), shared by all of a resident's devices; their own messages never count.
// * MessageTools: a menu on every message (a button shown on hover or focus, a long press on a
//   touch screen) with reply, copy, edit, delete and report; the reply bar above the composer;
//   live `edit` and `retract` events applied to the log; quotes, "edited" and "message deleted".
//
// chat.js creates both and hands them the publications; the message list (lib/message-list.js)
// stays as it is: this module decorates its items. User text reaches the DOM through textContent.
import { errorText, t } from "./i18n.js";
import { find, node, part } from "./lib/dom.js";
import { setLanguage, setMessageText } from "./lib/message-text.js";

/** @typedef {import("./client.js").LinliClient} LinliClient */
/** @typedef {import("./types.js").Publication} Publication */
/** @typedef {import("./types.js").ChatData} ChatData */
/** @typedef {import("./types.js").RoomRead} RoomRead */
/** @typedef {import("./lib/message-list.js").MessageList} MessageList */

/** How long a press must last to open the menu on a touch screen. */
const LONG_PRESS_MS = 500;
/** The read position is sent at most this often per room while messages keep arriving (each
 * one is a control message to every gateway). */
const READ_DEBOUNCE_MS = 1500;
/** As the server's default (LINLI_EDIT_WINDOW_SECONDS): Edit is offered only within it; the
 * server decides (edit_window_closed). */
const EDIT_WINDOW_MS = 15 * 60 * 1000;

// -- unread counts from the server ---------------------------------------------------------------

/** @typedef {{read: number, last: number, unread: number, more: boolean, loaded: boolean}} RoomCount */

export class ServerUnread {
  /**
   * @param {LinliClient} client
   * @param {number} userId  the reader: their own messages never count
   * @param {(channel: string) => void} changed  a room's count changed (redraw its badge)
   */
  constructor(client, userId, changed) {
    this.client = client;
    this.userId = userId;
    this.changed = changed;
    /** @type {Map<string, RoomCount>} */
    this.rooms = new Map();
    /** Rooms whose counts are to be asked for. @type {Set<string>} */
    this.wanted = new Set();
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.loadTimer = undefined;
    /** channel → a pending `read` send @type {Map<string, ReturnType<typeof setTimeout>>} */
    this.sendTimers = new Map();
    const on = client.on;
    const pub = on.pub.bind(on);
    const subscribed = on.subscribed.bind(on);
    const read = on.read.bind(on);
    // Counted before the page sees the publication, so its badge shows the new count.
    on.pub = (channel, p) => {
      this.onPub(channel, p);
      pub(channel, p);
    };
    on.subscribed = (channel, reply, how) => {
      this.load(channel);
      subscribed(channel, reply, how);
    };
    on.read = (push) => {
      this.onRead(push.channel, push.offset);
      read(push);
    };
  }

  /** @param {string} channel */
  room(channel) {
    let room = this.rooms.get(channel);
    if (!room) this.rooms.set(channel, (room = { read: 0, last: 0, unread: 0, more: false, loaded: false }));
    return room;
  }

  /**
   * Ask the server for `channel`'s position and count (batched with the other rooms asked for
   * in the same moment: one `reads` after a reconnection).
   * @param {string} channel
   */
  load(channel) {
    if (!channel.startsWith("building:") && !channel.startsWith("group:")) return;
    this.wanted.add(channel);
    clearTimeout(this.loadTimer);
    this.loadTimer = setTimeout(() => this.flushLoad(), 30);
  }

  async flushLoad() {
    const channels = [...this.wanted];
    this.wanted.clear();
    if (!channels.length) return;
    /** @type {RoomRead[]} */
    let rooms;
    try {
      rooms = (await this.client.request("reads", { channels })).rooms;
    } catch {
      return; // the next subscription (after the reconnection) asks again
    }
    for (const found of rooms) {
      const room = this.room(found.channel);
      // Read further on this page meanwhile (its `read` still on the way): that stands.
      const readHere = room.read > found.offset && room.read >= found.last;
      room.read = Math.max(room.read, found.offset);
      room.last = Math.max(room.last, found.last);
      room.unread = readHere ? 0 : found.unread;
      room.more = readHere ? false : found.more;
      room.loaded = true;
      this.changed(found.channel);
    }
  }

  /**
   * @param {string} channel
   * @param {Publication} pub
   */
  onPub(channel, pub) {
    const room = this.rooms.get(channel);
    if (!room?.loaded || pub.offset <= room.last) return;
    room.last = pub.offset;
    const data = pub.data;
    if (data?.kind === "chat" && data.author?.id !== this.userId && pub.offset > room.read) room.unread += 1;
  }

  /**
   * Another device (or this one) moved the position.
   * @param {string} channel
   * @param {number} offset
   */
  onRead(channel, offset) {
    const room = this.room(channel);
    if (offset <= room.read) return;
    room.read = offset;
    if (offset >= room.last) {
      room.unread = 0;
      room.more = false;
      this.changed(channel);
    } else {
      this.load(channel); // read part of what arrived: the server counts the rest
    }
  }

  /** Not needed: the server never counts what is not a chat message. Kept for chat.js.
   * @param {string} _channel @param {number} _offset */
  skip(_channel, _offset) {}

  /**
   * The reader has seen `channel` up to where the client stands: tell the server (soon, once).
   * @param {string} channel
   * @returns {boolean} false while that is not known yet
   */
  markSeen(channel) {
    const position = this.client.position(channel);
    if (!position || position.offset === null) return false;
    const room = this.room(channel);
    const offset = position.offset;
    room.last = Math.max(room.last, offset);
    room.unread = 0;
    room.more = false;
    if (offset > room.read) {
      room.read = offset;
      if (!this.sendTimers.has(channel)) {
        this.sendTimers.set(
          channel,
          setTimeout(() => {
            this.sendTimers.delete(channel);
            this.client.request("read", { channel, offset: this.room(channel).read }).catch(() => {});
          }, READ_DEBOUNCE_MS),
        );
      }
    }
    return true;
  }

  /** @param {string} channel @returns {number} the unread messages (100 for "99+") */
  count(channel) {
    const room = this.rooms.get(channel);
    if (!room) return 0;
    return room.more ? Math.max(room.unread, 100) : room.unread;
  }
}

// -- the per-message menu, replies, edits and deletes ---------------------------------------------

/**
 * @typedef {object} ToolsParts
 * @property {LinliClient} client
 * @property {MessageList} messages
 * @property {{id: number, display_name: string}} me
 * @property {() => string | null} channel  the room on screen
 * @property {HTMLFormElement} composer
 * @property {HTMLTextAreaElement} textarea
 * @property {HTMLElement} status  a polite live region
 */

/** @param {HTMLElement} li */
function textOf(li) {
  return find(li, ".text")?.textContent ?? "";
}

/**
 * Show `li` as deleted by its author.
 * @param {HTMLElement} li
 */
function showRetracted(li) {
  li.classList.add("retracted");
  li.dataset.deleted = "true";
  const text = find(li, ".text");
  if (text) {
    text.textContent = t("msg.deleted");
    setLanguage(text, null);
  }
  find(li, ".msg-edited")?.remove();
  find(li, ".msg-quote")?.remove();
  find(li, ".msg-edit-form")?.remove();
  find(li, ".msg-delete-confirm")?.remove();
  find(li, ".msg-menu-button")?.remove();
  find(li, ".msg-photo")?.remove();
  if (text) text.hidden = false;
}

export class MessageTools {
  /** @param {ToolsParts} parts */
  constructor(parts) {
    this.client = parts.client;
    this.messages = parts.messages;
    this.me = parts.me;
    this.channel = parts.channel;
    this.composer = parts.composer;
    this.textarea = parts.textarea;
    this.status = parts.status;
    /** The message the next one answers. @type {{offset: number, name: string, text: string} | null} */
    this.replying = null;
    /** @type {HTMLElement | null} */
    this.openMenu = null;
    this.replyBar = node("div", "msg-reply-bar");
    this.replyBar.hidden = true;
    this.composer.prepend(this.replyBar);
    document.addEventListener("click", (event) => {
      if (this.openMenu && event.target instanceof Node && !this.openMenu.parentElement?.contains(event.target)) {
        this.closeMenu(false);
      }
    });
  }

  /** Another room is shown. */
  clear() {
    this.cancelReply();
    this.openMenu = null;
  }

  /**
   * Apply a publication if it is an author's `edit` or `retract` event.
   * @param {string} channel
   * @param {Publication} pub
   * @returns {boolean} whether it was one
   */
  apply(channel, pub) {
    const data = pub.data;
    if (data?.kind !== "edit" && data?.kind !== "retract") return false;
    if (this.channel() !== channel) return true;
    const li = this.messages.item(data.target);
    if (data.kind === "retract") {
      if (li) showRetracted(li);
      this.eachQuoteOf(data.target, (quote) => {
        part(quote, ".msg-quote-text").textContent = t("msg.quote_gone");
      });
    } else if (typeof data.text === "string") {
      const text = data.text;
      if (li && !li.dataset.deleted && !li.dataset.moderation) {
        setMessageText(part(li, ".text"), text);
        this.markEdited(li);
      }
      this.eachQuoteOf(data.target, (quote) => {
        part(quote, ".msg-quote-text").textContent = text.slice(0, 100);
      });
    }
    return true;
  }

  /**
   * @param {number} offset
   * @param {(quote: HTMLElement) => void} change
   */
  eachQuoteOf(offset, change) {
    for (const quote of this.messages.list.querySelectorAll(`.msg-quote[data-target="${offset}"]`)) {
      if (quote instanceof HTMLElement) change(quote);
    }
  }

  /** @param {HTMLElement} li */
  markEdited(li) {
    if (find(li, ".msg-edited")) return;
    const mark = node("span", "msg-edited", ` ${t("msg.edited")}`);
    find(li, ".meta")?.append(mark);
  }

  /**
   * Give the item of a chat publication its quote, marks and menu (once; again is harmless).
   * @param {Publication} pub
   */
  decorate(pub) {
    const data = pub.data;
    if (data?.kind !== "chat") return;
    const li = this.messages.item(pub.offset);
    if (!li) return;
    this.decorateItem(li, data, pub.offset);
  }

  /**
   * The reader's message confirmed by its ack (its echo may come later, or came first).
   * @param {number} offset
   * @param {string} text
   * @param {number} [replyTo]
   */
  confirmed(offset, text, replyTo) {
    const li = this.messages.item(offset);
    if (!li) return;
    /** @type {ChatData} */
    const data = { kind: "chat", text, author: { id: this.me.id, name: this.me.display_name }, ts: Date.now(), cmid: "" };
    const quoted = replyTo ? this.messages.item(replyTo) : undefined;
    if (replyTo && quoted) {
      data.reply_to = { offset: replyTo, author: { id: null, name: quoted.dataset.author ?? "" }, text: textOf(quoted).slice(0, 100) };
    }
    this.decorateItem(li, data, offset);
  }

  /**
   * @param {HTMLElement} li
   * @param {ChatData} data
   * @param {number} offset
   */
  decorateItem(li, data, offset) {
    if (li.dataset.tools === "menu") return;
    li.dataset.tools = "menu";
    li.dataset.ts = String(data.ts);
    li.dataset.authorName = data.author?.name ?? "";
    const mine = data.author?.id === this.me.id;
    if (data.reply_to) {
      const quote = node("blockquote", "msg-quote");
      quote.dataset.target = String(data.reply_to.offset);
      quote.setAttribute("aria-label", t("msg.quote_label", { name: data.reply_to.author.name }));
      quote.append(node("span", "msg-quote-author", data.reply_to.author.name));
      quote.append(node("span", "msg-quote-text", data.reply_to.text || t("msg.quote_gone")));
      const target = this.messages.item(data.reply_to.offset);
      if (target?.dataset.deleted) part(quote, ".msg-quote-text").textContent = t("msg.quote_gone");
      find(li, ".text")?.before(quote);
    }
    if (data.deleted) {
      showRetracted(li);
      return;
    }
    if (data.edited) this.markEdited(li);
    if (li.dataset.moderation) return;
    li.classList.add("has-menu");
    const button = node("button", "msg-menu-button", "⋯");
    button.type = "button";
    button.setAttribute("aria-haspopup", "menu");
    button.setAttribute("aria-expanded", "false");
    button.setAttribute(
      "aria-label",
      mine ? t("msg.menu") : t("msg.menu_label", { name: data.author?.name ?? "" }),
    );
    button.addEventListener("click", (event) => {
      event.stopPropagation();
      if (button.getAttribute("aria-expanded") === "true") this.closeMenu(true);
      else this.showMenu(li, button, offset, mine);
    });
    find(li, ".meta")?.append(" ", button);
    // A long press on a touch screen opens the menu too.
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let press;
    li.addEventListener("pointerdown", (event) => {
      if (event.pointerType !== "touch") return;
      press = setTimeout(() => this.showMenu(li, button, offset, mine), LONG_PRESS_MS);
    });
    for (const name of ["pointerup", "pointercancel", "pointermove", "pointerleave"]) {
      li.addEventListener(name, () => clearTimeout(press));
    }
  }

  /**
   * @param {HTMLElement} li
   * @param {HTMLButtonElement} button
   * @param {number} offset
   * @param {boolean} mine
   */
  showMenu(li, button, offset, mine) {
    this.closeMenu(false);
    if (li.dataset.deleted || li.dataset.moderation) return;
    const menu = node("div", "msg-menu");
    menu.setAttribute("role", "menu");
    menu.setAttribute("aria-label", button.getAttribute("aria-label") ?? t("msg.menu"));
    /** @param {string} key @param {() => void} action */
    const item = (key, action) => {
      const entry = node("button", "msg-menu-item", t(key));
      entry.type = "button";
      entry.setAttribute("role", "menuitem");
      entry.dataset.action = key.slice("msg.".length);
      entry.addEventListener("click", (event) => {
        event.stopPropagation();
        this.closeMenu(false);
        action();
      });
      menu.append(entry);
    };
    item("msg.reply", () => this.startReply(li, offset));
    item("msg.copy", () => this.copy(li));
    if (mine) {
      const ts = Number(li.dataset.ts ?? 0);
      if (!ts || Date.now() - ts < EDIT_WINDOW_MS) item("msg.edit", () => this.startEdit(li, offset));
      item("msg.delete", () => this.confirmRemove(li, offset));
    } else {
      const report = li.querySelector(".report-button");
      if (report instanceof HTMLButtonElement) item("msg.report", () => report.click());
    }
    menu.addEventListener("keydown", (event) => {
      const items = [...menu.querySelectorAll("button")];
      const at = items.indexOf(/** @type {HTMLButtonElement} */ (document.activeElement));
      if (event.key === "Escape") {
        event.preventDefault();
        this.closeMenu(true);
      } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const next = (at + (event.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
        items[next]?.focus();
      } else if (event.key === "Tab") {
        this.closeMenu(false);
      }
    });
    button.setAttribute("aria-expanded", "true");
    button.after(menu);
    this.openMenu = menu;
    menu.querySelector("button")?.focus();
  }

  /** @param {boolean} refocus  put the focus back on the menu's button */
  closeMenu(refocus) {
    const menu = this.openMenu;
    if (!menu) return;
    this.openMenu = null;
    const button = menu.previousElementSibling;
    menu.remove();
    if (button instanceof HTMLButtonElement) {
      button.setAttribute("aria-expanded", "false");
      if (refocus) button.focus();
    }
  }

  // -- the actions ----------------------------------------------------------------------------

  /** @param {HTMLElement} li @param {number} offset */
  startReply(li, offset) {
    const name = li.dataset.authorName || li.dataset.author || this.me.display_name;
    this.replying = { offset, name, text: textOf(li) };
    this.replyBar.replaceChildren();
    const label = node("span", "msg-reply-label", t("msg.replying_to", { name }));
    const quote = node("span", "msg-reply-text", textOf(li).slice(0, 100));
    const cancel = node("button", "msg-reply-cancel", "×");
    cancel.type = "button";
    cancel.setAttribute("aria-label", t("msg.cancel_reply"));
    cancel.addEventListener("click", () => {
      this.cancelReply();
      this.textarea.focus();
    });
    this.replyBar.append(label, " ", quote, cancel);
    this.replyBar.hidden = false;
    this.textarea.focus();
  }

  cancelReply() {
    this.replying = null;
    this.replyBar.hidden = true;
    this.replyBar.replaceChildren();
  }

  /** The offset the message being sent answers (and the reply bar goes). @returns {number | undefined} */
  takeReply() {
    const offset = this.replying?.offset;
    this.cancelReply();
    return offset;
  }

  /** @param {HTMLElement} li */
  async copy(li) {
    try {
      await navigator.clipboard.writeText(textOf(li));
      this.status.textContent = t("msg.copied");
    } catch {
      this.status.textContent = t("msg.copy_failed");
    }
  }

  /** @param {HTMLElement} li @param {number} offset */
  startEdit(li, offset) {
    const channel = this.channel();
    const text = find(li, ".text");
    if (!channel || !text || find(li, ".msg-edit-form")) return;
    const form = node("form", "msg-edit-form");
    const id = `msg-edit-${offset}`;
    const label = node("label", "sr-only", t("msg.edit_label"));
    label.htmlFor = id;
    const area = node("textarea", "msg-edit-text");
    area.id = id;
    area.rows = 2;
    area.maxLength = 1000;
    area.value = text.textContent ?? "";
    const save = node("button", "msg-edit-save", t("msg.save"));
    save.type = "submit";
    const cancel = node("button", "msg-edit-cancel", t("msg.cancel"));
    cancel.type = "button";
    const error = node("p", "error msg-edit-error");
    error.setAttribute("role", "alert");
    error.hidden = true;
    form.append(label, area, save, " ", cancel, error);
    text.hidden = true;
    text.after(form);
    area.focus();
    const done = () => {
      form.remove();
      text.hidden = false;
      find(li, ".msg-menu-button")?.focus();
    };
    cancel.addEventListener("click", done);
    area.addEventListener("keydown", (event) => {
      if (event.key === "Escape") done();
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const value = area.value.trim();
      if (!value) return;
      save.disabled = true;
      try {
        const reply = await this.client.request("edit", { channel, offset, text: value });
        setMessageText(text, reply.text);
        this.markEdited(li);
        this.status.textContent = t("msg.saved");
        done();
      } catch (err) {
        save.disabled = false;
        error.textContent = t("msg.failed", { reason: errorText(/** @type {{code: string}} */ (err).code) });
        error.hidden = false;
      }
    });
  }

  /**
   * Ask under the message whether to delete it (no browser dialog: large buttons in place).
   * @param {HTMLElement} li
   * @param {number} offset
   */
  confirmRemove(li, offset) {
    if (find(li, ".msg-delete-confirm")) return;
    const box = node("div", "msg-delete-confirm");
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", t("msg.delete_confirm"));
    const question = node("p", "msg-delete-question", t("msg.delete_confirm"));
    const yes = node("button", "msg-delete-yes", t("msg.delete"));
    yes.type = "button";
    const no = node("button", "msg-delete-no", t("msg.cancel"));
    no.type = "button";
    const error = node("p", "error msg-delete-error");
    error.setAttribute("role", "alert");
    error.hidden = true;
    box.append(question, yes, " ", no, error);
    li.append(box);
    no.focus();
    const done = () => {
      box.remove();
      find(li, ".msg-menu-button")?.focus();
    };
    no.addEventListener("click", done);
    box.addEventListener("keydown", (event) => {
      if (event.key === "Escape") done();
    });
    yes.addEventListener("click", async () => {
      const channel = this.channel();
      if (!channel) return;
      yes.disabled = true;
      try {
        await this.client.request("delete", { channel, offset });
        box.remove();
        showRetracted(li);
        this.status.textContent = t("msg.deleted_done");
      } catch (err) {
        yes.disabled = false;
        error.textContent = t("msg.failed", { reason: errorText(/** @type {{code: string}} */ (err).code) });
        error.hidden = false;
      }
    });
  }
}

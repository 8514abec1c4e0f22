// @ts-check
// Moderation as the resident is told of it, and staff in the rooms, on the chat page (hooked
// from chat.js with small calls; docs/design/0029-moderation-residents.md):
//
// * a warning: a notice at the top of the page (live, and on load for a week) that can be
//   dismissed, with the reason, a link to the rules and an appeal;
// * a mute: its room, end time (local, readable) and reason beside the composer, which is
//   disabled and says why; live when applied or lifted, and on load;
// * a ban: the reason, then the login page that repeats it (/login?ended=banned);
// * a hidden message: its author reads the reason, a link to the rules and an appeal;
// * staff (moderators, admins, management) see every room by name (GET /api/rooms), and the
//   composer follows the access rules (disabled with the reason where the role may not post);
// * official posts (the server's `official` flag) carry a badge; a room's pin is shown at its top
//   and management and admins pin and unpin (live for every reader, `pin` / `unpin` events).
//
// User text reaches the DOM through textContent only.
import { api, busy } from "./common.js";
import { errorText, lang, t } from "./i18n.js";
import { byId, node, part } from "./lib/dom.js";
import { setMessageText } from "./lib/message-text.js";

/** @typedef {import("./types.js").PublicationData} PublicationData */
/** @typedef {import("./types.js").ModerationPush} ModerationPush */
/** @typedef {import("./types.js").RoomInfo} RoomInfo */
/** @typedef {import("./types.js").RoomPin} RoomPin */
/** @typedef {import("./types.js").MyModerationBody} MyModerationBody */
/** @template T @typedef {import("./types.js").ApiResult<T>} ApiResult */

const DISMISSED_KEY = "linli.dismissed-warnings";
const BANNED_KEY = "linli.banned-reason";
/** The roles that pin (linli/roles.py, Can.POST_OFFICIAL). */
const PINNERS = new Set(["management", "admin"]);
/** setTimeout's longest wait; a longer mute is checked again then. */
const MAX_WAIT_MS = 2 ** 31 - 1;

/**
 * A time in the reader's language and time zone, readable ("2026年12月2日 下午6:30").
 * @param {number} ms
 */
export function readableTime(ms) {
  return new Intl.DateTimeFormat(lang, { dateStyle: "long", timeStyle: "short" }).format(new Date(ms));
}

/** @returns {Set<number>} */
function dismissed() {
  try {
    const ids = JSON.parse(localStorage.getItem(DISMISSED_KEY) ?? "[]");
    return new Set(Array.isArray(ids) ? ids.filter((id) => typeof id === "number") : []);
  } catch {
    return new Set();
  }
}

/** A link to the rules page. */
function rulesLink() {
  const link = node("a", "rules-link", t("modres.rules_link"));
  link.href = "/rules";
  return link;
}

/**
 * @typedef {object} Mute
 * @property {number} id
 * @property {string | null} channel  null: everywhere
 * @property {number | null} until
 * @property {string} reason
 */

export class StaffUI {
  /**
   * @param {object} parts
   * @param {import("./types.js").User} parts.me
   * @param {HTMLTextAreaElement} parts.textarea
   * @param {HTMLButtonElement} parts.sendButton
   * @param {HTMLElement} parts.status  a live region for short confirmations
   * @param {() => string | null} parts.channel  the room shown
   * @param {(channel: string) => string} parts.roomName
   * @param {(offset: number) => HTMLElement | undefined} parts.item  the message shown at `offset`
   */
  constructor({ me, textarea, sendButton, status, channel, roomName, item }) {
    this.me = me;
    this.textarea = textarea;
    this.sendButton = sendButton;
    this.status = status;
    this.channel = channel;
    this.roomName = roomName;
    this.item = item;
    this.pinner = PINNERS.has(me.role);
    /** Rooms as the server lists them for this user. @type {Map<string, RoomInfo>} */
    this.access = new Map();
    /** The pin of each room. @type {Map<string, RoomPin>} */
    this.pins = new Map();
    /** Mutes in force, by id. @type {Map<number, Mute>} */
    this.mutes = new Map();
    /** What this user appealed already ("warning:3", "sanction:2", "message:building:1:5"). */
    this.appealed = new Set();
    /** Their ids, where known (the link to /appeals#appeal-<id>). @type {Map<string, number>} */
    this.appealIds = new Map();
    /** Reasons of the user's hidden messages, by "channel offset". @type {Map<string, string>} */
    this.reasons = new Map();
    /** Which of those were deleted rather than hidden (live, before the event). @type {Set<string>} */
    this.deleted = new Set();
    this.banned = false;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.muteTimer = undefined;
    this.notices = byId("mod-notices");
    this.why = byId("composer-why");
    this.pinBox = byId("room-pin");
    byId("room-unpin").addEventListener("click", () => this.unpin());
  }

  // -- loading ------------------------------------------------------------------------------

  /**
   * The rooms this user sees (staff: every room), with their access and pins.
   * @returns {Promise<RoomInfo[]>}
   */
  async loadRooms() {
    /** @type {ApiResult<import("./types.js").RoomsBody>} */
    const result = await api("GET", "/api/rooms");
    if (!result.ok) return [];
    for (const room of result.data.rooms) {
      this.access.set(room.channel, room);
      if (room.pin) this.pins.set(room.channel, room.pin);
    }
    this.refresh();
    return result.data.rooms;
  }

  /** Mutes in force, warnings of the last week, the user's appeals. */
  async loadMine() {
    /** @type {ApiResult<MyModerationBody>} */
    const result = await api("GET", "/api/moderation/mine");
    if (!result.ok) return;
    for (const appeal of result.data.appeals) {
      this.appealed.add(appeal.subject);
      this.appealIds.set(appeal.subject, appeal.id);
      if (appeal.state === "closed" && appeal.seen_at === null) this.showAnswered(appeal.id);
    }
    for (const mute of result.data.mutes) this.mutes.set(mute.id, mute);
    const gone = dismissed();
    for (const warning of [...result.data.warnings].reverse()) {
      if (!gone.has(warning.id)) this.showWarning(warning.id, warning.reason);
    }
    // Reasons drawn before the appeals were known: draw them again.
    const channel = this.channel();
    for (const key of this.reasons.keys()) {
      const offset = Number(key.slice(key.lastIndexOf(" ") + 1));
      const li = channel && key.startsWith(`${channel} `) ? this.item(offset) : undefined;
      if (li?.querySelector(".mod-reason")) this.showReason(li, /** @type {string} */ (channel), offset);
    }
    this.refresh();
  }

  // -- the room shown -----------------------------------------------------------------------

  /** The room shown changed (or what applies to it): the composer and the pin. */
  refresh() {
    const channel = this.channel();
    this.showPin(channel);
    if (!channel) return;
    this.composer(channel);
  }

  /**
   * Enable the composer where the user may post, else disable it and say why.
   * @param {string} channel
   */
  composer(channel) {
    clearTimeout(this.muteTimer);
    const now = Date.now();
    const mute = [...this.mutes.values()].find(
      (m) => (m.channel === null || m.channel === channel) && (m.until === null || m.until > now),
    );
    const room = this.access.get(channel);
    this.why.replaceChildren();
    let enabled = !this.banned;
    if (mute) {
      enabled = false;
      const where = mute.channel ? t("modres.muted_here", { room: this.roomName(mute.channel) }) : t("modres.muted_everywhere");
      const until = mute.until ? t("modres.muted_until", { time: readableTime(mute.until) }) : t("modres.muted_open");
      const text = node("p", "mute-text", `${where} ${until}`);
      const reason = node("p", "mute-reason", t("modres.reason", { reason: mute.reason }));
      this.why.append(text, reason, node("p", "mute-links"));
      const links = part(this.why, ".mute-links");
      links.append(rulesLink(), " ", this.appealButton(`sanction:${mute.id}`, { kind: "mute", id: mute.id }, mute.reason));
      if (mute.until) {
        this.muteTimer = setTimeout(() => this.expire(), Math.min(mute.until - now + 50, MAX_WAIT_MS));
      }
    } else if (room && !room.may_post) {
      enabled = false;
      this.why.append(node("p", "access-text", t(`rooms.why.${room.why ?? "read_only"}`)));
    }
    this.why.hidden = this.why.childElementCount === 0;
    this.textarea.disabled = !enabled;
    this.sendButton.disabled = !enabled;
  }

  expire() {
    const now = Date.now();
    for (const [id, mute] of this.mutes) if (mute.until !== null && mute.until <= now) this.mutes.delete(id);
    this.refresh();
  }

  /** @param {string | null} channel */
  showPin(channel) {
    const pin = channel ? this.pins.get(channel) : undefined;
    this.pinBox.hidden = !pin;
    if (!pin) return;
    part(this.pinBox, ".author").textContent = pin.author.name;
    part(this.pinBox, ".official-badge").hidden = !pin.official;
    const time = part(this.pinBox, "time", HTMLTimeElement);
    time.textContent = readableTime(pin.ts);
    time.dateTime = new Date(pin.ts).toISOString();
    setMessageText(part(this.pinBox, ".text"), pin.text);
    this.pinBox.classList.toggle("official", pin.official);
    byId("room-unpin").hidden = !this.pinner;
  }

  // -- pushes and events --------------------------------------------------------------------

  /**
   * A `moderation` push (gateway/moderation/ops.py): a decision about this user.
   * @param {ModerationPush} push
   */
  push(push) {
    if (push.kind === "warning") {
      this.showWarning(push.ref ?? 0, push.reason);
    } else if (push.kind === "muted" && typeof push.ref === "number") {
      this.mutes.set(push.ref, { id: push.ref, channel: push.channel ?? null, until: push.until ?? null, reason: push.reason });
      this.refresh();
    } else if (push.kind === "unmuted") {
      this.mutes.clear();
      this.refresh();
    } else if (push.kind === "hidden" && push.channel && typeof push.offset === "number") {
      this.reasons.set(`${push.channel} ${push.offset}`, push.reason);
      if (push.visibility === "deleted") this.deleted.add(`${push.channel} ${push.offset}`);
      const li = push.channel === this.channel() ? this.item(push.offset) : undefined;
      if (li) this.showReason(li, push.channel, push.offset);
    } else if (push.kind === "banned") {
      this.banned = true;
      try {
        sessionStorage.setItem(BANNED_KEY, push.reason);
      } catch {
        // storage refused: the login page says "banned" without the reason
      }
      this.refresh();
    }
  }

  /** Where the page goes when the server ends the session. */
  endedUrl() {
    return this.banned ? "/login?ended=banned" : "/login";
  }

  /** What the page says when the server ends the session ("" for the usual). */
  endedText() {
    let reason = "";
    try {
      reason = sessionStorage.getItem(BANNED_KEY) ?? "";
    } catch {
      // no storage
    }
    return this.banned ? t("modres.banned", { reason }) : "";
  }

  /**
   * Keep a room's pin in step with its message, live (any publication of the room, before the
   * page applies it): gone once the message is hidden or deleted (by a moderator, the auto-hide
   * or its author), the new text after its author's edit. The room list does the same for a page
   * loaded later (persistence/rooms/sql.py `pins`).
   * @param {string} channel
   * @param {PublicationData | undefined} data
   */
  follow(channel, data) {
    const pin = this.pins.get(channel);
    if (!pin || !data || !("target" in data) || data.target !== pin.offset) return;
    if (data.kind === "hide" || data.kind === "delete" || data.kind === "retract") {
      this.pins.delete(channel);
    } else if (data.kind === "edit" && "text" in data && typeof data.text === "string") {
      this.pins.set(channel, { ...pin, text: data.text });
    } else {
      return;
    }
    if (channel === this.channel()) this.showPin(channel);
  }

  /**
   * A room's `pin` or `unpin` event; true when it was one.
   * @param {string} channel
   * @param {PublicationData | undefined} data
   */
  apply(channel, data) {
    if (data?.kind === "pin" && "pin" in data) {
      this.pins.set(channel, data.pin);
    } else if (data?.kind === "unpin") {
      this.pins.delete(channel);
    } else {
      return false;
    }
    if (channel === this.channel()) this.showPin(channel);
    return true;
  }

  // -- messages -----------------------------------------------------------------------------

  /**
   * After a message item is made (MessageList's `decorate`): the official badge, the reason of
   * the reader's own hidden message, the pin button.
   * @param {HTMLLIElement} li
   * @param {import("./lib/message-list.js").ItemData} data
   * @param {number | undefined} offset
   */
  decorate(li, data, offset) {
    const meta = part(li, ".meta");
    if (data.official) {
      li.classList.add("official");
      part(meta, ".author").after(" ", node("span", "official-badge", t("rooms.official")));
    }
    const channel = this.channel();
    if (offset === undefined || !channel) return;
    if (data.moderation_reason !== undefined) this.reasons.set(`${channel} ${offset}`, data.moderation_reason);
    if (data.author?.id === this.me.id && this.reasons.has(`${channel} ${offset}`)) {
      this.showReason(li, channel, offset);
    }
    if (this.pinner && channel.startsWith("building:") && !data.moderation) {
      const button = node("button", "pin-button button-quiet", t("rooms.pin"));
      button.type = "button";
      button.setAttribute("aria-label", t("rooms.pin_label", { name: data.author?.name ?? "" }));
      button.addEventListener("click", () => this.pin(channel, offset, button));
      meta.append(" ", button);
    }
  }

  /**
   * @param {HTMLElement} li
   * @param {string} channel
   * @param {number} offset
   */
  showReason(li, channel, offset) {
    const reason = this.reasons.get(`${channel} ${offset}`) ?? "";
    li.querySelector(".mod-reason")?.remove();
    const box = node("div", "mod-reason");
    const deleted = li.dataset.moderation === "deleted" || this.deleted.has(`${channel} ${offset}`);
    const said =
      reason === "auto" ? t("modres.hidden_auto") : t(deleted ? "modres.deleted_reason" : "modres.hidden_reason", { reason });
    box.append(node("p", "", said));
    const links = node("p", "");
    links.append(
      rulesLink(),
      " ",
      this.appealButton(`message:${channel}:${offset}`, { kind: "message", channel, offset }, reason),
    );
    box.append(links);
    li.append(box);
  }

  /**
   * @param {string} channel
   * @param {number} offset
   * @param {HTMLButtonElement} button
   */
  async pin(channel, offset, button) {
    /** @type {ApiResult<{pin: RoomPin}>} */
    const result = await busy(button, () => api("POST", `/api/rooms/${encodeURIComponent(channel)}/pin`, { offset }));
    this.status.textContent = result.ok ? t("rooms.pinned_done") : errorText(result.error.code);
  }

  async unpin() {
    const channel = this.channel();
    if (!channel) return;
    const button = byId("room-unpin", HTMLButtonElement);
    /** @type {ApiResult<{removed: boolean}>} */
    const result = await busy(button, () => api("POST", `/api/rooms/${encodeURIComponent(channel)}/unpin`));
    this.status.textContent = result.ok ? t("rooms.unpinned_done") : errorText(result.error.code);
  }

  // -- warnings and appeals -----------------------------------------------------------------

  /**
   * @param {number} id  the warning's audit id
   * @param {string} reason
   */
  showWarning(id, reason) {
    if (this.notices.querySelector(`[data-warning="${id}"]`)) return;
    const box = node("section", "mod-notice");
    box.dataset.warning = String(id);
    box.setAttribute("role", "alert");
    box.append(node("h2", "mod-notice-title", t("modres.warning_title")));
    box.append(node("p", "", t("modres.reason", { reason })));
    const actions = node("p", "mod-notice-actions");
    const dismiss = node("button", "button-quiet", t("modres.dismiss"));
    dismiss.type = "button";
    dismiss.addEventListener("click", () => {
      const gone = dismissed();
      gone.add(id);
      try {
        localStorage.setItem(DISMISSED_KEY, JSON.stringify([...gone].slice(-50)));
      } catch {
        // not kept: it comes back on the next load
      }
      box.remove();
      this.textarea.focus();
    });
    actions.append(rulesLink(), " ", this.appealButton(`warning:${id}`, { kind: "warning", id }, reason), " ", dismiss);
    box.append(actions);
    this.notices.prepend(box);
  }

  /**
   * "Appealed", a link to the appeal on /appeals (its state, then the moderators' answer).
   * @param {string} subject
   */
  appealedLink(subject) {
    const id = this.appealIds.get(subject);
    const link = node("a", "appealed", t("modres.appealed_link"));
    link.href = id === undefined ? "/appeals" : `/appeals#appeal-${id}`;
    return link;
  }

  /**
   * A notice at the top of the page: an answer to the user's appeal waits on /appeals (until
   * they acknowledge it there).
   * @param {number} id
   */
  showAnswered(id) {
    if (this.notices.querySelector(`[data-answered="${id}"]`)) return;
    const box = node("section", "mod-notice mod-answered");
    box.dataset.answered = String(id);
    box.setAttribute("aria-label", t("modres.answered_notice"));
    box.append(node("p", "", t("modres.answered_notice")));
    const link = node("a", "answered-link", t("modres.answered_link"));
    link.href = `/appeals#appeal-${id}`;
    const actions = node("p", "mod-notice-actions");
    actions.append(link);
    box.append(actions);
    this.notices.append(box);
  }

  /**
   * An "Appeal" button, or "appealed" once done.
   * @param {string} subject
   * @param {Record<string, string | number>} body  what the appeal names
   * @param {string} quote  the decision's reason, shown in the dialog
   * @returns {HTMLElement}
   */
  appealButton(subject, body, quote) {
    if (this.appealed.has(subject)) return this.appealedLink(subject);
    const button = node("button", "appeal-button button-quiet", t("modres.appeal"));
    button.type = "button";
    button.addEventListener("click", () =>
      openAppeal(body, quote, button, (id) => {
        this.appealed.add(subject);
        if (id !== undefined) this.appealIds.set(subject, id);
        const mark = this.appealedLink(subject);
        button.replaceWith(mark);
        mark.focus();
        this.status.textContent = t("modres.appeal_done");
      }),
    );
    return button;
  }
}

/**
 * The appeal dialog (#appeal-dialog in chat.html): a short note, sent once.
 * @param {Record<string, string | number>} body
 * @param {string} quote
 * @param {HTMLButtonElement} trigger
 * @param {(id: number | undefined) => void} done  given the appeal's id when it was made
 */
function openAppeal(body, quote, trigger, done) {
  const dialog = byId("appeal-dialog", HTMLDialogElement);
  const form = byId("appeal-form", HTMLFormElement);
  const note = byId("appeal-text", HTMLTextAreaElement);
  const error = byId("appeal-error");
  const send = byId("appeal-send", HTMLButtonElement);
  const quoted = byId("appeal-quote");
  quoted.textContent = quote;
  quoted.hidden = !quote;
  form.reset();
  error.hidden = true;
  let sent = false;
  /** @type {number | undefined} */
  let made;
  /** @param {SubmitEvent} event */
  const submit = async (event) => {
    event.preventDefault();
    const text = note.value.trim();
    if (!text) {
      error.textContent = t("modres.appeal_need_note");
      error.hidden = false;
      note.setAttribute("aria-invalid", "true");
      note.focus();
      return;
    }
    /** @type {ApiResult<{appeal: import("./types.js").Appeal}>} */
    const result = await busy(send, () => api("POST", "/api/moderation/appeals", { ...body, note: text }));
    if (result.ok || result.error.code === "already_appealed") {
      sent = true;
      if (result.ok) made = result.data.appeal.id;
      dialog.close();
      if (!result.ok) trigger.textContent = errorText(result.error.code);
      return;
    }
    error.textContent = errorText(result.error.code, result.error.field);
    error.hidden = false;
  };
  const cancel = () => dialog.close();
  const closed = () => {
    form.removeEventListener("submit", submit);
    byId("appeal-cancel").removeEventListener("click", cancel);
    note.removeAttribute("aria-invalid");
    if (sent) done(made);
    else trigger.focus();
  };
  form.addEventListener("submit", submit);
  byId("appeal-cancel").addEventListener("click", cancel);
  dialog.addEventListener("close", closed, { once: true });
  dialog.showModal();
  note.focus();
}

// @ts-check
// The bell in the top bar: a link to the inbox showing how many notifications are unread, with
// the number in its accessible name ("通知，3 則未讀"), and a polite announcement of a new one.
//
// The count comes from the server: over HTTP when the page loads, and live from the WebSocket
// push {"push": "inbox", "unread": n, "latest": {...}} on pages that have a connection (they
// build their LinliClient with `withBell(callbacks)`). Control pushes are at most once, so the
// count is read again whenever the connection (re)opens, and, on pages without a connection,
// whenever the reader comes back to the page.
import { t } from "../i18n.js";
import { lineOf } from "./notifications.js";

/** @typedef {import("../types.js").ClientCallbacks} ClientCallbacks */
/** @typedef {import("../types.js").ConnectionState} ConnectionState */
/** @typedef {import("../types.js").InboxLatest} InboxLatest */
/** @typedef {import("../types.js").InboxPush} InboxPush */

/** Beyond this the badge says "99+" (the exact number is of no use on a bell). */
const MAX_SHOWN = 99;
/** Screen readers announce a live region's change, not its content: empty it first, then fill
 * it a moment later, so two notifications with the same text are both announced. */
const ANNOUNCE_DELAY_MS = 100;

export class Bell {
  /**
   * @param {HTMLAnchorElement} link  the bell: a link to /inbox
   * @param {HTMLElement} badge  the number on it (hidden from screen readers: the link's name says it)
   * @param {HTMLElement} live  a polite live region
   * @param {() => Promise<number | null>} readUnread  the count from the server; null on failure
   */
  constructor(link, badge, live, readUnread) {
    this.link = link;
    this.badge = badge;
    this.live = live;
    this.readUnread = readUnread;
    /** @type {number | null} */
    this.unread = null;
    /** Whether the page's WebSocket is open (then pushes keep the count, not focus). */
    this.connected = false;
    /** Bumped by every count that arrives, so an HTTP answer older than a push is dropped. */
    this.version = 0;
    /** @type {Set<(unread: number) => void>} */
    this.listeners = new Set();
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.announceTimer = undefined;
    const again = () => {
      if (!this.connected && document.visibilityState === "visible") this.refresh();
    };
    window.addEventListener("focus", again);
    document.addEventListener("visibilitychange", again);
  }

  /** Read the count over HTTP (a push arriving meanwhile wins). */
  async refresh() {
    const asked = this.version;
    const unread = await this.readUnread();
    if (unread !== null && this.version === asked) this.set(unread);
  }

  /**
   * Show `unread` on the bell and in its name; tell the listeners.
   * @param {number} unread
   */
  set(unread) {
    this.version += 1;
    this.unread = unread;
    this.badge.textContent = unread > MAX_SHOWN ? `${MAX_SHOWN}+` : String(unread);
    this.badge.hidden = unread === 0;
    this.link.classList.toggle("bell-unread", unread > 0);
    const name = unread === 0 ? t("notify.bell_none") : t("notify.bell_unread", { count: unread });
    this.link.setAttribute("aria-label", name);
    this.link.title = name;
    for (const listener of this.listeners) listener(unread);
  }

  /**
   * A push from the page's connection.
   * @param {InboxPush} push
   */
  pushed(push) {
    this.set(push.unread);
    if (push.latest) this.announce(push.latest);
  }

  /**
   * Say the new notification's line in the page's language, politely (after what the screen
   * reader is saying).
   * @param {InboxLatest} latest
   */
  announce(latest) {
    const text = lineOf({ "zh-Hant": latest.text_zh, en: latest.text_en });
    this.live.textContent = "";
    clearTimeout(this.announceTimer);
    this.announceTimer = setTimeout(() => {
      this.live.textContent = t(latest.urgent ? "notify.announce_urgent" : "notify.announce", { text });
    }, ANNOUNCE_DELAY_MS);
  }

  /**
   * The page's connection changed state: when it (re)opens, pushes sent while it was down are
   * lost, so read the count again.
   * @param {ConnectionState} state
   */
  connection(state) {
    this.connected = state === "open";
    if (this.connected) this.refresh();
  }

  /**
   * Call `listener` with every new count (the inbox page keeps its list in step).
   * @param {(unread: number) => void} listener
   */
  listen(listener) {
    this.listeners.add(listener);
  }
}

/** @type {Bell | null} */
let current = null;

/**
 * Set up the page's bell, if it has one (only pages of a logged-in user do), and read its count.
 * @param {() => Promise<number | null>} readUnread
 * @returns {Bell | null}
 */
export function installBell(readUnread) {
  const link = document.getElementById("bell");
  const badge = document.getElementById("bell-count");
  const live = document.getElementById("bell-live");
  if (!(link instanceof HTMLAnchorElement) || !badge || !live) return null;
  current = new Bell(link, badge, live, readUnread);
  current.refresh();
  return current;
}

/** The page's bell (null on pages without one). */
export function pageBell() {
  return current;
}

/**
 * The page's LinliClient callbacks, with the bell hearing the connection's state and the inbox
 * pushes as well: `new LinliClient(url, withBell({...}))`.
 * @param {Partial<ClientCallbacks>} callbacks
 * @returns {Partial<ClientCallbacks>}
 */
export function withBell(callbacks) {
  return {
    ...callbacks,
    state(state) {
      callbacks.state?.(state);
      current?.connection(state);
    },
    inbox(push) {
      current?.pushed(push);
      callbacks.inbox?.(push);
    },
  };
}

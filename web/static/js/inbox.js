// @ts-check
// The inbox (/inbox): the user's notifications, newest first, each a link to its thing that marks
// it read on the way; "mark all as read"; older ones page by page. The page keeps a WebSocket
// open, so a new notification appears at the top while it is open, and one read on another
// device stops being marked unread here.
//
// Items are updated in place (never the whole list rebuilt), so a reader's place and keyboard
// focus survive a live change. Text reaches the DOM only through textContent.
import { api, busy, showText } from "./common.js";
import { LinliClient, socketUrl } from "./client.js";
import { errorText, formatFullTime, t } from "./i18n.js";
import { pageBell, withBell } from "./lib/bell.js";
import { byId, node } from "./lib/dom.js";
import { kindIcon, kindWord, lineOf, safeLink, timeInWords } from "./lib/notifications.js";

/** @typedef {import("./types.js").NotificationItem} NotificationItem */
/** @typedef {import("./types.js").NotificationsBody} NotificationsBody */
/** @typedef {import("./types.js").UnreadBody} UnreadBody */
/** @template T @typedef {import("./types.js").ApiResult<T>} ApiResult */

/**
 * An item on screen and the parts that change.
 * @typedef {{item: NotificationItem, li: HTMLLIElement, unreadFlag: HTMLElement,
 *   time: HTMLTimeElement}} Shown
 */

/** Items per page (the API gives at most 100). */
const PAGE_SIZE = 30;
/** How long a click waits for "mark read" before following the link anyway: a slow network
 * must not hold the reader on this page. */
const READ_WAIT_MS = 3000;
/** Times in words ("3 minutes ago") are brought up to date this often. */
const TICK_MS = 60_000;

const list = byId("inbox-list", HTMLUListElement);
const markAll = byId("mark-all", HTMLButtonElement);
const loadOlderButton = byId("load-older", HTMLButtonElement);
const status = byId("inbox-status");

/** id → what is on screen @type {Map<number, Shown>} */
const shown = new Map();
/** @type {number | null} */
let unread = null;
let loaded = false;

// -- drawing -------------------------------------------------------------------------------------

/** @param {Shown} entry */
function paint(entry) {
  const { item, li, unreadFlag, time } = entry;
  li.classList.toggle("unread", !item.read);
  unreadFlag.hidden = item.read;
  time.textContent = timeInWords(item.at);
}

/**
 * The list item of a notification: a link whose name says, in order, whether it is unread or
 * urgent, its kind, when, and its line.
 * @param {NotificationItem} item
 * @returns {Shown}
 */
function build(item) {
  const li = node("li", item.urgent ? "inbox-item urgent" : "inbox-item");
  li.dataset.id = String(item.id);
  const link = node("a", "inbox-link");
  link.href = safeLink(item.link);
  const icon = node("span", "inbox-icon");
  icon.append(kindIcon(item.urgent ? "urgent" : item.kind));
  const meta = node("span", "inbox-meta");
  const unreadFlag = node("span", "inbox-flag inbox-flag-unread", t("inbox.unread"));
  meta.append(unreadFlag, " ");
  if (item.urgent) meta.append(node("span", "inbox-flag inbox-flag-urgent", t("inbox.urgent")), " ");
  const time = node("time", "inbox-time");
  time.dateTime = new Date(item.at).toISOString();
  time.title = formatFullTime(item.at);
  meta.append(node("span", "inbox-kind", kindWord(item.kind)), " ", time);
  const body = node("span", "inbox-body");
  body.append(meta, node("span", "inbox-text", lineOf(item.text)));
  link.append(icon, body);
  li.append(link);
  /** @type {Shown} */
  const entry = { item, li, unreadFlag, time };
  /** @param {MouseEvent} event */
  const follow = (event) => {
    if (entry.item.read) return;
    const plain = event.button === 0 && !event.ctrlKey && !event.metaKey && !event.shiftKey && !event.altKey;
    if (!plain) {
      markRead([item.id]); // opened in another tab: this one stays
      return;
    }
    event.preventDefault();
    const timeout = new Promise((resolve) => setTimeout(resolve, READ_WAIT_MS));
    Promise.race([markRead([item.id]), timeout]).then(() => location.assign(link.href));
  };
  link.addEventListener("click", follow);
  link.addEventListener("auxclick", follow);
  paint(entry);
  return entry;
}

/**
 * Show `item`: update it when it is on screen, otherwise put it in its place (newest first).
 * @param {NotificationItem} item
 */
function place(item) {
  const found = shown.get(item.id);
  if (found) {
    found.item = item;
    paint(found);
    return found;
  }
  const entry = build(item);
  shown.set(item.id, entry);
  let before = null;
  for (const other of shown.values()) {
    if (other.item.id < item.id && (before === null || other.item.id > before.item.id)) before = other;
  }
  list.insertBefore(entry.li, before ? before.li : null);
  return entry;
}

function showSummary() {
  const empty = loaded && shown.size === 0;
  const summary = byId("inbox-summary");
  summary.textContent =
    unread === null || empty ? "" : unread ? t("inbox.unread_summary", { count: unread }) : t("inbox.all_read");
  markAll.hidden = !unread;
  // An empty inbox says what will come, with its own link to the settings.
  byId("inbox-empty").hidden = !empty;
  byId("inbox-tools").hidden = empty;
  list.hidden = shown.size === 0;
}

/** @param {number} count */
function setUnread(count) {
  unread = count;
  if (count === 0) {
    for (const entry of shown.values()) {
      if (!entry.item.read) {
        entry.item = { ...entry.item, read: true };
        paint(entry);
      }
    }
  }
  showSummary();
}

// -- the API ---------------------------------------------------------------------------------------

/**
 * @param {number | null} before  only notifications older than this id
 * @returns {Promise<ApiResult<NotificationsBody>>}
 */
function fetchPage(before) {
  const query = before === null ? `limit=${PAGE_SIZE}` : `before=${before}&limit=${PAGE_SIZE}`;
  return api("GET", `/api/notifications?${query}`);
}

/** The oldest id on screen. */
function oldest() {
  let found = null;
  for (const id of shown.keys()) if (found === null || id < found) found = id;
  return found;
}

/** @param {number} got  how many the last page had */
function showOlder(got) {
  const more = got === PAGE_SIZE;
  loadOlderButton.hidden = !more;
  byId("no-older").hidden = more || shown.size === 0;
}

/** The newest page again: new ones go on top, read ones lose their mark. */
async function refreshNewest() {
  const result = await fetchPage(null);
  if (!result.ok) return;
  for (const item of result.data.notifications) place(item);
  setUnread(result.data.unread);
}

/**
 * Mark notifications read; the bell (and every other device) gets the new count.
 * @param {number[] | null} ids  null: all of them
 */
async function markRead(ids) {
  /** @type {ApiResult<UnreadBody>} */
  const result = await api("POST", "/api/notifications/read", ids === null ? {} : { ids });
  if (!result.ok) {
    showText(byId("inbox-error"), errorText(result.error.code));
    return false;
  }
  showText(byId("inbox-error"), "");
  for (const id of ids ?? shown.keys()) {
    const entry = shown.get(id);
    if (entry && !entry.item.read) {
      entry.item = { ...entry.item, read: true };
      paint(entry);
    }
  }
  setUnread(result.data.unread);
  pageBell()?.set(result.data.unread);
  return true;
}

async function loadOlder() {
  const before = oldest();
  if (before === null) return;
  const result = await busy(loadOlderButton, () => fetchPage(before));
  if (!result.ok) {
    showText(byId("inbox-error"), errorText(result.error.code));
    return;
  }
  const added = result.data.notifications.map(place);
  showOlder(added.length);
  showSummary();
  // Keyboard and screen-reader users carry on from the first of the older ones.
  added[0]?.li.querySelector("a")?.focus();
}

async function start() {
  const result = await fetchPage(null);
  byId("inbox-loading").hidden = true;
  if (!result.ok) {
    if (result.status === 401) {
      location.assign("/login");
      return;
    }
    showText(byId("inbox-error"), errorText(result.error.code));
    return;
  }
  for (const item of result.data.notifications) place(item);
  loaded = true;
  setUnread(result.data.unread);
  showOlder(result.data.notifications.length);
}

markAll.addEventListener("click", async () => {
  if (await busy(markAll, () => markRead(null))) {
    status.textContent = t("inbox.marked_all");
    byId("inbox-title").focus(); // the button is gone: keep focus at the top of the list
  }
});
loadOlderButton.addEventListener("click", loadOlder);
setInterval(() => {
  for (const entry of shown.values()) paint(entry);
}, TICK_MS);

const client = new LinliClient(
  socketUrl(),
  withBell({
    state(state) {
      if (state === "open" && loaded) refreshNewest(); // pushes missed while it was down
    },
    inbox() {
      refreshNewest();
    },
    ended() {
      location.assign("/login");
    },
  }),
);
window.linliClient = client;
start().then(() => client.start());

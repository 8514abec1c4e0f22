// @ts-check
// The chat page: rooms with unread counts, the live message log of the chosen room, older
// history page by page, who is online, and the quiet "reconnecting…" banner. The message log is
// a MessageList (lib/message-list.js), its Report buttons and moderators' hides a ModerationUI
// (lib/moderation-ui.js), the unread counts ServerUnread and the
// per-message menu MessageTools (chat_messages.js); this file puts them
// together with the connection, the room list, the composer and the online list.
//
// User text reaches the DOM only through textContent (never innerHTML), so a message such as
// <img src=x onerror=alert(1)> is shown as the characters it is.
import { api } from "./common.js";
import { LinliClient, socketUrl } from "./client.js";
import { errorText, formatTime, page, t } from "./i18n.js";
import { withBell } from "./lib/bell.js";
import "./events/card.js"; // the events' card in a room (lib/cards.js)
import { asPollCard } from "./chat_poll_card.js"; // the poll card in a room (lib/cards.js)
import { cardPub } from "./lib/cards.js";
import { byId, node, part } from "./lib/dom.js";
import { MessageList } from "./lib/message-list.js";
import { ModerationUI } from "./lib/moderation-ui.js";
import { PushOffer } from "./lib/push-offer.js";
import { MessageTools, ServerUnread } from "./chat_messages.js";
import { requestLink } from "./requests/chat-link.js";
import { StaffUI } from "./chat_staff.js";
import { PhotoComposer, setUpPhotoDialog, uploadPhoto } from "./chat_photos.js";

/** @typedef {import("./types.js").Publication} Publication */
/** @typedef {import("./types.js").User} User */
/** @template T @typedef {import("./types.js").ApiResult<T>} ApiResult */

/**
 * A room in the list.
 * @typedef {object} Room
 * @property {string} channel
 * @property {string} name
 * @property {"building" | "group" | "other"} kind  "other": a room asked for by address
 * @property {Map<number, string>} members  who is online: user id → name
 * @property {HTMLAnchorElement | null} link
 * @property {HTMLElement | null} badge
 * @property {LastMessage | null} last  the newest message, for the room list
 * @property {boolean} lastAsked  whether its history was asked for the list
 */

/**
 * The newest message of a room as the room list shows it.
 * @typedef {{offset: number, who: string, text: string, ts: number}} LastMessage
 */

/**
 * The room on screen (its messages are in `messages`). `jump`: the message a link opened the room
 * at (a search hit, `/?at=<offset>#<channel>`), shown with its neighbours; `behind`: newer
 * messages than `newest` (the last loaded from there) are not all shown yet.
 * @typedef {{channel: string, loadingOlder: boolean, loadingNewer: boolean, jump: number | null, newest: number | null, behind: boolean}} ActiveRoom
 */

const PAGE_SIZE = 30;
/** The room list's preview reads this many of a room's newest publications to find its newest
 * chat message (the newest few may be edits, hides or tallies). */
const LAST_PAGE = 10;
/** Show the banner only when reconnecting takes longer than a blink (a quick Wi-Fi handover
 * should not flash a warning at an elderly reader). */
const BANNER_DELAY_MS = 1000;
/** Moderation errors of `publish` (docs/protocol.md): final, shown by the composer. */
const SANCTION_CODES = new Set(["muted", "banned", "blocked_word"]);

// The chat page is served only to a logged-in resident (web/pages.py), so the page facts name one.
const me = /** @type {User} */ (page.user);
const el = byId;
const log = el("log");
const composer = el("composer", HTMLFormElement);
const textarea = el("composer-text", HTMLTextAreaElement);
const sendButton = el("send", HTMLButtonElement);
const layout = el("chat-layout");
const onlineToggle = el("online-toggle", HTMLButtonElement);
const newMessages = el("new-messages", HTMLButtonElement);
/** Below 44em (as linli.css): a screen for the room list and one for the room. */
const phone = matchMedia("(max-width: 43.99em)");
/** A touch screen: Enter makes a new line and the Send button sends. */
const coarse = matchMedia("(pointer: coarse)");
/** The room screen was opened from the room list (its Back goes back in the history). */
let openedFromList = false;

/** @type {Map<string, Room>} */
const rooms = new Map();
/** @type {ActiveRoom | null} */
let active = null;
/** The message the address asks to open its room at (`/?at=<offset>#<channel>`), used once. */
let jumpTo = readJump();
/** @type {ReturnType<typeof setTimeout> | undefined} */
let bannerTimer;
/** The rooms followed or muted (POST /api/notifications/rooms); absent: mentions only.
 * @type {Map<string, string>} */
const roomModes = new Map();
const roomNotify = el("room-notify", HTMLSelectElement);

// -- last seen offsets (unread counts) ------------------------------------------------------------

/** @param {string} channel */
function markSeen(channel) {
  if (unread.markSeen(channel)) updateBadge(channel);
}

/** @param {string} channel */
function updateBadge(channel) {
  const room = rooms.get(channel);
  if (!room?.badge) return;
  const count = active?.channel === channel ? 0 : unread.count(channel);
  room.badge.hidden = count === 0;
  part(room.badge, "[aria-hidden]").textContent = count > 99 ? "99+" : String(count);
  part(room.badge, ".sr-only").textContent = t("chat.unread", { count });
  updateTitle();
}

function updateTitle() {
  let total = 0;
  for (const channel of rooms.keys()) if (active?.channel !== channel) total += unread.count(channel);
  const base = `${active ? roomName(active.channel) : t("chat.title")} · ${page.community ?? t("app.name")}`;
  document.title = total ? `(${total}) ${base}` : base;
}

// -- rooms -----------------------------------------------------------------------------------

/** @param {string} channel */
function roomName(channel) {
  return rooms.get(channel)?.name ?? channel;
}

/**
 * @param {string} channel
 * @param {string} name
 * @param {Room["kind"]} kind
 */
function addRoom(channel, name, kind) {
  /** @type {Room} */
  const room = { channel, name, kind, members: new Map(), link: null, badge: null, last: null, lastAsked: false };
  rooms.set(channel, room);
  return room;
}

function renderRooms() {
  for (const [listId, kind] of [["building-rooms", "building"], ["group-rooms", "group"]]) {
    const ul = el(listId);
    ul.replaceChildren();
    for (const room of rooms.values()) {
      if (room.kind !== kind) continue;
      const li = node("li");
      const link = node("a", "room-link");
      link.href = `#${room.channel}`;
      // Two lines: the name and the newest message's time; who wrote it, what, and the count.
      const top = node("span", "room-line");
      top.append(node("span", "room-name", room.name), " ", node("time", "room-time"));
      const bottom = node("span", "room-line");
      const badge = node("span", "badge");
      const count = node("span", "", "0");
      count.setAttribute("aria-hidden", "true");
      badge.append(count, node("span", "sr-only", ""));
      badge.hidden = true;
      bottom.append(node("span", "room-last"), " ", badge);
      link.append(top, bottom);
      li.append(link);
      ul.append(li);
      room.link = link;
      room.badge = badge;
      updateBadge(room.channel);
      showLast(room);
    }
  }
  el("no-groups").hidden = [...rooms.values()].some((room) => room.kind === "group");
  highlightActive();
}

/**
 * Keep `pub` as its room's newest message if it is one (a chat message) or changes it (an edit,
 * a delete, a moderator's hide).
 * @param {string} channel
 * @param {Publication} pub
 */
function noteLast(channel, pub) {
  const room = rooms.get(channel);
  const data = pub.data;
  if (!room || !data) return;
  if (data.kind === "chat") {
    if (room.last && pub.offset <= room.last.offset) return;
    let text = data.text || (data.card ? t("chat.last_card") : data.photo ? t("photo.last") : "");
    if (data.deleted) text = t("chat.last_deleted");
    else if (data.moderation) text = t(data.moderation === "deleted" ? "chat.deleted" : "chat.hidden");
    const who = data.author?.id === me.id ? t("chat.you") : (data.author?.name ?? "");
    room.last = { offset: pub.offset, who, text, ts: data.ts };
  } else if ("target" in data && room.last && data.target === room.last.offset) {
    if (data.kind === "edit" && typeof data.text === "string") room.last.text = data.text;
    else if (data.kind === "retract") room.last.text = t("chat.last_deleted");
    else if (data.kind === "hide" || data.kind === "delete") {
      room.last.text = t(data.kind === "delete" ? "chat.deleted" : "chat.hidden");
    } else return;
  } else {
    return;
  }
  showLast(room);
}

/** @param {Room} room */
function showLast(room) {
  if (!room.link) return;
  const line = part(room.link, ".room-last");
  const time = part(room.link, ".room-time", HTMLTimeElement);
  const last = room.last;
  // textContent only: the preview is user text.
  line.textContent = last ? t("chat.last_line", { name: last.who, text: last.text }) : t("chat.last_none");
  time.textContent = last ? formatTime(last.ts) : "";
  if (last) time.dateTime = new Date(last.ts).toISOString();
}

/**
 * The newest message of a room the list shows, asked for once per room when it is subscribed
 * (staff's view of every building subscribes to a room only when it is opened: they are many).
 * @param {string} channel
 */
async function askLast(channel) {
  const room = rooms.get(channel);
  if (!room || room.lastAsked || room.kind === "other" || !channel.includes(":")) return;
  room.lastAsked = true;
  let reply;
  try {
    reply = await client.history(channel, { limit: LAST_PAGE });
  } catch {
    room.lastAsked = false; // asked again after the reconnection
    return;
  }
  for (const pub of reply.publications) noteLast(channel, pub);
}

function highlightActive() {
  for (const room of rooms.values()) {
    if (!room.link) continue;
    if (active?.channel === room.channel) room.link.setAttribute("aria-current", "page");
    else room.link.removeAttribute("aria-current");
  }
}

/** @param {string} text  "" hides the notice */
function showNotice(text) {
  const notice = el("room-notice");
  notice.textContent = text || "";
  notice.hidden = !text;
}

/** @param {boolean} enabled */
function setComposerEnabled(enabled) {
  textarea.disabled = !enabled;
  sendButton.disabled = !enabled;
  photos.setEnabled(enabled);
  if (!enabled) photos.clear();
}

/** @returns {{channel: string, offset: number} | null} */
function readJump() {
  const raw = new URLSearchParams(location.search).get("at");
  const channel = decodeURIComponent(location.hash.slice(1));
  if (!raw || !/^\d+$/.test(raw) || !channel) return null;
  return { channel, offset: Number(raw) };
}

/**
 * Show the room `channel` (none when empty).
 * @param {string | null} channel
 * @param {{focus?: boolean}} [options]  focus: put the cursor in the composer
 */
function selectRoom(channel, { focus = false } = {}) {
  setOnlineOpen(false, false);
  newMessages.hidden = true;
  if (!channel) {
    active = null;
    el("room-title").textContent = t("chat.choose_room");
    setComposerEnabled(false);
    showRoomNotify();
    highlightActive();
    showScreen("list");
    updateTitle();
    return;
  }
  const jump = jumpTo?.channel === channel ? jumpTo.offset : null;
  jumpTo = null;
  const params = new URLSearchParams(location.search);
  if (jump === null && params.has("at")) {
    // Another room than the link's: the address no longer names a message to open at.
    params.delete("at");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : "") + location.hash);
  }
  active = { channel, loadingOlder: false, loadingNewer: false, jump, newest: null, behind: jump !== null };
  showScreen("room");
  messages.clear();
  moderation.clear();
  messageTools.clear();
  showComposerError("");
  el("load-older").hidden = true;
  el("no-older").hidden = true;
  el("load-newer").hidden = true;
  el("empty").hidden = true;
  showNotice("");
  el("room-title").textContent = roomName(channel);
  log.setAttribute("aria-label", t("chat.messages_label", { room: roomName(channel) }));
  highlightActive();
  renderOnline();
  if (!rooms.has(channel)) {
    // Not one of this resident's rooms (an old link, a typed address): ask anyway; the server
    // decides, and a refusal is shown as such.
    addRoom(channel, channel, "other");
  }
  setComposerEnabled(true);
  staff.refresh(); // the access rules, a mute, the room's pin (chat_staff.js)
  showRoomNotify();
  client.subscribe(channel);
  if (client.position(channel)?.epoch != null) {
    loadRoom(channel);
    loadPresence(channel);
  }
  for (const entry of client.pendingFor(channel)) messages.addPending(entry.cmid, entry.text);
  moderation.loadMine(channel);
  updateTitle();
  // On a phone the keyboard would cover half the room at once: the room's name takes the focus
  // (a screen reader says where the reader is); the composer is one tap or a skip link away.
  if (focus && phone.matches) el("room-title").focus();
  else if (focus) textarea.focus();
}

// -- the phone's two screens -----------------------------------------------------------------

/** @param {"list" | "room"} screen */
function showScreen(screen) {
  layout.dataset.screen = screen;
  document.body.dataset.screen = screen;
}

/** The first of the reader's rooms (the desktop opens it when no room is asked for). */
function firstRoom() {
  return rooms.keys().next().value ?? null;
}

/** Which room the address asks for; on a phone none means the room list. */
function wantedRoom() {
  const wanted = decodeURIComponent(location.hash.slice(1));
  return wanted || (phone.matches ? null : firstRoom());
}

el("room-back").addEventListener("click", () => {
  const from = active?.channel ?? null;
  if (openedFromList) {
    history.back(); // the hashchange shows the list
  } else {
    history.replaceState(null, "", location.pathname + location.search);
    selectRoom(null);
  }
  openedFromList = false;
  if (from) rooms.get(from)?.link?.focus();
});

phone.addEventListener("change", () => {
  if (!phone.matches && !active) selectRoom(firstRoom());
});

// The VisualViewport where the browser does not shrink the layout for the keyboard (Safari): the
// room screen is as tall as what is visible. Not while pinch-zoomed (the visible part is then
// smaller than the page on purpose).
function fitViewport() {
  const view = window.visualViewport;
  if (!view) return;
  const root = document.documentElement;
  if (Math.abs(view.scale - 1) < 0.01) root.style.setProperty("--app-height", `${Math.round(view.height)}px`);
  else root.style.removeProperty("--app-height");
}
window.visualViewport?.addEventListener("resize", fitViewport);
fitViewport();

// -- who is online, behind a button below 60em ---------------------------------------------------

/**
 * @param {boolean} open
 * @param {boolean} refocus  put the focus back on the button
 */
function setOnlineOpen(open, refocus) {
  const wasOpen = onlineToggle.getAttribute("aria-expanded") === "true";
  onlineToggle.setAttribute("aria-expanded", String(open));
  layout.classList.toggle("online-open", open);
  if (open) {
    const top = onlineToggle.getBoundingClientRect().bottom - layout.getBoundingClientRect().top;
    layout.style.setProperty("--online-top", `${Math.max(0, Math.round(top + 4))}px`);
    el("online-title").focus();
  } else if (wasOpen && refocus) {
    onlineToggle.focus();
  }
}

onlineToggle.addEventListener("click", () => setOnlineOpen(onlineToggle.getAttribute("aria-expanded") !== "true", true));
el("online-close").addEventListener("click", () => setOnlineOpen(false, true));
el("online-panel").addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    event.preventDefault();
    setOnlineOpen(false, true);
  }
});
document.addEventListener("click", (event) => {
  const target = event.target;
  if (!(target instanceof Node) || !layout.classList.contains("online-open")) return;
  if (!el("online-panel").contains(target) && !onlineToggle.contains(target)) setOnlineOpen(false, false);
});

// -- following or muting the room ----------------------------------------------------------------

/** The room's notification choice beside its name, for a room the resident is in. */
function showRoomNotify() {
  const room = active ? rooms.get(active.channel) : null;
  el("room-notify-box").hidden = !active || !room || room.kind === "other";
  if (active) roomNotify.value = roomModes.get(active.channel) ?? "";
}

roomNotify.addEventListener("change", async () => {
  if (!active) return;
  const channel = active.channel;
  /** @type {ApiResult<import("./types.js").PrefsBody>} */
  const result = await api("POST", "/api/notifications/rooms", { channel, mode: roomNotify.value || null });
  if (result.ok) {
    roomModes.clear();
    for (const [name, mode] of Object.entries(result.data.rooms)) roomModes.set(name, mode);
    el("chat-status").textContent = t("notify.saved");
  } else {
    showNotice(t("notify.save_failed", { reason: errorText(result.error.code) }));
  }
  if (active?.channel === channel) roomNotify.value = roomModes.get(channel) ?? "";
});

// -- messages ---------------------------------------------------------------------------------

/** @param {string} text  "" hides the line */
function showComposerError(text) {
  const line = el("composer-error");
  line.textContent = text || "";
  line.hidden = !text;
}

/**
 * A publication of `channel` (live, recovered or from history): a moderation event or a message.
 * @param {string} channel
 * @param {Publication} pub
 */
function addPublication(channel, pub) {
  // The room's pin follows its message (live, and a history page that replays a `pin` event
  // replays what came after it too).
  staff.follow(channel, pub.data);
  if (active?.channel !== channel) return;
  if (moderation.apply(channel, pub.data)) return;
  if (messageTools.apply(channel, pub)) return;
  if (staff.apply(channel, pub.data)) return;
  messages.add(asPollCard(pub));
  messageTools.decorate(pub);
}

/**
 * The room's messages: around the message a link opened it at, else the newest.
 * @param {string} channel
 */
function loadRoom(channel) {
  if (active?.channel === channel && active.jump !== null) loadAround(channel, active.jump);
  else loadLatest(channel);
}

/**
 * The page around `offset` (the `history` op's `around`), the message marked and in view, with
 * "older" above and "newer" below while there are more.
 * @param {string} channel
 * @param {number} offset
 */
async function loadAround(channel, offset) {
  let reply;
  try {
    reply = await client.history(channel, { around: offset, limit: PAGE_SIZE });
  } catch {
    return; // the reconnection's resubscription brings the room back
  }
  if (active?.channel !== channel || active.jump !== offset) return;
  const publications = reply.publications;
  for (const pub of publications) addPublication(channel, pub);
  const first = publications[0]?.offset ?? offset;
  active.newest = publications.at(-1)?.offset ?? offset;
  active.behind = active.newest < reply.offset;
  el("load-older").hidden = !(first > 1);
  el("no-older").hidden = first > 1 || messages.size === 0;
  el("load-newer").hidden = !active.behind;
  messages.showEmptyHint();
  const found = messages.item(offset);
  if (found) {
    found.classList.add("found");
    found.setAttribute("aria-current", "true");
    found.scrollIntoView({ block: "center" });
    el("chat-status").textContent = t("chat.jumped");
  } else {
    showNotice(t("chat.jump_missing"));
  }
  if (!active.behind) markSeen(channel);
}

/** The next page below the messages shown from a link, keeping the reader's place. */
async function loadNewer() {
  if (!active || active.loadingNewer || active.newest === null) return;
  const channel = active.channel;
  const button = el("load-newer");
  active.loadingNewer = true;
  button.textContent = t("chat.loading");
  let reply;
  try {
    reply = await client.history(channel, { after: active.newest, limit: PAGE_SIZE });
  } catch {
    reply = null;
  }
  button.textContent = t("chat.load_newer");
  if (active?.channel !== channel) return;
  active.loadingNewer = false;
  if (!reply) return;
  const place = log.scrollTop;
  for (const pub of reply.publications) addPublication(channel, pub);
  log.scrollTop = place; // the new messages are below what the reader is looking at
  active.newest = reply.publications.at(-1)?.offset ?? active.newest;
  active.behind = active.newest < reply.offset;
  button.hidden = !active.behind;
  if (!active.behind) markSeen(channel);
}

/** @param {string} channel */
async function loadLatest(channel) {
  let reply;
  try {
    reply = await client.history(channel, { limit: PAGE_SIZE });
  } catch {
    return; // the reconnection's resubscription brings the room back
  }
  if (active?.channel !== channel) return;
  const stick = messages.nearBottom() || messages.size === 0;
  for (const pub of reply.publications) {
    noteLast(channel, pub);
    addPublication(channel, pub);
  }
  const first = reply.publications[0]?.offset ?? 0;
  el("load-older").hidden = !(reply.publications.length === PAGE_SIZE && first > 1);
  el("no-older").hidden = !el("load-older").hidden || messages.size === 0;
  messages.showEmptyHint();
  if (stick) messages.scrollToBottom();
  markSeen(channel);
}

async function loadOlder() {
  if (!active || active.loadingOlder || messages.oldest === null) return;
  const channel = active.channel;
  const button = el("load-older");
  active.loadingOlder = true;
  button.textContent = t("chat.loading");
  let reply;
  try {
    reply = await client.history(channel, { before: messages.oldest, limit: PAGE_SIZE });
  } catch {
    reply = null;
  }
  button.textContent = t("chat.load_older");
  if (active?.channel !== channel) return;
  active.loadingOlder = false;
  if (!reply) return;
  const publications = reply.publications;
  messages.keepingPlace(() => {
    for (const pub of publications) addPublication(channel, pub);
  });
  const more = publications.length === PAGE_SIZE && (publications[0]?.offset ?? 0) > 1;
  button.hidden = !more;
  el("no-older").hidden = more;
}

/** @param {string} channel */
function reloadRoom(channel) {
  if (active?.channel !== channel) return;
  messages.removeConfirmed();
  loadRoom(channel);
}

// -- online list ---------------------------------------------------------------------------------

/** @param {string} channel */
async function loadPresence(channel) {
  let reply;
  try {
    reply = await client.presence(channel);
  } catch {
    return;
  }
  const room = rooms.get(channel);
  if (!room) return;
  room.members = new Map(reply.members.map((m) => [m.id, m.name]));
  if (active?.channel === channel) renderOnline();
}

function renderOnline() {
  const room = active ? rooms.get(active.channel) : null;
  const members = room ? [...room.members] : [];
  members.sort((a, b) => (a[0] === me.id ? -1 : b[0] === me.id ? 1 : a[1].localeCompare(b[1])));
  el("online-title").textContent = t("chat.online", { count: members.length });
  part(onlineToggle, ".online-long").textContent = t("chat.online", { count: members.length });
  part(onlineToggle, ".online-short").textContent = String(members.length);
  const ul = el("online-list");
  ul.replaceChildren(
    ...members.map(([id, name]) => {
      const li = node("li", id === me.id ? "member me" : "member", name);
      if (id === me.id) li.append(node("span", "you", ` (${t("chat.you")})`));
      return li;
    }),
  );
  el("online-none").hidden = members.some(([id]) => id !== me.id);
}

// -- the banner ---------------------------------------------------------------------------------

/** @param {import("./types.js").ConnectionState} state */
function onState(state) {
  const banner = el("banner");
  clearTimeout(bannerTimer);
  if (state === "open") {
    banner.hidden = true;
    banner.textContent = "";
    return;
  }
  if (state === "reconnecting") {
    bannerTimer = setTimeout(() => {
      banner.textContent = t("chat.reconnecting");
      banner.hidden = false;
    }, BANNER_DELAY_MS);
  }
}

// -- the connection --------------------------------------------------------------------------

const wsUrl = socketUrl();
const client = new LinliClient(wsUrl, withBell({
  state: onState,
  pub(channel, pub) {
    cardPub(channel, pub.data);
    if (!rooms.has(channel)) return; // a card's channel (an event's counts), not a room
    if (pub.data?.kind !== "chat") unread.skip(channel, pub.offset);
    noteLast(channel, pub);
    // Scrolled up to read older messages: a new one does not pull the reader down; a button
    // says it came and takes them there.
    const below = active?.channel === channel && messages.size > 0 && !messages.nearBottom();
    addPublication(channel, pub);
    if (below && pub.data?.kind === "chat" && pub.data.author?.id !== me.id && !messages.nearBottom()) {
      newMessages.hidden = false;
    }
    // Reading an older stretch (opened from a link) is not having read up to the newest.
    if (active?.channel === channel && !active.behind && document.visibilityState === "visible") markSeen(channel);
    else updateBadge(channel);
  },
  subscribed(channel, _reply, { reload }) {
    void askLast(channel);
    if (active?.channel === channel) {
      if (reload) reloadRoom(channel);
      else if (!active.behind) markSeen(channel);
      loadPresence(channel);
    } else {
      updateBadge(channel);
    }
  },
  subscribeFailed(channel, error) {
    const room = rooms.get(channel);
    if (room?.kind === "other") rooms.delete(channel);
    if (active?.channel === channel) {
      showNotice(error.code === "forbidden" ? t("chat.room_forbidden") : errorText(error.code));
      setComposerEnabled(false);
      showRoomNotify();
      el("room-title").textContent = t("chat.title");
    }
  },
  reset(channel) {
    reloadRoom(channel);
    updateBadge(channel);
  },
  presence(kind, channel, user) {
    const room = rooms.get(channel);
    if (!room) return;
    if (kind === "join") room.members.set(user.id, user.name);
    else room.members.delete(user.id);
    if (active?.channel === channel) renderOnline();
  },
  unsubscribed(channel) {
    const name = roomName(channel);
    rooms.delete(channel);
    renderRooms();
    if (active?.channel === channel) {
      const next = rooms.keys().next().value;
      location.hash = next ? `#${next}` : "";
      showNotice(t("chat.room_left", { room: name }));
    }
  },
  ack(cmid, ack, entry) {
    if (active?.channel !== entry.channel) return;
    messages.confirm(cmid, ack.offset);
    messageTools.confirmed(ack.offset, entry.text, entry.replyTo);
  },
  publishFailed(cmid, error, entry) {
    if (active?.channel !== entry.channel) return;
    if (error.code === "held_for_review") {
      // Not an error: kept out of the room until a moderator approves it; only its author sees it.
      messages.markHeld(cmid);
      return;
    }
    const shown = messages.markFailed(cmid, t("chat.failed", { reason: errorText(error.code) }));
    if (!shown) return;
    // Refused for good (a blocked word, a mute, too long…): the text goes back into the composer
    // to be changed and sent again, unless the reader has started another message meanwhile.
    if (!textarea.value.trim()) textarea.value = entry.text;
    showComposerError(SANCTION_CODES.has(error.code) ? errorText(error.code) : t("chat.failed_kept"));
  },
  ended() {
    showNotice(staff.endedText() || t("chat.session_ended"));
    setComposerEnabled(false);
    setTimeout(() => location.assign(staff.endedUrl()), 1500);
  },
  moderation(push) {
    staff.push(push);
  },
}));
// For debugging and the browser tests (tests/browser), which cut the connection through it.
window.linliClient = client;

// Read positions from the server, shared by the resident's devices (chat_messages.js).
const unread = new ServerUnread(client, me.id, (channel) => updateBadge(channel));
const messages = new MessageList({
  list: el("messages", HTMLOListElement),
  scroller: log,
  empty: el("empty"),
  me,
  tools: (li, offset) => {
    const tools = moderation.reportTools(li, offset);
    if (active) tools.append(" ", requestLink(active.channel, offset, li.dataset.author ?? ""));
    return tools;
  },
  decorate: (li, data, offset) => staff.decorate(li, data, offset),
});
const staff = new StaffUI({
  me,
  textarea,
  sendButton,
  status: el("chat-status"),
  channel: () => active?.channel ?? null,
  roomName,
  item: (offset) => messages.item(offset) ?? undefined,
});
const moderation = new ModerationUI({
  client,
  messages,
  channel: () => active?.channel ?? null,
  status: el("chat-status"),
});
// The menu on every message (reply, copy, edit, delete, report) and live edits and deletes.
const messageTools = new MessageTools({
  client,
  messages,
  me,
  channel: () => active?.channel ?? null,
  composer,
  textarea,
  status: el("chat-status"),
});

// -- the composer --------------------------------------------------------------------------------

// Notifications are offered once the reader has taken part (their first message) or stayed a while.
const pushOffer = new PushOffer();

// A photo with the message (chat_photos.js): uploaded first; a refused upload publishes nothing.
const photos = new PhotoComposer();
setUpPhotoDialog();
// A new choice of photo starts over: the last refusal's words go.
el("photo-input").addEventListener("change", () => showComposerError(""));
let uploading = false;

async function send() {
  const text = textarea.value.trim();
  const file = photos.file;
  if ((!text && !file) || !active || uploading) return;
  showComposerError("");
  const channel = active.channel;
  /** @type {string | undefined} */
  let photo;
  if (file) {
    uploading = true;
    sendButton.disabled = true;
    el("chat-status").textContent = t("photo.uploading");
    const result = await uploadPhoto(channel, file);
    uploading = false;
    sendButton.disabled = textarea.disabled;
    if (!result.ok) {
      // The text and the photo stay in the composer, to change and send again.
      const reason = errorText(result.code, result.code === "rate_limited" ? "photo" : undefined);
      showComposerError(t("photo.failed", { reason }));
      return;
    }
    if (active?.channel !== channel) return;
    photo = result.id;
    photos.clear();
  }
  const cmid = client.publish(channel, text, messageTools.takeReply(), photo);
  messages.addPending(cmid, text || t("photo.alt"));
  textarea.value = "";
  textarea.focus();
  pushOffer.activity();
}

composer.addEventListener("submit", (event) => {
  event.preventDefault();
  void send();
});
textarea.addEventListener("keydown", (event) => {
  // isComposing: Enter also confirms a Chinese input method's candidate; that must not send.
  // On a touch screen Enter is the keyboard's "new line" key (there is no Shift to hold): the
  // Send button sends there.
  if (coarse.matches) return;
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
    event.preventDefault();
    void send();
  }
});
/** The hint under the composer says what Enter does on this screen. */
function showEnterHint() {
  const hint = el("composer-hint");
  hint.dataset.fine ??= hint.textContent ?? "";
  hint.textContent = coarse.matches ? (hint.dataset.touch ?? "") : hint.dataset.fine;
}
coarse.addEventListener("change", showEnterHint);
showEnterHint();
el("load-older").addEventListener("click", loadOlder);
el("load-newer").addEventListener("click", loadNewer);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && active && !active.behind) markSeen(active.channel);
});
window.addEventListener("hashchange", () => {
  const from = active?.channel ?? null;
  const wanted = wantedRoom();
  openedFromList = wanted !== null && layout.dataset.screen === "list";
  selectRoom(wanted, { focus: true });
  if (!wanted && from) rooms.get(from)?.link?.focus();
});
newMessages.addEventListener("click", () => {
  messages.scrollToBottom();
  newMessages.hidden = true;
  log.focus(); // the button is gone; the reader is in the log, at its newest message
});
log.addEventListener("scroll", () => {
  if (!newMessages.hidden && messages.nearBottom()) newMessages.hidden = true;
});
// The skip link: to the composer of the open room (or, on the room list, to the first room).
el("skip-composer").addEventListener("click", (event) => {
  event.preventDefault();
  if (!active) [...rooms.values()][0]?.link?.focus();
  else if (!textarea.disabled) textarea.focus();
  else log.focus();
});

// -- start -------------------------------------------------------------------------------------

async function start() {
  /** @type {[ApiResult<import("./types.js").MeBody>, ApiResult<import("./types.js").GroupsBody>, ApiResult<import("./types.js").PrefsBody>]} */
  const [mine, groups, prefs] = await Promise.all([
    api("GET", "/api/me"),
    api("GET", "/api/groups"),
    api("GET", "/api/notifications/prefs"),
  ]);
  if (mine.status === 401) {
    location.assign("/login");
    return;
  }
  if (!mine.ok) {
    showNotice(errorText(mine.error.code));
    return;
  }
  const names = new Map((groups.ok ? groups.data.groups : []).map((g) => [g.channel, g.name]));
  for (const [name, mode] of Object.entries(prefs.ok ? prefs.data.rooms : {})) roomModes.set(name, mode);
  if (mine.data.building) {
    addRoom(`building:${mine.data.building.id}`, mine.data.building.name, "building");
  }
  for (const slug of mine.data.groups) {
    const channel = `group:${slug}`;
    addRoom(channel, names.get(channel) ?? slug, "group");
  }
  for (const channel of rooms.keys()) client.subscribe(channel);
  // Staff see every room by name; they subscribe to one when they open it (chat_staff.js).
  // Mutes, warnings and appeals come before the first message is drawn (its appeal button).
  const [staffRooms] = await Promise.all([staff.loadRooms(), staff.loadMine()]);
  for (const room of staffRooms) {
    if (!rooms.has(room.channel)) addRoom(room.channel, room.name, room.kind);
  }
  renderRooms();
  client.start();
  selectRoom(wantedRoom());
}

start();

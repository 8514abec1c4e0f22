// The chat page: rooms with unread counts, the live message log of the chosen room, older
// history page by page, who is online, and the quiet "reconnecting…" banner.
//
// User text reaches the DOM only through textContent (never innerHTML), so a message such as
// <img src=x onerror=alert(1)> is shown as the characters it is.
import { api } from "./common.js";
import { LinliClient, socketUrl } from "./client.js";
import { errorText, formatFullTime, formatTime, page, t } from "./i18n.js";
import { openReport } from "./report.js";

const PAGE_SIZE = 30;
/** Show the banner only when reconnecting takes longer than a blink (a quick Wi-Fi handover
 * should not flash a warning at an elderly reader). */
const BANNER_DELAY_MS = 1000;
/** Within this many pixels of the bottom counts as "reading the newest": new messages scroll. */
const STICKY_PX = 80;

const me = page.user;
const el = (id) => document.getElementById(id);
const log = el("log");
const list = el("messages");
const composer = el("composer");
const textarea = el("composer-text");
const sendButton = el("send");

/** channel → {channel, name, kind, members: Map<id, name>, link, badge} */
const rooms = new Map();
// {channel, items: Map<offset, li>, pendingItems: Map<cmid, li>, heldItems: [li], flagged:
//  Set<offset>, oldest, loadingOlder}
let active = null;
/** channel → offsets of publications that are not chat lines (moderation events): they move
 * the channel's offset but are not unread messages. */
const notChat = new Map();
/** Moderation errors of `publish` (docs/protocol.md): final, shown by the composer. */
const SANCTION_CODES = new Set(["muted", "banned", "blocked_word"]);
let bannerTimer = null;

function node(tag, className, text) {
  const n = document.createElement(tag);
  if (className) n.className = className;
  if (text !== undefined) n.textContent = text;
  return n;
}

// -- last seen offsets (unread counts) ------------------------------------------------------------

const seenKey = (channel) => `linli.seen.${me.id}.${channel}`;

function seen(channel) {
  try {
    return JSON.parse(localStorage.getItem(seenKey(channel))) ?? null;
  } catch {
    return null;
  }
}

function markSeen(channel) {
  const position = client.position(channel);
  if (!position || position.epoch === null) return;
  try {
    localStorage.setItem(seenKey(channel), JSON.stringify(position));
  } catch {
    // storage full or refused: unread counts just start over
  }
  updateBadge(channel);
}

function unread(channel) {
  const position = client.position(channel);
  if (!position || position.epoch === null) return 0;
  const last = seen(channel);
  const from = !last || last.epoch !== position.epoch ? 0 : last.offset;
  let events = 0;
  for (const offset of notChat.get(channel) ?? []) if (offset > from && offset <= position.offset) events += 1;
  return Math.max(0, position.offset - from - events);
}

function updateBadge(channel) {
  const room = rooms.get(channel);
  if (!room?.badge) return;
  const count = active?.channel === channel ? 0 : unread(channel);
  room.badge.hidden = count === 0;
  room.badge.querySelector("[aria-hidden]").textContent = count > 99 ? "99+" : String(count);
  room.badge.querySelector(".sr-only").textContent = t("chat.unread", { count });
  updateTitle();
}

function updateTitle() {
  let total = 0;
  for (const channel of rooms.keys()) if (active?.channel !== channel) total += unread(channel);
  const base = `${active ? roomName(active.channel) : t("chat.title")} · ${t("app.name")}`;
  document.title = total ? `(${total}) ${base}` : base;
}

// -- rooms -----------------------------------------------------------------------------------

function roomName(channel) {
  return rooms.get(channel)?.name ?? channel;
}

function addRoom(channel, name, kind) {
  const room = { channel, name, kind, members: new Map(), link: null, badge: null };
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
      link.append(node("span", "room-name", room.name));
      const badge = node("span", "badge");
      const count = node("span", "", "0");
      count.setAttribute("aria-hidden", "true");
      badge.append(count, node("span", "sr-only", ""));
      badge.hidden = true;
      link.append(badge);
      li.append(link);
      ul.append(li);
      room.link = link;
      room.badge = badge;
      updateBadge(room.channel);
    }
  }
  el("no-groups").hidden = [...rooms.values()].some((room) => room.kind === "group");
  highlightActive();
}

function highlightActive() {
  for (const room of rooms.values()) {
    if (!room.link) continue;
    if (active?.channel === room.channel) room.link.setAttribute("aria-current", "page");
    else room.link.removeAttribute("aria-current");
  }
}

function showNotice(text) {
  const notice = el("room-notice");
  notice.textContent = text || "";
  notice.hidden = !text;
}

function setComposerEnabled(enabled) {
  textarea.disabled = !enabled;
  sendButton.disabled = !enabled;
}

function selectRoom(channel, { focus = false } = {}) {
  if (!channel) {
    active = null;
    el("room-title").textContent = t("chat.choose_room");
    setComposerEnabled(false);
    return;
  }
  active = {
    channel,
    items: new Map(),
    pendingItems: new Map(),
    heldItems: [],
    flagged: new Set(),
    oldest: null,
    loadingOlder: false,
  };
  list.replaceChildren();
  showComposerError("");
  el("load-older").hidden = true;
  el("no-older").hidden = true;
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
  client.subscribe(channel);
  if (client.position(channel)?.epoch != null) {
    loadLatest(channel);
    loadPresence(channel);
  }
  for (const entry of client.pendingFor(channel)) addPendingItem(entry.cmid, entry.text);
  loadMine(channel);
  updateTitle();
  if (focus) textarea.focus();
}

// -- messages ---------------------------------------------------------------------------------

function nearBottom() {
  return log.scrollHeight - log.scrollTop - log.clientHeight < STICKY_PX;
}

function scrollToBottom() {
  log.scrollTop = log.scrollHeight;
}

function messageItem(data, { mine, offset, cmid }) {
  const li = node("li", mine ? "message mine" : "message");
  const meta = node("p", "meta");
  const author = node("span", "author", data.author?.name ?? "");
  if (mine) author.append(node("span", "you", ` (${t("chat.you")})`));
  meta.append(author);
  const time = node("time", "time", formatTime(data.ts));
  time.dateTime = new Date(data.ts).toISOString();
  time.title = formatFullTime(data.ts);
  meta.append(" ", time);
  const status = node("span", "status");
  meta.append(" ", status);
  li.append(meta, node("p", "text", data.text ?? ""));
  if (offset !== undefined) li.dataset.offset = String(offset);
  if (cmid) li.dataset.cmid = cmid;
  if (!mine && offset !== undefined) {
    li.dataset.author = data.author?.name ?? "";
    const tools = node("span", "report-tools");
    meta.append(" ", tools);
    if (active?.flagged.has(offset)) markReported(li);
    else tools.append(reportButton(li, offset));
  }
  if (data.moderation === "hidden" || data.moderation === "deleted") moderate(li, data.moderation);
  return li;
}

// -- reporting ----------------------------------------------------------------------------------

function reportButton(li, offset) {
  const button = node("button", "report-button", t("chat.report"));
  button.type = "button";
  button.setAttribute("aria-label", t("chat.report_label", { name: li.dataset.author }));
  button.addEventListener("click", () => {
    const channel = active?.channel;
    if (!channel) return;
    openReport({
      client,
      channel,
      offset,
      text: li.classList.contains("moderated") ? "" : li.querySelector(".text").textContent,
      trigger: button,
      done() {
        active?.flagged.add(offset);
        markReported(li);
        el("chat-status").textContent = t("chat.report_done");
      },
      // The button is gone once the report is in: focus goes to the mark that replaced it.
      restoreFocus: () => (button.isConnected ? button : li.querySelector(".reported")),
    });
  });
  return button;
}

/** "You reported this" instead of the button (after a report, or from /api/flags/mine). */
function markReported(li) {
  const tools = li.querySelector(".report-tools");
  if (!tools || tools.querySelector(".reported")) return;
  const mark = node("span", "reported", t("chat.reported"));
  mark.tabIndex = -1;
  tools.replaceChildren(mark);
}

// -- moderation ---------------------------------------------------------------------------------

/** Show the message `li` as hidden or deleted by a moderator (its text is not kept). */
function moderate(li, state) {
  li.classList.add("moderated");
  li.dataset.moderation = state;
  li.querySelector(".text").textContent = t(state === "deleted" ? "chat.deleted" : "chat.hidden");
  const button = li.querySelector(".report-button");
  if (button) button.hidden = true;
}

/** A `hide`, `restore` or `delete` event (docs/protocol.md, Moderation events). Idempotent. */
function applyModeration(channel, data) {
  if (active?.channel !== channel || typeof data.target !== "number") return;
  const li = active.items.get(data.target);
  if (!li || li.dataset.moderation === "deleted") return; // not in view, or final
  if (data.kind === "hide" || data.kind === "delete") {
    moderate(li, data.kind === "delete" ? "deleted" : "hidden");
  } else if (data.kind === "restore" && li.dataset.moderation === "hidden") {
    li.dataset.moderation = "restoring";
    if (typeof data.text === "string") restoreText(li, data.text);
    else refetch(channel, data.target, li);
  }
}

function restoreText(li, text) {
  li.classList.remove("moderated");
  delete li.dataset.moderation;
  li.querySelector(".text").textContent = text;
  const button = li.querySelector(".report-button");
  if (button) button.hidden = false;
}

/** The event does not carry the text: read the message again (the server shows it now). */
async function refetch(channel, offset, li) {
  let reply;
  try {
    reply = await client.history(channel, { after: offset - 1, limit: 1 });
  } catch {
    reply = null;
  }
  if (li.dataset.moderation !== "restoring") return; // hidden or deleted again meanwhile
  const pub = reply?.publications?.find((p) => p.offset === offset);
  if (pub && pub.data?.kind === "chat" && !pub.data.moderation) restoreText(li, pub.data.text ?? "");
  else if (pub?.data?.moderation) moderate(li, pub.data.moderation);
  else li.dataset.moderation = "hidden";
}

/** What only this resident sees in the room: the messages they reported and their messages the
 * word list holds for review. */
async function loadMine(channel) {
  const [flags, held] = await Promise.all([
    api("GET", `/api/flags/mine?channel=${encodeURIComponent(channel)}`),
    api("GET", "/api/held/mine"),
  ]);
  if (active?.channel !== channel) return;
  for (const offset of flags.data?.offsets ?? []) {
    active.flagged.add(offset);
    const li = active.items.get(offset);
    if (li) markReported(li);
  }
  const waiting = (held.data?.held ?? [])
    .filter((h) => h.channel === channel && h.state === "held")
    .sort((a, b) => a.at - b.at);
  for (const h of waiting) addHeldItem(h.text, h.at, h.id);
}

function addHeldItem(text, ts, id) {
  if (id !== undefined && active.heldItems.some((li) => li.dataset.heldId === String(id))) return;
  const li = messageItem({ text, author: { name: me.display_name }, ts }, { mine: true });
  li.classList.add("held");
  li.querySelector(".status").textContent = t("chat.held");
  if (id !== undefined) li.dataset.heldId = String(id);
  list.append(li);
  active.heldItems.push(li);
  el("empty").hidden = true;
}

/** A held message was approved: it arrives as the author's chat message with cmid held-<id>. */
function dropHeld(data) {
  const id = data.cmid.slice("held-".length);
  const index = active.heldItems.findIndex(
    (li) => li.dataset.heldId === id || (!li.dataset.heldId && li.querySelector(".text").textContent === data.text),
  );
  if (index < 0) return;
  active.heldItems[index].remove();
  active.heldItems.splice(index, 1);
}

function showComposerError(text) {
  const line = el("composer-error");
  line.textContent = text || "";
  line.hidden = !text;
}

/** Put a confirmed message in offset order: before the first later one, else before the
 * messages still sending (they are newer than anything confirmed). */
function placeConfirmed(li, offset) {
  for (let child = list.lastElementChild; child; child = child.previousElementSibling) {
    if (child.dataset.offset !== undefined && Number(child.dataset.offset) < offset) {
      child.after(li);
      return;
    }
  }
  list.prepend(li);
}

function addPublication(channel, pub) {
  if (active?.channel !== channel) return;
  if (pub.data?.kind === "hide" || pub.data?.kind === "restore" || pub.data?.kind === "delete") {
    applyModeration(channel, pub.data);
    return;
  }
  if (pub.data?.kind !== "chat") return;
  const { items, pendingItems } = active;
  const existing = items.get(pub.offset);
  if (existing) {
    // Acknowledged before its echo arrived: take the server's time now.
    const time = existing.querySelector("time");
    time.textContent = formatTime(pub.data.ts);
    time.title = formatFullTime(pub.data.ts);
    return;
  }
  const stick = nearBottom();
  const mine = pub.data.author?.id === me.id;
  const waiting = mine ? pendingItems.get(pub.data.cmid) : undefined;
  if (mine && typeof pub.data.cmid === "string" && pub.data.cmid.startsWith("held-")) dropHeld(pub.data);
  if (waiting) {
    pendingItems.delete(pub.data.cmid);
    waiting.remove();
  }
  const li = messageItem(pub.data, { mine, offset: pub.offset });
  placeConfirmed(li, pub.offset);
  items.set(pub.offset, li);
  if (active.oldest === null || pub.offset < active.oldest) active.oldest = pub.offset;
  el("empty").hidden = true;
  if (stick || waiting) scrollToBottom();
}

function addPendingItem(cmid, text) {
  const li = messageItem({ text, author: { name: me.display_name }, ts: Date.now() }, { mine: true, cmid });
  li.classList.add("pending");
  li.querySelector(".status").textContent = t("chat.sending");
  list.append(li);
  active.pendingItems.set(cmid, li);
  el("empty").hidden = true;
  scrollToBottom();
}

async function loadLatest(channel) {
  let reply;
  try {
    reply = await client.history(channel, { limit: PAGE_SIZE });
  } catch {
    return; // the reconnection's resubscription brings the room back
  }
  if (active?.channel !== channel) return;
  const stick = nearBottom() || active.items.size === 0;
  for (const pub of reply.publications) addPublication(channel, pub);
  const first = reply.publications[0]?.offset;
  el("load-older").hidden = !(reply.publications.length === PAGE_SIZE && first > 1);
  el("no-older").hidden = !el("load-older").hidden || active.items.size === 0;
  el("empty").hidden = active.items.size + active.pendingItems.size > 0;
  if (stick) scrollToBottom();
  markSeen(channel);
}

async function loadOlder() {
  if (!active || active.loadingOlder || active.oldest === null) return;
  const channel = active.channel;
  const button = el("load-older");
  active.loadingOlder = true;
  button.textContent = t("chat.loading");
  let reply;
  try {
    reply = await client.history(channel, { before: active.oldest, limit: PAGE_SIZE });
  } catch {
    reply = null;
  }
  button.textContent = t("chat.load_older");
  if (active?.channel !== channel) return;
  active.loadingOlder = false;
  if (!reply) return;
  // Keep the reader's place: the log grows above what they are looking at.
  const before = log.scrollHeight - log.scrollTop;
  for (const pub of reply.publications) addPublication(channel, pub);
  log.scrollTop = log.scrollHeight - before;
  const more = reply.publications.length === PAGE_SIZE && reply.publications[0].offset > 1;
  button.hidden = !more;
  el("no-older").hidden = more;
}

function reloadRoom(channel) {
  if (active?.channel !== channel) return;
  for (const [offset, li] of active.items) {
    li.remove();
    active.items.delete(offset);
  }
  active.oldest = null;
  loadLatest(channel);
}

// -- online list ---------------------------------------------------------------------------------

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
const client = new LinliClient(wsUrl, {
  state: onState,
  pub(channel, pub) {
    if (pub.data?.kind !== "chat") {
      if (!notChat.has(channel)) notChat.set(channel, new Set());
      notChat.get(channel).add(pub.offset);
    }
    addPublication(channel, pub);
    if (active?.channel === channel && document.visibilityState === "visible") markSeen(channel);
    else updateBadge(channel);
  },
  subscribed(channel, reply, { reload }) {
    if (active?.channel === channel) {
      if (reload) reloadRoom(channel);
      else markSeen(channel);
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
    const li = active.pendingItems.get(cmid);
    if (!li) return;
    active.pendingItems.delete(cmid);
    li.remove();
    if (active.items.has(ack.offset)) return; // its echo came first
    li.classList.remove("pending");
    li.querySelector(".status").textContent = "";
    li.dataset.offset = String(ack.offset);
    placeConfirmed(li, ack.offset);
    active.items.set(ack.offset, li);
  },
  publishFailed(cmid, error, entry) {
    const li = active?.channel === entry.channel ? active.pendingItems.get(cmid) : null;
    if (!li) return;
    active.pendingItems.delete(cmid);
    if (error.code === "held_for_review") {
      // Not an error: kept out of the room until a moderator approves it; only its author sees it.
      li.classList.replace("pending", "held");
      li.querySelector(".status").textContent = t("chat.held");
      active.heldItems.push(li);
      return;
    }
    li.classList.replace("pending", "failed");
    li.querySelector(".status").textContent = t("chat.failed", { reason: errorText(error.code) });
    if (SANCTION_CODES.has(error.code)) showComposerError(errorText(error.code));
  },
  ended() {
    showNotice(t("chat.session_ended"));
    setComposerEnabled(false);
    setTimeout(() => location.assign("/login"), 1500);
  },
});
// For debugging and the browser tests (tests/browser), which cut the connection through it.
window.linliClient = client;

// -- the composer --------------------------------------------------------------------------------

function send() {
  const text = textarea.value.trim();
  if (!text || !active) return;
  showComposerError("");
  const cmid = client.publish(active.channel, text);
  addPendingItem(cmid, text);
  textarea.value = "";
  textarea.focus();
}

composer.addEventListener("submit", (event) => {
  event.preventDefault();
  send();
});
textarea.addEventListener("keydown", (event) => {
  // isComposing: Enter also confirms a Chinese input method's candidate; that must not send.
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
    event.preventDefault();
    send();
  }
});
el("load-older").addEventListener("click", loadOlder);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && active) markSeen(active.channel);
});
window.addEventListener("hashchange", () => selectRoom(decodeURIComponent(location.hash.slice(1)), { focus: true }));

// -- start -------------------------------------------------------------------------------------

async function start() {
  const [mine, groups] = await Promise.all([api("GET", "/api/me"), api("GET", "/api/groups")]);
  if (mine.status === 401) {
    location.assign("/login");
    return;
  }
  if (!mine.ok) {
    showNotice(errorText(mine.error.code));
    return;
  }
  const names = new Map((groups.data?.groups ?? []).map((g) => [g.channel, g.name]));
  if (mine.data.building) {
    addRoom(`building:${mine.data.building.id}`, mine.data.building.name, "building");
  }
  for (const slug of mine.data.groups) {
    const channel = `group:${slug}`;
    addRoom(channel, names.get(channel) ?? slug, "group");
  }
  renderRooms();
  for (const channel of rooms.keys()) client.subscribe(channel);
  client.start();
  const wanted = decodeURIComponent(location.hash.slice(1));
  selectRoom(wanted || rooms.keys().next().value || null);
}

start();

// @ts-check
// The moderators' page: the flag queue loaded over HTTP, then followed live on the `mod:flags`
// channel (any event reloads the queue, so what is shown is always the store's state). Each item
// names its room, shows its history (who did what, why, when; whether the author is muted now)
// and offers the everyday actions first (hide or restore, dismiss, warn); mute, delete and ban
// sit in a secondary group, and delete and ban ask in a dialog that repeats what will happen.
// The outcome of the last action stays in a status region. Residents' text reaches the DOM only
// through textContent.
import { LinliClient, socketUrl } from "./client.js";
import { api, showText } from "./common.js";
import { errorText, formatFullTime, formatTime, t } from "./i18n.js";
import { withBell } from "./lib/bell.js";
import { byId, node, part } from "./lib/dom.js";
import { renderAppeals } from "./mod_appeals.js";

/** @typedef {import("./mod_types.js").ModItem} ModItem */
/** @typedef {import("./mod_types.js").ModHeld} ModHeld */
/** @typedef {import("./mod_types.js").HistoryEntry} HistoryEntry */
/** @template T @typedef {import("./types.js").ApiResult<T>} ApiResult */

const queueEl = byId("mod-queue");
const heldEl = byId("mod-held");
const live = byId("mod-live");
const resultEl = byId("mod-result");
const stateSel = byId("mod-state", HTMLSelectElement);
const sortSel = byId("mod-sort", HTMLSelectElement);
const roomSel = byId("mod-room", HTMLSelectElement);
const periodSel = byId("mod-period", HTMLSelectElement);
const confirmDialog = byId("mod-confirm", HTMLDialogElement);
const deletedDays = byId("mod-title").closest("section")?.getAttribute("data-deleted-days") ?? "";

/** How long a mute lasts: seconds and the catalogue key of its label. @type {[number, string][]} */
const MUTE_CHOICES = [
  [15 * 60, "mod.mute_15m"],
  [60 * 60, "mod.mute_1h"],
  [24 * 3600, "mod.mute_1d"],
  [7 * 24 * 3600, "mod.mute_7d"],
];

/**
 * @param {string} label
 * @param {(event: MouseEvent) => void} onClick
 * @param {string} [className]
 */
function button(label, onClick, className = "button-quiet") {
  const b = node("button", className, label);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

/**
 * Ask in the dialog; true only when the moderator confirms (Escape and 取消 are a no).
 * @param {string} title
 * @param {string} text  what will happen, in words
 * @param {string} reason
 * @param {string} okLabel
 * @returns {Promise<boolean>}
 */
function confirmAction(title, text, reason, okLabel) {
  byId("mod-confirm-title").textContent = title;
  byId("mod-confirm-text").textContent = text;
  byId("mod-confirm-reason").textContent = t("modp.confirm.reason", { reason });
  byId("mod-confirm-ok").textContent = okLabel;
  confirmDialog.returnValue = "";
  return new Promise((resolve) => {
    confirmDialog.addEventListener("close", () => resolve(confirmDialog.returnValue === "ok"), {
      once: true,
    });
    confirmDialog.showModal();
    byId("mod-confirm-cancel").focus();
  });
}

/** A short quote of a message for the dialog. @param {string} text */
function quote(text) {
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

/** The outcome, kept on the page until the next action. @param {string} text */
function showResult(text) {
  resultEl.textContent = text;
}

/** @param {number} ms */
function timeEl(ms) {
  const el = node("time", "", formatTime(ms));
  el.dateTime = new Date(ms).toISOString();
  el.title = formatFullTime(ms);
  return el;
}

/** @param {number | null | undefined} ms */
function duration(ms) {
  if (ms === null || ms === undefined) return "–";
  const minutes = Math.round(ms / 60000);
  if (minutes < 120) return t("mod.minutes", { count: minutes });
  return t("mod.hours", { count: Math.round(minutes / 6) / 10 });
}

/** @param {string | null | undefined} channel */
function roomLabel(channel) {
  if (!channel) return "";
  const option = [...roomSel.options].find((o) => o.value === channel);
  if (option) return option.textContent ?? channel;
  return channel.startsWith("topic:") ? t("modp.room_topic") : channel;
}

/**
 * A queue item's place as the server named it (a room, a forum topic as「category › title」);
 * a place it could not name (a topic since removed) by its kind.
 * @param {string} room
 */
function placeLabel(room) {
  if (room.startsWith("topic:")) return t("modp.room_topic");
  if (room.startsWith("category:")) return t("modp.room_category");
  return room;
}

/**
 * The author's state now, in words.
 * @param {ModItem} item
 */
function authorStatusText(item) {
  const status = item.author_status;
  if (!status) return "";
  if (status.state === "banned") return t("modp.author_status.banned");
  if (status.state === "muted") {
    const until = status.until ? formatFullTime(status.until) : "–";
    return status.channel
      ? t("modp.author_status.muted_here", { room: roomLabel(status.channel), until })
      : t("modp.author_status.muted", { until });
  }
  return t("modp.author_status.free");
}

/** @param {HistoryEntry[]} history */
function historyList(history) {
  const list = node("ol", "mod-history-list");
  for (const entry of history) {
    const li = node("li", "mod-history-entry");
    li.dataset.action = entry.action;
    const line = node("span", "mod-history-line");
    const action = t(`audit.action.${entry.action}`);
    line.append(
      timeEl(entry.at),
      " · ",
      node("span", "mod-history-who", entry.actor ? entry.actor.name : t("audit.system")),
      " · ",
      node("span", "mod-history-action", action.startsWith("audit.") ? entry.action : action),
    );
    li.append(line);
    if (entry.applies_to !== undefined) {
      const scope = entry.applies_to === null
        ? t("modp.history_applies_everywhere")
        : t("modp.history_applies", { room: entry.applies_to });
      li.append(" ", node("span", "mod-history-scope", scope));
    }
    if (entry.because) {
      const because = t("modres.because_message", { room: entry.because.room, excerpt: entry.because.excerpt });
      li.append(" ", node("span", "mod-history-because", because));
    }
    if (entry.reason) {
      li.append(" ", node("span", "mod-history-reason", t("modp.history_reason", { reason: entry.reason })));
    }
    list.append(li);
  }
  return list;
}

/**
 * The reason box and the action buttons of one flagged message: the everyday ones first, the
 * rest in a secondary group; delete and ban behind a confirmation.
 * @param {ModItem} item
 * @param {HTMLElement} status  where the outcome is shown on the item
 */
function actionsFor(item, status) {
  const wrap = node("div", "mod-actions");
  const reasonId = `reason-${item.channel}-${item.offset}`;
  const label = node("label", "", t("mod.reason_label"));
  label.htmlFor = reasonId;
  const reason = node("input", "mod-reason");
  reason.id = reasonId;
  reason.maxLength = 500;
  const author = item.author.id;
  const authorName = item.author.name;
  const context = { channel: item.channel, offset: item.offset };

  /** @returns {string | null} the reason, or null (and a prompt) when it is empty */
  const reasonText = () => {
    const text = reason.value.trim();
    if (!text) {
      showText(status, t("mod.reason_needed"));
      reason.focus();
      return null;
    }
    return text;
  };
  /**
   * @param {string} what  the action's key for the outcome line
   * @param {string} path
   * @param {string} text  the reason
   * @param {object} [body]
   */
  const send = async (what, path, text, body = {}) => {
    const result = await api("POST", path, { reason: text, ...body });
    if (result.ok) {
      const done = t("modp.done", { what: t(`modp.what.${what}`, { author: authorName }) });
      showText(status, done);
      showResult(done);
      scheduleLoad();
    } else {
      const failed = t("modp.failed", { error: errorText(result.error.code) });
      showText(status, failed);
      showResult(failed);
    }
  };
  /** @param {"hide" | "restore" | "dismiss" | "warn"} what */
  const everyday = (what) => () => {
    const text = reasonText();
    if (text === null) return;
    const path = what === "warn"
      ? `/api/mod/users/${author}/warn`
      : `/api/mod/messages/${item.channel}/${item.offset}/${what}`;
    send(what, path, text, what === "warn" ? context : {});
  };
  wrap.append(label, reason);

  const primary = node("div", "mod-buttons mod-primary");
  primary.setAttribute("role", "group");
  primary.setAttribute("aria-label", t("modp.everyday"));
  if (item.visibility === "visible") {
    primary.append(button(t("mod.action.hide"), everyday("hide"), "button-primary"));
  } else if (item.visibility === "hidden") {
    primary.append(button(t("mod.action.restore"), everyday("restore"), "button-primary"));
  }
  primary.append(button(t("mod.action.dismiss"), everyday("dismiss")));
  if (author !== null) primary.append(button(t("mod.action.warn"), everyday("warn")));
  wrap.append(primary);

  const more = node("details", "mod-more");
  more.append(node("summary", "", t("modp.more_actions")));
  const row = node("div", "mod-buttons");
  if (author !== null) {
    const mute = node("select", "mod-mute-length");
    mute.setAttribute("aria-label", t("mod.mute_length"));
    for (const [seconds, key] of MUTE_CHOICES) {
      const option = node("option", "", t(key));
      option.value = String(seconds);
      mute.append(option);
    }
    const scope = node("select", "mod-mute-scope");
    scope.setAttribute("aria-label", t("mod.mute_scope"));
    for (const [value, key] of [["here", "mod.mute_here"], ["everywhere", "mod.mute_everywhere"]]) {
      const option = node("option", "", t(key));
      option.value = value;
      scope.append(option);
    }
    row.append(
      mute,
      scope,
      button(t("mod.action.mute"), () => {
        const text = reasonText();
        if (text === null) return;
        send("mute", `/api/mod/users/${author}/mute`, text, {
          ...context,
          seconds: Number(mute.value),
          channel_only: scope.value === "here",
        });
      }),
    );
  }
  const dangers = node("div", "mod-buttons mod-danger");
  if (item.visibility !== "deleted") {
    dangers.append(
      button(t("mod.action.delete"), async () => {
        const text = reasonText();
        if (text === null) return;
        const sure = await confirmAction(
          t("modp.confirm.delete_title"),
          t("modp.confirm.delete_text", { author: authorName, room: item.room, text: quote(item.text) }),
          text,
          t("modp.confirm.delete_ok"),
        );
        if (!sure) {
          showText(status, t("modp.cancelled"));
          showResult(t("modp.cancelled"));
          return;
        }
        send("delete", `/api/mod/messages/${item.channel}/${item.offset}/delete`, text);
      }, "button-danger"),
    );
  }
  if (author !== null && item.author_status?.state !== "banned") {
    dangers.append(
      button(t("mod.action.ban"), async () => {
        const text = reasonText();
        if (text === null) return;
        const sure = await confirmAction(
          t("modp.confirm.ban_title", { author: authorName }),
          t("modp.confirm.ban_text", { author: authorName }),
          text,
          t("modp.confirm.ban_ok"),
        );
        if (!sure) {
          showText(status, t("modp.cancelled"));
          showResult(t("modp.cancelled"));
          return;
        }
        send("ban", `/api/mod/users/${author}/ban`, text, context);
      }, "button-danger"),
    );
  }
  more.append(row, dangers);
  wrap.append(more);
  return wrap;
}

/**
 * Show the messages around `item` in `target` instead of the `toggle` button.
 * @param {ModItem} item
 * @param {HTMLElement} target
 * @param {HTMLButtonElement} toggle
 */
async function showContext(item, target, toggle) {
  /** @type {ApiResult<import("./types.js").ContextBody>} */
  const result = await api("GET", `/api/mod/messages/${item.channel}/${item.offset}/context`);
  if (!result.ok) return;
  const list = node("ol", "mod-context");
  for (const pub of result.data.publications) {
    if (pub.data.kind !== "chat") continue;
    const data = /** @type {{ moderation?: string, deleted_text?: string }} */ (/** @type {unknown} */ (pub.data));
    const li = node("li", pub.offset === item.offset ? "mod-context-target" : "");
    li.append(node("span", "author", pub.data.author?.name ?? ""), " ", timeEl(pub.data.ts), " ");
    if (data.moderation === "deleted") {
      li.append(node("span", "mod-context-deleted", t("modp.context_deleted")), " ");
      if (data.deleted_text) li.append(node("span", "text", data.deleted_text));
    } else {
      li.append(node("span", "text", pub.data.text));
    }
    list.append(li);
  }
  target.replaceChildren(list);
  toggle.hidden = true;
}

/** @param {ModItem} item */
function flaggedItem(item) {
  const li = node("li", `mod-item mod-${item.visibility}`);
  li.dataset.channel = item.channel;
  li.dataset.offset = String(item.offset);
  const head = node("p", "mod-head");
  head.append(
    node("strong", "mod-count", t("mod.flag_count", { count: item.flag_count })),
    " · ",
    node("span", "mod-room", placeLabel(item.room)),
    " · ",
    node("span", "mod-visibility", t(`mod.visibility.${item.visibility}`)),
  );
  if (item.auto_hidden) head.append(" · ", node("span", "mod-auto", t("mod.auto_hidden")));
  const message = node("blockquote", "mod-message");
  const by = node("p", "mod-by");
  by.append(node("span", "author", item.author.name), " ", timeEl(item.posted_at));
  message.append(by);
  if (item.visibility === "deleted") {
    message.append(node("p", "mod-deleted-note", item.text_purged
      ? t("modp.text_purged")
      : t("modp.deleted_note", { days: deletedDays })));
  }
  if (!item.text_purged) message.append(node("p", "text", item.text));
  const flags = node("ul", "mod-flags");
  for (const flag of item.flags) {
    const f = node("li", "mod-flag");
    f.append(
      node("span", "flagger", flag.flagger.name),
      ": ",
      node("span", "reason", t(`mod.reason.${flag.reason}`)),
    );
    if (flag.note) f.append(" — ", node("span", "note", flag.note));
    f.append(" ", timeEl(flag.at));
    flags.append(f);
  }
  const history = node("section", "mod-history");
  const historyId = `history-${item.channel}-${item.offset}`;
  const historyTitle = node("h3", "mod-history-title", t("modp.history_title"));
  historyTitle.id = historyId;
  history.setAttribute("aria-labelledby", historyId);
  history.append(historyTitle);
  history.append(item.history.length
    ? historyList(item.history)
    : node("p", "mod-history-empty", t("modp.history_empty")));
  const authorState = authorStatusText(item);
  if (authorState) history.append(node("p", "mod-author-status", authorState));
  const contextBox = node("div", "mod-context-box");
  const toggle = button(t("mod.show_context"), () => showContext(item, contextBox, toggle));
  const status = node("p", "status-line mod-status");
  status.setAttribute("role", "status");
  li.append(head, message, flags, history, toggle, contextBox, actionsFor(item, status), status);
  return li;
}

/** @param {ModHeld} held */
function heldItem(held) {
  const li = node("li", "mod-item mod-held-item");
  li.dataset.held = String(held.id);
  const head = node("p", "mod-head");
  head.append(
    node("span", "mod-room", placeLabel(held.room)),
    " · ",
    node("span", "", t("mod.matched", { pattern: held.matched })),
  );
  const message = node("blockquote", "mod-message");
  const by = node("p", "mod-by");
  by.append(node("span", "author", held.author.name), " ", timeEl(held.at));
  message.append(by, node("p", "text", held.text));
  const reason = node("input", "mod-reason");
  reason.id = `held-reason-${held.id}`;
  const label = node("label", "", t("mod.reason_label"));
  label.htmlFor = reason.id;
  const status = node("p", "status-line mod-status");
  status.setAttribute("role", "status");
  /** @param {"approve" | "reject"} decision */
  const decide = async (decision) => {
    const text = reason.value.trim();
    if (!text) {
      showText(status, t("mod.reason_needed"));
      return;
    }
    const result = await api("POST", `/api/mod/held/${held.id}/${decision}`, { reason: text });
    const outcome = result.ok
      ? t("modp.done", { what: t(`modp.what.${decision}`, { author: held.author.name }) })
      : t("modp.failed", { error: errorText(result.error.code) });
    showText(status, outcome);
    showResult(outcome);
    if (result.ok) scheduleLoad();
  };
  const row = node("div", "mod-buttons");
  row.append(
    button(t("mod.action.approve"), () => decide("approve"), "button-primary"),
    button(t("mod.action.reject"), () => decide("reject")),
  );
  li.append(head, message, label, reason, row, status);
  return li;
}

/** The queue read under way, if any. @type {Promise<void> | null} */
let loading = null;
let again = false;

/** @returns {Promise<void>} */
async function load() {
  if (loading) {
    again = true;
    return loading;
  }
  const params = new URLSearchParams({ state: stateSel.value, sort: sortSel.value });
  if (roomSel.value) params.set("channel", roomSel.value);
  loading = (async () => {
    /** @type {ApiResult<import("./mod_types.js").ModQueueBody>} */
    const result = await api("GET", `/api/mod/queue?${params}`);
    if (result.status === 401) {
      location.assign("/login");
      return;
    }
    if (!result.ok) {
      showText(live, errorText(result.error.code));
      return;
    }
    // Keep what a moderator is typing: items whose reason box has text are left in place.
    /** @type {Map<string, HTMLElement>} */
    const typing = new Map();
    for (const el of queueEl.querySelectorAll(".mod-item")) {
      if (!(el instanceof HTMLElement)) continue;
      if (reasonBox(el)?.value) typing.set(`${el.dataset.channel}@${el.dataset.offset}`, el);
    }
    queueEl.replaceChildren(
      ...result.data.messages.map((item) => {
        const kept = typing.get(`${item.channel}@${item.offset}`);
        if (!kept) return flaggedItem(item);
        const fresh = flaggedItem(item);
        part(fresh, ".mod-reason", HTMLInputElement).value = part(kept, ".mod-reason", HTMLInputElement).value;
        return fresh;
      }),
    );
    queueEl.setAttribute("aria-busy", "false");
    byId("mod-empty").hidden = result.data.messages.length > 0;
    heldEl.replaceChildren(...result.data.held.map(heldItem));
    byId("mod-held-empty").hidden = result.data.held.length > 0;
    renderAppeals(byId("mod-appeals"), byId("mod-appeals-empty"), result.data.appeals ?? [], scheduleLoad);
  })();
  try {
    await loading;
  } finally {
    loading = null;
    if (again) {
      again = false;
      load();
    }
  }
}

/** @param {Element} item  a .mod-item */
function reasonBox(item) {
  const box = item.querySelector(".mod-reason");
  return box instanceof HTMLInputElement ? box : null;
}

/** @type {ReturnType<typeof setTimeout> | undefined} */
let timer;
function scheduleLoad() {
  clearTimeout(timer);
  timer = setTimeout(() => {
    load();
    loadFigures();
  }, 50);
}

async function loadFigures() {
  /** @type {ApiResult<import("./types.js").FiguresBody>} */
  const result = await api("GET", `/api/mod/figures?period=${periodSel.value}&count=6`);
  if (!result.ok) return;
  const table = byId("mod-figures");
  const body = part(table, "tbody");
  // Each cell carries its column's name: on a phone the rows are stacked "name: value" lines.
  const names = [...table.querySelectorAll("thead th")].map((th) => th.textContent ?? "");
  body.replaceChildren(
    ...result.data.periods.reverse().map((p) => {
      const tr = node("tr");
      const share = p.handled_within_24h === null ? "–" : `${Math.round(p.handled_within_24h * 100)}%`;
      for (const value of [
        p.label,
        p.flags_received,
        p.messages_flagged,
        p.handled,
        duration(p.time_to_first_action.median_ms),
        duration(p.time_to_first_action.p90_ms),
        share,
      ].entries()) {
        const td = node("td", "", String(value[1]));
        td.dataset.label = names[value[0]] ?? "";
        tr.append(td);
      }
      return tr;
    }),
  );
}

for (const el of [stateSel, sortSel, roomSel]) el.addEventListener("change", () => load());
byId("mod-filters").addEventListener("submit", (event) => {
  event.preventDefault();
  load();
});
periodSel.addEventListener("change", loadFigures);

const wsUrl = socketUrl();
const client = new LinliClient(wsUrl, withBell({
  state(state) {
    showText(live, state === "open" ? t("mod.live") : t("mod.connecting"));
  },
  subscribed() {
    scheduleLoad(); // also after a reconnect: whatever was missed is in the store
  },
  pub(channel) {
    if (channel === "mod:flags") scheduleLoad();
  },
  reset() {
    scheduleLoad();
  },
  ended() {
    location.assign("/login");
  },
}));
client.subscribe("mod:flags");
client.start();
window.linliClient = client;
load();
loadFigures();

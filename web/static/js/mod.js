// The moderators' page: the flag queue loaded over HTTP, then followed live on the `mod:flags`
// channel (any event reloads the queue, so what is shown is always the store's state); actions
// with a reason; held messages; the handling figures. Residents' text reaches the DOM only through
// textContent.
import { LinliClient, socketUrl } from "./client.js";
import { api, showText } from "./common.js";
import { errorText, formatFullTime, formatTime, t } from "./i18n.js";

const queueEl = document.getElementById("mod-queue");
const heldEl = document.getElementById("mod-held");
const live = document.getElementById("mod-live");
const stateSel = document.getElementById("mod-state");
const sortSel = document.getElementById("mod-sort");
const buildingInput = document.getElementById("mod-building");
const periodSel = document.getElementById("mod-period");

const MUTE_CHOICES = [
  [15 * 60, "mod.mute_15m"],
  [60 * 60, "mod.mute_1h"],
  [24 * 3600, "mod.mute_1d"],
  [7 * 24 * 3600, "mod.mute_7d"],
];

function node(tag, className, text) {
  const n = document.createElement(tag);
  if (className) n.className = className;
  if (text !== undefined && text !== null) n.textContent = text;
  return n;
}

function button(label, onClick, className = "button-quiet") {
  const b = node("button", className, label);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

function timeEl(ms) {
  const el = node("time", "", formatTime(ms));
  el.dateTime = new Date(ms).toISOString();
  el.title = formatFullTime(ms);
  return el;
}

function duration(ms) {
  if (ms === null || ms === undefined) return "–";
  const minutes = Math.round(ms / 60000);
  if (minutes < 120) return t("mod.minutes", { count: minutes });
  return t("mod.hours", { count: Math.round(minutes / 6) / 10 });
}

/** The reason box and the action buttons of one flagged message. */
function actionsFor(item, status) {
  const wrap = node("div", "mod-actions");
  const reasonId = `reason-${item.channel}-${item.offset}`;
  const label = node("label", "", t("mod.reason_label"));
  label.htmlFor = reasonId;
  const reason = node("input", "mod-reason");
  reason.id = reasonId;
  reason.maxLength = 500;
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
  const act = async (path, body = {}) => {
    const text = reason.value.trim();
    if (!text) {
      showText(status, t("mod.reason_needed"));
      reason.focus();
      return;
    }
    const result = await api("POST", path, { reason: text, ...body });
    showText(status, result.ok ? t("mod.done") : errorText(result.error.code));
    if (result.ok) scheduleLoad();
  };
  const onMessage = (action) => () =>
    act(`/api/mod/messages/${item.channel}/${item.offset}/${action}`);
  const author = item.author.id;
  const context = { channel: item.channel, offset: item.offset };
  wrap.append(label, reason);
  const row = node("div", "mod-buttons");
  row.append(
    button(t("mod.action.hide"), onMessage("hide")),
    button(t("mod.action.restore"), onMessage("restore")),
    button(t("mod.action.delete"), onMessage("delete")),
    button(t("mod.action.dismiss"), onMessage("dismiss")),
  );
  if (author !== null) {
    row.append(
      button(t("mod.action.warn"), () => act(`/api/mod/users/${author}/warn`, context)),
      mute,
      scope,
      button(t("mod.action.mute"), () =>
        act(`/api/mod/users/${author}/mute`, {
          ...context,
          seconds: Number(mute.value),
          channel_only: scope.value === "here",
        })),
      button(t("mod.action.ban"), () => act(`/api/mod/users/${author}/ban`, context)),
    );
  }
  wrap.append(row);
  return wrap;
}

async function showContext(item, target, toggle) {
  const result = await api("GET", `/api/mod/messages/${item.channel}/${item.offset}/context`);
  if (!result.ok) return;
  const list = node("ol", "mod-context");
  for (const pub of result.data.publications) {
    if (pub.data.kind !== "chat") continue;
    const li = node("li", pub.offset === item.offset ? "mod-context-target" : "");
    li.append(node("span", "author", pub.data.author?.name ?? ""), " ", timeEl(pub.data.ts), " ");
    li.append(node("span", "text", pub.data.text));
    list.append(li);
  }
  target.replaceChildren(list);
  toggle.hidden = true;
}

function flaggedItem(item) {
  const li = node("li", `mod-item mod-${item.visibility}`);
  li.dataset.channel = item.channel;
  li.dataset.offset = String(item.offset);
  const head = node("p", "mod-head");
  head.append(
    node("strong", "mod-count", t("mod.flag_count", { count: item.flag_count })),
    " · ",
    node("span", "mod-channel", item.channel),
    " · ",
    node("span", "mod-visibility", t(`mod.visibility.${item.visibility}`)),
  );
  if (item.auto_hidden) head.append(" · ", node("span", "mod-auto", t("mod.auto_hidden")));
  const message = node("blockquote", "mod-message");
  const by = node("p", "mod-by");
  by.append(node("span", "author", item.author.name), " ", timeEl(item.posted_at));
  message.append(by, node("p", "text", item.text));
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
  const contextBox = node("div", "mod-context-box");
  const toggle = button(t("mod.show_context"), () => showContext(item, contextBox, toggle));
  const status = node("p", "status-line mod-status");
  status.setAttribute("role", "status");
  li.append(head, message, flags, toggle, contextBox, actionsFor(item, status), status);
  return li;
}

function heldItem(held) {
  const li = node("li", "mod-item mod-held-item");
  li.dataset.held = String(held.id);
  const head = node("p", "mod-head");
  head.append(
    node("span", "mod-channel", held.channel),
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
  const decide = async (decision) => {
    const text = reason.value.trim();
    if (!text) {
      showText(status, t("mod.reason_needed"));
      return;
    }
    const result = await api("POST", `/api/mod/held/${held.id}/${decision}`, { reason: text });
    showText(status, result.ok ? t("mod.done") : errorText(result.error.code));
    if (result.ok) scheduleLoad();
  };
  const row = node("div", "mod-buttons");
  row.append(
    button(t("mod.action.approve"), () => decide("approve")),
    button(t("mod.action.reject"), () => decide("reject")),
  );
  li.append(head, message, label, reason, row, status);
  return li;
}

let loading = null;
let again = false;

async function load() {
  if (loading) {
    again = true;
    return loading;
  }
  const params = new URLSearchParams({ state: stateSel.value, sort: sortSel.value });
  const building = buildingInput.value.trim();
  if (/^\d+$/.test(building)) params.set("building", building);
  loading = (async () => {
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
    const typing = new Map();
    for (const el of queueEl.querySelectorAll(".mod-item")) {
      if (el.querySelector(".mod-reason")?.value) typing.set(`${el.dataset.channel}@${el.dataset.offset}`, el);
    }
    queueEl.replaceChildren(
      ...result.data.messages.map((item) => {
        const kept = typing.get(`${item.channel}@${item.offset}`);
        if (!kept) return flaggedItem(item);
        const fresh = flaggedItem(item);
        fresh.querySelector(".mod-reason").value = kept.querySelector(".mod-reason").value;
        return fresh;
      }),
    );
    queueEl.setAttribute("aria-busy", "false");
    document.getElementById("mod-empty").hidden = result.data.messages.length > 0;
    heldEl.replaceChildren(...result.data.held.map(heldItem));
    document.getElementById("mod-held-empty").hidden = result.data.held.length > 0;
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

let timer = null;
function scheduleLoad() {
  clearTimeout(timer);
  timer = setTimeout(() => {
    load();
    loadFigures();
  }, 50);
}

async function loadFigures() {
  const result = await api("GET", `/api/mod/figures?period=${periodSel.value}&count=6`);
  if (!result.ok) return;
  const body = document.querySelector("#mod-figures tbody");
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
      ]) {
        tr.append(node("td", "", String(value)));
      }
      return tr;
    }),
  );
}

for (const el of [stateSel, sortSel, buildingInput]) el.addEventListener("change", () => load());
document.getElementById("mod-filters").addEventListener("submit", (event) => {
  event.preventDefault();
  load();
});
periodSel.addEventListener("change", loadFigures);

const wsUrl = socketUrl();
const client = new LinliClient(wsUrl, {
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
});
client.subscribe("mod:flags");
client.start();
window.linliClient = client;
load();
loadFigures();

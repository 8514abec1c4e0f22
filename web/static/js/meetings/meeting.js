// @ts-check
// An owner's (or resident's) meeting page: the agenda, check in with the door's code, appoint
// a proxy, vote on the open item for every unit one holds, and the live figures.
import { api } from "../common.js";
import { errorText, t } from "../i18n.js";
import { byId, control, node } from "../lib/dom.js";
import { FiguresView } from "./figures.js";
import { fileLinks } from "./files.js";
import { follow, when } from "./live.js";

const section = byId("meeting");
const meetingId = Number(section.dataset.meetingId);
const view = new FiguresView(byId("figures"));
const status = byId("me-status");
const checkinForm = byId("checkin-form", HTMLFormElement);
const proxyForm = byId("proxy-form", HTMLFormElement);
const voteBox = byId("vote-box");
const voteError = byId("vote-error");
/** @type {any} */
let data = null;

/** @param {HTMLElement} el @param {any} error */
function showError(el, error) {
  const key = `meetings.error.${error?.code}`;
  const text = t(key);
  el.textContent = text === key ? errorText(error?.code) : text;
  el.hidden = false;
}

function showMe() {
  if (!data) return;
  const me = data.me;
  const meeting = data.meeting;
  const units = [...me.own, ...me.entrusted];
  const present = new Set(me.present);
  if (!units.length) {
    status.textContent = t("meetings.me.watch_only");
  } else {
    const names = units.map((/** @type {any} */ u) => u.label).join("、");
    const here = units.filter((/** @type {any} */ u) => present.has(u.unit_id));
    status.textContent = present.size
      ? t("meetings.me.present", { units: here.map((/** @type {any} */ u) => u.label).join("、") })
      : t(meeting.state === "open" ? "meetings.me.not_present" : "meetings.me.holds", { units: names });
    status.dataset.present = String(present.size);
  }
  byId("checkout-box").hidden = !present.size || meeting.state !== "open";
  checkinForm.hidden = !units.length || present.size === units.length || meeting.state !== "open";
  // The personal QR for the desk: while the owner has units not yet present.
  const qr = byId("my-qr");
  qr.hidden = !me.checkin_link || present.size === units.length;
  const img = byId("my-qr-img", HTMLImageElement);
  if (!qr.hidden && !img.src) img.src = `/api/meetings/${meeting.id}/my-qr.svg`;
  proxyForm.hidden = !me.own.length || meeting.state === "closed" || me.own.every((/** @type {any} */ u) => present.has(u.unit_id));
  const given = byId("proxy-given");
  given.textContent = me.my_proxies.length
    ? t("meetings.proxy.given", { name: me.my_proxies[0].name })
    : "";
  showVote();
}

function showVote() {
  const figures = view.current;
  const item = figures?.item;
  const me = data?.me;
  const open = item && item.state === "open" && item.resolution;
  voteBox.hidden = !open || !me || !me.present.length;
  if (!open || !me) return;
  byId("vote-title").textContent = t("meetings.item.heading", { n: item.position, title: item.title });
  const voted = me.voted[String(item.id)] ?? [];
  const done = voted.length >= me.present.length;
  byId("vote-done").hidden = !done;
  for (const b of voteBox.querySelectorAll("button[data-choice]")) {
    /** @type {HTMLButtonElement} */ (b).disabled = done;
  }
}

async function load() {
  const result = await api("GET", `/api/meetings/${meetingId}`);
  if (!result.ok) {
    byId("meeting-title").textContent = t("meetings.not_found");
    return;
  }
  data = result.data;
  const m = data.meeting;
  byId("meeting-title").textContent = m.title;
  byId("meeting-when").textContent = t("meetings.when_where", { when: when(m.starts_at), place: m.place });
  byId("meeting-state").textContent = t(`meetings.state.${m.state}`);
  const agenda = byId("agenda", HTMLOListElement);
  agenda.replaceChildren(...m.items.map((/** @type {any} */ i) => {
    const li = node("li", "mt-agenda-item");
    li.append(node("strong", "", i.title));
    if (i.explanation) li.append(node("p", "hint", i.explanation));
    const state = i.result ? t(`meetings.result.${i.result}`) : t(`meetings.item.state.${i.state}`);
    li.append(node("p", "mt-agenda-state", state));
    const files = fileLinks(i);
    if (files) li.append(files);
    return li;
  }));
  const minutes = byId("minutes-link", HTMLAnchorElement);
  minutes.hidden = m.minutes_state !== "published";
  minutes.href = `/meetings/${meetingId}/print`;
  const notice = byId("minutes-notice", HTMLAnchorElement);
  notice.hidden = !m.minutes_notice_id;
  if (m.minutes_notice_id) notice.href = `/notices/${m.minutes_notice_id}`;
  byId("run-link").hidden = !data.me.staff;
  view.apply(data.figures);
  showMe();
}

function showQuestions() {
  const figures = view.current;
  const list = byId("qa-list", HTMLOListElement);
  const shown = (figures?.questions ?? []).filter((q) => q.state !== "hidden");
  list.replaceChildren(...shown.map((q) => {
    const li = node("li", "mt-question");
    li.append(node("span", "", q.text));
    if (q.state === "answered") {
      li.append(node("span", "mt-answered", ` ${t("meetings.qa.answered")}`));
    } else {
      const up = node("button", "button-quiet", t("meetings.qa.upvote", { votes: q.votes }));
      up.type = "button";
      up.addEventListener("click", async () => {
        await api("POST", `/api/meetings/${meetingId}/questions/${q.id}/upvote`, {});
        up.disabled = true;
      });
      li.append(up);
    }
    return li;
  }));
}

view.onChange = () => {
  showVote();
  showQuestions();
};

const askForm = byId("ask-form", HTMLFormElement);
askForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = byId("ask-error");
  error.hidden = true;
  const text = control(askForm, "text").value.trim();
  const result = await api("POST", `/api/meetings/${meetingId}/questions`, { text });
  if (!result.ok) return showError(error, result.error);
  control(askForm, "text").value = "";
  byId("ask-done").textContent = t("meetings.qa.queued");
});
follow(meetingId, (figures) => {
  const before = view.current?.item?.state;
  if (view.apply(figures) && (figures.item?.state !== before || figures.state !== data?.meeting.state)) load();
}, {
  // Checked in at the desk (QR, the printed list) or out: say so at once, then read the rest.
  attendance: (present) => {
    if (!data) return;
    data.me.present = present;
    showMe();
    load();
  },
  reopened: () => load(),
});

byId("checkout-button").addEventListener("click", async () => {
  const error = byId("checkout-error");
  error.hidden = true;
  const result = await api("POST", `/api/meetings/${meetingId}/checkout`, {});
  if (!result.ok) return showError(error, result.error);
  await load();
});

checkinForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = byId("checkin-error");
  error.hidden = true;
  const code = control(checkinForm, "code").value.trim();
  const result = await api("POST", `/api/meetings/${meetingId}/checkin`, { code });
  if (!result.ok) return showError(error, result.error);
  await load();
});

proxyForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = byId("proxy-error");
  error.hidden = true;
  const username = control(proxyForm, "username").value.trim();
  const result = await api("POST", `/api/meetings/${meetingId}/proxies`, { username });
  if (!result.ok) return showError(error, result.error);
  await load();
});

for (const button of voteBox.querySelectorAll("button[data-choice]")) {
  button.addEventListener("click", async () => {
    const item = view.current?.item;
    if (!item) return;
    voteError.hidden = true;
    const choice = /** @type {HTMLButtonElement} */ (button).dataset.choice;
    // A retry after a dropped connection is refused as "voted already": counted once.
    const result = await api("POST", `/api/meetings/${meetingId}/items/${item.id}/vote`, { choice });
    if (!result.ok && result.error.code !== "meeting_already_voted") return showError(voteError, result.error);
    byId("vote-done").textContent = t("meetings.vote.done", { choice: t(`meetings.choice.${choice}`) });
    await load();
  });
}

const code = section.dataset.code;
if (code) control(checkinForm, "code").value = code;
load();

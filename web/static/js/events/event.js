// @ts-check
// An event's page: what, when, where and the places left (live from the event's channel); the
// sign-up form (seats, questions) or the reader's own sign-up — confirmed with its QR code and
// short code for the door, waitlisted with its position, or offered with a confirm button. A
// promotion shows while the page is open: a count with a higher version reloads the reader's
// own sign-up.
import { api, busy } from "../common.js";
import { LinliClient, socketUrl } from "../client.js";
import { t } from "../i18n.js";
import { withBell } from "../lib/bell.js";
import { byId } from "../lib/dom.js";
import { LiveCounts, countsText, eventError, requestKey, sessionTime, signupText, when } from "./shared.js";

/** @typedef {import("./shared.js").EventInfo} EventInfo */
/** @typedef {import("./shared.js").Signup} Signup */
/** @typedef {import("./shared.js").Counts} Counts */

const root = byId("event");
const eventId = Number(root.dataset.eventId);
const live = new LiveCounts();
/** @type {EventInfo | null} */
let shown = null;
/** @type {Signup[]} */
let mine = [];
/** One key per sign-up attempt: pressing again after a lost reply takes no second place. */
let pendingKey = requestKey();

function showCounts() {
  if (!shown) return;
  const sessions = byId("event-sessions", HTMLUListElement);
  sessions.replaceChildren(
    ...shown.sessions.map((session) => {
      const item = document.createElement("li");
      const c = live.bySession.get(session.id);
      const label = session.label ? `${session.label}: ` : "";
      item.textContent = `${label}${sessionTime(session)} — ${c ? countsText(c) : ""}`;
      item.dataset.sessionId = String(session.id);
      return item;
    }),
  );
}

function showMine() {
  const box = byId("event-mine");
  const form = byId("signup-form", HTMLFormElement);
  const open = shown?.state === "open" && Date.now() < (shown?.signup_closes ?? 0);
  const taken = new Set(mine.map((s) => s.session_id));
  form.hidden = !open || !shown || shown.sessions.every((s) => taken.has(s.id));
  box.replaceChildren(
    ...mine.map((signup) => {
      const part = document.createElement("div");
      part.className = `event-signup event-${signup.state}`;
      const status = document.createElement("p");
      status.className = "event-status";
      status.textContent = signupText(signup);
      part.append(status);
      if (signup.state === "confirmed" && signup.code) {
        const img = document.createElement("img");
        img.src = `/api/signups/${signup.id}/qr.svg`;
        img.alt = t("events.qr_alt", { code: signup.code });
        img.className = "event-qr";
        img.width = 220;
        img.height = 220;
        const code = document.createElement("p");
        code.className = "event-code";
        code.textContent = t("events.your_code", { code: signup.code });
        part.append(img, code);
      }
      if (signup.state === "offered") part.append(button("events.confirm", `/api/signups/${signup.id}/confirm`));
      part.append(button("events.cancel", `/api/signups/${signup.id}/cancel`, "events.cancel_ask"));
      return part;
    }),
  );
}

/**
 * @param {string} label
 * @param {string} path
 * @param {string} [ask]
 */
function button(label, path, ask) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = t(label);
  b.className = label === "events.confirm" ? "button-primary" : "";
  b.addEventListener("click", async () => {
    if (ask && !confirm(t(ask))) return;
    await busy(b, async () => {
      const result = await api("POST", path, {});
      if (!result.ok) showError(eventError(result.error));
      await load();
    });
  });
  return b;
}

/** @param {string} text */
function showError(text) {
  const error = byId("form-error");
  error.textContent = text;
  error.hidden = !text;
}

async function load() {
  /** @type {import("../types.js").ApiResult<{ event: EventInfo, counts: Counts[], mine: Signup[], runs_events: boolean }>} */
  const result = await api("GET", `/api/events/${eventId}`);
  if (!result.ok) {
    byId("event-title").textContent = eventError(result.error);
    return;
  }
  const first = shown === null;
  shown = result.data.event;
  mine = result.data.mine;
  live.apply(result.data.counts);
  if (first) render(shown, result.data.runs_events);
  showCounts();
  showMine();
}

/**
 * @param {EventInfo} event
 * @param {boolean} runs
 */
function render(event, runs) {
  byId("event-title").textContent = event.title;
  document.title = event.title;
  byId("event-when").textContent = `${when(event.starts_at)} · ${event.place}`;
  // body_html is sanitised on the server (linli.richtext: markdown-it without raw HTML, then nh3).
  byId("event-body").innerHTML = event.body_html;
  byId("event-cost").textContent = event.cost_note;
  byId("event-state").textContent = event.state === "cancelled" ? t("events.state.cancelled") : "";
  byId("event-ics", HTMLAnchorElement).href = `/events/${event.id}.ics`;
  byId("event-manage").hidden = !runs;
  byId("event-manage", HTMLAnchorElement).href = `/events/${event.id}/manage`;
  const seats = byId("seats", HTMLInputElement);
  seats.max = String(event.max_seats);
  byId("seats-field").hidden = event.max_seats <= 1;
  const select = byId("session", HTMLSelectElement);
  select.replaceChildren(
    ...event.sessions.map((s) => new Option(`${s.label ? s.label + " " : ""}${sessionTime(s)}`, String(s.id))),
  );
  byId("session-field").hidden = event.sessions.length <= 1;
  byId("questions").replaceChildren(
    ...event.questions.map((q, i) => {
      const field = document.createElement("div");
      field.className = "field";
      const label = document.createElement("label");
      label.htmlFor = `answer-${i}`;
      label.textContent = q.text;
      /** @type {HTMLInputElement | HTMLSelectElement} */
      let input;
      if (q.choices) {
        input = document.createElement("select");
        for (const c of q.choices) input.add(new Option(c, c));
      } else {
        input = document.createElement("input");
        input.maxLength = 200;
      }
      input.id = `answer-${i}`;
      input.className = "event-answer";
      field.append(label, input);
      return field;
    }),
  );
}

byId("signup-form", HTMLFormElement).addEventListener("submit", async (submit) => {
  submit.preventDefault();
  if (!shown) return;
  const answers = [...document.querySelectorAll(".event-answer")].map(
    (el) => /** @type {HTMLInputElement} */ (el).value,
  );
  const sessionId = Number(byId("session", HTMLSelectElement).value || shown.sessions[0].id);
  const body = { request_key: pendingKey, seats: Number(byId("seats", HTMLInputElement).value) || 1, answers };
  await busy(byId("signup-submit", HTMLButtonElement), async () => {
    const result = await api("POST", `/api/events/${eventId}/sessions/${sessionId}/signups`, body);
    if (!result.ok && result.error.code === "network") {
      showError(eventError(result.error)); // the same key next time: a lost reply takes no second place
      return;
    }
    pendingKey = requestKey();
    showError(result.ok ? "" : eventError(result.error));
    await load();
  });
});

const client = new LinliClient(socketUrl(), withBell({
  pub: (_channel, pub) => {
    const data = /** @type {import("./shared.js").CountsData} */ (/** @type {unknown} */ (pub.data));
    if (data?.kind !== "counts") return;
    if (live.apply(data.sessions)) {
      showCounts();
      load(); // the reader's own place may have changed (a promotion)
    }
  },
}));
client.start();
client.subscribe(`event:${eventId}`);
load();

// @ts-check
// The events page: the events of the reader's audience with their places left and the reader's
// own sign-up; organisers create an event here.
import { api, busy } from "../common.js";
import { page, t } from "../i18n.js";
import { byId } from "../lib/dom.js";
import { countsText, eventError, signupText, when } from "./shared.js";

/** @typedef {import("./shared.js").EventInfo} EventInfo */
/** @typedef {import("./shared.js").Counts} Counts */
/** @typedef {import("./shared.js").Signup} Signup */

const list = byId("event-list", HTMLUListElement);

async function load() {
  /** @type {import("../types.js").ApiResult<{ events: (EventInfo & { counts: Counts[], mine: Signup | null })[] }>} */
  const result = await api("GET", "/api/events");
  if (!result.ok) return;
  const now = Date.now();
  const events = result.data.events;
  byId("event-none").hidden = events.length > 0;
  list.replaceChildren(
    ...events.map((event) => {
      const item = document.createElement("li");
      item.className = "event-item" + (event.ends_at < now ? " event-past" : "");
      const link = document.createElement("a");
      link.href = `/events/${event.id}`;
      link.textContent = event.title;
      const facts = document.createElement("p");
      facts.textContent = `${when(event.starts_at)} · ${event.place}`;
      const places = document.createElement("p");
      places.className = "event-places";
      places.textContent =
        event.state === "cancelled" ? t("events.state.cancelled") : event.counts.map(countsText).join(" · ");
      item.append(link, facts, places);
      if (event.mine) {
        const mine = document.createElement("p");
        mine.className = "event-mine";
        mine.textContent = signupText(event.mine);
        item.append(mine);
      }
      return item;
    }),
  );
}

const WEEK_MS = 7 * 86_400_000;

/**
 * "Vegetarian? Yes / No" is a choice question; a line without " / " takes a written answer.
 * @param {string} text
 */
function parseQuestions(text) {
  return text.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
    const [question, rest] = l.split(/[?？]\s*/, 2);
    const choices = rest ? rest.split("/").map((c) => c.trim()).filter(Boolean) : [];
    const mark = l.includes("？") ? "？" : "?";
    return choices.length >= 2 ? { text: question + mark, choices } : { text: l, choices: null };
  });
}

const form = document.getElementById("new-event");
if (form instanceof HTMLFormElement) {
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    const value = (/** @type {string} */ id) => byId(id, HTMLInputElement).value;
    const time = (/** @type {string} */ id) => (value(id) ? new Date(value(id)).getTime() : null);
    const start = time("ev-start") ?? 0;
    const end = time("ev-end") ?? 0;
    const error = byId("new-error");
    const repeat = Math.max(1, Number(value("ev-repeat")) || 1);
    const capacity = Number(value("ev-capacity"));
    const sessions = Array.from({ length: repeat }, (_, i) => ({
      label: repeat > 1 ? t("events.new.week", { n: i + 1 }) : "",
      starts_at: start + i * WEEK_MS,
      ends_at: end + i * WEEK_MS,
      capacity,
    }));
    const kind = byId("ev-audience", HTMLSelectElement).value;
    const group = value("ev-group").trim().toLowerCase();
    const building = page.user?.building_id;
    const audience =
      kind === "group" ? { group } : kind === "building" && building ? { buildings: [building] } : { everyone: true };
    const room = !byId("ev-card", HTMLInputElement).checked
      ? null
      : kind === "group" ? `group:${group}` : building ? `building:${building}` : null;
    const body = {
      title: value("ev-title"),
      place: value("ev-place"),
      body: byId("ev-body", HTMLTextAreaElement).value,
      audience,
      room,
      counting: byId("ev-household", HTMLInputElement).checked ? "household" : "person",
      max_seats: Number(value("ev-seats")) || 1,
      signup_opens: time("ev-opens") ?? Date.now() - 60_000,
      signup_closes: time("ev-closes") ?? start,
      cancel_until: time("ev-cancel"),
      questions: parseQuestions(byId("ev-questions", HTMLTextAreaElement).value),
      cost_note: value("ev-cost"),
      confirm_hours: Number(value("ev-confirm")) || null,
      remind_hours: Number(value("ev-remind")) || null,
      // A training session (教學說明會): listed on the welcome page and the handbook.
      training: byId("ev-training", HTMLInputElement).checked,
      sessions,
    };
    await busy(byId("new-submit", HTMLButtonElement), async () => {
      const result = await api("POST", "/api/events", body);
      if (!result.ok) {
        error.textContent = eventError(result.error);
        error.hidden = false;
        return;
      }
      location.href = `/events/${result.data.event.id}`;
    });
  });
}

/** @param {"GET" | "POST"} method @param {string} path */
async function showFeed(method, path) {
  const r = await api(method, path, method === "POST" ? {} : undefined);
  if (!r.ok) return;
  const url = byId("feed-url");
  url.textContent = r.data.url;
  url.hidden = false;
  byId("feed-revoke").hidden = false;
}
byId("feed-show").addEventListener("click", () => showFeed("GET", "/api/events/feed"));
byId("feed-revoke").addEventListener("click", () => {
  if (confirm(t("events.calendar_revoke_ask"))) showFeed("POST", "/api/events/feed/revoke");
});

load();

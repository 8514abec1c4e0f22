// @ts-check
// The organiser's view of an event: live counts, every sign-up with its answers, state,
// waitlist position and attendance; a session's capacity; removing a sign-up; the CSV; a
// message to everyone signed up; cancelling the event.
import { api, busy } from "../common.js";
import { LinliClient, socketUrl } from "../client.js";
import { t } from "../i18n.js";
import { withBell } from "../lib/bell.js";
import { byId } from "../lib/dom.js";
import { LiveCounts, countsText, eventError, sessionTime, when } from "./shared.js";

/** @typedef {import("./shared.js").EventInfo} EventInfo */
/** @typedef {import("./shared.js").Counts} Counts */
/** @typedef {import("./shared.js").Signup & { name: string, unit: string | null, checked_in_by: string | null, code: string }} Row */

const root = byId("manage");
const eventId = Number(root.dataset.eventId);
const live = new LiveCounts();
/** @type {EventInfo | null} */
let shown = null;

function showCounts() {
  if (!shown) return;
  byId("manage-counts").replaceChildren(
    ...shown.sessions.map((s) => {
      const c = live.bySession.get(s.id);
      const item = document.createElement("li");
      item.textContent = `${s.label ? s.label + " " : ""}${sessionTime(s)} — ${c ? countsText(c) : ""} · ${t("events.checked_in", { n: c?.checked_in ?? 0 })}`;
      const input = document.createElement("input");
      input.type = "number";
      input.min = "0";
      input.value = String(s.capacity);
      input.className = "capacity-input";
      input.setAttribute("aria-label", t("events.capacity"));
      const save = document.createElement("button");
      save.type = "button";
      save.textContent = t("events.capacity_save");
      save.addEventListener("click", () =>
        busy(save, async () => {
          const r = await api("POST", `/api/events/${eventId}/sessions/${s.id}/capacity`, { capacity: Number(input.value) });
          say(r.ok ? t("events.saved") : eventError(r.error));
          await load();
        }),
      );
      item.append(" ", input, " ", save);
      return item;
    }),
  );
}

/** @param {string} text */
function say(text) {
  byId("manage-status").textContent = text;
}

async function load() {
  /** @type {import("../types.js").ApiResult<{ event: EventInfo, counts: Counts[], signups: Row[] }>} */
  const result = await api("GET", `/api/events/${eventId}/signups`);
  if (!result.ok) {
    say(eventError(result.error));
    return;
  }
  shown = result.data.event;
  live.apply(result.data.counts);
  byId("manage-title").textContent = shown.title;
  byId("manage-csv", HTMLAnchorElement).href = `/api/events/${eventId}/export.csv`;
  byId("manage-checkin", HTMLAnchorElement).href = `/events/${eventId}/checkin`;
  const head = byId("answers-head", HTMLTableRowElement);
  for (const old of head.querySelectorAll(".answer-head")) old.remove();
  for (const q of shown.questions) {
    const th = document.createElement("th");
    th.scope = "col";
    th.className = "answer-head";
    th.textContent = q.text;
    head.insertBefore(th, byId("actions-head"));
  }
  showCounts();
  const rows = result.data.signups;
  byId("manage-rows").replaceChildren(
    ...rows.map((r) => {
      const tr = document.createElement("tr");
      const state = r.state === "waitlisted" ? t("events.state.waitlisted_n", { position: r.position ?? "?" }) : t(`events.state.${r.state}`);
      const attendance = r.attendance ? t(`events.attendance.${r.attendance}`) : "";
      const checked = r.checked_in_at ? `${when(r.checked_in_at)} ${r.checked_in_by ?? ""}` : "";
      for (const text of [r.name, r.unit ?? "", String(r.seats), state, attendance, checked, ...r.answers]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.append(td);
      }
      const td = document.createElement("td");
      if (["confirmed", "offered", "waitlisted"].includes(r.state)) {
        const remove = document.createElement("button");
        remove.type = "button";
        remove.textContent = t("events.remove");
        remove.addEventListener("click", async () => {
          if (!confirm(t("events.remove_ask", { name: r.name }))) return;
          await busy(remove, async () => {
            const res = await api("POST", `/api/events/${eventId}/signups/${r.id}/remove`, {});
            say(res.ok ? t("events.removed") : eventError(res.error));
            await load();
          });
        });
        td.append(remove);
      }
      tr.append(td);
      return tr;
    }),
  );
}

byId("message-form", HTMLFormElement).addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const text = byId("message-text", HTMLTextAreaElement);
  await busy(byId("message-send", HTMLButtonElement), async () => {
    const r = await api("POST", `/api/events/${eventId}/message`, { text: text.value });
    say(r.ok ? t("events.message_sent", { n: r.data.recipients }) : eventError(r.error));
    if (r.ok) text.value = "";
  });
});

byId("cancel-event", HTMLButtonElement).addEventListener("click", async () => {
  if (!confirm(t("events.cancel_event_ask"))) return;
  const r = await api("POST", `/api/events/${eventId}/cancel`, {});
  say(r.ok ? t("events.state.cancelled") : eventError(r.error));
  await load();
});

const client = new LinliClient(socketUrl(), withBell({
  pub: (_channel, pub) => {
    const data = /** @type {import("./shared.js").CountsData} */ (/** @type {unknown} */ (pub.data));
    if (data?.kind === "counts" && live.apply(data.sessions)) load();
  },
}));
client.start();
client.subscribe(`event:${eventId}`);
load();

// @ts-check
// The event card in a chat room: the event's name, time and places left, kept live from its
// `event:<id>` channel (subscribed through the chat page's own connection), and a link to sign
// up. Registered with lib/cards.js; the chat page imports this module and knows nothing else.
import { api } from "../common.js";
import { t } from "../i18n.js";
import { cardKinds } from "../lib/cards.js";
import { LiveCounts, countsText, when } from "./shared.js";

/** @type {Map<number, { cards: Set<HTMLElement>, live: LiveCounts }>} */
const events = new Map();

/** @param {number} id */
function draw(id) {
  const entry = events.get(id);
  if (!entry) return;
  const text = [...entry.live.bySession.values()].map(countsText).join(" · ");
  for (const card of entry.cards) {
    const places = card.querySelector(".event-card-places");
    if (places) places.textContent = text;
  }
}

/** @param {number} id */
async function follow(id) {
  const entry = { cards: new Set(/** @type {HTMLElement[]} */ ([])), live: new LiveCounts() };
  events.set(id, entry);
  /** @type {any} */
  const w = window;
  w.linliClient?.subscribe(`event:${id}`);
  const result = await api("GET", `/api/events/${id}`);
  if (!result.ok) return entry;
  entry.live.apply(result.data.counts);
  for (const card of entry.cards) {
    const title = card.querySelector(".event-card-title");
    if (title) title.textContent = result.data.event.title;
    const time = card.querySelector(".event-card-when");
    if (time) time.textContent = `${when(result.data.event.starts_at)} · ${result.data.event.place}`;
  }
  draw(id);
  return entry;
}

cardKinds.set("event", {
  render(card) {
    const link = document.createElement("a");
    link.className = "event-card";
    link.href = `/events/${card.id}`;
    // The chat page does not load events.css: the few rules here (CSSOM, allowed by the CSP).
    Object.assign(link.style, {
      display: "block", border: "2px solid #0b5394", borderRadius: "0.5rem",
      padding: "0.6rem", margin: "0.4rem 0", textDecoration: "none",
    });
    const title = document.createElement("strong");
    title.className = "event-card-title";
    title.textContent = t("events.title");
    const time = document.createElement("span");
    time.className = "event-card-when";
    const places = document.createElement("span");
    places.className = "event-card-places";
    const action = document.createElement("span");
    action.className = "event-card-action";
    action.textContent = t("events.card_open");
    link.append(title, " ", time, " ", places, " ", action);
    const known = events.get(card.id);
    if (known) {
      known.cards.add(link);
      draw(card.id);
    } else {
      follow(card.id).then((entry) => {
        entry.cards.add(link);
        draw(card.id);
      });
      events.get(card.id)?.cards.add(link);
    }
    return link;
  },
  pub(channel, data) {
    if (!channel.startsWith("event:")) return;
    const counts = /** @type {import("./shared.js").CountsData} */ (data);
    if (counts?.kind !== "counts") return;
    const entry = events.get(counts.event_id);
    if (entry && entry.live.apply(counts.sessions)) draw(counts.event_id);
  },
});

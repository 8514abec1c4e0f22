// @ts-check
// The projector view: no login, the token in the address is the key. A snapshot over HTTP, then
// the live figures as server-sent events (EventSource reconnects by itself; each event is a
// whole snapshot with its version, so a reconnect only needs the next one).
import { page, t } from "../i18n.js";
import { byId } from "../lib/dom.js";
import { FiguresView } from "./figures.js";

const view = new FiguresView(byId("p-figures"), { big: true });
const token = page.token ?? "";

async function start() {
  const response = await fetch(`/api/meetings/projector/${encodeURIComponent(token)}`);
  if (!response.ok) {
    byId("p-title").textContent = t("meetings.not_found");
    return;
  }
  const body = await response.json();
  byId("p-title").textContent = body.meeting.title;
  byId("p-code").textContent = body.meeting.checkin_code;
  view.apply(body.figures);
  const events = new EventSource(`/api/meetings/projector/${encodeURIComponent(token)}/events`);
  events.onmessage = (event) => {
    const data = JSON.parse(event.data);
    if (data.kind === "meeting") view.apply(data);
  };
}

const fullscreen = byId("p-fullscreen");
fullscreen.addEventListener("click", () => document.documentElement.requestFullscreen?.());
start();

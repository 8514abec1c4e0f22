// The projector view: no login, the token in the address is the key. A snapshot over HTTP, then
// the live tallies as server-sent events (EventSource reconnects by itself; each event is a
// whole snapshot, so a reconnect only needs the next one).
import { TallyView } from "./poll-bars.js";
import { page, t } from "./i18n.js";

const view = new TallyView(document.getElementById("bars"), document.getElementById("voters"));
const stateLine = document.getElementById("state");

function showState(tally) {
  stateLine.textContent = t(`poll.state.${tally.state}`);
  document.body.dataset.state = tally.state;
}

async function start() {
  const response = await fetch(`/api/projector/${encodeURIComponent(page.token)}`);
  if (!response.ok) {
    document.getElementById("question").textContent = t("poll.not_found");
    return;
  }
  const { poll, tally } = await response.json();
  document.getElementById("question").textContent = poll.question;
  document.getElementById("join-code").textContent = poll.join_code;
  document.getElementById("join-url").textContent = `${location.host}/p/${poll.join_code}`;
  view.setOptions(poll.options);
  if (view.apply(tally)) showState(tally);
  const events = new EventSource(`/api/projector/${encodeURIComponent(page.token)}/events`);
  events.onmessage = (event) => {
    const data = JSON.parse(event.data);
    if (data.kind === "tally" && view.apply(data)) showState(data);
  };
}

const fullscreen = document.getElementById("fullscreen");
fullscreen.addEventListener("click", () => document.documentElement.requestFullscreen?.());
document.addEventListener("fullscreenchange", () => {
  fullscreen.hidden = Boolean(document.fullscreenElement);
});

start();

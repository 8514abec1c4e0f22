// @ts-check
// The projector view: no login, the token in the address is the key. A snapshot over HTTP, then
// the live tallies as server-sent events (EventSource reconnects by itself; each event is a
// whole snapshot, so a reconnect only needs the next one). Once the poll closes the screen says
// so in a banner, highlights the winning option (all of them on a tie) and drops the QR code and
// the "vote at" line: nobody should try to vote any more.
import { TallyView } from "./poll-bars.js";
import { page, t } from "./i18n.js";
import { byId } from "./lib/dom.js";

/** @typedef {import("./types.js").TallyData} TallyData */

const view = new TallyView(byId("bars", HTMLOListElement), byId("voters"));
const stateLine = byId("state");
// The projector page is rendered with its token (web/polls/pages.py).
const token = page.token ?? "";
/** @type {string[]} */
let options = [];

/** @param {TallyData} tally */
function showState(tally) {
  const closed = tally.state === "closed";
  stateLine.textContent = t(`poll.state.${tally.state}`);
  document.body.dataset.state = tally.state;
  byId("closed-banner").hidden = !closed;
  byId("join-box").hidden = closed;
  stateLine.hidden = closed;
  const counts = tally.counts;
  const top = closed && counts && tally.voters > 0 ? Math.max(...counts) : 0;
  const winners = [];
  for (const item of byId("bars").children) {
    if (!(item instanceof HTMLElement)) continue;
    const index = Number(item.dataset.option);
    const wins = top > 0 && counts?.[index] === top;
    if (wins) {
      item.dataset.winner = "true";
      winners.push(options[index]);
    } else {
      delete item.dataset.winner;
    }
  }
  const winner = byId("winner");
  winner.hidden = winners.length === 0;
  winner.textContent =
    winners.length > 1
      ? t("polls.projector.tie", { options: winners.join("、") })
      : winners.length === 1
        ? t("polls.projector.winner", { option: winners[0] })
        : "";
}

async function start() {
  const response = await fetch(`/api/projector/${encodeURIComponent(token)}`);
  if (!response.ok) {
    byId("question").textContent = t("polls.projector.missing_title");
    byId("join-box").hidden = true;
    return;
  }
  /** @type {import("./types.js").ProjectorBody} */
  const { poll, tally } = await response.json();
  options = poll.options;
  byId("question").textContent = poll.question;
  byId("join-code").textContent = poll.join_code;
  byId("join-url").textContent = `${location.host}/p/${poll.join_code}`;
  document.body.dataset.options = String(poll.options.length);
  view.setOptions(poll.options);
  if (view.apply(tally)) showState(tally);
  const events = new EventSource(`/api/projector/${encodeURIComponent(token)}/events`);
  events.onmessage = (event) => {
    /** @type {import("./types.js").PublicationData} */
    const data = JSON.parse(event.data);
    if (data.kind === "tally" && view.apply(data)) showState(data);
  };
}

const fullscreen = byId("fullscreen");
fullscreen.addEventListener("click", () => document.documentElement.requestFullscreen?.());
document.addEventListener("fullscreenchange", () => {
  fullscreen.hidden = Boolean(document.fullscreenElement);
});

start();

// @ts-check
// A resident's poll page: the question, a vote (sent over the WebSocket with a client_vote_id,
// so a resend after a dropped connection counts once), the own (or household's) vote, and the
// live results from the poll's channel.
import { api } from "./common.js";
import { LinliClient, newClientMsgId, socketUrl } from "./client.js";
import { TallyView } from "./poll-bars.js";
import { errorText, formatFullTime, t } from "./i18n.js";
import { withBell } from "./lib/bell.js";
import { byId } from "./lib/dom.js";

/** @typedef {import("./types.js").Poll} Poll */
/** @typedef {import("./types.js").TallyData} TallyData */

const section = byId("poll");
const pollId = Number(section.dataset.pollId);
const form = byId("poll-form", HTMLFormElement);
const status = byId("poll-status");
const mine = byId("poll-mine");
const formError = byId("form-error");
const view = new TallyView(byId("poll-bars", HTMLOListElement), byId("poll-voters"));
/** @type {Poll | null} */
let poll = null;
/** The newest tally that came before the poll itself (subscribed first, so none is missed).
 * @type {TallyData | null} */
let early = null;
/** Whether the reader (or their household) has a vote in. */
let voted = false;

/** @param {TallyData} tally */
function showTally(tally) {
  if (!poll || !view.apply(tally)) return;
  poll.state = tally.state;
  status.textContent = t(`poll.state.${tally.state}`);
  form.hidden = tally.state !== "open" || (voted && !poll.allow_change);
  scheduleVoters();
}

// -- who voted (organisers, named polls) -------------------------------------------------------

const who = document.getElementById("who-voted");
/** @type {ReturnType<typeof setTimeout> | undefined} */
let whoTimer;

/** A tally changed: read the voters again soon (at most once a second, however many come). */
function scheduleVoters() {
  if (!who || !poll || poll.anonymous || poll.state === "draft" || whoTimer) return;
  whoTimer = setTimeout(() => {
    whoTimer = undefined;
    loadVoters();
  }, 1000);
}

async function loadVoters() {
  if (!who || !poll) return;
  /** @type {import("./types.js").ApiResult<import("./types.js").PollVotesBody>} */
  const result = await api("GET", `/api/polls/${pollId}/votes`);
  if (!result.ok) return;
  const options = poll.options;
  const rows = result.data.votes.map((v) => {
    const tr = document.createElement("tr");
    const cells = [
      v.name,
      v.unit ?? "",
      v.choices ? v.choices.map((c) => options[c]).join(" · ") : t("poll.hidden_until_close"),
      formatFullTime(v.cast_at),
    ];
    for (const text of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  });
  byId("who-list").replaceChildren(...rows);
  byId("who-none").hidden = rows.length > 0;
  who.hidden = false;
}

/** @param {import("./types.js").MyVote | null} vote */
function showMine(vote) {
  if (!poll || !vote) {
    mine.hidden = true;
    return;
  }
  const options = poll.options;
  const names = vote.choices.map((c) => options[c]).join(" · ");
  mine.textContent = t(vote.by_me ? "poll.your_vote" : "poll.unit_voted", { choices: names });
  mine.hidden = false;
  // Voted: the button now says what another press does (or the form goes, when no change is allowed).
  const submit = byId("poll-submit");
  submit.textContent = submit.dataset.change ?? submit.textContent;
  voted = true;
  if (!poll.allow_change) form.hidden = true;
  for (const input of form.querySelectorAll("input[name=choice]")) {
    if (input instanceof HTMLInputElement) input.checked = vote.choices.includes(Number(input.value));
  }
}

const wsUrl = socketUrl();
const client = new LinliClient(wsUrl, withBell({
  pub: (_channel, pub) => {
    if (pub.data?.kind !== "tally") return;
    if (poll) showTally(pub.data);
    else if (!early || pub.data.version > early.version) early = pub.data;
  },
}));

async function load() {
  // Subscribe before reading the snapshot: a tally published in between still arrives, and the
  // higher version wins whichever order they come in.
  client.start();
  client.subscribe(`poll:${pollId}`);
  /** @type {import("./types.js").ApiResult<import("./types.js").PollBody>} */
  const result = await api("GET", `/api/polls/${pollId}`);
  if (!result.ok) {
    byId("poll-question").textContent = t("poll.not_found");
    return;
  }
  const shown = result.data.poll;
  poll = shown;
  byId("poll-question").textContent = shown.question;
  byId("poll-legend").textContent = t(shown.multiple ? "poll.pick_many" : "poll.pick_one");
  // A named poll says so before anyone chooses: the organiser will see the choice.
  byId("poll-named").hidden = shown.anonymous;
  const options = byId("poll-options");
  options.replaceChildren(
    ...shown.options.map((text, index) => {
      const label = document.createElement("label");
      label.className = "check poll-option";
      const input = document.createElement("input");
      input.type = shown.multiple ? "checkbox" : "radio";
      input.name = "choice";
      input.value = String(index);
      label.append(input, document.createTextNode(` ${text}`));
      return label;
    }),
  );
  view.setOptions(shown.options);
  showTally(result.data.tally);
  if (early) showTally(early);
  showMine(result.data.my_vote);
  if (!shown.anonymous && shown.state !== "draft") loadVoters();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const choices = [...form.querySelectorAll("input[name=choice]:checked")].map((el) =>
    Number(/** @type {HTMLInputElement} */ (el).value),
  );
  formError.hidden = true;
  if (!choices.length) {
    formError.textContent = t("poll.pick_one");
    formError.hidden = false;
    return;
  }
  const vote = { poll_id: pollId, choices, client_vote_id: newClientMsgId() };
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await client.request("vote", vote);
      showMine({ choices, by_me: true });
      return;
    } catch (err) {
      const error = /** @type {import("./types.js").ProtocolError} */ (err); // LinliClient rejects with these
      if (error.code !== "network" && !error.temporary) {
        // t() answers the key itself when the catalogue lacks it (a refusal that is not a poll's,
        // such as `banned`): fall back to the general sentence for that code.
        const key = `poll.error.${error.code}`;
        const text = t(key);
        formError.textContent = text === key ? errorText(error.code) : text;
        formError.hidden = false;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000 * (attempt + 1)));
    }
  }
  formError.textContent = t("errors.network");
  formError.hidden = false;
});

load();

// A resident's poll page: the question, a vote (sent over the WebSocket with a client_vote_id,
// so a resend after a dropped connection counts once), the own (or household's) vote, and the
// live results from the poll's channel.
import { api } from "./common.js";
import { LinliClient, newClientMsgId, socketUrl } from "./client.js";
import { TallyView } from "./poll-bars.js";
import { t } from "./i18n.js";

const section = document.getElementById("poll");
const pollId = Number(section.dataset.pollId);
const form = document.getElementById("poll-form");
const status = document.getElementById("poll-status");
const mine = document.getElementById("poll-mine");
const formError = document.getElementById("form-error");
const view = new TallyView(document.getElementById("poll-bars"), document.getElementById("poll-voters"));
let poll = null;
/** The newest tally that came before the poll itself (subscribed first, so none is missed). */
let early = null;

function showTally(tally) {
  if (!view.apply(tally)) return;
  poll.state = tally.state;
  status.textContent = t(`poll.state.${tally.state}`);
  form.hidden = tally.state !== "open";
}

function showMine(vote) {
  if (!vote) {
    mine.hidden = true;
    return;
  }
  const names = vote.choices.map((c) => poll.options[c]).join(" · ");
  mine.textContent = t(vote.by_me ? "poll.your_vote" : "poll.unit_voted", { choices: names });
  mine.hidden = false;
}

const wsUrl = socketUrl();
const client = new LinliClient(wsUrl, {
  pub: (channel, pub) => {
    if (pub.data?.kind !== "tally") return;
    if (poll) showTally(pub.data);
    else if (!early || pub.data.version > early.version) early = pub.data;
  },
});

async function load() {
  // Subscribe before reading the snapshot: a tally published in between still arrives, and the
  // higher version wins whichever order they come in.
  client.start();
  client.subscribe(`poll:${pollId}`);
  const result = await api("GET", `/api/polls/${pollId}`);
  if (!result.ok) {
    document.getElementById("poll-question").textContent = t("poll.not_found");
    return;
  }
  poll = result.data.poll;
  document.getElementById("poll-question").textContent = poll.question;
  document.getElementById("poll-legend").textContent = t(poll.multiple ? "poll.pick_many" : "poll.pick_one");
  const options = document.getElementById("poll-options");
  options.replaceChildren(
    ...poll.options.map((text, index) => {
      const label = document.createElement("label");
      label.className = "check poll-option";
      const input = document.createElement("input");
      input.type = poll.multiple ? "checkbox" : "radio";
      input.name = "choice";
      input.value = String(index);
      label.append(input, document.createTextNode(` ${text}`));
      return label;
    }),
  );
  view.setOptions(poll.options);
  showTally(result.data.tally);
  if (early) showTally(early);
  showMine(result.data.my_vote);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const choices = [...form.querySelectorAll("input[name=choice]:checked")].map((el) => Number(el.value));
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
    } catch (error) {
      if (error.code !== "network" && !error.temporary) {
        formError.textContent = t(`poll.error.${error.code}`) || t("errors.generic");
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

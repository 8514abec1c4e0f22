// @ts-check
// The poll card in a chat room. When a poll opens the server publishes a `poll` publication on
// the poll's room (docs/protocol.md, "The poll card"); the chat page passes each publication
// through `asPollCard`, which turns that one into a message-list item with a `poll` card, and the
// card kind registered here (lib/cards.js) draws it: the question, the choices to vote from (the
// `vote` op on the chat page's own connection), the reader's vote, and the bars, live from the
// poll's `poll:<id>` channel when its results are live. The chat page knows nothing else of it.
import { api } from "./common.js";
import { newClientMsgId } from "./client.js";
import { errorText, t } from "./i18n.js";
import { cardKinds } from "./lib/cards.js";
import { node } from "./lib/dom.js";
import { TallyView } from "./poll-bars.js";

/** @typedef {import("./types.js").Publication} Publication */
/** @typedef {import("./types.js").PollBody} PollBody */
/** @typedef {import("./types.js").TallyData} TallyData */
/** @typedef {import("./types.js").PollCardData} PollCardData */

/**
 * What the page knows of one poll, shared by every card of it on the page.
 * @typedef {object} Known
 * @property {PollBody | null} body  null until GET /api/polls/{id} answers
 * @property {boolean} failed  the poll could not be read (gone, or not for this reader)
 * @property {Set<Card>} cards
 */
/**
 * @typedef {object} Card
 * @property {HTMLElement} root
 * @property {TallyView} view
 */

/** @type {Map<number, Known>} */
const polls = new Map();
let serial = 0;

// The chat page does not load poll.css: this card's own small sheet, once.
if (!document.querySelector('link[href="/static/css/chat_poll_card.css"]')) {
  const sheet = document.createElement("link");
  sheet.rel = "stylesheet";
  sheet.href = "/static/css/chat_poll_card.css";
  document.head.append(sheet);
}

/**
 * A `poll` publication as a message-list item with a card (any other publication unchanged).
 * @param {Publication} pub
 * @returns {Publication}
 */
export function asPollCard(pub) {
  const data = /** @type {PollCardData | undefined} */ (/** @type {unknown} */ (pub.data));
  if (data?.kind !== "poll" || typeof data.poll_id !== "number") return pub;
  return {
    ...pub,
    data: {
      kind: "chat",
      text: t("polls.card.opened", { q: data.question }),
      author: data.author,
      ts: data.ts,
      cmid: `poll-${data.poll_id}`,
      card: { kind: "poll", id: data.poll_id },
    },
  };
}

/** @param {number} id */
function follow(id) {
  /** @type {Known} */
  const known = { body: null, failed: false, cards: new Set() };
  polls.set(id, known);
  /** @type {any} */
  const w = window;
  w.linliClient?.subscribe(`poll:${id}`);
  api("GET", `/api/polls/${id}`).then((result) => {
    if (result.ok) known.body = result.data;
    else known.failed = true;
    for (const card of known.cards) draw(id, card);
  });
  return known;
}

/**
 * @param {number} id
 * @param {Card} card
 */
function draw(id, card) {
  const known = polls.get(id);
  const root = card.root;
  const body = known?.body;
  const status = /** @type {HTMLElement} */ (root.querySelector(".poll-card-status"));
  if (!body) {
    status.textContent = known?.failed ? t("poll.not_found") : t("poll.loading");
    return;
  }
  const poll = body.poll;
  root.dataset.state = body.tally.state;
  const title = /** @type {HTMLElement} */ (root.querySelector(".poll-card-question"));
  title.textContent = poll.question;
  const named = /** @type {HTMLElement} */ (root.querySelector(".poll-card-named"));
  named.hidden = poll.anonymous;
  const form = /** @type {HTMLFormElement} */ (root.querySelector("form"));
  const fieldset = /** @type {HTMLFieldSetElement} */ (form.querySelector("fieldset"));
  if (!fieldset.dataset.drawn) {
    fieldset.dataset.drawn = "1";
    const name = `poll-card-${id}-${serial++}`;
    const legend = node("legend", "", t(poll.multiple ? "poll.pick_many" : "poll.pick_one"));
    fieldset.replaceChildren(
      legend,
      ...poll.options.map((text, index) => {
        const label = node("label", "poll-card-option");
        const input = document.createElement("input");
        input.type = poll.multiple ? "checkbox" : "radio";
        input.name = name;
        input.value = String(index);
        label.append(input, document.createTextNode(` ${text}`));
        return label;
      }),
    );
    card.view.setOptions(poll.options);
  }
  const open = body.tally.state === "open";
  const mine = body.my_vote;
  form.hidden = !open || !body.may_vote || (Boolean(mine) && !poll.allow_change);
  const submit = /** @type {HTMLButtonElement} */ (form.querySelector("button[type=submit]"));
  submit.textContent = mine ? t("polls.change_vote") : t("poll.submit");
  if (mine) {
    for (const input of form.querySelectorAll("input")) {
      input.checked = mine.choices.includes(Number(input.value));
    }
  }
  const mineLine = /** @type {HTMLElement} */ (root.querySelector(".poll-card-mine"));
  mineLine.hidden = !mine;
  if (mine) {
    const names = mine.choices.map((c) => poll.options[c]).join(" · ");
    mineLine.textContent = t(mine.by_me ? "poll.your_vote" : "poll.unit_voted", { choices: names });
  }
  status.textContent = t(`poll.state.${body.tally.state}`);
  card.view.apply(body.tally);
}

/**
 * @param {number} id
 * @param {Card} card
 * @param {HTMLFormElement} form
 */
async function vote(id, card, form) {
  const known = polls.get(id);
  /** @type {any} */
  const w = window;
  const error = /** @type {HTMLElement} */ (card.root.querySelector(".poll-card-error"));
  const choices = [...form.querySelectorAll("input:checked")].map((el) => Number(/** @type {HTMLInputElement} */ (el).value));
  error.hidden = true;
  if (!choices.length) {
    error.textContent = t("poll.pick_one");
    error.hidden = false;
    return;
  }
  const submit = /** @type {HTMLButtonElement} */ (form.querySelector("button[type=submit]"));
  submit.disabled = true;
  try {
    await w.linliClient.request("vote", { poll_id: id, choices, client_vote_id: newClientMsgId() });
    if (known?.body) known.body.my_vote = { choices, by_me: true };
    for (const each of known?.cards ?? []) draw(id, each);
  } catch (err) {
    const code = /** @type {{code?: string}} */ (err)?.code ?? "network";
    const key = `poll.error.${code}`;
    const text = t(key);
    error.textContent = text === key ? errorText(code) : text;
    error.hidden = false;
  } finally {
    submit.disabled = false;
  }
}

cardKinds.set("poll", {
  render(chatCard) {
    const id = chatCard.id;
    const root = node("section", "poll-card");
    root.dataset.pollId = String(id);
    const titleId = `poll-card-title-${id}-${serial++}`;
    root.setAttribute("aria-labelledby", titleId);
    const title = node("p", "poll-card-question", "");
    title.id = titleId;
    const status = node("p", "poll-card-status", t("poll.loading"));
    const named = node("p", "poll-card-named", t("polls.named_notice"));
    named.hidden = true;
    const form = node("form", "poll-card-form");
    form.hidden = true;
    const fieldset = node("fieldset");
    const submit = node("button", "button-primary", t("poll.submit"));
    submit.type = "submit";
    const error = node("p", "error poll-card-error");
    error.setAttribute("role", "alert");
    error.hidden = true;
    form.append(fieldset, error, submit);
    const mine = node("p", "poll-card-mine");
    mine.setAttribute("role", "status");
    mine.hidden = true;
    const bars = node("ol", "poll-card-bars");
    const voters = node("p", "poll-card-voters");
    const more = node("a", "poll-card-link", t("polls.card.open_page"));
    more.href = `/polls/${id}`;
    root.append(title, status, named, form, mine, bars, voters, more);
    /** @type {Card} */
    const card = { root, view: new TallyView(bars, voters) };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      vote(id, card, form);
    });
    const known = polls.get(id) ?? follow(id);
    known.cards.add(card);
    // Cards of a room left behind go with its log; keep only those still on the page.
    for (const each of known.cards) if (each !== card && !each.root.isConnected) known.cards.delete(each);
    draw(id, card);
    return root;
  },
  pub(channel, data) {
    if (!channel.startsWith("poll:")) return;
    const tally = /** @type {TallyData} */ (data);
    if (tally?.kind !== "tally") return;
    const known = polls.get(tally.poll_id);
    if (!known?.body) return;
    if (tally.version > known.body.tally.version) known.body.tally = tally;
    for (const card of known.cards) draw(tally.poll_id, card);
  },
});

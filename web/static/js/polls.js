// @ts-check
// The polls page: join a poll by its short code; the open polls the reader may vote in (not yet
// voted first), then recent results; and, for organisers and admins, their drafts (edit, delete,
// open), the close of an open poll, its projector view (once open) and CSV export (once closed),
// and the form for a new poll in a room chosen by name.
import { api, showFormError, showText } from "./common.js";
import { errorText, formatTime, page, t } from "./i18n.js";
import { byId, node } from "./lib/dom.js";

/** @template T @typedef {import("./types.js").ApiResult<T>} ApiResult */
/** @typedef {import("./types.js").PollListItem} PollListItem */

const organiser = page.user && (page.user.role === "organiser" || page.user.role === "admin");
const status = byId("polls-status");
/** The draft being edited in the form, if any. @type {PollListItem | null} */
let editing = null;

/**
 * @param {string} href
 * @param {string} text
 * @param {string} [label]  the accessible name when the text alone is ambiguous
 */
function link(href, text, label) {
  const a = node("a", "", text);
  a.href = href;
  if (label) a.setAttribute("aria-label", label);
  return a;
}

/**
 * @param {string} text
 * @param {(event: MouseEvent) => void} onClick
 * @param {string} [label]
 */
function button(text, onClick, label) {
  const b = node("button", "button-quiet", text);
  b.type = "button";
  if (label) b.setAttribute("aria-label", label);
  b.addEventListener("click", onClick);
  return b;
}

/**
 * @param {number} pollId
 * @param {"open" | "close" | "delete"} action
 * @param {MouseEvent} event  the press on the action's button
 */
async function act(pollId, action, event) {
  // A close takes effect a moment later (about 1.5 s, so that votes already sent count): keep the
  // button visibly busy meanwhile, and stop a second press.
  const pressed = event.currentTarget;
  if (pressed instanceof HTMLButtonElement) {
    pressed.disabled = true;
    pressed.setAttribute("aria-busy", "true");
  }
  const result = await api("POST", `/api/polls/${pollId}/${action}`, {});
  showText(status, result.ok ? t(`polls.done.${action}`) : errorText(result.error.code));
  if (action === "delete" && editing?.id === pollId) stopEditing();
  await loadPolls();
}

/** @param {PollListItem} poll */
function pollItem(poll) {
  const item = node("li", "poll-item");
  item.dataset.pollId = String(poll.id);
  item.dataset.state = poll.state;
  const title = link(`/polls/${poll.id}`, poll.question);
  title.className = "poll-item-question";
  const facts = node("p", "poll-item-facts");
  facts.append(node("span", "poll-item-room", poll.room_name));
  if (poll.state === "open") {
    const mine = poll.voted ? t("polls.voted") : poll.may_vote ? t("polls.not_voted") : t("polls.no_vote_here");
    facts.append(" · ", node("span", poll.voted ? "poll-item-voted" : "poll-item-state", mine));
    if (poll.closes_at) facts.append(" · ", t("polls.closes", { time: formatTime(poll.closes_at) }));
  } else if (poll.state === "closed" && poll.closed_at) {
    facts.append(" · ", t("polls.closed_at", { time: formatTime(poll.closed_at) }));
  } else if (poll.state === "draft") {
    facts.append(" · ", node("span", "poll-item-state", t("poll.state.draft")));
  }
  if (!poll.anonymous) facts.append(" · ", t("polls.named_short"));
  item.append(title, facts);
  if (organiser) {
    const tools = node("div", "poll-tools");
    const q = poll.question;
    if (poll.state === "draft") {
      tools.append(
        button(t("poll.list.open"), (event) => act(poll.id, "open", event), t("polls.open_label", { q })),
        button(t("polls.edit"), () => startEditing(poll), t("polls.edit_label", { q })),
        button(t("polls.delete"), (event) => {
          if (confirm(t("polls.delete_ask", { q }))) act(poll.id, "delete", event);
        }, t("polls.delete_label", { q })),
      );
    }
    if (poll.state === "open") {
      tools.append(button(t("poll.list.close"), (event) => act(poll.id, "close", event), t("polls.close_label", { q })));
    }
    // A projector shows a poll people can vote in (or its result): never a draft.
    if (poll.state !== "draft" && poll.projector_token) {
      tools.append(link(`/projector/${poll.projector_token}`, t("poll.list.projector"), t("polls.projector_label", { q })));
    }
    if (poll.state === "closed") {
      tools.append(link(`/api/polls/${poll.id}/export.csv?lang=${encodeURIComponent(page.lang ?? "")}`, t("poll.list.csv"), t("polls.csv_label", { q })));
    }
    if (poll.state !== "draft") tools.append(node("span", "", t("poll.list.code", { code: poll.join_code })));
    item.append(tools);
  }
  return item;
}

/**
 * @param {string} listId
 * @param {string} noneId
 * @param {PollListItem[]} polls
 */
function fill(listId, noneId, polls) {
  const list = byId(listId);
  list.replaceChildren(...polls.map(pollItem));
  list.setAttribute("aria-busy", "false");
  byId(noneId).hidden = polls.length > 0;
}

let roomsShown = false;

async function loadPolls() {
  /** @type {ApiResult<import("./types.js").PollsOverviewBody>} */
  const result = await api("GET", "/api/polls/overview");
  if (result.status === 401) {
    location.assign("/login");
    return;
  }
  if (!result.ok) {
    showText(status, errorText(result.error.code));
    return;
  }
  fill("open-list", "open-none", result.data.open);
  fill("recent-list", "recent-none", result.data.recent);
  if (organiser) {
    fill("draft-list", "drafts-none", result.data.drafts);
    if (!roomsShown) showRooms(result.data.rooms);
  }
}

/** @param {import("./types.js").PollRoom[]} rooms */
function showRooms(rooms) {
  roomsShown = true;
  const select = byId("channel", HTMLSelectElement);
  /** @param {"building" | "group"} kind */
  const group = (kind) => {
    const box = document.createElement("optgroup");
    box.label = t(kind === "building" ? "polls.rooms.buildings" : "polls.rooms.groups");
    box.append(
      ...rooms.filter((r) => r.kind === kind).map((r) => {
        const option = document.createElement("option");
        option.value = r.channel;
        option.textContent = r.name;
        return option;
      }),
    );
    return box;
  };
  select.replaceChildren(...[group("building"), group("group")].filter((g) => g.children.length));
  byId("no-rooms").hidden = rooms.length > 0;
}

byId("join-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const code = byId("join-code", HTMLInputElement).value.trim();
  const error = byId("join-error");
  /** @type {ApiResult<{poll_id: number}> | null} */
  const result = code ? await api("GET", `/api/polls/join/${encodeURIComponent(code)}`) : null;
  if (result?.ok) {
    location.assign(`/polls/${result.data.poll_id}`);
    return;
  }
  error.textContent = t("poll.error.poll_not_found");
  error.hidden = false;
});

// -- the form (organisers and admins): a new poll, or a draft being edited --------------------

/** @param {string} id */
const input = (id) => byId(id, HTMLInputElement);

/** @param {number} ms  as the value of a datetime-local input (the reader's local time) */
function localInput(ms) {
  const d = new Date(ms);
  const pad = (/** @type {number} */ n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** @param {boolean} on */
function formMode(on) {
  const heading = byId("new-title");
  const submit = byId("new-submit");
  heading.textContent = (on ? heading.dataset.edit : heading.dataset.new) ?? "";
  submit.textContent = (on ? submit.dataset.edit : submit.dataset.new) ?? "";
  byId("edit-cancel").hidden = !on;
}

/** @param {PollListItem} poll */
function startEditing(poll) {
  const form = byId("new-form", HTMLFormElement);
  editing = poll;
  showFormError(form, null);
  byId("channel", HTMLSelectElement).value = poll.channel;
  input("question").value = poll.question;
  byId("options", HTMLTextAreaElement).value = poll.options.join("\n");
  input("multiple").checked = poll.multiple;
  input("named").checked = !poll.anonymous;
  input("allow-change").checked = poll.allow_change;
  byId("counting", HTMLSelectElement).value = poll.counting;
  byId("results", HTMLSelectElement).value = poll.results;
  input("closes_at").value = poll.closes_at ? localInput(poll.closes_at) : "";
  formMode(true);
  byId("new-title").scrollIntoView({ block: "start" });
  input("question").focus();
}

function stopEditing() {
  const form = byId("new-form", HTMLFormElement);
  editing = null;
  const room = byId("channel", HTMLSelectElement).value;
  form.reset();
  byId("channel", HTMLSelectElement).value = room;
  showFormError(form, null);
  formMode(false);
}

const newForm = document.getElementById("new-form");
if (newForm instanceof HTMLFormElement) {
  byId("edit-cancel").addEventListener("click", stopEditing);
  newForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const closes = input("closes_at").value;
    const body = {
      channel: byId("channel", HTMLSelectElement).value,
      question: input("question").value,
      options: byId("options", HTMLTextAreaElement).value.split("\n").map((s) => s.trim()).filter(Boolean),
      multiple: input("multiple").checked,
      anonymous: !input("named").checked,
      allow_change: input("allow-change").checked,
      counting: byId("counting", HTMLSelectElement).value,
      results: byId("results", HTMLSelectElement).value,
      closes_at: closes ? new Date(closes).getTime() : null,
    };
    const wasEditing = editing;
    const result = await api("POST", wasEditing ? `/api/polls/${wasEditing.id}` : "/api/polls", body);
    showFormError(newForm, result.ok ? null : result.error);
    if (result.ok) {
      stopEditing();
      showText(status, t(wasEditing ? "polls.done.edit" : "polls.done.create", { q: body.question }));
      await loadPolls();
    }
  });
}

loadPolls();

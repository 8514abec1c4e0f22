// The polls page: join a poll by its short code; the polls of a room; and, for organisers, write
// a draft, open it, close it, and reach its projector view and CSV export.
import { api, showFormError } from "./common.js";
import { errorText, page, t } from "./i18n.js";

const organiser = page.user && (page.user.role === "organiser" || page.user.role === "admin");
const channelSelect = document.getElementById("channel");
const list = document.getElementById("poll-list");

function link(href, text) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  return a;
}

function button(text, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "button-quiet";
  b.textContent = text;
  b.addEventListener("click", onClick);
  return b;
}

async function act(pollId, action, event) {
  // A close takes effect a moment later (about 1.5 s, so that votes already sent count): keep the
  // button visibly busy meanwhile, and stop a second press.
  const pressed = event && event.currentTarget;
  if (pressed) {
    pressed.disabled = true;
    pressed.setAttribute("aria-busy", "true");
  }
  const result = await api("POST", `/api/polls/${pollId}/${action}`, {});
  if (!result.ok) alert(errorText(result.error.code));
  await loadPolls();
}

async function loadPolls() {
  const channel = channelSelect.value;
  if (!channel) return;
  const result = await api("GET", `/api/polls?channel=${encodeURIComponent(channel)}`);
  const polls = result.ok ? result.data.polls : [];
  list.replaceChildren(
    ...polls.map((poll) => {
      const item = document.createElement("li");
      item.className = "poll-item";
      item.dataset.pollId = String(poll.id);
      item.dataset.state = poll.state;
      const state = document.createElement("span");
      state.className = "poll-item-state";
      state.textContent = t(`poll.state.${poll.state}`);
      item.append(link(`/polls/${poll.id}`, poll.question), " ", state);
      if (organiser) {
        const tools = document.createElement("span");
        tools.className = "poll-tools";
        if (poll.state === "draft") tools.append(button(t("poll.list.open"), (event) => act(poll.id, "open", event)));
        if (poll.state === "open") tools.append(button(t("poll.list.close"), (event) => act(poll.id, "close", event)));
        if (poll.projector_token) tools.append(link(`/projector/${poll.projector_token}`, t("poll.list.projector")));
        if (poll.state === "closed") tools.append(link(`/api/polls/${poll.id}/export.csv`, t("poll.list.csv")));
        const code = document.createElement("span");
        code.textContent = t("poll.list.code", { code: poll.join_code });
        tools.append(code);
        item.append(tools);
      }
      return item;
    }),
  );
  document.getElementById("poll-none").hidden = polls.length > 0;
}

async function start() {
  const me = await api("GET", "/api/me");
  const channels = me.ok ? me.data.channels : [];
  channelSelect.replaceChildren(
    ...channels.map((name) => {
      const option = document.createElement("option");
      option.value = name;
      option.textContent = name.startsWith("building:") ? t("poll.list.my_building") : name.slice("group:".length);
      return option;
    }),
  );
  channelSelect.addEventListener("change", loadPolls);
  await loadPolls();
}

document.getElementById("join-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const code = document.getElementById("join-code").value.trim();
  const error = document.getElementById("join-error");
  const result = code ? await api("GET", `/api/polls/join/${encodeURIComponent(code)}`) : { ok: false };
  if (result.ok) {
    location.assign(`/polls/${result.data.poll_id}`);
    return;
  }
  error.textContent = t("poll.error.poll_not_found");
  error.hidden = false;
});

const newForm = document.getElementById("new-form");
if (newForm) {
  newForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const closes = document.getElementById("closes-at").value;
    const body = {
      channel: channelSelect.value,
      question: document.getElementById("question").value,
      options: document.getElementById("options").value.split("\n").map((s) => s.trim()).filter(Boolean),
      multiple: document.getElementById("multiple").checked,
      anonymous: !document.getElementById("named").checked,
      allow_change: document.getElementById("allow-change").checked,
      counting: document.getElementById("counting").value,
      results: document.getElementById("results").value,
      closes_at: closes ? new Date(closes).getTime() : null,
    };
    const result = await api("POST", "/api/polls", body);
    showFormError(newForm, result.ok ? null : result.error);
    if (result.ok) {
      newForm.reset();
      await loadPolls();
    }
  });
}

start();

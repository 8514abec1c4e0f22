// @ts-check
// The chair's page: convene, open and close the meeting and its votes; tick the printed list
// (in person or by proxy), type paper ballots and 委託書; edit, approve and publish the minutes.
// The figures are live (the same snapshots as the projector's).
import { api } from "../common.js";
import { errorText, t } from "../i18n.js";
import { byId, control, node } from "../lib/dom.js";
import { FiguresView } from "./figures.js";
import { fileLinks, fileUpload } from "./files.js";
import { follow, when } from "./live.js";
import { scanCell, scanErrorText, sendFile } from "./scans.js";

const meetingId = Number(byId("run").dataset.meetingId);
const view = new FiguresView(byId("figures"));
const runError = byId("run-error");
/** @type {any} */
let meeting = null;

/** @param {HTMLElement} el @param {any} error */
function showError(el, error) {
  el.textContent = error?.message || errorText(error?.code);
  el.hidden = false;
}

/** @param {string} path @param {unknown} [body] @param {HTMLElement} [errorEl] */
async function post(path, body = {}, errorEl = runError) {
  errorEl.hidden = true;
  const result = await api("POST", `/api/meetings/${meetingId}${path}`, body);
  if (!result.ok) showError(errorEl, result.error);
  return result;
}

async function loadMeeting() {
  const result = await api("GET", `/api/meetings/${meetingId}`);
  if (!result.ok) return;
  meeting = result.data.meeting;
  view.apply(result.data.figures);
  byId("run-title").textContent = meeting.title;
  byId("run-state").textContent = t(`meetings.state.${meeting.state}`);
  byId("run-facts").textContent = t("meetings.run.facts", {
    when: when(meeting.starts_at), place: meeting.place, code: meeting.checkin_code,
  });
  byId("projector-link", HTMLAnchorElement).href = `/meetings/projector/${meeting.projector_token}`;
  byId("convene").hidden = meeting.state !== "draft";
  byId("open-meeting").hidden = meeting.state !== "convened";
  byId("close-meeting").hidden = meeting.state !== "open";
  const items = byId("run-items", HTMLOListElement);
  items.replaceChildren(...meeting.items.map((/** @type {any} */ item) => {
    const li = node("li", "mt-agenda-item");
    li.append(node("strong", "", item.title));
    const state = item.result ? t(`meetings.result.${item.result}`) : t(`meetings.item.state.${item.state}`);
    li.append(node("p", "mt-agenda-state", state));
    const files = fileLinks(item);
    if (files) li.append(files);
    if (meeting.state !== "closed") li.append(fileUpload(meetingId, item, () => { void refresh(); }));
    if (meeting.state === "open" && item.state !== "closed") {
      const open = item.state === "pending";
      const button = node("button", open ? "" : "button-primary", t(open ? "meetings.run.open_item" : "meetings.run.close_item"));
      button.type = "button";
      button.dataset.item = String(item.id);
      button.addEventListener("click", async () => {
        await post(`/items/${item.id}/${open ? "open" : "close"}`);
        await refresh();
      });
      li.append(button);
    }
    return li;
  }));
  const due = meeting.minutes_due;
  byId("minutes-due").textContent = due ? t("meetings.minutes.due", { when: when(due) }) : "";
  const text = byId("minutes-text", HTMLTextAreaElement);
  if (meeting.minutes && !text.value) text.value = meeting.minutes;
  byId("minutes-status").textContent = t(`meetings.minutes.state.${meeting.minutes_state}`);
}

async function loadRoll() {
  const result = await api("GET", `/api/meetings/${meetingId}/roll`);
  if (!result.ok) return;
  const openItem = meeting?.items.find((/** @type {any} */ i) => i.state === "open");
  const body = byId("roll-body");
  const units = byId("pp-unit", HTMLSelectElement);
  // The roll refreshes with the live figures: keep the unit staff are typing a form for (it
  // used to jump back to the first unit, and a form could be recorded for the wrong one).
  const chosen = units.value;
  units.replaceChildren(...result.data.roll.map((/** @type {any} */ r) => {
    const o = node("option", "", r.label);
    o.value = String(r.unit_id);
    return o;
  }));
  if (chosen && result.data.roll.some((/** @type {any} */ r) => String(r.unit_id) === chosen)) units.value = chosen;
  body.replaceChildren(...result.data.roll.map((/** @type {any} */ r) => {
    const tr = node("tr");
    const pick = node("input");
    pick.type = "checkbox";
    pick.value = String(r.unit_id);
    pick.disabled = r.present;
    pick.setAttribute("aria-label", t("meetings.roll.pick_unit", { unit: r.label }));
    const td = node("td");
    td.append(pick);
    tr.append(td, node("td", "", r.label), node("td", "", r.owners), node("td", "", String(r.share)));
    const present = r.present
      ? t(r.by_proxy ? "meetings.roll.yes_proxy" : "meetings.roll.yes", { at: when(r.checked_in_at) })
      : r.stays?.length
        ? t("meetings.roll.left", { at: when(r.stays[r.stays.length - 1].out_at) })
        : t("meetings.roll.no");
    tr.append(node("td", "", present));
    const proxyCell = node("td");
    if (r.proxy) proxyCell.append(...scanCell(meetingId, r, () => { void loadRoll(); }));
    tr.append(proxyCell);
    const paper = node("td");
    if (openItem && r.present) {
      const vote = r.votes[String(openItem.id)];
      if (vote) {
        paper.textContent = `${t(`meetings.choice.${vote.choice}`)} (${t(`meetings.route.${vote.route}`)}) `;
        paper.append(correctButton(openItem.id, r, vote.choice));
      } else {
        const select = node("select");
        select.setAttribute("aria-label", t("meetings.roll.paper_for", { unit: r.label }));
        for (const choice of ["", "for", "against", "abstain"]) {
          const o = node("option", "", choice ? t(`meetings.choice.${choice}`) : "—");
          o.value = choice;
          select.append(o);
        }
        select.addEventListener("change", async () => {
          if (!select.value) return;
          await post(`/items/${openItem.id}/paper`, { unit_id: r.unit_id, choice: select.value });
          await loadRoll();
        });
        paper.append(select);
      }
    }
    tr.append(paper);
    return tr;
  }));
  byId("corrections", HTMLUListElement).replaceChildren(...result.data.corrections.map((/** @type {any} */ c) => node(
    "li", "", t("meetings.correct.entry", {
      unit: c.label, from: t(`meetings.choice.${c.from}`), to: t(`meetings.choice.${c.to}`),
      reason: c.reason, at: when(c.at),
    }),
  )));
}

/**
 * A wrongly recorded vote (a paper ballot typed in wrongly): the right choice and why, for the
 * record; every screen's tally moves with it.
 * @param {number} itemId
 * @param {any} r  the unit's roll entry
 * @param {string} current  the recorded choice
 */
function correctButton(itemId, r, current) {
  const button = node("button", "button-quiet", t("meetings.correct.open"));
  button.type = "button";
  button.setAttribute("aria-label", t("meetings.correct.open_for", { unit: r.label }));
  button.addEventListener("click", () => {
    const form = node("form", "mt-correct");
    form.noValidate = true;
    const select = node("select");
    select.id = `correct-${r.unit_id}`;
    for (const choice of ["for", "against", "abstain"].filter((c) => c !== current)) {
      const o = node("option", "", t(`meetings.choice.${choice}`));
      o.value = choice;
      select.append(o);
    }
    const reason = node("input");
    reason.id = `correct-reason-${r.unit_id}`;
    reason.maxLength = 200;
    reason.required = true;
    const error = node("p", "error");
    error.setAttribute("role", "alert");
    error.hidden = true;
    for (const [control, key] of /** @type {const} */ ([[select, "meetings.correct.choice"], [reason, "meetings.correct.reason"]])) {
      const label = node("label", "", t(key, { unit: r.label }));
      label.htmlFor = control.id;
      form.append(label, control);
    }
    const save = node("button", "button-primary", t("meetings.correct.save"));
    save.type = "submit";
    form.append(save, error);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const done = await post(`/items/${itemId}/correct`, { unit_id: r.unit_id, choice: select.value, reason: reason.value }, error);
      if (done.ok) await loadRoll();
    });
    button.replaceWith(form);
    select.focus();
  });
  return button;
}

async function loadQueue() {
  const result = await api("GET", `/api/meetings/${meetingId}/questions`);
  if (!result.ok) return;
  byId("queue", HTMLOListElement).replaceChildren(...result.data.questions.map((/** @type {any} */ q) => {
    const li = node("li", "mt-question");
    li.append(node("span", "", `${q.text} (${t(`meetings.qa.state.${q.state}`)}, ${q.votes})`));
    for (const state of ["shown", "answered", "hidden"]) {
      if (state === q.state) continue;
      const b = node("button", "button-quiet", t(`meetings.qa.to.${state}`));
      b.type = "button";
      b.addEventListener("click", async () => {
        await post(`/questions/${q.id}/state`, { state });
        await loadQueue();
      });
      li.append(b);
    }
    return li;
  }));
}

async function refresh() {
  await loadMeeting();
  await loadRoll();
  await loadQueue();
}

/** @param {boolean} byProxy */
async function tick(byProxy) {
  const ids = [...byId("roll-body").querySelectorAll("input[type=checkbox]:checked")].map((el) =>
    Number(/** @type {HTMLInputElement} */ (el).value),
  );
  if (!ids.length) return;
  await post("/checkin/staff", { unit_ids: ids, by_proxy: byProxy });
  await loadRoll();
}

byId("tick-person").addEventListener("click", () => tick(false));
byId("tick-proxy").addEventListener("click", () => tick(true));
// An owner leaving tells the desk: the ticked units are checked out (votes cast stay cast).
byId("tick-out").addEventListener("click", async () => {
  const ids = [...byId("roll-body").querySelectorAll("input[type=checkbox]:checked")].map((el) =>
    Number(/** @type {HTMLInputElement} */ (el).value),
  );
  if (!ids.length) return;
  await post("/checkout/staff", { unit_ids: ids });
  await loadRoll();
});
for (const [id, path] of [["convene", "/convene"], ["open-meeting", "/open"], ["close-meeting", "/close"]]) {
  byId(id).addEventListener("click", async () => {
    await post(path);
    await refresh();
  });
}

const proxyForm = byId("paper-proxy", HTMLFormElement);
proxyForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const errorEl = byId("pp-error");
  errorEl.hidden = true;
  const unit = control(proxyForm, "unit").value;
  const name = control(proxyForm, "name").value;
  const username = control(proxyForm, "username").value.trim();
  const reference = control(proxyForm, "reference").value;
  const file = byId("pp-scan", HTMLInputElement).files?.[0];
  let ok = false;
  if (file) {
    // The form and its scan in one request: both are recorded, or neither.
    const query = new URLSearchParams({ unit, name, username, reference, filename: file.name });
    const code = await sendFile(`/api/meetings/${meetingId}/proxies/paper?${query}`, file);
    if (code) {
      errorEl.textContent = scanErrorText(code);
      errorEl.hidden = false;
    }
    ok = !code;
  } else {
    const result = await api("POST", `/api/meetings/${meetingId}/proxies`, {
      unit_ids: [Number(unit)], name, username, reference,
      scan_to_follow: byId("pp-follow", HTMLInputElement).checked,
    });
    if (!result.ok) {
      errorEl.textContent = scanErrorText(result.error?.code);
      errorEl.hidden = false;
    }
    ok = result.ok;
  }
  if (ok) {
    proxyForm.reset();
    await loadRoll();
  }
});

const minutesError = byId("minutes-error");
byId("minutes-draft").addEventListener("click", async () => {
  const result = await api("GET", `/api/meetings/${meetingId}/minutes/draft`);
  if (result.ok) byId("minutes-text", HTMLTextAreaElement).value = result.data.text;
});
for (const [id, state] of [["minutes-save", "draft"], ["minutes-approve", "approved"], ["minutes-publish", "published"]]) {
  byId(id).addEventListener("click", async () => {
    const text = byId("minutes-text", HTMLTextAreaElement).value;
    const result = await post("/minutes", { text, state }, minutesError);
    if (result.ok) await loadMeeting();
  });
}

let pending = false;
follow(meetingId, (figures) => {
  if (!view.apply(figures) || pending) return;
  pending = true; // the roll follows the figures, at most every half second
  setTimeout(async () => {
    pending = false;
    await refresh();
  }, 500);
});
refresh();

// @ts-check
// The authors' appeals as items of the moderators' queue (GET /api/mod/queue `appeals`; the page
// reloads on every `mod:flags` event, an `appeal` one included). Each shows who appeals, the
// decision (its reason) and the author's note; a moderator answers and closes it (the author
// finds the answer in the inbox). User text goes in through textContent only.
import { api, showText } from "./common.js";
import { errorText, formatFullTime, t } from "./i18n.js";
import { node } from "./lib/dom.js";

/** @typedef {import("./types.js").Appeal} Appeal */

/**
 * @param {HTMLElement} list  the <ul>
 * @param {HTMLElement} empty  "no appeals"
 * @param {Appeal[]} appeals
 * @param {() => void} reload
 */
export function renderAppeals(list, empty, appeals, reload) {
  /** Keep what a moderator is typing. @type {Map<number, string>} */
  const typing = new Map();
  for (const box of list.querySelectorAll("input.mod-reason")) {
    if (box instanceof HTMLInputElement && box.value) typing.set(Number(box.dataset.appeal), box.value);
  }
  list.replaceChildren(...appeals.map((a) => appealItem(a, typing.get(a.id) ?? "", reload)));
  empty.hidden = appeals.length > 0;
}

/**
 * @param {Appeal} appeal
 * @param {string} typed
 * @param {() => void} reload
 */
function appealItem(appeal, typed, reload) {
  const li = node("li", "mod-item mod-appeal-item");
  li.dataset.appeal = String(appeal.id);
  const head = node("p", "mod-head");
  head.append(node("span", "author", t("modres.queue_appeal_of", { name: appeal.user.name })), " · ");
  const time = node("time", "", formatFullTime(appeal.created_at));
  time.dateTime = new Date(appeal.created_at).toISOString();
  head.append(time);
  const decision = node("blockquote", "mod-message");
  decision.append(node("p", "mod-subject", appeal.subject), node("p", "text", t("modres.reason", { reason: appeal.summary })));
  const note = node("p", "mod-appeal-note", appeal.note);
  const reason = node("input", "mod-reason");
  reason.id = `appeal-reason-${appeal.id}`;
  reason.dataset.appeal = String(appeal.id);
  reason.value = typed;
  const label = node("label", "", t("mod.reason_label"));
  label.htmlFor = reason.id;
  const status = node("p", "status-line mod-status");
  status.setAttribute("role", "status");
  const close = node("button", "", t("modres.queue_close"));
  close.type = "button";
  close.addEventListener("click", async () => {
    const text = reason.value.trim();
    if (!text) {
      showText(status, t("mod.reason_needed"));
      return;
    }
    const result = await api("POST", `/api/mod/appeals/${appeal.id}/close`, { reason: text });
    showText(status, result.ok ? t("mod.done") : errorText(result.error.code));
    if (result.ok) reload();
  });
  const row = node("div", "mod-buttons");
  row.append(close);
  li.append(head, decision, note, label, reason, row, status);
  return li;
}

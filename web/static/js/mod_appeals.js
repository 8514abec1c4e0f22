// @ts-check
// The authors' appeals as items of the moderators' queue (GET /api/mod/queue `appeals`; the page
// reloads on every `mod:flags` event, an `appeal` one included). Each shows who appeals, the
// decision in words (what it was, its room by name, whom it concerns, its reason and end) and
// the author's note; a moderator answers and closes it, upholding the decision or accepting the
// appeal (the author finds the answer in the inbox and on /appeals). User text goes in through textContent only.
import { api, showText } from "./common.js";
import { errorText, formatFullTime, t } from "./i18n.js";
import { node } from "./lib/dom.js";

/** @typedef {import("./types.js").Appeal} Appeal */
/** @typedef {import("./types.js").AppealDecision} AppealDecision */

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
  const decision = appeal.decision ? decisionList(appeal.decision) : node("blockquote", "mod-message");
  if (!appeal.decision) {
    // No longer on record: the subject as stored, and the reason the author saw.
    decision.append(node("p", "mod-subject", appeal.subject), node("p", "text", t("modres.reason", { reason: appeal.summary })));
  }
  const note = node("p", "mod-appeal-note", appeal.note);
  const reason = node("input", "mod-reason");
  reason.id = `appeal-reason-${appeal.id}`;
  reason.dataset.appeal = String(appeal.id);
  reason.value = typed;
  const label = node("label", "", t("mod.reason_label"));
  label.htmlFor = reason.id;
  const status = node("p", "status-line mod-status");
  status.setAttribute("role", "status");
  // The moderator's choice: uphold the decision, or accept the appeal, which undoes it (the
  // server lifts the mute or ban, shows the message again, withdraws the warning).
  /** @param {"upheld" | "granted"} outcome @param {string} label */
  const answer = (outcome, label) => {
    const button = node("button", outcome === "granted" ? "appeal-grant" : "appeal-uphold", label);
    button.type = "button";
    button.dataset.outcome = outcome;
    button.addEventListener("click", async () => {
      const text = reason.value.trim();
      if (!text) {
        showText(status, t("mod.reason_needed"));
        reason.focus();
        return;
      }
      const result = await api("POST", `/api/mod/appeals/${appeal.id}/close`, { reason: text, outcome });
      showText(status, result.ok ? t("mod.done") : errorText(result.error.code));
      if (result.ok) reload();
    });
    return button;
  };
  const row = node("div", "mod-buttons");
  row.append(answer("upheld", t("modres.queue_uphold")), " ", answer("granted", t("modres.queue_grant")));
  li.append(head, decision, note, label, reason, row, status);
  return li;
}

/**
 * The decision appealed against, as a volunteer reads it: a list of what, where, who, why and
 * until when (the server's `decision`, web/moderation/actions.appeal_decision).
 * @param {AppealDecision} d
 */
function decisionList(d) {
  const list = node("dl", "mod-decision");
  /** @param {string} term @param {string} value @param {string} [cls] */
  const row = (term, value, cls) => {
    const dd = node("dd", cls ?? "", value);
    list.append(node("dt", "", term), dd);
    return dd;
  };
  row(t("modres.decision"), t(`modres.decision_kind.${d.kind}`), "mod-decision-kind");
  row(t("modres.decision_room"), d.room ?? t("modres.decision_everywhere"), "mod-decision-room");
  if (d.user) {
    const who = d.user.building ? t("modres.decision_user_of", { name: d.user.name, building: d.user.building }) : d.user.name;
    row(t("modres.decision_user"), who, "mod-decision-user");
  }
  if (d.text !== undefined) row(t("modres.decision_text"), d.text, "mod-decision-text");
  if (d.because) {
    row(t("modres.decision_because"), t("modres.because_message", { room: d.because.room, excerpt: d.because.excerpt }), "mod-decision-because");
  }
  row(t("modres.decision_reason"), d.reason, "mod-decision-reason");
  if (d.at) {
    const when = row(t("modres.decision_at"), "", "mod-decision-at");
    when.append(timeNode(d.at));
  }
  if (d.kind === "mute" || d.kind === "ban") {
    const ends = row(t("modres.decision_until"), d.until ? "" : t("modres.decision_until_lifted"), "mod-decision-until");
    if (d.until) ends.append(timeNode(d.until));
  }
  return list;
}

/** @param {number} ms */
function timeNode(ms) {
  const time = node("time", "", formatFullTime(ms));
  time.dateTime = new Date(ms).toISOString();
  return time;
}

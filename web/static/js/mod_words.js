// @ts-check
// The word-list page: the list (GET /api/mod/words), a box that tests a sentence against it as
// it is now (POST /api/mod/words/test), and for admins adding and removing words, each with a
// reason (audited) and in effect at once on every gateway. The outcome stays in a status line.
import { api, busy, showFormError, showText } from "./common.js";
import { errorText, t } from "./i18n.js";
import { byId, node, part } from "./lib/dom.js";

/** @typedef {{ id: number, pattern: string, action: string }} Word */

const table = byId("words-table", HTMLTableElement);
const isAdmin = table.dataset.admin === "yes";
const status = byId("words-status");

/** @param {Word} word */
function row(word) {
  const tr = node("tr");
  tr.dataset.pattern = word.pattern;
  const names = [...table.querySelectorAll("thead th")].map((th) => th.textContent ?? "");
  const pattern = node("td", "word-pattern", word.pattern);
  pattern.dataset.label = names[0] ?? "";
  const action = node("td", "word-action", t(`modp.word_action.${word.action}`));
  action.dataset.label = names[1] ?? "";
  tr.append(pattern, action);
  if (isAdmin) {
    const cell = node("td", "word-remove");
    cell.dataset.label = names[2] ?? "";
    const form = node("form", "word-remove-form");
    const reasonId = `remove-reason-${word.id}`;
    const label = node("label", "", t("modp.words_remove_reason", { pattern: word.pattern }));
    label.htmlFor = reasonId;
    const reason = node("input", "");
    reason.id = reasonId;
    reason.maxLength = 500;
    const submit = node("button", "button-quiet", t("modp.words_remove", { pattern: word.pattern }));
    submit.type = "submit";
    form.append(label, reason, submit);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = reason.value.trim();
      if (!text) {
        showText(status, t("mod.reason_needed"));
        reason.focus();
        return;
      }
      const result = await busy(submit, () =>
        api("POST", `/api/mod/words/${word.id}/delete`, { reason: text }));
      showText(status, result.ok
        ? t("modp.words_removed", { pattern: word.pattern })
        : errorText(result.error.code));
      if (result.ok) await loadWords();
    });
    cell.append(form);
    tr.append(cell);
  }
  return tr;
}

async function loadWords() {
  /** @type {import("./types.js").ApiResult<{ words: Word[] }>} */
  const result = await api("GET", "/api/mod/words");
  if (!result.ok) {
    showText(status, errorText(result.error.code));
    return;
  }
  part(table, "tbody").replaceChildren(...result.data.words.map(row));
  byId("words-empty").hidden = result.data.words.length > 0;
  table.hidden = result.data.words.length === 0;
}

const testForm = byId("test-form", HTMLFormElement);
testForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = byId("test-text", HTMLTextAreaElement).value;
  const out = byId("test-result");
  /** @type {import("./types.js").ApiResult<import("./mod_types.js").WordTestBody>} */
  const result = await busy(part(testForm, "button", HTMLButtonElement), () =>
    api("POST", "/api/mod/words/test", { text }));
  if (!result.ok) {
    showText(out, errorText(result.error.code));
    return;
  }
  const matched = result.data.matched;
  out.dataset.matched = matched ? matched.action : "none";
  showText(out, matched
    ? t(`modp.test_${matched.action}`, { pattern: matched.pattern })
    : t("modp.test_none"));
});

const addForm = document.getElementById("add-form");
if (addForm instanceof HTMLFormElement) {
  addForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const pattern = byId("pattern", HTMLInputElement).value.trim();
    const reason = byId("reason", HTMLInputElement).value.trim();
    const action = byId("word-action", HTMLSelectElement).value;
    if (!pattern) {
      showFormError(addForm, { code: "bad_request", message: "", field: "pattern" });
      showText(byId("pattern-error"), t("modp.words_pattern_needed"));
      return;
    }
    if (!reason) {
      showFormError(addForm, { code: "bad_request", message: "", field: "reason" });
      showText(byId("reason-error"), t("mod.reason_needed"));
      return;
    }
    /** @type {import("./types.js").ApiResult<{ word: Word }>} */
    const result = await busy(part(addForm, "button", HTMLButtonElement), () =>
      api("POST", "/api/mod/words", { pattern, action, reason }));
    if (!result.ok) {
      showFormError(addForm, result.error);
      return;
    }
    showFormError(addForm, null);
    byId("pattern", HTMLInputElement).value = "";
    byId("reason", HTMLInputElement).value = "";
    showText(status, t("modp.words_added", { pattern: result.data.word.pattern }));
    await loadWords();
  });
}

loadWords();

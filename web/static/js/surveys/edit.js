// @ts-check
// Writing a survey draft (staff): its settings and its questions, in order, each with its kind,
// text, options and whether it is required. Saving sends the whole draft (POST /api/surveys or
// /api/surveys/<id>) and opens the preview.
import { api, showText } from "../common.js";
import { errorText, t } from "../i18n.js";
import { byId, node as el } from "../lib/dom.js";

/**
 * @typedef {{id: string, kind: string, text: string, required?: boolean, options?: string[],
 *   max_choices?: number | null}} QuestionDraft
 * @typedef {{id?: number, title: string, intro: string, questions: QuestionDraft[],
 *   audience: string, buildings: number[], group: string, counting: string, anonymous: boolean,
 *   allow_change: boolean, opens_at: number | null, closes_at: number | null,
 *   remind_at: number | null}} Draft
 */

const form = byId("edit-form", HTMLFormElement);
const list = byId("questions", HTMLOListElement);
const formError = byId("form-error");
const audience = byId("audience", HTMLSelectElement);
/** @type {Draft | null} */
const existing = JSON.parse(byId("survey-draft").textContent || "null");
/** @type {QuestionDraft[]} */
let questions = existing ? existing.questions : [];
const CHOICE = ["single", "multiple"];

/** @param {string} id @param {number | null} ms */
function setTime(id, ms) {
  if (!ms) return;
  const local = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  byId(id, HTMLInputElement).value = local.toISOString().slice(0, 16);
}

/** @param {string} id */
function getTime(id) {
  const value = byId(id, HTMLInputElement).value;
  return value ? new Date(value).getTime() : null;
}

function newId() {
  let n = questions.length + 1;
  while (questions.some((q) => q.id === `q${n}`)) n += 1;
  return `q${n}`;
}

function showAudience() {
  byId("buildings-field").hidden = audience.value !== "buildings";
  byId("group-field").hidden = audience.value !== "group";
}

function render() {
  list.replaceChildren();
  questions.forEach((q, i) => {
    const item = el("li", "survey-builder-item");
    const kind = el("p", "survey-number", t(`surveys.kind.${q.kind}`));
    const textLabel = el("label", "", t("surveys.edit.text"));
    const text = el("input");
    text.id = `text-${q.id}`;
    textLabel.htmlFor = text.id;
    text.value = q.text;
    text.maxLength = 300;
    text.addEventListener("input", () => { q.text = text.value; });
    item.append(kind, textLabel, text);
    if (q.kind !== "section") {
      const required = el("input");
      required.type = "checkbox";
      required.checked = Boolean(q.required);
      required.addEventListener("change", () => { q.required = required.checked; });
      const label = el("label", "check");
      label.append(required, ` ${t("surveys.edit.required")}`);
      item.append(label);
    }
    if (CHOICE.includes(q.kind)) {
      const optionsLabel = el("label", "", t("surveys.edit.options"));
      const options = el("textarea");
      options.id = `options-${q.id}`;
      optionsLabel.htmlFor = options.id;
      options.rows = 4;
      options.value = (q.options || []).join("\n");
      options.addEventListener("input", () => {
        q.options = options.value.split("\n").map((o) => o.trim()).filter(Boolean);
      });
      item.append(optionsLabel, options);
    }
    if (q.kind === "multiple") {
      const maxLabel = el("label", "", t("surveys.edit.max_choices"));
      const max = el("input");
      max.id = `max-${q.id}`;
      maxLabel.htmlFor = max.id;
      max.type = "number";
      max.min = "1";
      max.value = q.max_choices ? String(q.max_choices) : "";
      max.addEventListener("input", () => { q.max_choices = max.value ? Number(max.value) : null; });
      item.append(maxLabel, max);
    }
    const tools = el("div", "survey-actions");
    for (const [key, move] of /** @type {[string, number][]} */ ([["up", -1], ["down", 1], ["remove", 0]])) {
      const button = el("button", "button-quiet", t(`surveys.edit.${key}`));
      button.type = "button";
      button.disabled = (move === -1 && i === 0) || (move === 1 && i === questions.length - 1);
      button.addEventListener("click", () => {
        if (move === 0) questions.splice(i, 1);
        else [questions[i], questions[i + move]] = [questions[i + move], questions[i]];
        render();
      });
      tools.append(button);
    }
    item.append(tools);
    list.append(item);
  });
}

byId("add-question").addEventListener("click", () => {
  const kind = byId("new-kind", HTMLSelectElement).value;
  questions.push({ id: newId(), kind, text: "", required: false, options: CHOICE.includes(kind) ? [] : undefined });
  render();
  const last = list.lastElementChild?.querySelector("input");
  if (last instanceof HTMLInputElement) last.focus();
});

audience.addEventListener("change", showAudience);

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const buildings = [...form.querySelectorAll("input[name=building]:checked")].map(
    (box) => Number(/** @type {HTMLInputElement} */ (box).value),
  );
  const body = {
    title: byId("title", HTMLInputElement).value,
    intro: byId("intro", HTMLTextAreaElement).value,
    audience: audience.value,
    buildings,
    group: byId("group", HTMLSelectElement).value,
    counting: byId("counting", HTMLSelectElement).value,
    anonymous: byId("anonymous", HTMLInputElement).checked,
    allow_change: byId("allow-change", HTMLInputElement).checked,
    opens_at: getTime("opens-at"),
    closes_at: getTime("closes-at"),
    remind_at: getTime("remind-at"),
    questions: questions.map((q) => ({
      id: q.id, kind: q.kind, text: q.text, required: Boolean(q.required),
      ...(CHOICE.includes(q.kind) ? { options: q.options || [] } : {}),
      ...(q.kind === "multiple" && q.max_choices ? { max_choices: q.max_choices } : {}),
    })),
  };
  const path = existing?.id ? `/api/surveys/${existing.id}` : "/api/surveys";
  const result = await api("POST", path, body);
  if (!result.ok) {
    const key = `surveys.errors.${result.error.code}`;
    const own = t(key);
    showText(formError, own === key ? `${errorText(result.error.code, result.error.field)} ${result.error.message ?? ""}` : own);
    return;
  }
  location.assign(`/surveys/${result.data.survey.id}`);
});

if (existing) {
  byId("title", HTMLInputElement).value = existing.title;
  byId("intro", HTMLTextAreaElement).value = existing.intro;
  audience.value = existing.audience;
  for (const box of form.querySelectorAll("input[name=building]")) {
    const input = /** @type {HTMLInputElement} */ (box);
    input.checked = existing.buildings.includes(Number(input.value));
  }
  byId("group", HTMLSelectElement).value = existing.group;
  byId("counting", HTMLSelectElement).value = existing.counting;
  byId("anonymous", HTMLInputElement).checked = existing.anonymous;
  byId("allow-change", HTMLInputElement).checked = existing.allow_change;
  setTime("opens-at", existing.opens_at);
  setTime("closes-at", existing.closes_at);
  setTime("remind-at", existing.remind_at);
}
showAudience();
render();

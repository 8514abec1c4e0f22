// @ts-check
// Answering a survey. The page comes from the server with every question and the resident's saved
// answers in place; this script makes it one question per screen on a narrow screen (back, next,
// a progress bar), saves each answer as it is given (so another device resumes here) and sends
// the response. A retried send carries the same submission id, so it counts once.
import { api, showText } from "../common.js";
import { errorText, t } from "../i18n.js";
import { byId, find } from "../lib/dom.js";

/** @typedef {number | number[] | string} AnswerValue */

const article = byId("survey");
const surveyId = Number(article.dataset.surveyId);
const preview = article.dataset.preview === "1";
const allowChange = article.dataset.allowChange === "1";
const formEl = document.getElementById("survey-form");

if (formEl instanceof HTMLFormElement) setUp(formEl);

/** @param {HTMLFormElement} form */
function setUp(form) {
  const steps = /** @type {HTMLElement[]} */ ([...form.querySelectorAll(".survey-step")]);
  const progress = byId("survey-progress", HTMLProgressElement);
  const progressText = byId("survey-progress-text");
  const back = byId("survey-back", HTMLButtonElement);
  const next = byId("survey-next", HTMLButtonElement);
  const submit = byId("survey-submit", HTMLButtonElement);
  const saved = byId("survey-saved");
  const done = byId("survey-done");
  const formError = byId("form-error");
  const narrow = window.matchMedia("(max-width: 47.99rem)");
  /** @type {Set<string>} */
  const pending = new Set();
  /** @type {number | undefined} */
  let saveTimer;
  let current = 0;
  /** One id per submission: a resend after a lost answer is recognised as the same one. */
  let submissionId = newId();

  function newId() {
    return typeof crypto.randomUUID === "function"
      ? crypto.randomUUID()
      : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
  }

  /** @param {string} code */
  function surveyError(code) {
    const key = `surveys.errors.${code}`;
    const text = t(key);
    return text === key ? errorText(code) : text;
  }

  /** @param {HTMLElement} step @returns {AnswerValue | null} */
  function valueOf(step) {
    const kind = step.dataset.kind;
    if (kind === "short_text" || kind === "long_text") {
      const field = step.querySelector("input, textarea");
      const text = field instanceof HTMLInputElement || field instanceof HTMLTextAreaElement ? field.value.trim() : "";
      return text;
    }
    const checked = [...step.querySelectorAll("input:checked")].map((el) => Number(/** @type {HTMLInputElement} */ (el).value));
    if (kind === "multiple") return checked;
    return checked.length ? checked[0] : null;
  }

  /** @param {HTMLElement} step */
  function isAnswered(step) {
    const value = valueOf(step);
    return value !== null && value !== "" && !(Array.isArray(value) && value.length === 0);
  }

  /** @param {HTMLElement} step @param {string} text */
  function stepError(step, text) {
    const el = find(step, ".field-error");
    showText(el, text);
    const fieldset = step.querySelector("fieldset");
    if (text) fieldset?.setAttribute("aria-invalid", "true");
    else fieldset?.removeAttribute("aria-invalid");
  }

  function showProgress() {
    const answered = steps.filter(isAnswered).length;
    progress.value = answered;
    progressText.textContent = t("surveys.answer.progress", { done: answered, total: steps.length });
  }

  function layout() {
    const paged = narrow.matches && steps.length > 1;
    form.classList.toggle("survey-paged", paged);
    steps.forEach((step, i) => step.classList.toggle("is-current", i === current));
    back.hidden = !paged || current === 0;
    next.hidden = !paged || current === steps.length - 1;
    submit.hidden = paged && current !== steps.length - 1;
  }

  /** @param {number} index */
  function go(index) {
    current = Math.max(0, Math.min(steps.length - 1, index));
    layout();
    if (form.classList.contains("survey-paged")) {
      const step = steps[current];
      step.tabIndex = -1;
      step.focus();
      step.scrollIntoView({ block: "start" });
    }
  }

  async function save() {
    window.clearTimeout(saveTimer);
    if (preview || pending.size === 0) return true;
    /** @type {Record<string, AnswerValue>} */
    const answers = {};
    for (const qid of pending) {
      const step = steps.find((s) => s.dataset.question === qid);
      if (!step) continue;
      const value = valueOf(step);
      answers[qid] = value === null ? [] : value;
    }
    pending.clear();
    showText(saved, t("surveys.answer.saving"));
    const result = await api("POST", `/api/surveys/${surveyId}/answers`, { answers });
    if (result.ok) {
      showText(saved, t("surveys.answer.saved"));
      return true;
    }
    for (const qid of Object.keys(answers)) pending.add(qid);
    showText(saved, result.error?.code === "network" ? t("surveys.answer.save_failed") : surveyError(result.error?.code ?? ""));
    return false;
  }

  /** @param {HTMLElement} step @param {number} delay */
  function changed(step, delay) {
    const qid = step.dataset.question;
    if (!qid) return;
    stepError(step, "");
    pending.add(qid);
    showProgress();
    window.clearTimeout(saveTimer);
    saveTimer = window.setTimeout(save, delay);
  }

  for (const step of steps) {
    step.addEventListener("change", (event) => {
      const target = event.target;
      if (target instanceof HTMLInputElement && target.type === "checkbox" && target.checked) {
        const max = Number(target.dataset.max || 0);
        const chosen = step.querySelectorAll("input:checked").length;
        if (max && chosen > max) {
          target.checked = false;
          stepError(step, t("surveys.answer.too_many", { n: max }));
          return;
        }
      }
      changed(step, 300);
    });
    step.addEventListener("input", (event) => {
      if (event.target instanceof HTMLTextAreaElement || (event.target instanceof HTMLInputElement && event.target.type === "text")) {
        changed(step, 1200);
      }
    });
  }

  back.addEventListener("click", () => go(current - 1));
  next.addEventListener("click", () => {
    const step = steps[current];
    if (step.dataset.required === "1" && !isAnswered(step)) {
      stepError(step, t("surveys.answer.need_answer"));
      find(step, "input, textarea")?.focus();
      return;
    }
    void save();
    go(current + 1);
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (preview) return;
    const missing = steps.filter((s) => s.dataset.required === "1" && !isAnswered(s));
    if (missing.length) {
      for (const step of missing) stepError(step, t("surveys.answer.need_answer"));
      go(steps.indexOf(missing[0]));
      return;
    }
    /** @type {Record<string, AnswerValue>} */
    const answers = {};
    for (const step of steps) {
      const qid = step.dataset.question;
      const value = valueOf(step);
      if (qid) answers[qid] = value === null ? [] : value;
    }
    window.clearTimeout(saveTimer);
    pending.clear();
    submit.disabled = true;
    const result = await api("POST", `/api/surveys/${surveyId}/answers`, {
      answers, submit: true, submission_id: submissionId,
    });
    submit.disabled = false;
    if (!result.ok) {
      // A lost answer keeps the id (a resend is the same submission); any other answer is final.
      if (result.error?.code !== "network") submissionId = newId();
      // survey_missing_answers names the questions (docs/protocol.md).
      const detail = /** @type {{questions?: string[]}} */ (/** @type {unknown} */ (result.error));
      const questions = detail?.questions ?? [];
      const first = steps.find((s) => questions.includes(s.dataset.question ?? ""));
      if (first) {
        stepError(first, t("surveys.answer.need_answer"));
        go(steps.indexOf(first));
      }
      showText(formError, surveyError(result.error?.code ?? ""));
      return;
    }
    submissionId = newId();
    showText(formError, "");
    showText(saved, "");
    done.hidden = false;
    if (allowChange) {
      submit.textContent = t("surveys.answer.resubmit");
    } else {
      form.hidden = true;
    }
    done.tabIndex = -1;
    done.focus();
  });

  narrow.addEventListener("change", layout);
  const firstOpen = steps.findIndex((s) => !isAnswered(s));
  current = firstOpen < 0 ? 0 : firstOpen;
  showProgress();
  layout();
}

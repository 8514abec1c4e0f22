// @ts-check
// The surveys list: residents follow links; staff publish, close and remind from each survey's
// buttons, make this month's draft from the template and turn the monthly survey on or off.
import { api, showText } from "../common.js";
import { errorText, t } from "../i18n.js";
import { find } from "../lib/dom.js";

const status = find(document, "#surveys-status");
const formError = find(document, "#form-error");

/** @param {{code?: string} | null | undefined} error */
function surveyError(error) {
  const code = error?.code;
  const own = `surveys.errors.${code}`;
  const text = t(own);
  return text === own ? errorText(code) : text;
}

/** @param {import("../types.js").ApiResult} result */
function report(result) {
  if (result.ok) {
    showText(formError, "");
    return true;
  }
  showText(formError, surveyError(result.error));
  showText(status, surveyError(result.error));
  return false;
}

for (const item of document.querySelectorAll(".survey-item")) {
  if (!(item instanceof HTMLElement)) continue;
  const id = item.dataset.surveyId;
  for (const button of item.querySelectorAll("button[data-action]")) {
    if (!(button instanceof HTMLButtonElement)) continue;
    const action = button.dataset.action;
    button.addEventListener("click", async () => {
      if (action === "close" && !confirm(t("surveys.staff.confirm_close"))) return;
      button.disabled = true;
      const result = await api("POST", `/api/surveys/${id}/${action}`, {});
      button.disabled = false;
      if (!report(result)) return;
      if (action === "remind") {
        showText(status, t("surveys.staff.reminded", { n: result.data.reminded }));
        return;
      }
      location.reload();
    });
  }
}

const fromTemplate = document.getElementById("from-template");
fromTemplate?.addEventListener("click", async () => {
  const result = await api("POST", "/api/surveys/from-template", { template: "monthly" });
  if (report(result)) location.assign(`/surveys/${result.data.survey.id}`);
});

const seriesForm = document.getElementById("series-form");
if (seriesForm instanceof HTMLFormElement) {
  seriesForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = seriesForm.querySelector("#series-enabled");
    const enabled = box instanceof HTMLInputElement && box.checked;
    const result = await api("POST", "/api/surveys/series", { enabled });
    if (report(result)) showText(status, t("surveys.staff.done"));
  });
}

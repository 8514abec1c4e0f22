// @ts-check
// The resident's helpers (who may act for them), what helpers did for them, and the residents
// this user helps, each with a form to file a request for them (web/onboard/api.py).
import { api, showFormError } from "../common.js";
import { errorText, formatTime, t } from "../i18n.js";
import { byId, node, part } from "../lib/dom.js";

/**
 * @typedef {{id: number, resident_id: number, resident: string, helper_id: number, helper: string, by_desk: boolean, created_at: number}} Helper
 * @typedef {{kind: string, object_id: number, helper_id: number, helper: string, at: number}} Act
 * @typedef {{helpers: Helper[], helping: Helper[], acts: Act[]}} HelpersBody
 */

const helperForm = byId("helper-form", HTMLFormElement);
const template = byId("for-template", HTMLTemplateElement);

/** @param {number} rowId */
async function end(rowId) {
  const result = await api("POST", `/api/helpers/${rowId}/end`, {});
  if (result.ok) await load();
}

/** @param {HelpersBody} body */
function render(body) {
  const mine = byId("my-helpers", HTMLUListElement);
  mine.replaceChildren(...body.helpers.map((h) => {
    const li = node("li", "admin-item", t(h.by_desk ? "onboard.helpers.item_desk" : "onboard.helpers.item", { name: h.helper }));
    const stop = node("button", "button-quiet", t("onboard.helpers.end_named", { name: h.helper }));
    stop.setAttribute("type", "button");
    stop.addEventListener("click", () => end(h.id));
    li.append(" ", stop);
    return li;
  }));
  byId("no-helpers").hidden = body.helpers.length > 0;

  const acts = byId("acts", HTMLUListElement);
  acts.replaceChildren(...body.acts.map((a) => {
    const li = node("li", "admin-item");
    const link = node("a", "", t("onboard.helpers.act_request", { name: a.helper, id: a.object_id }));
    /** @type {HTMLAnchorElement} */ (link).href = `/requests/${a.object_id}`;
    li.append(link, ` · ${formatTime(a.at)}`);
    return li;
  }));
  byId("no-acts").hidden = body.acts.length > 0;

  const helping = byId("helping", HTMLUListElement);
  helping.replaceChildren(...body.helping.map((h) => {
    const item = /** @type {HTMLElement} */ (template.content.firstElementChild?.cloneNode(true));
    part(item, ".for-name").textContent = t("onboard.helpers.for_name", { name: h.resident });
    const form = part(item, ".for-form", HTMLFormElement);
    const category = part(item, ".for-category", HTMLSelectElement);
    const text = part(item, ".for-text", HTMLTextAreaElement);
    const error = part(item, ".for-error");
    const done = part(item, ".for-done");
    // Ids of their own per resident, so each label names its control.
    category.id = `for-category-${h.resident_id}`;
    text.id = `for-text-${h.resident_id}`;
    error.id = `for-text-${h.resident_id}-error`;
    text.setAttribute("aria-describedby", error.id);
    part(item, ".for-category-label").setAttribute("for", category.id);
    part(item, ".for-text-label").setAttribute("for", text.id);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.hidden = true;
      if (!text.value.trim()) {
        error.textContent = errorText("bad_request");
        error.hidden = false;
        text.focus();
        return;
      }
      const result = await api("POST", `/api/helpers/for/${h.resident_id}/requests`, {
        category: category.value, text: text.value,
      });
      if (!result.ok) {
        error.textContent = errorText(result.error.code);
        error.hidden = false;
        return;
      }
      const filed = /** @type {{request: {id: number}}} */ (result.data);
      text.value = "";
      done.replaceChildren();
      const link = node("a", "", t("onboard.helpers.filed", { name: h.resident, id: filed.request.id }));
      /** @type {HTMLAnchorElement} */ (link).href = `/requests/${filed.request.id}`;
      done.append(link);
    });
    const stop = part(item, ".for-end", HTMLButtonElement);
    stop.textContent = t("onboard.helpers.stop_named", { name: h.resident });
    stop.addEventListener("click", () => end(h.id));
    return item;
  }));
  byId("no-helping").hidden = body.helping.length > 0;
}

async function load() {
  const result = await api("GET", "/api/helpers");
  if (result.ok) render(/** @type {HelpersBody} */ (result.data));
}

helperForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = byId("helper-username", HTMLInputElement);
  if (!input.value.trim()) {
    showFormError(helperForm, { code: "bad_request", field: "helper-username" });
    return;
  }
  const result = await api("POST", "/api/helpers", { username: input.value.trim() });
  if (!result.ok) {
    showFormError(helperForm, { ...result.error, field: "helper-username" });
    return;
  }
  showFormError(helperForm, null);
  input.value = "";
  await load();
});

const deskForm = document.getElementById("desk-helps-form");
if (deskForm instanceof HTMLFormElement) {
  deskForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = byId("resident-username", HTMLInputElement);
    const result = await api("POST", "/api/onboard/helpers", { username: input.value.trim() });
    if (!result.ok) {
      showFormError(deskForm, { ...result.error, field: "resident-username" });
      return;
    }
    showFormError(deskForm, null);
    input.value = "";
    await load();
  });
}

await load();

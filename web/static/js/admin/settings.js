// @ts-check
// The console's settings: the ones an admin changes at run time, each with its documentation,
// and the community's logo (uploaded as the raw file, checked by the server).
import { api, showFormError, showText } from "../common.js";
import { errorText } from "../i18n.js";
import { byId } from "../lib/dom.js";

const form = byId("settings-form", HTMLFormElement);
const logoForm = byId("logo-form", HTMLFormElement);
const logoInput = byId("logo", HTMLInputElement);
const preview = byId("logo-preview", HTMLImageElement);
const removeButton = byId("logo-remove", HTMLButtonElement);
const logoSaved = byId("logo-saved");

async function load() {
  /** @type {import("../types.js").ApiResult<{settings: Record<string, string>}>} */
  const result = await api("GET", "/api/admin/settings");
  if (!result.ok) return;
  for (const [key, value] of Object.entries(result.data.settings)) {
    const input = form.elements.namedItem(key);
    if (input instanceof HTMLInputElement || input instanceof HTMLSelectElement) input.value = value;
    else if (input instanceof RadioNodeList) {
      // Check boxes (the languages): the value is their comma-separated list.
      const chosen = value.split(",");
      for (const box of form.querySelectorAll(`input[name="${key}"]`)) {
        if (box instanceof HTMLInputElement) box.checked = chosen.includes(box.value);
      }
    }
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  /** @type {Record<string, string>} */
  const values = {};
  for (const select of form.querySelectorAll("select")) values[select.name] = select.value;
  for (const input of form.querySelectorAll("input")) {
    if (input.type !== "checkbox") values[input.name] = input.value;
    else if (!(input.name in values)) values[input.name] = "";
    if (input.type === "checkbox" && input.checked) {
      values[input.name] = values[input.name] ? `${values[input.name]},${input.value}` : input.value;
    }
  }
  const result = await api("POST", "/api/admin/settings", values);
  showFormError(form, result.ok ? null : result.error);
  showText(byId("settings-saved"), result.ok ? byId("settings-saved").dataset.text ?? "" : "");
});

/** @param {string | null} url */
function showLogo(url) {
  if (url) preview.src = url;
  else preview.removeAttribute("src");
  preview.hidden = !url;
  byId("logo-none").hidden = Boolean(url);
  removeButton.hidden = !url;
}

logoForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = logoInput.files?.[0];
  showText(logoSaved, "");
  if (!file) {
    showFormError(logoForm, { code: "upload_empty", field: "logo" });
    return;
  }
  let response = null;
  try {
    response = await fetch(`/api/admin/logo?name=${encodeURIComponent(file.name)}`, {
      method: "POST", body: file, credentials: "same-origin",
      headers: { "Content-Type": file.type || "application/octet-stream", Accept: "application/json" },
    });
  } catch {
    showFormError(logoForm, { code: "network", field: "logo" });
    return;
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    showFormError(logoForm, { ...(data?.error ?? { code: "generic" }), field: "logo" });
    return;
  }
  showFormError(logoForm, null);
  showLogo(data.logo);
  logoForm.reset();
  showText(logoSaved, logoSaved.dataset.saved ?? "");
});

removeButton.addEventListener("click", async () => {
  const result = await api("POST", "/api/admin/logo/remove", {});
  showFormError(logoForm, result.ok ? null : { ...result.error, field: "logo" });
  if (!result.ok) return;
  showLogo(null);
  showText(logoSaved, logoSaved.dataset.removed ?? "");
});

// How long records are kept (GET/POST /api/privacy/retention): a box per kind, empty for ever.
const retentionForm = byId("retention-form", HTMLFormElement);
const retentionSaved = byId("retention-saved");
/** @type {Record<string, number | null>} */
let retentionStored = {};

/** @param {Record<string, number | null>} retention */
function showRetention(retention) {
  retentionStored = retention;
  for (const [kind, days] of Object.entries(retention)) {
    const input = retentionForm.elements.namedItem(kind);
    if (input instanceof HTMLInputElement) input.value = days === null ? "" : String(days);
  }
}

async function loadRetention() {
  /** @type {import("../types.js").ApiResult<{retention: Record<string, number | null>}>} */
  const result = await api("GET", "/api/privacy/retention");
  if (result.ok) showRetention(result.data.retention);
}

retentionForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  showText(retentionSaved, "");
  showText(byId("retention-error"), "");
  /** @type {{kind: string, days: number | null}[]} */
  const changes = [];
  let firstBad = null;
  for (const input of retentionForm.querySelectorAll("input")) {
    const error = byId(`${input.id}-error`);
    const text = input.value.trim();
    const days = text === "" ? null : Number(text);
    const bad = days !== null && !(Number.isInteger(days) && days >= 1 && days <= 36500);
    showText(error, bad ? error.dataset.text ?? "" : "");
    if (bad) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
    if (bad) firstBad ??= input;
    else if (days !== retentionStored[input.name]) changes.push({ kind: input.name, days });
  }
  if (firstBad) {
    firstBad.focus();
    return;
  }
  for (const change of changes) {
    /** @type {import("../types.js").ApiResult<{retention: Record<string, number | null>}>} */
    const result = await api("POST", "/api/privacy/retention", change);
    if (!result.ok) {
      showText(byId("retention-error"), errorText(result.error.code, result.error.field));
      return;
    }
    showRetention(result.data.retention);
  }
  showText(retentionSaved, retentionSaved.dataset.text ?? "");
});

byId("settings-saved").dataset.text = byId("settings-saved").textContent ?? "";
load();
loadRetention();

// @ts-check
// What every page shares: the language switch, logging out, the notifications bell, the phone's
// top menu, elder mode's text size and contrast, and calling the HTTP API.
import { errorText, switchLanguage } from "./i18n.js";
import { installBell } from "./lib/bell.js";
import { installDisplayTools } from "./lib/display.js";
import { installTopMenu } from "./lib/top-menu.js";
import { find } from "./lib/dom.js";

/** @typedef {import("./types.js").ApiError} ApiError */
/** @template [T=any] @typedef {import("./types.js").ApiResult<T>} ApiResult */

/**
 * Call the JSON API. Resolves to {ok, status, data, error: {code, message, field}}; never
 * throws (a network failure is the error code "network").
 * @param {"GET" | "POST"} method
 * @param {string} path
 * @param {unknown} [body]  sent as JSON when given
 * @returns {Promise<ApiResult>}
 */
export async function api(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { Accept: "application/json" };
  /** @type {RequestInit} */
  const options = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    return { ok: false, status: 0, data: null, error: { code: "network" } };
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (response.ok) return { ok: true, status: response.status, data, error: null };
  return { ok: false, status: response.status, data, error: data?.error ?? { code: "generic" } };
}

/**
 * Show `text` in element `el` (textContent: never markup), or hide it when empty.
 * @param {HTMLElement | null} el
 * @param {string | null | undefined} text
 */
export function showText(el, text) {
  if (!el) return;
  el.textContent = text || "";
  el.hidden = !text;
}

/**
 * Put each API error on its form field (with aria-invalid) or in the form's error line.
 * @param {HTMLFormElement} form
 * @param {ApiError | null} error  null clears them
 */
export function showFormError(form, error) {
  for (const el of form.querySelectorAll(".field-error")) showText(/** @type {HTMLElement} */ (el), "");
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const general = find(form, "#form-error");
  if (!error) {
    showText(general, "");
    return;
  }
  const field = error.field ? find(form, `#${CSS.escape(error.field)}`) : null;
  const text = errorText(error.code, error.field);
  const fieldError = error.field ? find(form, `#${CSS.escape(error.field)}-error`) : null;
  if (field && fieldError) {
    field.setAttribute("aria-invalid", "true");
    // The message sits by its field and is read with it (aria-describedby) when it gets focus.
    showText(general, "");
    showText(fieldError, text);
    field.focus();
  } else {
    showText(general, text);
    if (field) {
      field.setAttribute("aria-invalid", "true");
      field.focus();
    }
  }
}

/**
 * While `work` runs the submit button says what is happening and cannot be pressed twice.
 * @template T
 * @param {HTMLButtonElement} button
 * @param {() => Promise<T>} work
 * @returns {Promise<T>}
 */
export async function busy(button, work) {
  const label = button.textContent;
  button.disabled = true;
  if (button.dataset.working) button.textContent = button.dataset.working;
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

function setUpChrome() {
  installTopMenu();
  installDisplayTools();
  for (const id of ["lang-switch", "wording-switch"]) {
    const button = document.getElementById(id);
    button?.addEventListener("click", () => {
      if (button.dataset.lang) switchLanguage(button.dataset.lang);
    });
  }
  document.getElementById("logout")?.addEventListener("click", async () => {
    await api("POST", "/api/logout", {});
    location.assign("/login");
  });
  installBell(async () => {
    /** @type {ApiResult<import("./types.js").UnreadBody>} */
    const result = await api("GET", "/api/notifications/unread");
    return result.ok ? result.data.unread : null;
  });
}

setUpChrome();

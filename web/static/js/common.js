// What every page shares: the language switch, logging out, and calling the HTTP API.
import { errorText, switchLanguage } from "./i18n.js";

/** Call the JSON API. Resolves to {ok, status, data, error: {code, message, field}}; never
 * throws (a network failure is the error code "network"). */
export async function api(method, path, body) {
  const options = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
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

/** Show `text` in element `el` (textContent: never markup), or hide it when empty. */
export function showText(el, text) {
  if (!el) return;
  el.textContent = text || "";
  el.hidden = !text;
}

/** Put each API error on its form field (with aria-invalid) or in the form's error line. */
export function showFormError(form, error) {
  for (const el of form.querySelectorAll(".field-error")) showText(el, "");
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const general = form.querySelector("#form-error");
  if (!error) {
    showText(general, "");
    return;
  }
  const field = error.field ? form.querySelector(`#${CSS.escape(error.field)}`) : null;
  const text = errorText(error.code, error.field);
  const fieldError = error.field ? form.querySelector(`#${CSS.escape(error.field)}-error`) : null;
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

/** While `work` runs the submit button says what is happening and cannot be pressed twice. */
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
  document.getElementById("lang-switch")?.addEventListener("click", (event) => {
    switchLanguage(event.currentTarget.dataset.lang);
  });
  document.getElementById("logout")?.addEventListener("click", async () => {
    await api("POST", "/api/logout", {});
    location.assign("/login");
  });
}

setUpChrome();

// @ts-check
// The console's settings: the ones an admin changes at run time, each with its documentation.
import { api, showFormError, showText } from "../common.js";
import { byId } from "../lib/dom.js";

const form = byId("settings-form", HTMLFormElement);

async function load() {
  /** @type {import("../types.js").ApiResult<{settings: Record<string, string>}>} */
  const result = await api("GET", "/api/admin/settings");
  if (!result.ok) return;
  for (const [key, value] of Object.entries(result.data.settings)) {
    const input = form.elements.namedItem(key);
    if (input instanceof HTMLInputElement) input.value = value;
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  /** @type {Record<string, string>} */
  const values = {};
  for (const input of form.querySelectorAll("input")) values[input.name] = input.value;
  const result = await api("POST", "/api/admin/settings", values);
  showFormError(form, result.ok ? null : result.error);
  showText(byId("settings-saved"), result.ok ? byId("settings-saved").dataset.text ?? "" : "");
});

byId("settings-saved").dataset.text = byId("settings-saved").textContent ?? "";
load();

// @ts-check
// The forgot-password page: the username, the reset code the management office gave, a new
// password; then the resident is logged in.
import { api, busy, showFormError } from "../common.js";
import { byId, part } from "../lib/dom.js";

const form = byId("reset-form", HTMLFormElement);
const username = byId("username", HTMLInputElement);
const code = byId("code", HTMLInputElement);
const password = byId("password", HTMLInputElement);
const show = byId("show-password", HTMLInputElement);

show.addEventListener("change", () => {
  password.type = show.checked ? "text" : "password";
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  for (const [input, field] of /** @type {const} */ ([[username, "username"], [code, "code"], [password, "password"]])) {
    if (!input.value.trim()) {
      showFormError(form, { code: "bad_request", field });
      return;
    }
  }
  const result = await busy(part(form, "button[type=submit]", HTMLButtonElement), () =>
    api("POST", "/api/password-reset", {
      username: username.value.trim(), code: code.value.trim(), password: password.value,
    }),
  );
  if (result.ok) {
    location.assign("/");
    return;
  }
  // Registered at the desk and never logged in: the password just set opens the first login.
  if (result.error.code === "password_change_required") {
    location.assign(`/first-login?${new URLSearchParams({ username: username.value.trim() })}`);
    return;
  }
  showFormError(form, result.error.code === "invalid_reset_code" ? { ...result.error, field: "code" } : result.error);
});

username.focus();

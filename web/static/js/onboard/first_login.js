// @ts-check
// The first login of a resident registered at the management desk: the first password or the
// printed code, then a password of their own; then logged in and welcomed.
import { api, busy, showFormError } from "../common.js";
import { byId, part } from "../lib/dom.js";

const form = byId("first-form", HTMLFormElement);
const username = byId("username", HTMLInputElement);
const secret = byId("secret", HTMLInputElement);
const password = byId("password", HTMLInputElement);
const show = byId("show-password", HTMLInputElement);

show.addEventListener("change", () => {
  password.type = show.checked ? "text" : "password";
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  for (const [input, field] of /** @type {const} */ ([[username, "username"], [secret, "secret"], [password, "password"]])) {
    if (!input.value.trim()) {
      showFormError(form, { code: "bad_request", field });
      return;
    }
  }
  const result = await busy(part(form, "button[type=submit]", HTMLButtonElement), () =>
    api("POST", "/api/first-login", {
      username: username.value.trim(), secret: secret.value.trim(), password: password.value,
    }),
  );
  if (result.ok) {
    location.assign("/welcome");
    return;
  }
  showFormError(form, result.error);
});

(username.value ? secret : username).focus();

import { api, busy, showFormError } from "./common.js";
import { page } from "./i18n.js";

const form = document.getElementById("register-form");
const FIELDS = ["invite_code", "username", "display_name", "password", "unit"];

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = {};
  for (const name of FIELDS) body[name] = form.elements[name].value;
  body.username = body.username.trim().toLowerCase();
  body.invite_code = body.invite_code.replace(/\s+/g, "").toUpperCase();
  // Check what can be checked here, with the same catalogue messages the server's codes map to.
  for (const name of FIELDS) {
    if (!body[name].trim()) {
      showFormError(form, { code: "bad_request", field: name });
      return;
    }
  }
  if (body.password.length < page.min_password) {
    showFormError(form, { code: "weak_password", field: "password" });
    return;
  }
  const result = await busy(form.querySelector("button[type=submit]"), () =>
    api("POST", "/api/register", body),
  );
  if (result.ok) {
    location.assign("/");
    return;
  }
  showFormError(form, result.error);
});

document.getElementById("invite_code").focus();

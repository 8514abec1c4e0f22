// @ts-check
import { api, busy, showFormError } from "./common.js";
import { page } from "./i18n.js";
import { byId, control, part } from "./lib/dom.js";

const form = byId("register-form", HTMLFormElement);
const FIELDS = /** @type {const} */ (["invite_code", "username", "display_name", "password", "unit"]);

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  /** @type {Record<(typeof FIELDS)[number], string>} */
  const body = { invite_code: "", username: "", display_name: "", password: "", unit: "" };
  for (const name of FIELDS) body[name] = control(form, name).value;
  body.username = body.username.trim().toLowerCase();
  body.invite_code = body.invite_code.replace(/\s+/g, "").toUpperCase();
  // Check what can be checked here, with the same catalogue messages the server's codes map to.
  for (const name of FIELDS) {
    if (!body[name].trim()) {
      showFormError(form, { code: "bad_request", field: name });
      return;
    }
  }
  const consent = byId("consent", HTMLInputElement).checked;
  if (!consent) {
    showFormError(form, { code: "consent_required", field: "consent" });
    return;
  }
  if (body.password.length < page.min_password) {
    showFormError(form, { code: "weak_password", field: "password" });
    return;
  }
  const result = await busy(part(form, "button[type=submit]", HTMLButtonElement), () =>
    api("POST", "/api/register", { ...body, consent }),
  );
  if (result.ok) {
    location.assign("/welcome");
    return;
  }
  showFormError(form, result.error);
});

// A poster's link fills the invite code in: start at the next field.
const invite = byId("invite_code", HTMLInputElement);
(invite.value ? byId("username") : invite).focus();

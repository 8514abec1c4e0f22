// @ts-check
// The management desk registers a resident: the form, then a slip to print or read out (the
// username and, for the code mode, the one-time code — shown once).
import { api, busy, showFormError } from "../common.js";
import { formatFullTime, t } from "../i18n.js";
import { byId, control, part } from "../lib/dom.js";

const form = byId("desk-form", HTMLFormElement);
const passwordField = byId("password-field");
const slip = byId("desk-slip");
const FIELDS = /** @type {const} */ (["unit", "display_name", "username"]);

/** @returns {string} */
function checked(/** @type {string} */ name) {
  const found = form.querySelector(`input[name="${name}"]:checked`);
  return found instanceof HTMLInputElement ? found.value : "";
}

function showMode() {
  passwordField.hidden = checked("mode") !== "password";
}
for (const radio of form.querySelectorAll('input[name="mode"]')) radio.addEventListener("change", showMode);
showMode();

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  for (const name of FIELDS) {
    if (!control(form, name).value.trim()) {
      showFormError(form, { code: "bad_request", field: name });
      return;
    }
  }
  const consent = byId("consent", HTMLInputElement).checked;
  if (!consent) {
    showFormError(form, { code: "consent_required", field: "consent" });
    return;
  }
  const mode = checked("mode");
  const body = {
    building_id: Number(byId("building_id", HTMLSelectElement).value),
    unit: control(form, "unit").value,
    display_name: control(form, "display_name").value,
    username: control(form, "username").value.trim().toLowerCase(),
    mode,
    password: mode === "password" ? byId("password", HTMLInputElement).value : "",
    consent_how: checked("consent_how"),
    consent,
  };
  const result = await busy(part(form, "button[type=submit]", HTMLButtonElement), () =>
    api("POST", "/api/onboard/residents", body),
  );
  if (!result.ok) {
    showFormError(form, result.error);
    return;
  }
  showFormError(form, null);
  const done = /** @type {{user: {username: string, display_name: string}, code: string | null, expires_at: number | null}} */ (result.data);
  byId("slip-done").textContent = t("onboard.slip.done", { name: done.user.display_name });
  byId("slip-address").textContent = `${location.origin}/first-login`;
  byId("slip-username").textContent = done.user.username;
  byId("slip-code-label").textContent = t(done.code ? "onboard.slip.code" : "onboard.slip.password");
  byId("slip-code").textContent = done.code ?? body.password;
  byId("slip-expires").textContent = done.expires_at ? t("onboard.slip.expires", { when: formatFullTime(done.expires_at) }) : "";
  form.hidden = true;
  slip.hidden = false;
  byId("slip-print").focus();
});

byId("slip-print").addEventListener("click", () => window.print());
byId("slip-next").addEventListener("click", () => {
  form.reset();
  showMode();
  slip.hidden = true;
  form.hidden = false;
  control(form, "unit").focus();
});

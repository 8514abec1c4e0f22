// @ts-check
// The privacy settings: the export is a plain download link; deleting the account asks for
// the password and a last confirmation, then goes to the front page as a signed-out visitor.
import { api, busy, showFormError } from "../common.js";
import { t } from "../i18n.js";
import { byId, control, part } from "../lib/dom.js";

const form = byId("delete-form", HTMLFormElement);

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const password = control(form, "password").value;
  if (!password) {
    showFormError(form, { code: "bad_request", field: "password" });
    return;
  }
  if (!window.confirm(t("privacy.delete.confirm"))) return;
  const result = await busy(part(form, "button[type=submit]", HTMLButtonElement), () =>
    api("POST", "/api/privacy/delete", { password }),
  );
  if (result.ok) {
    location.assign("/login?deleted=1");
    return;
  }
  showFormError(form, result.error);
});

// The publishing rules page: admins edit the rules of each language (a reason is required and the
// change goes to the audit log).
import { api, busy, showText } from "./common.js";
import { errorText, t } from "./i18n.js";

for (const form of document.querySelectorAll(".rules-form")) {
  const locale = form.dataset.locale;
  const status = form.querySelector(".status-line");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const reason = form.querySelector(`#rules-reason-${locale}`).value.trim();
    if (!reason) {
      showText(status, t("mod.reason_needed"));
      return;
    }
    const body = form.querySelector("textarea").value;
    const result = await busy(form.querySelector("button"), () =>
      api("POST", `/api/mod/rules/${locale}`, { body, reason }),
    );
    showText(status, result.ok ? t("mod.rules_saved") : errorText(result.error.code));
  });
}

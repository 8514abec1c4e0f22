// @ts-check
// The publishing rules page: admins edit the rules of each language (a reason is required and the
// change goes to the audit log).
import { api, busy, showText } from "./common.js";
import { errorText, t } from "./i18n.js";
import { find, part } from "./lib/dom.js";

for (const form of document.querySelectorAll("form.rules-form")) {
  if (!(form instanceof HTMLFormElement)) continue;
  const locale = form.dataset.locale;
  const status = find(form, ".status-line");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const reason = part(form, `#rules-reason-${locale}`, HTMLInputElement).value.trim();
    if (!reason) {
      showText(status, t("mod.reason_needed"));
      return;
    }
    const body = part(form, "textarea", HTMLTextAreaElement).value;
    const result = await busy(part(form, "button", HTMLButtonElement), () =>
      api("POST", `/api/mod/rules/${locale}`, { body, reason }),
    );
    showText(status, result.ok ? t("mod.rules_saved") : errorText(result.error.code));
  });
}

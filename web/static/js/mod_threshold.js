// @ts-check
// The auto-hide threshold page: admins set how many residents' reports hide a message by
// themselves (POST /api/mod/settings, with a reason; the moderation worker reads it on the next
// report, so it is in effect at once). The current value stays shown in a status line.
import { api, busy, showFormError, showText } from "./common.js";
import { t } from "./i18n.js";
import { byId, part } from "./lib/dom.js";

const form = document.getElementById("threshold-form");
const now = byId("threshold-now");

if (form instanceof HTMLFormElement) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const raw = byId("auto_hide_threshold", HTMLInputElement).value.trim();
    const reason = byId("reason", HTMLInputElement).value.trim();
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value > 100) {
      showFormError(form, { code: "bad_request", message: "", field: "auto_hide_threshold" });
      showText(byId("auto_hide_threshold-error"), t("modp.threshold_bad"));
      return;
    }
    if (!reason) {
      showFormError(form, { code: "bad_request", message: "", field: "reason" });
      showText(byId("reason-error"), t("mod.reason_needed"));
      return;
    }
    /** @type {import("./types.js").ApiResult<{ auto_hide_threshold: number }>} */
    const result = await busy(part(form, "button", HTMLButtonElement), () =>
      api("POST", "/api/mod/settings", { auto_hide_threshold: value, reason }));
    if (!result.ok) {
      showFormError(form, result.error);
      return;
    }
    showFormError(form, null);
    byId("reason", HTMLInputElement).value = "";
    const count = result.data.auto_hide_threshold;
    now.dataset.count = String(count);
    showText(now, count ? t("modp.threshold_now", { count }) : t("modp.threshold_off"));
  });
}

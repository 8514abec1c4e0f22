// @ts-check
// The resident's appeals page (/appeals, web/templates/mod_my_appeals.html): the "I have read
// this" button of an answered appeal records the acknowledgement (POST
// /api/moderation/appeals/<id>/seen), after which the chat page stops saying an answer waits.
import { api, busy, showText } from "./common.js";
import { errorText, t } from "./i18n.js";

for (const button of document.querySelectorAll("button.appeal-seen")) {
  if (!(button instanceof HTMLButtonElement)) continue;
  button.addEventListener("click", async () => {
    const article = button.closest("article");
    const status = article?.querySelector(".my-appeal-seen");
    const result = await busy(button, () => api("POST", `/api/moderation/appeals/${button.dataset.appeal}/seen`));
    if (!(status instanceof HTMLElement)) return;
    if (result.ok) {
      showText(status, t("modres.my_appeal_seen"));
      // The button goes; focus moves to what replaced it rather than to the page's top.
      status.tabIndex = -1;
      button.closest("p")?.remove();
      status.focus();
    } else {
      showText(status, errorText(result.error.code));
    }
  });
}

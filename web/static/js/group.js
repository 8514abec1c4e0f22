// @ts-check
// A group's own page (/groups/<slug>): join, or leave after a confirmation; the page is drawn on
// the server, so after a change it is simply loaded again.
import { api, busy, showText } from "./common.js";
import { errorText, t } from "./i18n.js";
import { byId } from "./lib/dom.js";

const section = byId("group");
const slug = section.dataset.slug ?? "";
const name = section.dataset.name ?? "";
const status = byId("group-status");

/**
 * @param {"join" | "leave"} action
 * @param {HTMLButtonElement} button
 */
async function change(action, button) {
  if (action === "leave" && !confirm(t("groups.leave_ask", { name }))) return;
  const result = await busy(button, () => api("POST", `/api/groups/${encodeURIComponent(slug)}/${action}`, {}));
  if (!result.ok) {
    showText(status, errorText(result.error.code));
    return;
  }
  location.reload();
}

for (const [id, action] of /** @type {const} */ ([["group-join", "join"], ["group-leave", "leave"]])) {
  const button = document.getElementById(id);
  if (button instanceof HTMLButtonElement) button.addEventListener("click", () => change(action, button));
}

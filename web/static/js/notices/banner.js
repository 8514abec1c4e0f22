// @ts-check
// The urgent banner on every page (loaded by base.html for signed-in users): the urgent notices
// the reader's household has not acknowledged yet (or, when a notice asks for no confirmation,
// not opened), each a link to it. Read over HTTP when the page loads, when the reader comes
// back to the page, and whenever the bell's count changes (a new notification may be one).
import { api } from "../common.js";
import { t } from "../i18n.js";
import { pageBell } from "../lib/bell.js";

/** @typedef {{id: number, title: string, requires_ack: boolean}} UrgentNotice */

/** @type {HTMLElement | null} */
let box = null;

/** @param {UrgentNotice[]} urgent */
function show(urgent) {
  const here = location.pathname;
  const shown = urgent.filter((n) => here !== `/notices/${n.id}`);
  if (!shown.length) {
    box?.remove();
    box = null;
    return;
  }
  if (!box) {
    if (!document.querySelector('link[href="/static/css/notices.css"]')) {
      // Every page shows the banner; only the notices pages link the stylesheet themselves.
      const sheet = document.createElement("link");
      sheet.rel = "stylesheet";
      sheet.href = "/static/css/notices.css";
      document.head.append(sheet);
    }
    box = document.createElement("section");
    box.className = "urgent-banner";
    box.id = "urgent-banner";
    box.setAttribute("role", "region");
    box.setAttribute("aria-label", t("notices.banner_label"));
    document.getElementById("main")?.prepend(box);
  }
  box.replaceChildren(
    ...shown.map((n) => {
      const p = document.createElement("p");
      const strong = document.createElement("strong");
      strong.textContent = t("notices.banner", { title: n.title });
      const link = document.createElement("a");
      link.href = `/notices/${n.id}`;
      link.className = "button-primary";
      link.textContent = t("notices.banner_read");
      p.append(strong, " ", link);
      return p;
    }),
  );
}

async function refresh() {
  /** @type {import("../types.js").ApiResult<{urgent: UrgentNotice[]}>} */
  const result = await api("GET", "/api/notices/banner");
  if (result.ok) show(result.data.urgent);
}

refresh();
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") refresh();
});
// The bell is set up by common.js as the page loads; listen once it is there.
setTimeout(() => pageBell()?.listen(() => refresh()), 0);
addEventListener("linli:notice-acknowledged", () => refresh());

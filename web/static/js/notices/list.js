// @ts-check
// The notices page: server-rendered; this script only offers a newly published notice live
// (a notification of kind "notice" arriving over the page's WebSocket) as a link to reload.
import { api } from "../common.js";
import { LinliClient, socketUrl } from "../client.js";
import { errorText, t } from "../i18n.js";
import { withBell } from "../lib/bell.js";
import { byId } from "../lib/dom.js";

const fresh = byId("notices-new");
const live = byId("notices-live");

const client = new LinliClient(
  socketUrl(),
  withBell({
    inbox(push) {
      const latest = push.latest;
      if (!latest || latest.kind !== "notice" && latest.kind !== "urgent") return;
      fresh.hidden = false;
      live.textContent = t("notices.fresh");
    },
  }),
);
client.start();

// Administrators edit the categories (both languages) in the section below the list.
for (const form of document.querySelectorAll("form.category-form")) {
  if (!(form instanceof HTMLFormElement)) continue;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const id = form.dataset.categoryId;
    const body = {
      slug: String(data.get("slug") ?? ""),
      name_zh: String(data.get("name_zh") ?? ""),
      name_en: String(data.get("name_en") ?? ""),
      position: Number(data.get("position") ?? 0),
      archived: data.get("archived") === "on",
    };
    const result = await api("POST", id ? `/api/notices/categories/${id}` : "/api/notices/categories", body);
    const error = form.querySelector(".error");
    if (result.ok) {
      location.reload();
    } else if (error instanceof HTMLElement) {
      error.textContent = errorText(result.error.code, result.error.field);
      error.hidden = false;
    }
  });
}

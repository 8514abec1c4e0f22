// @ts-check
// The team's queue: the requests of the categories this member handles, open ones by default,
// overdue (or oldest) first, with the overdue ones marked in words and colour. Read again when
// a filter changes and whenever the page comes back into view.
import { api } from "../common.js";
import { page } from "../i18n.js";
import { byId } from "../lib/dom.js";
import { requestLine } from "./shared.js";

/** @typedef {import("./types.js").ListBody} ListBody */

const list = byId("queue", HTMLUListElement);
const filters = byId("queue-form", HTMLFormElement);

async function load() {
  const params = new URLSearchParams();
  const category = byId("category", HTMLSelectElement).value;
  const status = byId("status", HTMLSelectElement).value;
  if (category) params.append("category", category);
  if (status) params.append("status", status);
  params.set("order", byId("order", HTMLSelectElement).value);
  if (byId("mine-only", HTMLInputElement).checked && page.user) params.set("assignee", String(page.user.id));
  /** @type {import("../types.js").ApiResult<ListBody>} */
  const result = await api("GET", `/api/requests/queue?${params}`);
  if (!result.ok) return;
  list.replaceChildren(...result.data.requests.map((r) => requestLine(r)));
  byId("queue-none").hidden = result.data.requests.length > 0;
}

filters.addEventListener("change", () => load());
filters.addEventListener("submit", (event) => event.preventDefault());
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") load();
});
load();

// @ts-check
// What the requests pages share: a request as one line of a list (its number, category,
// status, place and age, "overdue" in words as well as colour).
import { formatTime, t } from "../i18n.js";
import { node } from "../lib/dom.js";

/** @typedef {import("./types.js").RequestItem} RequestItem */

/**
 * @param {RequestItem} item
 * @param {{ overdue?: boolean }} [options]
 * @returns {HTMLLIElement}
 */
export function requestLine(item, options = {}) {
  const li = node("li", `req-item req-${item.status}`);
  const link = node("a", "req-item-link");
  link.href = `/requests/${item.id}`;
  link.append(
    node("strong", "req-item-title", t("requests.queue.item", {
      id: item.id,
      category: t(`requests.category.${item.category}`),
      status: t(`requests.status.${item.status}`),
    })),
  );
  const text = item.text.length > 80 ? `${item.text.slice(0, 79)}…` : item.text;
  link.append(node("span", "req-item-text", text));
  const facts = [t("requests.queue.age", { time: formatTime(item.created_at) })];
  if (item.place) facts.push(item.place);
  if (item.floor) facts.push(t("requests.view.floor", { floor: item.floor }));
  link.append(node("span", "hint", facts.join(" · ")));
  li.append(link);
  if ((options.overdue ?? true) && item.overdue) {
    li.classList.add("req-late");
    li.append(node("span", "req-overdue", t("requests.view.overdue")));
  }
  return li;
}

/**
 * Add one photo to a request: the file's bytes as the body, its name in the address
 * (web/requests/api.py add_photo). Resolves to null, or the error code of a refusal.
 * @param {number} requestId
 * @param {File} file
 * @returns {Promise<string | null>}
 */
export async function uploadPhoto(requestId, file) {
  let response;
  try {
    response = await fetch(`/api/requests/${requestId}/photos?name=${encodeURIComponent(file.name)}`, {
      method: "POST",
      body: file,
      credentials: "same-origin",
      headers: { "Content-Type": file.type || "application/octet-stream", Accept: "application/json" },
    });
  } catch {
    return "network";
  }
  if (response.ok) return null;
  try {
    const data = await response.json();
    return data?.error?.code ?? "generic";
  } catch {
    return "generic";
  }
}

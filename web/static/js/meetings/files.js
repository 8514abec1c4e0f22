// @ts-check
// An agenda item's files (quotes, plans): links for everyone who sees the meeting, and for
// staff a file picker that uploads one (the server checks the content: PDF, JPEG, PNG, WebP).
import { errorText, t } from "../i18n.js";
import { node } from "../lib/dom.js";

/**
 * @typedef {{id: number, filename: string, media_type: string, size: number, url: string}} ItemFile
 */

/**
 * @param {{files?: ItemFile[]}} item
 * @returns {HTMLElement | null}
 */
export function fileLinks(item) {
  if (!item.files?.length) return null;
  const list = node("ul", "mt-files");
  for (const f of item.files) {
    const li = node("li");
    const a = node("a", "", t("meetings.files.link", { name: f.filename, kb: Math.max(1, Math.round(f.size / 1024)) }));
    a.href = f.url;
    li.append(a);
    list.append(li);
  }
  return list;
}

/**
 * A file picker under an item, for staff; ``done`` runs after an upload.
 * @param {number} meetingId
 * @param {{id: number, title: string}} item
 * @param {() => void} done
 */
export function fileUpload(meetingId, item, done) {
  const box = node("div", "field");
  const input = node("input");
  input.type = "file";
  input.id = `item-file-${item.id}`;
  input.accept = "application/pdf,image/jpeg,image/png,image/webp";
  const label = node("label", "", t("meetings.files.add", { title: item.title }));
  label.htmlFor = input.id;
  const error = node("p", "error");
  error.setAttribute("role", "alert");
  error.hidden = true;
  input.addEventListener("change", async () => {
    const file = input.files?.[0];
    if (!file) return;
    error.hidden = true;
    let code = null;
    try {
      const response = await fetch(`/api/meetings/${meetingId}/items/${item.id}/files?name=${encodeURIComponent(file.name)}`, {
        method: "POST",
        body: file,
        credentials: "same-origin",
        headers: { "Content-Type": file.type || "application/octet-stream", Accept: "application/json" },
      });
      if (!response.ok) code = (await response.json().catch(() => null))?.error?.code ?? "generic";
    } catch {
      code = "network";
    }
    input.value = "";
    if (code) {
      error.textContent = code === "too_many_files" ? t("meetings.files.too_many") : errorText(code);
      error.hidden = false;
    } else {
      done();
    }
  });
  box.append(label, input, error);
  return box;
}

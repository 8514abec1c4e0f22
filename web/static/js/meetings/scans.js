// @ts-check
// The scan of a paper proxy form (委託書), for staff: send one with the form, add it later or
// replace it from the roll, open it. The server checks the content (PDF, JPEG, PNG, WebP) and
// writes the proxy and its scan together or not at all.
import { errorText, t } from "../i18n.js";
import { node } from "../lib/dom.js";

/**
 * POST a file as the body; the error code, or null when it was stored.
 * @param {string} url
 * @param {File} file
 * @returns {Promise<string | null>}
 */
export async function sendFile(url, file) {
  try {
    const response = await fetch(url, {
      method: "POST",
      body: file,
      credentials: "same-origin",
      headers: { "Content-Type": file.type || "application/octet-stream", Accept: "application/json" },
    });
    if (response.ok) return null;
    return (await response.json().catch(() => null))?.error?.code ?? "generic";
  } catch {
    return "network";
  }
}

/**
 * A refusal's words in the reader's language (the catalogue's, never the server's English).
 * @param {string} code
 */
export function scanErrorText(code) {
  return errorText(code);
}

/**
 * @typedef {{filename: string, size: number, sha256: string, url: string}} Scan
 * @typedef {{name: string, route: string, reference: string, scan: Scan | null, scan_to_follow: boolean}} RollProxy
 */

/**
 * The roll's proxy cell: who, and for a paper form its scan (a link) or "scan to follow", with
 * a file picker that adds or replaces the scan.
 * @param {number} meetingId
 * @param {{unit_id: number, label: string, proxy: RollProxy}} row
 * @param {() => void} done
 * @returns {HTMLElement[]}
 */
export function scanCell(meetingId, row, done) {
  const p = row.proxy;
  const parts = [];
  parts.push(node("span", "", `${p.name} (${t(`meetings.route.${p.route}`)} ${p.reference}) `));
  if (p.route !== "paper") return parts;
  if (p.scan) {
    const a = node("a", "mt-scan-link", t("meetings.scan.view", { name: p.scan.filename }));
    a.href = p.scan.url;
    a.target = "_blank";
    a.rel = "noopener";
    parts.push(a);
  } else {
    parts.push(node("strong", "mt-scan-missing", t("meetings.scan.to_follow")));
  }
  const input = node("input");
  input.type = "file";
  input.className = "mt-scan-input";
  input.accept = "application/pdf,image/jpeg,image/png,image/webp";
  input.setAttribute(
    "aria-label",
    t(p.scan ? "meetings.scan.replace" : "meetings.scan.add", { unit: row.label }),
  );
  const error = node("p", "error");
  error.setAttribute("role", "alert");
  error.hidden = true;
  input.addEventListener("change", async () => {
    const file = input.files?.[0];
    if (!file) return;
    error.hidden = true;
    const code = await sendFile(
      `/api/meetings/${meetingId}/proxies/${row.unit_id}/scan?filename=${encodeURIComponent(file.name)}`,
      file,
    );
    input.value = "";
    if (code) {
      error.textContent = scanErrorText(code);
      error.hidden = false;
    } else {
      done();
    }
  });
  parts.push(input, error);
  return parts;
}

// @ts-check
// The staff's notice form: the audience's choices (buildings, floors or units, from the page's
// facts), times in the reader's local time, saving over the JSON API, then each chosen file
// uploaded as its own request (the file's bytes as the body; the server checks the content).
import { api, busy } from "../common.js";
import { errorText, t } from "../i18n.js";
import { byId } from "../lib/dom.js";

/**
 * @typedef {{id: number, name: string}} Building
 * @typedef {{id: number, building_id: number, label: string, floor: number | null}} Unit
 * @typedef {{kind: string, buildings: number[], floors: number[][], units: number[]}} Audience
 * @typedef {{id: number, publish_at: number | null, expire_at: number | null}} NoticeFacts
 * @typedef {{notice: NoticeFacts | null, audience: Audience | null, buildings: Building[], units: Unit[], max_bytes: number}} Facts
 */

/** @type {Facts} */
const facts = JSON.parse(byId("notice-facts", HTMLScriptElement).text);
const form = byId("notice-form", HTMLFormElement);
const choices = byId("audience-choices");
const error = byId("form-error");
const status = byId("form-status");

/** @param {number | null} ms */
function toLocal(ms) {
  if (!ms) return "";
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

/** @param {string} value */
function fromLocal(value) {
  return value ? new Date(value).getTime() : null;
}

byId("publish-at", HTMLInputElement).value = toLocal(facts.notice?.publish_at ?? null);
byId("expire-at", HTMLInputElement).value = toLocal(facts.notice?.expire_at ?? null);

/**
 * @param {string} value
 * @param {string} label
 * @param {boolean} checked
 */
function checkbox(value, label, checked) {
  const wrap = document.createElement("label");
  wrap.className = "check";
  const input = document.createElement("input");
  input.type = "checkbox";
  input.name = "choice";
  input.value = value;
  input.checked = checked;
  wrap.append(input, ` ${label}`);
  return wrap;
}

function kind() {
  const chosen = form.querySelector("input[name=audience]:checked");
  return chosen instanceof HTMLInputElement ? chosen.value : "all";
}

function drawChoices() {
  const was = facts.audience;
  const names = new Map(facts.buildings.map((b) => [b.id, b.name]));
  const k = kind();
  /** @type {HTMLElement[]} */
  let boxes = [];
  if (k === "buildings") {
    boxes = facts.buildings.map((b) => checkbox(String(b.id), b.name, Boolean(was?.buildings.includes(b.id))));
  } else if (k === "floors") {
    const seen = new Set();
    const byFloor = [...facts.units].sort((a, b) => a.building_id - b.building_id || (a.floor ?? 0) - (b.floor ?? 0));
    for (const u of byFloor) {
      if (u.floor === null) continue;
      const key = `${u.building_id}:${u.floor}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const on = Boolean(was?.floors.some(([b, f]) => b === u.building_id && f === u.floor));
      boxes.push(checkbox(key, t("notices.form.floor", { building: names.get(u.building_id) ?? "", floor: u.floor }), on));
    }
  } else if (k === "units") {
    const byLabel = [...facts.units].sort((a, b) => a.building_id - b.building_id || a.label.localeCompare(b.label, undefined, { numeric: true }));
    boxes = byLabel.map((u) => checkbox(String(u.id), `${names.get(u.building_id) ?? ""} ${u.label}`, Boolean(was?.units.includes(u.id))));
  }
  choices.replaceChildren(...boxes);
}

for (const radio of form.querySelectorAll("input[name=audience]")) radio.addEventListener("change", drawChoices);
drawChoices();

/** @returns {Audience | null} */
function audience() {
  const k = kind();
  const picked = [...choices.querySelectorAll("input[name=choice]:checked")].map((el) => /** @type {HTMLInputElement} */ (el).value);
  if (k !== "all" && !picked.length) return null;
  return {
    kind: k,
    buildings: k === "buildings" ? picked.map(Number) : [],
    floors: k === "floors" ? picked.map((v) => v.split(":").map(Number)) : [],
    units: k === "units" ? picked.map(Number) : [],
  };
}

/** @param {string} text */
function fail(text) {
  error.textContent = text;
  error.hidden = false;
}

/** @param {number} noticeId */
async function uploadFiles(noticeId) {
  const input = byId("files", HTMLInputElement);
  const list = byId("file-list");
  let ok = true;
  for (const file of input.files ?? []) {
    status.textContent = t("notices.form.uploading", { name: file.name });
    let response;
    try {
      response = await fetch(`/api/notices/${noticeId}/attachments?name=${encodeURIComponent(file.name)}`, {
        method: "POST",
        body: file,
        credentials: "same-origin",
        headers: { "Content-Type": "application/octet-stream", Accept: "application/json" },
      });
    } catch {
      response = null;
    }
    const item = document.createElement("li");
    if (response?.ok) {
      item.textContent = t("notices.form.uploaded", { name: file.name });
    } else {
      ok = false;
      const body = response ? await response.json().catch(() => null) : null;
      item.className = "error";
      item.textContent = t("notices.form.upload_failed", { name: file.name, reason: errorText(body?.error?.code ?? "network") });
    }
    list.append(item);
  }
  return ok;
}

/** @param {boolean} publish */
async function save(publish) {
  error.hidden = true;
  const chosen = audience();
  if (!chosen) {
    fail(t("notices.form.need_choice"));
    return;
  }
  const body = {
    title: byId("title", HTMLInputElement).value,
    body: byId("body", HTMLTextAreaElement).value,
    category_id: Number(byId("category", HTMLSelectElement).value),
    audience: chosen,
    urgent: byId("urgent", HTMLInputElement).checked,
    requires_ack: byId("requires-ack", HTMLInputElement).checked,
    pinned: byId("pinned", HTMLInputElement).checked,
    publish_at: fromLocal(byId("publish-at", HTMLInputElement).value),
    expire_at: fromLocal(byId("expire-at", HTMLInputElement).value),
    publish,
  };
  status.textContent = t("notices.form.saving");
  const existing = facts.notice;
  const result = await api("POST", existing ? `/api/notices/${existing.id}` : "/api/notices", body);
  if (!result.ok) {
    status.textContent = "";
    fail(errorText(result.error.code, result.error.field));
    return;
  }
  const saved = result.data.notice;
  // Saved: pressing the button again edits this notice instead of making a second one.
  facts.notice = saved;
  if (await uploadFiles(saved.id)) {
    location.assign(`/notices/${saved.id}`);
    return;
  }
  // Some file was refused (the list says why): the notice is saved; offer it, and let the
  // person choose other files and press the button again.
  byId("files", HTMLInputElement).value = "";
  const link = document.createElement("a");
  link.href = `/notices/${saved.id}`;
  link.id = "saved-link";
  link.textContent = t("notices.form.open_saved");
  status.replaceChildren(link);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const button = byId("save-publish", HTMLButtonElement);
  busy(button, () => save(true));
});
document.getElementById("save-draft")?.addEventListener("click", (event) => {
  const button = /** @type {HTMLButtonElement} */ (event.currentTarget);
  busy(button, () => save(false));
});

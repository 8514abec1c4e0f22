// @ts-check
// The console's residents: search and filter; for each, change role, move unit, disable or
// enable, see and end sessions, and issue a one-time password reset code (shown once, printable).
import { api, showText } from "../common.js";
import { errorText, formatFullTime, t } from "../i18n.js";
import { byId, node } from "../lib/dom.js";

/** @typedef {import("./types.js").Resident} Resident */
/** @typedef {import("./types.js").SessionInfo} SessionInfo */

const filters = byId("filter-form", HTMLFormElement);
const list = byId("residents", HTMLUListElement);

async function load() {
  const query = new URLSearchParams();
  for (const [key, value] of new FormData(filters)) if (value) query.set(key, String(value));
  /** @type {import("../types.js").ApiResult<{residents: Resident[]}>} */
  const result = await api("GET", `/api/admin/residents?${query}`);
  if (!result.ok) return;
  showText(byId("residents-count"), t("admin.residents.count", { count: result.data.residents.length }));
  list.replaceChildren(...result.data.residents.map(row));
}

/**
 * @param {string} templateId
 * @param {string} value
 */
function select(templateId, value) {
  const s = node("select");
  s.append(byId(templateId, HTMLTemplateElement).content.cloneNode(true));
  s.value = value;
  return s;
}

/**
 * A labelled control: the label is tied to the control by id.
 * @param {string} id
 * @param {string} text
 * @param {HTMLInputElement | HTMLSelectElement} control
 */
function labelled(id, text, control) {
  control.id = id;
  const label = node("label", undefined, text);
  label.htmlFor = id;
  const div = node("div", "field");
  div.append(label, control);
  return div;
}

/** @param {Resident} r */
function row(r) {
  const li = node("li", "admin-item");
  li.dataset.username = r.username;
  const head = node("p", "admin-person");
  head.append(node("strong", undefined, r.display_name), ` (${r.username}) `,
    node("span", "admin-facts", [
      r.building ? `${r.building} ${r.unit ?? ""}`.trim() : t("admin.residents.no_unit"),
      t(`admin.role.${r.role}`),
      t(r.disabled ? "admin.status.disabled" : "admin.status.active"),
      t("admin.residents.sessions_count", { count: r.sessions }),
    ].join(" · ")));
  const details = node("details", "admin-manage");
  details.append(node("summary", undefined, t("admin.residents.manage", { name: r.display_name })));
  const status = node("p", "admin-done");
  status.setAttribute("role", "status");
  status.hidden = true;

  /**
   * @param {Promise<import("../types.js").ApiResult>} call
   * @param {string} okText
   */
  async function run(call, okText) {
    const result = await call;
    showText(status, result.ok ? okText : errorText(result.error.code));
    status.classList.toggle("error", !result.ok);
    return result;
  }

  // Role
  const role = select("role-options", r.role);
  const roleButton = node("button", "button-quiet", t("admin.residents.role_save"));
  roleButton.type = "button";
  roleButton.className = "button-quiet role-save";
  roleButton.addEventListener("click", () => run(
    api("POST", `/api/admin/residents/${r.id}/role`, { role: role.value }), t("admin.residents.role_saved")));
  const roleBox = node("div", "admin-inline");
  roleBox.append(labelled(`role-${r.id}`, t("admin.residents.role"), role), roleButton);

  // Move unit
  const building = select("building-options", String(r.building_id ?? ""));
  const unit = node("input");
  unit.maxLength = 20;
  unit.value = r.unit ?? "";
  const moveButton = node("button", "button-quiet", t("admin.residents.move"));
  moveButton.type = "button";
  moveButton.addEventListener("click", () => run(
    api("POST", `/api/admin/residents/${r.id}/unit`, { building_id: Number(building.value), unit: unit.value.trim() }),
    t("admin.residents.moved")));
  const moveBox = node("div", "admin-inline");
  moveBox.append(labelled(`building-${r.id}`, t("admin.csv.building"), building),
    labelled(`unit-${r.id}`, t("admin.csv.unit"), unit), moveButton);

  // Disable / enable
  const toggle = node("button", "button-quiet status-toggle", t(r.disabled ? "admin.residents.enable" : "admin.residents.disable"));
  toggle.type = "button";
  toggle.addEventListener("click", async () => {
    const result = await run(api("POST", `/api/admin/residents/${r.id}/status`, { disabled: !r.disabled }),
      t(r.disabled ? "admin.residents.enabled" : "admin.residents.disabled"));
    if (result.ok) load();
  });

  // Sessions
  const sessionsList = node("ul", "admin-list");
  const sessionsButton = node("button", "button-quiet", t("admin.residents.sessions"));
  sessionsButton.type = "button";
  async function showSessions() {
    /** @type {import("../types.js").ApiResult<{sessions: SessionInfo[]}>} */
    const result = await api("GET", `/api/admin/residents/${r.id}/sessions`);
    if (!result.ok) return;
    sessionsList.replaceChildren(...result.data.sessions.map((s) => {
      const item = node("li", "admin-item", t("admin.residents.session", {
        since: formatFullTime(s.created_at), until: formatFullTime(s.expires_at) }));
      const end = node("button", "button-quiet", t("admin.residents.end"));
      end.type = "button";
      end.addEventListener("click", async () => {
        await run(api("POST", `/api/admin/residents/${r.id}/sessions/end`, { ref: s.ref }), t("admin.residents.ended"));
        showSessions();
      });
      item.append(" ", end);
      return item;
    }));
    if (!result.data.sessions.length) sessionsList.append(node("li", "hint", t("admin.residents.no_sessions")));
    else {
      const all = node("li");
      const endAll = node("button", "button-quiet", t("admin.residents.end_all"));
      endAll.type = "button";
      endAll.addEventListener("click", async () => {
        await run(api("POST", `/api/admin/residents/${r.id}/sessions/end`, {}), t("admin.residents.ended"));
        showSessions();
      });
      all.append(endAll);
      sessionsList.append(all);
    }
  }
  sessionsButton.addEventListener("click", showSessions);

  // Reset code
  const resetButton = node("button", "button-quiet reset-code", t("admin.residents.reset"));
  resetButton.type = "button";
  const codeBox = node("div", "admin-print");
  codeBox.hidden = true;
  resetButton.addEventListener("click", async () => {
    /** @type {import("../types.js").ApiResult<{code: string, expires_at: number}>} */
    const result = await run(api("POST", `/api/admin/residents/${r.id}/reset-code`, {}), t("admin.residents.reset_done"));
    if (!result.ok) return;
    const print = node("button", "button-quiet", t("admin.residents.print"));
    print.type = "button";
    print.addEventListener("click", () => window.print());
    codeBox.replaceChildren(
      node("p", undefined, t("admin.residents.reset_for", { name: r.display_name, username: r.username })),
      node("p", "admin-code", result.data.code),
      node("p", undefined, t("admin.residents.reset_until", { until: formatFullTime(result.data.expires_at) })),
      node("p", "hint", t("admin.residents.reset_how")),
      print,
    );
    codeBox.hidden = false;
  });

  const tools = node("div", "admin-tools");
  tools.append(toggle, sessionsButton, resetButton);
  details.append(roleBox, moveBox, tools, sessionsList, codeBox, status);
  li.append(head, details);
  return li;
}

filters.addEventListener("submit", (event) => {
  event.preventDefault();
  load();
});

load();

// @ts-check
// The console's buildings and units: rename a building, add one; add or change a unit; import
// units from a CSV with a preview that lists each line's errors before anything is written.
import { api, busy, showFormError, showText } from "../common.js";
import { t } from "../i18n.js";
import { byId, node } from "../lib/dom.js";

/** @typedef {import("./types.js").UnitsBody} UnitsBody */
/** @typedef {import("./types.js").ImportBody} ImportBody */

const buildingForm = byId("building-form", HTMLFormElement);
const unitForm = byId("unit-form", HTMLFormElement);
const importForm = byId("import-form", HTMLFormElement);
const csvText = byId("csv", HTMLTextAreaElement);
const commit = byId("import-commit", HTMLButtonElement);

async function load() {
  /** @type {import("../types.js").ApiResult<UnitsBody>} */
  const result = await api("GET", "/api/admin/units");
  if (!result.ok) return;
  renderBuildings(result.data);
  renderUnits(result.data);
}

/** @param {UnitsBody} data */
function renderBuildings(data) {
  byId("buildings", HTMLUListElement).replaceChildren(...data.buildings.map((b) => {
    const li = node("li", "admin-item");
    const form = node("form", "admin-inline");
    const label = node("label", undefined, t("admin.buildings.rename_label", { name: b.name }));
    const input = node("input");
    input.value = b.name;
    input.maxLength = 60;
    input.id = `building-${b.id}`;
    label.htmlFor = input.id;
    const save = node("button", "button-quiet", t("admin.buildings.rename"));
    save.type = "submit";
    const error = node("p", "error");
    error.setAttribute("role", "alert");
    error.hidden = true;
    form.append(label, input, save, error);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const done = await api("POST", `/api/admin/buildings/${b.id}`, { name: input.value.trim() });
      if (done.ok) load();
      else showText(error, t("admin.error.generic"));
    });
    const count = data.units.filter((u) => u.building_id === b.id).length;
    li.append(form, node("p", "hint", t("admin.buildings.units", { count })));
    return li;
  }));
}

/** @param {UnitsBody} data */
function renderUnits(data) {
  const parts = data.buildings.map((b) => {
    const section = node("div", "admin-building");
    section.append(node("h3", undefined, b.name));
    const list = node("ul", "admin-list");
    for (const u of data.units.filter((x) => x.building_id === b.id)) {
      const li = node("li", "admin-item");
      li.dataset.unit = u.label;
      li.append(node("strong", undefined, u.label));
      const facts = [
        u.floor ? t("admin.units.floor", { floor: u.floor }) : "",
        u.share ? t("admin.units.share", { share: u.share }) : "",
        u.household_size !== null ? t("admin.units.size", { size: u.household_size }) : "",
        t("admin.units.residents", { count: u.residents }),
      ].filter(Boolean);
      li.append(" ", node("span", "admin-facts", facts.join(" · ")));
      list.append(li);
    }
    if (!list.children.length) list.append(node("li", "hint", t("admin.units.none")));
    section.append(list);
    return section;
  });
  byId("units").replaceChildren(...parts);
}

buildingForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = byId("building-name", HTMLInputElement);
  const result = await api("POST", "/api/admin/buildings", { name: name.value.trim() });
  showFormError(buildingForm, result.ok ? null : result.error);
  if (result.ok) location.reload();
});

unitForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const building = byId("unit-building", HTMLSelectElement).value;
  const result = await api("POST", `/api/admin/buildings/${building}/units`, {
    label: byId("label", HTMLInputElement).value.trim(),
    floor: byId("floor", HTMLInputElement).value.trim(),
    share: byId("share", HTMLInputElement).value.trim(),
    household_size: Number(byId("household_size", HTMLInputElement).value || 0),
  });
  showFormError(unitForm, result.ok ? null : result.error);
  if (result.ok) {
    unitForm.reset();
    load();
  }
});

byId("csv-file", HTMLInputElement).addEventListener("change", async (event) => {
  const file = /** @type {HTMLInputElement} */ (event.target).files?.[0];
  if (file) csvText.value = await file.text();
});

/** @param {ImportBody} data */
function renderPreview(data) {
  byId("preview").hidden = false;
  showText(byId("import-done"), "");
  const bad = data.lines.filter((x) => x.errors.length).length;
  showText(byId("preview-summary"), data.file_error ? t(data.file_error)
    : bad ? t("admin.import.summary_bad", { bad, total: data.lines.length })
      : t("admin.import.summary_ok", { created: data.created, updated: data.updated }));
  byId("preview-lines", HTMLOListElement).replaceChildren(...data.lines.map((x) => {
    const li = node("li", x.errors.length ? "admin-item admin-bad" : "admin-item");
    li.dataset.line = String(x.line);
    li.append(node("strong", undefined, t("admin.import.line", { line: x.line })), " ",
      node("span", undefined, [x.building, x.floor, x.unit, x.share, x.household_size].join(" , ")));
    if (x.errors.length) {
      const errors = node("ul", "admin-errors");
      for (const code of x.errors) errors.append(node("li", "error", t(code)));
      li.append(errors);
    } else {
      li.append(" ", node("span", "admin-action", t(`admin.import.action.${x.action}`)));
    }
    return li;
  }));
  commit.hidden = !data.ok;
}

importForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = byId("import-check", HTMLButtonElement);
  /** @type {import("../types.js").ApiResult<ImportBody>} */
  const result = await busy(button, () => api("POST", "/api/admin/units/import", { csv: csvText.value, commit: false }));
  showFormError(importForm, result.ok ? null : result.error);
  if (result.ok) renderPreview(result.data);
});

commit.addEventListener("click", async () => {
  const result = await busy(commit, () => api("POST", "/api/admin/units/import", { csv: csvText.value, commit: true }));
  if (result.ok) {
    const data = /** @type {ImportBody} */ (result.data);
    byId("preview").hidden = true;
    showText(byId("import-done"), t("admin.import.done", { created: data.created, updated: data.updated }));
    load();
  } else if ("lines" in result.error) {
    // import_invalid carries the checked lines: show them again (nothing was written).
    renderPreview(/** @type {ImportBody} */ (/** @type {unknown} */ (result.error)));
  } else {
    showFormError(importForm, result.error);
  }
});

load();

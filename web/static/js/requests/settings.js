// @ts-check
// The admins' settings for requests: the common areas residents pick from, the reply templates
// staff use, the teams and their members, and each category's team and targets.
import { api, showFormError } from "../common.js";
import { t } from "../i18n.js";
import { byId, control, node } from "../lib/dom.js";

/** @typedef {import("./types.js").MetaBody} MetaBody */

/** @type {MetaBody | null} */
let meta = null;

async function load() {
  /** @type {import("../types.js").ApiResult<MetaBody>} */
  const result = await api("GET", "/api/requests/meta");
  if (!result.ok) return;
  meta = result.data;
  renderPlaces();
  renderTemplates();
  renderTeams();
  renderHolidays();
  renderRoutes();
}

function renderHolidays() {
  byId("holidays", HTMLUListElement).replaceChildren(...(meta?.holidays ?? []).map((h) => {
    const li = node("li", "req-setting");
    const when = node("time", undefined, h.day);
    when.dateTime = h.day;
    li.append(when, ` ${h.name} `);
    const button = node("button", "button-quiet", t("requests.settings.delete"));
    button.type = "button";
    button.setAttribute("aria-label", `${t("requests.settings.delete")} ${h.day} ${h.name}`);
    button.addEventListener("click", async () => {
      const done = await api("POST", `/api/requests/holidays/${h.day}/delete`, {});
      if (done.ok) load();
    });
    li.append(button);
    return li;
  }));
}

function renderPlaces() {
  byId("places", HTMLUListElement).replaceChildren(...(meta?.all_places ?? []).map((p) => {
    const li = node("li", "req-setting", p.active ? p.name : `${p.name} ${t("requests.settings.hidden")}`);
    const button = node("button", "button-quiet",
      t(p.active ? "requests.settings.place_hide" : "requests.settings.place_show"));
    button.type = "button";
    button.addEventListener("click", async () => {
      const done = await api("POST", `/api/requests/places/${p.id}`, { active: !p.active });
      if (done.ok) load();
    });
    li.append(" ", button);
    return li;
  }));
}

function renderTemplates() {
  byId("templates", HTMLUListElement).replaceChildren(...(meta?.templates ?? []).map((x) => {
    const li = node("li", "req-setting");
    li.append(node("strong", undefined, x.title), node("p", "req-event-text", x.body));
    const button = node("button", "button-quiet", t("requests.settings.delete"));
    button.type = "button";
    button.addEventListener("click", async () => {
      const done = await api("POST", `/api/requests/templates/${x.id}/delete`, {});
      if (done.ok) load();
    });
    li.append(button);
    return li;
  }));
}

function renderTeams() {
  byId("teams", HTMLUListElement).replaceChildren(...(meta?.teams ?? []).map((team) => {
    const li = node("li", "req-setting");
    const fieldset = node("fieldset");
    fieldset.append(node("legend", undefined, team.name));
    for (const person of meta?.staff ?? []) {
      const label = node("label", "check");
      const box = node("input");
      box.type = "checkbox";
      box.value = String(person.id);
      box.checked = team.member_ids.includes(person.id);
      label.append(box, ` ${person.name}`);
      fieldset.append(label);
    }
    const save = node("button", "button-quiet", t("requests.settings.members_save"));
    save.type = "button";
    save.addEventListener("click", async () => {
      const ids = [...fieldset.querySelectorAll("input:checked")].map((b) => Number(/** @type {HTMLInputElement} */ (b).value));
      const done = await api("POST", `/api/requests/teams/${team.id}/members`, { user_ids: ids });
      if (done.ok) load();
    });
    li.append(fieldset, save);
    return li;
  }));
}

function renderRoutes() {
  const box = byId("routes");
  box.replaceChildren(...(meta?.rules ?? []).map((rule) => {
    const form = node("form", "req-route");
    form.noValidate = true;
    const id = `route-${rule.category}`;
    form.append(node("h3", undefined, t(`requests.category.${rule.category}`)));
    const team = node("select");
    team.id = `${id}-team`;
    team.name = "team";
    const any = node("option", undefined, t("requests.settings.route_any"));
    any.value = "";
    team.append(any, ...(meta?.teams ?? []).map((x) => {
      const option = node("option", undefined, x.name);
      option.value = String(x.id);
      return option;
    }));
    team.value = rule.team_id ? String(rule.team_id) : "";
    const first = node("input");
    first.id = `${id}-first`;
    first.name = "first";
    first.inputMode = "numeric";
    first.value = String(Math.round(rule.first_response_ms / 3600000));
    const days = node("input");
    days.id = `${id}-days`;
    days.name = "days";
    days.inputMode = "numeric";
    days.value = String(Math.round(rule.resolution_ms / 86400000));
    for (const [el, key] of /** @type {const} */ ([[team, "route_team"], [first, "route_first"], [days, "route_resolution"]])) {
      const field = node("div", "field");
      const label = node("label", undefined, t(`requests.settings.${key}`));
      label.htmlFor = el.id;
      field.append(label, el);
      form.append(field);
    }
    const error = node("p", "error");
    error.id = "form-error";
    error.setAttribute("role", "alert");
    error.hidden = true;
    const save = node("button", "button-quiet", t("requests.settings.route_save"));
    save.type = "submit";
    form.append(error, save);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      showFormError(form, null);
      const done = await api("POST", "/api/requests/routes", {
        category: rule.category,
        team_id: team.value ? Number(team.value) : null,
        first_response_hours: Number(first.value) || null,
        resolution_days: Number(days.value) || null,
      });
      if (!done.ok) showFormError(form, done.error);
      else load();
    });
    return form;
  }));
}

/**
 * @param {string} id
 * @param {string} path
 * @param {(form: HTMLFormElement) => Record<string, unknown>} bodyOf
 */
function adder(id, path, bodyOf) {
  const form = byId(id, HTMLFormElement);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showFormError(form, null);
    const done = await api("POST", path, bodyOf(form));
    if (!done.ok) {
      showFormError(form, done.error);
      return;
    }
    form.reset();
    load();
  });
}

adder("place-form", "/api/requests/places", (f) => {
  const building = byId("building_id", HTMLSelectElement).value;
  return { name: control(f, "name").value, building_id: building ? Number(building) : null };
});
adder("template-form", "/api/requests/templates", (f) => ({
  title: control(f, "title").value, body: control(f, "body").value,
}));
adder("team-form", "/api/requests/teams", (f) => ({ name: control(f, "name").value }));
adder("holiday-form", "/api/requests/holidays", (f) => ({
  day: control(f, "day").value, name: control(f, "name").value,
}));
load();

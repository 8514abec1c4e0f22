// @ts-check
// The owners' register: each unit's share, owners and the one who holds its voice; admins
// replace it from CSV (the whole register at once, in one transaction).
import { api } from "../common.js";
import { errorText, t } from "../i18n.js";
import { byId, control, node } from "../lib/dom.js";

async function load() {
  const result = await api("GET", "/api/meetings/register");
  if (!result.ok) return;
  byId("reg-total").textContent = t("meetings.register.total", {
    units: result.data.units.length, share: result.data.total_share,
  });
  byId("reg-body").replaceChildren(...result.data.units.map((/** @type {any} */ u) => {
    const tr = node("tr");
    tr.append(
      node("td", "", u.label),
      node("td", "", String(u.share)),
      node("td", "", u.owners.map((/** @type {any} */ o) => o.name).join("、")),
      node("td", "", u.voice),
    );
    return tr;
  }));
}

const form = document.getElementById("import-form");
if (form instanceof HTMLFormElement) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = byId("import-error");
    error.hidden = true;
    const result = await api("POST", "/api/meetings/register", { csv: control(form, "csv").value });
    if (!result.ok) {
      error.textContent = result.error.message || errorText(result.error.code);
      error.hidden = false;
      return;
    }
    byId("import-done").textContent = t("meetings.register.done", { units: result.data.units });
    await load();
  });
}
load();

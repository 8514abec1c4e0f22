// @ts-check
// The console's invite codes: make one for a building or one unit, with uses and days; see
// each code's state and who registered with it; revoke.
import { api, showFormError, showText } from "../common.js";
import { errorText, formatFullTime, t } from "../i18n.js";
import { byId, node } from "../lib/dom.js";

/** @typedef {import("./types.js").InviteInfo} InviteInfo */

const form = byId("invite-form", HTMLFormElement);

async function load() {
  /** @type {import("../types.js").ApiResult<{invites: InviteInfo[]}>} */
  const result = await api("GET", "/api/admin/invites");
  if (!result.ok) return;
  byId("invites", HTMLUListElement).replaceChildren(...result.data.invites.map((i) => {
    const li = node("li", "admin-item");
    li.dataset.code = i.code;
    li.append(node("strong", "admin-code-small", i.code), " ",
      node("span", "admin-facts", [
        i.unit ? `${i.building} ${i.unit}` : t("admin.invites.whole", { building: i.building }),
        t(`admin.invites.state.${i.state}`),
        t("admin.invites.left", { left: i.uses_left, uses: i.uses ?? "?" }),
        t("admin.invites.until", { until: formatFullTime(i.expires_at) }),
      ].join(" · ")));
    if (i.used_by.length) {
      const used = node("ul", "admin-used");
      for (const u of i.used_by) {
        used.append(node("li", undefined, t("admin.invites.used", { name: u.display_name, username: u.username, at: formatFullTime(u.at) })));
      }
      li.append(used);
    }
    if (i.state === "live") {
      const revoke = node("button", "button-quiet", t("admin.invites.revoke"));
      revoke.type = "button";
      revoke.setAttribute("aria-label", t("admin.invites.revoke_code", { code: i.code }));
      revoke.addEventListener("click", async () => {
        const done = await api("POST", `/api/admin/invites/${i.code}/revoke`, {});
        if (done.ok) load();
      });
      li.append(" ", revoke);
    }
    return li;
  }));
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const result = await api("POST", "/api/admin/invite-codes", {
    building_id: Number(byId("building_id", HTMLSelectElement).value),
    unit: byId("unit", HTMLInputElement).value.trim(),
    uses: Number(byId("uses", HTMLInputElement).value),
    days: Number(byId("days", HTMLInputElement).value),
  });
  showFormError(form, result.ok ? null : result.error);
  if (result.ok) {
    showText(byId("new-code"), t("admin.invites.made", { code: result.data.invite.code }));
    load();
  } else if (!result.error.field) {
    showText(byId("new-code"), errorText(result.error.code));
  }
});

load();

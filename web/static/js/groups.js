// @ts-check
// Browse, join, leave and start interest groups. Group names and descriptions are other
// residents' text: set with textContent only.
import { api, busy, showFormError, showText } from "./common.js";
import { errorText, t } from "./i18n.js";
import { byId, control, find, node, part } from "./lib/dom.js";

/** @typedef {import("./types.js").Group} Group */

const listEl = byId("group-list");
const status = byId("groups-status");
const form = byId("create-form", HTMLFormElement);

/** @param {Group} group */
function groupItem(group) {
  const li = node("li", group.joined ? "group joined" : "group");
  li.dataset.slug = group.slug;
  const heading = node("h2", "group-name");
  const title = node("a", "", group.name);
  title.href = `/groups/${encodeURIComponent(group.slug)}`;
  heading.append(title);
  const facts = node("p", "group-facts", t("groups.members", { count: group.member_count }));
  if (group.joined) facts.append(" · ", node("strong", "", t("groups.joined")));
  li.append(heading, facts);
  if (group.description) li.append(node("p", "group-description", group.description));
  const actions = node("div", "group-actions");
  if (group.joined) {
    const open = node("a", "button-primary", t("groups.open_chat"));
    open.href = `/#${group.channel}`;
    open.setAttribute("aria-label", t("groups.open_label", { name: group.name }));
    const leave = node("button", "button-quiet", t("groups.leave"));
    leave.type = "button";
    leave.setAttribute("aria-label", t("groups.leave_label", { name: group.name }));
    leave.addEventListener("click", () => change(group, "leave", leave));
    actions.append(open, leave);
  } else {
    const join = node("button", "button-primary", t("groups.join"));
    join.type = "button";
    join.setAttribute("aria-label", t("groups.join_label", { name: group.name }));
    join.addEventListener("click", () => change(group, "join", join));
    actions.append(join);
  }
  li.append(actions);
  return li;
}

/** @param {string} [focusSlug]  the group whose button gets focus again */
async function load(focusSlug) {
  /** @type {import("./types.js").ApiResult<import("./types.js").GroupsBody>} */
  const result = await api("GET", "/api/groups");
  if (result.status === 401) {
    location.assign("/login");
    return;
  }
  listEl.setAttribute("aria-busy", "false");
  if (!result.ok) {
    showText(status, errorText(result.error.code));
    return;
  }
  const groups = result.data.groups;
  listEl.replaceChildren(...groups.map(groupItem));
  byId("groups-none").hidden = groups.length > 0;
  if (focusSlug) {
    // Keep the keyboard where it was: on the same group's (new) button.
    find(listEl, `[data-slug="${CSS.escape(focusSlug)}"] button, [data-slug="${CSS.escape(focusSlug)}"] a`)?.focus();
  }
}

/**
 * @param {Group} group
 * @param {"join" | "leave"} action
 * @param {HTMLButtonElement} button  busy meanwhile
 */
async function change(group, action, button) {
  if (action === "leave" && !confirm(t("groups.leave_ask", { name: group.name }))) return;
  const result = await busy(button, () => api("POST", `/api/groups/${encodeURIComponent(group.slug)}/${action}`, {}));
  if (!result.ok) {
    showText(status, errorText(result.error.code));
    return;
  }
  showText(status, t(action === "join" ? "groups.joined_now" : "groups.left_now", { name: group.name }));
  await load(group.slug);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = {
    name: control(form, "name").value.trim(),
    slug: control(form, "slug").value.trim().toLowerCase(),
    description: control(form, "description").value.trim(),
  };
  if (!body.name) return showFormError(form, { code: "bad_request", field: "name" });
  // The web address is optional: left empty, the server makes one (a Chinese name needs none).
  if (body.slug && !/^[a-z0-9][a-z0-9-]{1,39}$/.test(body.slug)) {
    return showFormError(form, { code: "bad_request", field: "slug" });
  }
  const result = await busy(part(form, "button[type=submit]", HTMLButtonElement), () => api("POST", "/api/groups", body));
  if (!result.ok) {
    showFormError(form, result.error);
    return;
  }
  showFormError(form, null);
  form.reset();
  showText(status, t("groups.created", { name: body.name }));
  await load(result.data.group.slug);
});

load();

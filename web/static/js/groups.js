// Browse, join, leave and start interest groups. Group names and descriptions are other
// residents' text: set with textContent only.
import { api, busy, showFormError, showText } from "./common.js";
import { errorText, t } from "./i18n.js";

const listEl = document.getElementById("group-list");
const status = document.getElementById("groups-status");
const form = document.getElementById("create-form");

function node(tag, className, text) {
  const n = document.createElement(tag);
  if (className) n.className = className;
  if (text !== undefined) n.textContent = text;
  return n;
}

function groupItem(group) {
  const li = node("li", group.joined ? "group joined" : "group");
  li.dataset.slug = group.slug;
  const heading = node("h2", "group-name", group.name);
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

async function load(focusSlug) {
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
  document.getElementById("groups-none").hidden = groups.length > 0;
  if (focusSlug) {
    // Keep the keyboard where it was: on the same group's (new) button.
    listEl.querySelector(`[data-slug="${CSS.escape(focusSlug)}"] button, [data-slug="${CSS.escape(focusSlug)}"] a`)?.focus();
  }
}

async function change(group, action, button) {
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
    name: form.elements.name.value.trim(),
    slug: form.elements.slug.value.trim().toLowerCase(),
    description: form.elements.description.value.trim(),
  };
  if (!body.name) return showFormError(form, { code: "bad_request", field: "name" });
  if (!/^[a-z0-9][a-z0-9-]{1,39}$/.test(body.slug)) {
    return showFormError(form, { code: "bad_request", field: "slug" });
  }
  const result = await busy(form.querySelector("button[type=submit]"), () => api("POST", "/api/groups", body));
  if (!result.ok) {
    showFormError(form, result.error);
    return;
  }
  showFormError(form, null);
  form.reset();
  showText(status, t("groups.created", { name: body.name }));
  await load(body.slug);
});

load();

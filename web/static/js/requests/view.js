// @ts-check
// A request's page: what was asked, its status and history, live (the request's channel says
// when it changed; the page then reads it again over HTTP, which shows each reader only what
// they may see). The resident replies, follows, reopens and rates here; staff of its team change
// its status with a reply (or a template), add internal notes, assign and merge.
import { api, showFormError, showText } from "../common.js";
import { LinliClient, socketUrl } from "../client.js";
import { errorText, formatFullTime, page, t } from "../i18n.js";
import { withBell } from "../lib/bell.js";
import { byId, control, node } from "../lib/dom.js";
import { uploadPhoto } from "./shared.js";

/** @typedef {import("./types.js").RequestBody} RequestBody */
/** @typedef {import("./types.js").RequestEvent} RequestEvent */
/** @typedef {import("./types.js").MetaBody} MetaBody */
/** @typedef {import("./types.js").Status} Status */

const section = byId("request");
const requestId = Number(section.dataset.requestId);
const path = `/api/requests/${requestId}`;
const live = byId("req-live");
/** @type {RequestBody | null} */
let shown = null;
/** @type {MetaBody | null} */
let meta = null;
let loading = false;
let again = false;

/** What staff may change a status to (persistence/requests TRANSITIONS). @type {Record<Status, Status[]>} */
const NEXT = {
  received: ["in_progress", "waiting", "resolved", "rejected"],
  in_progress: ["waiting", "resolved", "rejected"],
  waiting: ["in_progress", "resolved", "rejected"],
  resolved: ["closed", "in_progress"],
  closed: [],
  rejected: [],
  merged: [],
};

/** @param {RequestEvent} e */
function eventWords(e) {
  switch (e.kind) {
    case "status":
      return t("requests.event.status", { status: t(`requests.status.${e.status}`) });
    case "assign":
      return e.text ? t("requests.event.assign", { name: e.text }) : t("requests.event.unassign");
    case "merged":
    case "merged_in":
      return t(`requests.event.${e.kind}`, { text: e.text });
    case "rating":
      return t("requests.event.rating", { score: e.text });
    default:
      return t(`requests.event.${e.kind}`);
  }
}

/** @param {RequestBody} body */
function render(body) {
  const r = body.request;
  const before = shown?.request.status;
  shown = body;
  byId("req-title").textContent = t("requests.view.heading", {
    category: t(`requests.category.${r.category}`), id: r.id,
  });
  const status = byId("req-status");
  status.textContent = t(`requests.status.${r.status}`);
  status.className = `req-status req-${r.status}`;
  byId("req-overdue").hidden = !r.overdue;
  const facts = [r.private ? t("requests.view.private") : t("requests.view.public")];
  if (r.place) facts.unshift(t("requests.view.place", { place: r.place }));
  if (r.floor) facts.unshift(t("requests.view.floor", { floor: r.floor }));
  // Filed by a helper for the resident (web/onboard): always said who.
  if (body.filed_by) facts.push(t("onboard.helpers.filed_by", { name: body.filed_by.name }));
  byId("req-meta").textContent = facts.join(" · ");
  byId("req-text").textContent = r.text;
  const noteText = r.status === "merged" && r.merged_into
    ? t("requests.view.merged_into", { id: r.merged_into })
    : r.status === "rejected" ? t("requests.view.rejected", { reason: r.reject_reason }) : "";
  showText(byId("req-note"), noteText);
  const photos = byId("req-photos", HTMLUListElement);
  photos.hidden = body.photos.length === 0;
  photos.replaceChildren(...body.photos.map((p) => {
    const li = node("li");
    const link = node("a");
    link.href = p.url;
    const img = node("img");
    img.src = p.thumb_url;
    img.alt = t("requests.photo.alt", { n: p.position });
    img.width = 128;
    img.height = 128;
    link.append(img);
    li.append(link);
    return li;
  }));
  byId("photo-form").hidden = !body.may_add_photos;
  const source = byId("req-source");
  source.hidden = !r.source_link;
  if (r.source_link) {
    const link = byId("req-source-link", HTMLAnchorElement);
    // A forum post's link is its topic's page at the post; a chat message's is its room.
    const fromPost = r.source_link.startsWith("/forum/");
    link.href = fromPost ? r.source_link : r.source_link.split("@")[0];
    link.textContent = t(fromPost ? "requests.view.source_post" : "requests.view.source");
  }

  const follow = byId("follow", HTMLButtonElement);
  follow.hidden = body.mine || body.staff || r.private;
  follow.textContent = t(body.following ? "requests.follow.unfollow" : "requests.follow.follow");
  byId("followers").textContent = r.private ? "" : t("requests.view.followers", { n: body.followers });

  byId("history", HTMLOListElement).replaceChildren(...body.events.map((e) => {
    const li = node("li", e.internal ? "req-event req-internal" : "req-event");
    const head = node("p", "req-event-head");
    head.append(node("strong", undefined, e.actor || t("requests.event.system")), ` ${eventWords(e)}`);
    head.append(node("span", "hint", ` · ${formatFullTime(e.at)}`));
    li.append(head);
    if (e.text && !["assign", "merged", "merged_in", "rating"].includes(e.kind)) {
      li.append(node("p", "req-event-text", e.text));
    }
    return li;
  }));
  const open = ["received", "in_progress", "waiting"].includes(r.status);
  byId("reply-form").hidden = !open || !(body.mine || body.staff || body.following);
  byId("rate-card").hidden = !body.may_rate;
  const rated = byId("rated");
  showText(rated, body.rating && !body.may_rate ? t("requests.rate.done", { score: body.rating.score }) : "");
  byId("reopen-card").hidden = !body.may_reopen;
  renderStaff(body);
  if (before && before !== r.status) {
    live.textContent = "";
    setTimeout(() => { live.textContent = t("requests.view.changed", { status: t(`requests.status.${r.status}`) }); }, 100);
  }
}

/** @param {RequestBody} body */
function renderStaff(body) {
  const staff = byId("staff");
  staff.hidden = !body.staff;
  if (!body.staff) return;
  const select = byId("status", HTMLSelectElement);
  const next = NEXT[body.request.status];
  select.replaceChildren(...next.map((s) => {
    const option = node("option", undefined, t(`requests.status.${s}`));
    option.value = s;
    return option;
  }));
  byId("status-form").hidden = next.length === 0;
  byId("reason-field").hidden = select.value !== "rejected";
  const open = ["received", "in_progress", "waiting"].includes(body.request.status);
  byId("merge-form").hidden = !open;
  byId("assign-form").hidden = !open;
  if (meta?.staff) {
    const assignee = byId("assignee", HTMLSelectElement);
    const team = meta.teams?.find((x) => x.categories.includes(body.request.category));
    const people = meta.staff.filter((p) => !team || team.member_ids.includes(p.id));
    assignee.replaceChildren(assignee.options[0], ...people.map((p) => {
      const option = node("option", undefined, p.name);
      option.value = String(p.id);
      return option;
    }));
    assignee.value = body.request.assignee_id ? String(body.request.assignee_id) : "";
  }
}

async function load() {
  if (loading) {
    again = true;
    return;
  }
  loading = true;
  try {
    /** @type {import("../types.js").ApiResult<RequestBody>} */
    const result = await api("GET", path);
    if (!result.ok) {
      byId("req-title").textContent = t("requests.view.not_found");
      return;
    }
    render(result.data);
  } finally {
    loading = false;
    if (again) {
      again = false;
      load();
    }
  }
}

const client = new LinliClient(socketUrl(), withBell({
  pub: (_channel, pub) => {
    const data = /** @type {import("./types.js").RequestChange} */ (/** @type {unknown} */ (pub.data));
    if (data.kind === "request" && (!shown || data.version > shown.request.version)) load();
  },
  // (Re)subscribed: whatever changed while the connection was down is read now.
  subscribed: () => load(),
  subscribeFailed: () => load(),
}));

/**
 * A form posting to one of the request's actions; the answer is the request as shown again.
 * @param {string} id
 * @param {string} action
 * @param {(form: HTMLFormElement) => Record<string, unknown> | null} bodyOf
 */
function action(id, action, bodyOf) {
  const form = byId(id, HTMLFormElement);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showFormError(form, null);
    const body = bodyOf(form);
    if (body === null) return;
    const button = /** @type {HTMLButtonElement} */ (form.querySelector("button[type=submit]"));
    button.disabled = true;
    try {
      /** @type {import("../types.js").ApiResult<RequestBody>} */
      const result = await api("POST", `${path}/${action}`, body);
      if (!result.ok) {
        showFormError(form, result.error);
        return;
      }
      form.reset();
      render(result.data);
    } finally {
      button.disabled = false;
    }
  });
}

/** @param {HTMLFormElement} form @param {string} name */
const value = (form, name) => control(form, name).value;

action("reply-form", "reply", (f) => ({ text: value(f, "text") }));
action("reopen-form", "reopen", (f) => ({ text: value(f, "text") }));
action("rate-form", "rate", (f) => {
  const picked = /** @type {HTMLInputElement | null} */ (f.querySelector("input[name=score]:checked"));
  if (!picked) {
    showFormError(f, { code: "bad_request", field: "score" });
    return null;
  }
  return { score: Number(picked.value), comment: value(f, "comment") };
});
action("status-form", "status", (f) => ({
  status: value(f, "status"), reply: value(f, "reply"), reason: value(f, "reason"),
}));
action("note-form", "note", (f) => ({ text: value(f, "text") }));
action("assign-form", "assign", () => {
  const picked = byId("assignee", HTMLSelectElement).value;
  return { assignee_id: picked ? Number(picked) : null };
});
action("merge-form", "merge", (f) => ({ into: Number(value(f, "into")) || 0 }));

byId("status", HTMLSelectElement).addEventListener("change", (event) => {
  const select = /** @type {HTMLSelectElement} */ (event.target);
  byId("reason-field").hidden = select.value !== "rejected";
});
byId("template", HTMLSelectElement).addEventListener("change", (event) => {
  const select = /** @type {HTMLSelectElement} */ (event.target);
  const template = meta?.templates?.find((x) => String(x.id) === select.value);
  if (template) byId("reply", HTMLTextAreaElement).value = template.body;
});
byId("follow", HTMLButtonElement).addEventListener("click", async () => {
  if (!shown) return;
  const result = await api("POST", `${path}/${shown.following ? "unfollow" : "follow"}`, {});
  if (result.ok) render(result.data);
});

const photoInput = byId("photo", HTMLInputElement);
photoInput.addEventListener("change", async () => {
  const file = photoInput.files?.[0];
  if (!file) return;
  const status = byId("photo-status");
  const form = byId("photo-form", HTMLFormElement);
  showFormError(form, null);
  status.textContent = t("requests.photo.uploading", { name: file.name });
  const code = await uploadPhoto(requestId, file);
  status.textContent = "";
  photoInput.value = "";
  if (code) showFormError(form, { code });
  else load();
});
const failedPhotos = sessionStorage.getItem(`request-${requestId}-photos`);
if (failedPhotos) {
  sessionStorage.removeItem(`request-${requestId}-photos`);
  const [name, code] = failedPhotos.split("\n")[0].split(": ");
  showText(byId("photo-status"), t("requests.photo.failed", { name, reason: errorText(code) }));
}

async function loadMeta() {
  /** @type {import("../types.js").ApiResult<MetaBody>} */
  const result = await api("GET", "/api/requests/meta");
  if (!result.ok || !result.data.templates) return;
  meta = result.data;
  const select = byId("template", HTMLSelectElement);
  select.append(...(meta.templates ?? []).map((x) => {
    const option = node("option", undefined, x.title);
    option.value = String(x.id);
    return option;
  }));
  if (shown) renderStaff(shown);
}

if (page.user) {
  loadMeta();
  client.start();
  client.subscribe(`request:${requestId}`);
  load();
}

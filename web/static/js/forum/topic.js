// @ts-check
// A topic: a page of its posts (the page in the address, so a reload keeps the place), a line
// where the reader's last visit ended, the accepted answer under the first post, and everything
// live on the topic's channel — new replies, edits, reactions, the topic's state, moderation.
// Events are applied idempotently: posts by number, reactions and the topic by version.
// Post bodies are HTML the server rendered and sanitised (linli/richtext.py); everything else
// goes in as text.
import { api, busy } from "../common.js";
import { LinliClient, socketUrl } from "../client.js";
import { formatTime, t } from "../i18n.js";
import { withBell } from "../lib/bell.js";
import { byId, node } from "../lib/dom.js";
import { categoryName, forumError, newClientId, pictureInput } from "./lib.js";
import { loadTopicRequests, mayMakeRequest, postRequests, requestForm } from "../requests/forum-link.js";

/**
 * @typedef {{emoji: string, count: number, names: string[], user_ids: number[]}} ReactionGroup
 * @typedef {{id: number, topic_id: number, number: number, author: {id: number, name: string},
 *   html: string, created_at: number, edited_at: number | null, edits: number, deleted: boolean,
 *   moderation: string | null, reactions: ReactionGroup[], reaction_version: number,
 *   images: {id: number, width: number, height: number, filename: string}[]}} ForumPost
 * @typedef {{id: number, category_id: number, title: string, author: {id: number, name: string},
 *   posts: number, pinned: boolean, closed: boolean, solved_post_id: number | null,
 *   version: number, category?: {id: number, name_zh: string, name_en: string}}} ForumTopic
 */

const section = byId("topic");
const topicId = Number(section.dataset.topicId);
const me = /** @type {{id: number, role: string}} */ (
  JSON.parse(byId("linli-page", HTMLScriptElement).text).user
);
const list = byId("posts", HTMLOListElement);
const live = byId("live");
const form = byId("reply", HTMLFormElement);
const textarea = byId("reply-text", HTMLTextAreaElement);

/** @type {ForumTopic | null} */
let topic = null;
let page = 1;
let pages = 1;
let pageSize = 50;
let lastRead = 0;
let mayModerate = false;
let mayAccept = false;
let mayReply = false;
/** @type {string[]} */
let emojis = [];
/** The accepted answer, shown under the first post. @type {ForumPost | null} */
let solved = null;
/** @type {Map<number, ForumPost>} by number, the posts of this page */
const posts = new Map();
/** Events that came before the page's posts did (subscribed first, so none is missed). */
/** @type {any[]} */
let early = [];
let readSent = 0;

function pageFromAddress() {
  const params = new URLSearchParams(location.search);
  return params.get("page") ? `page=${Number(params.get("page"))}` : params.get("n") ? `n=${Number(params.get("n"))}` : "";
}

async function load(query = pageFromAddress()) {
  /** @type {import("../types.js").ApiResult<any>} */
  const result = await api("GET", `/api/forum/topics/${topicId}${query ? `?${query}` : ""}`);
  if (!result.ok) {
    byId("topic-title").textContent = forumError(result.error);
    form.hidden = true;
    return;
  }
  const data = result.data;
  topic = data.topic;
  page = data.page;
  pages = data.pages;
  pageSize = data.page_size;
  lastRead = data.last_read;
  mayModerate = data.may_moderate;
  mayAccept = data.may_accept;
  mayReply = data.may_reply;
  emojis = data.reactions;
  posts.clear();
  for (const post of /** @type {ForumPost[]} */ (data.posts)) posts.set(post.number, post);
  byId("watch", HTMLSelectElement).value = data.watch ?? "";
  solved = data.solved;
  showTopic();
  renderPosts();
  const pending = early;
  early = [];
  for (const event of pending) apply(event);
  const wanted = new URLSearchParams(location.search).get("n");
  const target = wanted ? document.getElementById(`p${wanted}`) : document.getElementById("new-since");
  target?.scrollIntoView({ block: "start" });
  markRead();
  if (mayModerate) loadMoveTargets();
  void loadTopicRequests(topicId).then(renderPosts);
}

function showTopic() {
  if (!topic) return;
  byId("topic-title").textContent = topic.title;
  document.title = `${topic.title} · ${t("forum.title")}`;
  if (topic.category) {
    const back = byId("topic-category", HTMLAnchorElement);
    back.textContent = t("forum.back_to", { name: categoryName(topic.category) });
    back.href = `/forum/c/${topic.category.id}`;
  }
  const flags = [];
  if (topic.pinned) flags.push(t("forum.pinned"));
  if (topic.closed) flags.push(t("forum.closed"));
  if (topic.solved_post_id) flags.push(t("forum.solved"));
  byId("topic-flags").textContent = flags.join(" · ");
  const open = mayReply && (!topic.closed || mayModerate);
  form.hidden = !open;
  byId("closed-note").hidden = !topic.closed;
  byId("staff-tools").hidden = !mayModerate;
  byId("pin").textContent = t(topic.pinned ? "forum.unpin" : "forum.pin");
  byId("close").textContent = t(topic.closed ? "forum.reopen" : "forum.close");
}

function renderPosts() {
  const numbers = [...posts.keys()].sort((a, b) => a - b);
  const items = [];
  for (const n of numbers) {
    const post = /** @type {ForumPost} */ (posts.get(n));
    if (n === lastRead + 1 && lastRead > 0 && post.author.id !== me.id) {
      const line = node("li", "forum-new");
      line.id = "new-since";
      line.append(document.createElement("hr"));
      line.lastElementChild?.classList.add("forum-new-line");
      line.append(node("p", "forum-new-label", t("forum.new_since")));
      items.push(line);
    }
    items.push(postItem(post, false));
    if (n === 1 && solved) {
      const box = node("li", "forum-solved");
      box.setAttribute("aria-label", t("forum.solved"));
      box.append(node("h2", "", t("forum.solved")));
      const jump = node("a", "", t("forum.go_to_answer", { n: solved.number }));
      jump.setAttribute("href", `?n=${solved.number}#p${solved.number}`);
      box.append(postItem(solved, true), jump);
      items.push(box);
    }
  }
  list.replaceChildren(...items);
  renderPages();
}

function renderPages() {
  for (const id of ["pages-top", "pages-bottom"]) {
    const nav = byId(id);
    nav.replaceChildren();
    for (let n = 1; pages > 1 && n <= pages; n++) {
      const a = node("a", "", String(n));
      a.setAttribute("href", `?page=${n}`);
      a.setAttribute("aria-label", t("forum.page_n", { n }));
      if (n === page) a.setAttribute("aria-current", "page");
      nav.append(a);
    }
  }
}

/**
 * @param {ForumPost} post
 * @param {boolean} copy  the answer's copy under the first post (no id, fewer tools)
 */
function postItem(post, copy) {
  const item = node(copy ? "div" : "li", "forum-post");
  if (!copy) item.id = `p${post.number}`;
  if (post.moderation) item.classList.add("is-hidden");
  if (post.deleted) item.classList.add("is-deleted");
  if (topic?.solved_post_id === post.id) item.classList.add("is-answer");
  const head = node("p", "forum-post-head");
  head.append(node("strong", "", post.author.name));
  head.append(node("span", "", `#${post.number}`));
  head.append(node("time", "", formatTime(post.created_at)));
  if (post.edits && !post.deleted) {
    const edited = node("button", "button-quiet", t("forum.edited"));
    edited.type = "button";
    edited.addEventListener("click", () => showHistory(post, item));
    if (post.author.id === me.id || mayModerate) head.append(edited);
    else head.append(node("span", "", t("forum.edited")));
  }
  if (topic?.solved_post_id === post.id) head.append(node("span", "forum-flags", t("forum.answer")));
  item.append(head);
  const body = node("div", "forum-post-body");
  if (post.deleted) body.textContent = t("forum.deleted");
  else if (post.moderation && !post.html) body.textContent = t("forum.hidden");
  else body.innerHTML = post.html; // sanitised on the server (linli/richtext.py)
  item.append(body);
  if (post.images?.length) {
    const gallery = node("div", "forum-pictures");
    for (const image of post.images) {
      const link = node("a");
      link.setAttribute("href", `/api/forum/images/${image.id}`);
      const img = node("img");
      img.src = `/api/forum/images/${image.id}/thumb`;
      img.alt = image.filename;
      img.loading = "lazy";
      link.append(img);
      gallery.append(link);
    }
    item.append(gallery);
  }
  const requests = copy ? null : postRequests(post.number);
  if (requests) item.append(requests);
  if (!post.deleted && !copy) item.append(actionsOf(post, body));
  return item;
}

/**
 * @param {ForumPost} post
 * @param {HTMLElement} body
 */
function actionsOf(post, body) {
  const bar = node("div", "forum-actions");
  for (const emoji of emojis) {
    const group = post.reactions.find((r) => r.emoji === emoji);
    const mine = !!group && group.user_ids.includes(me.id);
    const button = node("button", "forum-reaction", `${emoji} ${group ? group.count : 0}`);
    button.type = "button";
    button.setAttribute("aria-pressed", String(mine));
    button.setAttribute("aria-label", t("forum.react", { emoji, n: group ? group.count : 0 }));
    if (group) button.title = group.names.join("、");
    button.addEventListener("click", async () => {
      const result = await api("POST", `/api/forum/posts/${post.id}/react`, { emoji, on: !mine });
      if (result.ok) apply(result.data);
    });
    bar.append(button);
  }
  if (!post.moderation && mayReply) {
    bar.append(tool("forum.quote", () => quote(post, body)));
  }
  if (mayAccept && post.number > 1) {
    const accepted = topic?.solved_post_id === post.id;
    bar.append(tool(accepted ? "forum.unaccept" : "forum.accept", async () => {
      await api("POST", `/api/forum/topics/${topicId}/solve`, { post_id: accepted ? null : post.id });
    }));
  }
  if (post.author.id === me.id) {
    bar.append(tool("forum.edit", () => editPost(post, body)));
    bar.append(tool("forum.delete", async () => {
      if (confirm(t("forum.delete_confirm"))) await api("POST", `/api/forum/posts/${post.id}/delete`, {});
    }));
  } else {
    bar.append(tool("forum.flag", () => flagPost(post, bar)));
  }
  if (!post.moderation && mayMakeRequest(post, me.id)) {
    bar.append(tool("requests.forum.make", () => {
      requestForm(post, me.id, body.innerText || "", bar, renderPosts);
    }));
  }
  if (mayModerate && post.number > 1) {
    bar.append(tool("forum.split", async () => {
      const title = prompt(t("forum.split_title"));
      if (!title) return;
      const result = await api("POST", `/api/forum/posts/${post.id}/split`, { title });
      if (result.ok) live.textContent = t("forum.split_done");
    }));
  }
  if (mayModerate) {
    const hidden = post.moderation === "hidden";
    bar.append(tool(hidden ? "forum.restore" : "forum.hide", async () => {
      const reason = prompt(t("forum.reason"));
      if (!reason) return;
      await api("POST", `/api/forum/posts/${post.id}/moderate`, { action: hidden ? "restore" : "hide", reason });
    }));
  }
  return bar;
}

/**
 * @param {string} key
 * @param {() => void | Promise<void>} run
 */
function tool(key, run) {
  const button = node("button", "button-quiet", t(key));
  button.type = "button";
  button.addEventListener("click", () => { void run(); });
  return button;
}

/**
 * @param {ForumPost} post
 * @param {HTMLElement} body
 */
function quote(post, body) {
  const text = (body.innerText || "").trim().split("\n").map((line) => `> ${line}`).join("\n");
  const start = textarea.value ? `${textarea.value}\n\n` : "";
  textarea.value = `${start}> **${post.author.name}** #${post.number}\n${text}\n\n`;
  textarea.focus();
}

/**
 * @param {ForumPost} post
 * @param {HTMLElement} body
 */
async function editPost(post, body) {
  const source = await api("GET", `/api/forum/posts/${post.id}/source`);
  if (!source.ok) return;
  const editor = node("textarea");
  editor.value = source.data.text;
  editor.rows = 6;
  editor.setAttribute("aria-label", t("forum.edit"));
  const save = node("button", "button-primary", t("forum.save"));
  save.type = "button";
  const error = node("p", "error");
  error.setAttribute("role", "alert");
  save.addEventListener("click", () => busy(save, async () => {
    const result = await api("POST", `/api/forum/posts/${post.id}`, { text: editor.value });
    if (!result.ok) error.textContent = forumError(result.error);
    else apply({ kind: "edit", post: result.data.post });
  }));
  body.replaceChildren(editor, save, error);
  editor.focus();
}

/**
 * @param {ForumPost} post
 * @param {HTMLElement} bar
 */
function flagPost(post, bar) {
  const select = node("select");
  select.setAttribute("aria-label", t("forum.flag_reason"));
  for (const reason of ["spam", "harassment", "false_information", "private_data"]) {
    const option = node("option", "", t(`forum.flag_reason.${reason}`));
    option.value = reason;
    select.append(option);
  }
  const send = node("button", "button-primary", t("forum.flag_send"));
  send.type = "button";
  const done = node("span", "", "");
  done.setAttribute("role", "status");
  send.addEventListener("click", async () => {
    const result = await api("POST", `/api/forum/posts/${post.id}/flag`, { reason: select.value });
    done.textContent = result.ok ? t("forum.flag_done") : forumError(result.error);
  });
  bar.append(select, send, done);
  select.focus();
}

/**
 * @param {ForumPost} post
 * @param {HTMLElement} item
 */
async function showHistory(post, item) {
  const result = await api("GET", `/api/forum/posts/${post.id}/history`);
  if (!result.ok) return;
  const box = node("details", "forum-history");
  box.open = true;
  box.append(node("summary", "", t("forum.history")));
  for (const revision of /** @type {{revision: number, html: string, at: number}[]} */ (result.data.revisions)) {
    box.append(node("p", "forum-meta", t("forum.revision", { n: revision.revision, time: formatTime(revision.at) })));
    const old = node("div", "forum-post-body");
    old.innerHTML = revision.html; // sanitised on the server when it was written
    box.append(old);
  }
  item.append(box);
}

/** Apply one event of the topic's channel (see gateway/forum/events.py). @param {any} event */
function apply(event) {
  if (!topic) {
    early.push(event);
    return;
  }
  if (event.kind === "post" || event.kind === "edit") {
    /** @type {ForumPost} */
    const post = event.post;
    const known = posts.get(post.number);
    const onPage = post.number > (page - 1) * pageSize && post.number <= page * pageSize;
    if (event.kind === "post" && !known) {
      topic.posts = Math.max(topic.posts, post.number);
      pages = Math.max(pages, Math.ceil(post.number / pageSize));
      if (!onPage) {
        renderPages();
        live.textContent = t("forum.new_reply_elsewhere", { name: post.author.name });
        return;
      }
      live.textContent = t("forum.new_reply", { name: post.author.name });
    }
    if (!onPage) return;
    if (known) {
      // An edit keeps what moderation decided and the reactions (they have their own events).
      post.moderation = post.moderation ?? known.moderation;
      if (known.reaction_version > post.reaction_version) {
        post.reactions = known.reactions;
        post.reaction_version = known.reaction_version;
      }
    }
    posts.set(post.number, post);
    renderPosts();
    if (document.visibilityState === "visible") markRead();
  } else if (event.kind === "reactions") {
    for (const post of posts.values()) {
      if (post.id === event.post_id && event.version > post.reaction_version) {
        post.reactions = event.reactions;
        post.reaction_version = event.version;
        renderPosts();
      }
    }
  } else if (event.kind === "topic") {
    if (event.topic.version <= topic.version) return;
    const category = topic.category;
    const solvedChanged = event.topic.solved_post_id !== topic.solved_post_id;
    topic = { ...event.topic, category: event.topic.category ?? category };
    showTopic();
    if (solvedChanged) void load(`page=${page}`);
    else renderPosts();
  } else if (event.kind === "hide" || event.kind === "restore" || event.kind === "delete") {
    for (const post of posts.values()) {
      if (post.id !== event.target) continue;
      if (event.kind === "restore") void load(`page=${page}`);
      else {
        post.moderation = event.kind === "hide" ? "hidden" : "deleted";
        if (!mayModerate || event.kind === "delete") {
          post.html = "";
          post.images = [];
        }
        renderPosts();
      }
    }
  }
}

async function markRead() {
  const top = Math.max(0, ...posts.keys());
  if (top <= Math.max(lastRead, readSent)) return;
  readSent = top;
  await api("POST", `/api/forum/topics/${topicId}/read`, { number: top });
}

async function loadMoveTargets() {
  const result = await api("GET", "/api/forum/categories");
  if (!result.ok || !topic) return;
  const select = byId("move", HTMLSelectElement);
  select.replaceChildren(
    ...result.data.categories.map((/** @type {{id: number, name_zh: string, name_en: string}} */ c) => {
      const option = node("option", "", categoryName(c));
      option.value = String(c.id);
      option.selected = c.id === topic?.category_id;
      return option;
    }),
  );
}

byId("watch", HTMLSelectElement).addEventListener("change", async (event) => {
  const value = /** @type {HTMLSelectElement} */ (event.target).value;
  await api("POST", `/api/forum/topics/${topicId}/watch`, { level: value || null });
});
byId("pin").addEventListener("click", () => {
  if (topic) void api("POST", `/api/forum/topics/${topicId}/staff`, { pinned: !topic.pinned });
});
byId("close").addEventListener("click", () => {
  if (topic) void api("POST", `/api/forum/topics/${topicId}/staff`, { closed: !topic.closed });
});
byId("move", HTMLSelectElement).addEventListener("change", (event) => {
  const value = Number(/** @type {HTMLSelectElement} */ (event.target).value);
  void api("POST", `/api/forum/topics/${topicId}/staff`, { category_id: value });
});

// -- replying, with @mentions of people who may read the topic ---------------------------------

let clientId = newClientId();
const pictures = pictureInput(byId("reply-pictures", HTMLInputElement), byId("reply-pictures-status"));
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = byId("reply-error");
  const button = /** @type {HTMLButtonElement} */ (form.querySelector("button[type=submit]"));
  await busy(button, async () => {
    const result = await api("POST", `/api/forum/topics/${topicId}/replies`, {
      text: textarea.value, client_id: clientId, images: pictures.ids(),
    });
    if (!result.ok) {
      error.textContent = forumError(result.error);
      error.hidden = false;
      return;
    }
    error.hidden = true;
    textarea.value = "";
    pictures.clear();
    clientId = newClientId();
    // 202: kept for a moderator's review; it appears (live) once approved.
    byId("reply-held").hidden = result.status !== 202;
    if (result.status === 202) return;
    const post = /** @type {ForumPost} */ (result.data.post);
    const last = Math.ceil(post.number / pageSize);
    if (last !== page) await load(`page=${last}`);
    else apply({ kind: "post", post });
  });
});

const mentionList = byId("mention-list", HTMLUListElement);
textarea.addEventListener("input", async () => {
  const before = textarea.value.slice(0, textarea.selectionStart);
  const match = /@([^\s@]{1,20})$/.exec(before);
  if (!match) {
    mentionList.hidden = true;
    return;
  }
  const q = match[1];
  const result = await api("GET", `/api/forum/topics/${topicId}/people?q=${encodeURIComponent(q)}`);
  if (!result.ok || !result.data.people.length) {
    mentionList.hidden = true;
    return;
  }
  mentionList.replaceChildren(
    ...result.data.people.map((/** @type {{name: string, username: string}} */ person) => {
      const item = node("li");
      item.setAttribute("role", "option");
      const pick = node("button", "button-quiet", `${person.name} (@${person.username})`);
      pick.type = "button";
      pick.addEventListener("click", () => {
        const at = before.length - q.length;
        textarea.value = `${textarea.value.slice(0, at)}${person.name} ${textarea.value.slice(before.length)}`;
        mentionList.hidden = true;
        textarea.focus();
      });
      item.append(pick);
      return item;
    }),
  );
  mentionList.hidden = false;
});

// -- live ---------------------------------------------------------------------------------------

const client = new LinliClient(socketUrl(), withBell({
  pub: (_channel, pub) => apply(pub.data),
  subscribed: (_channel, _reply, how) => {
    if (how.reload && topic) void load(`page=${page}`);
  },
}));
window.linliClient = client;
client.start();
client.subscribe(`topic:${topicId}`);
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") void markRead();
});
void load();

// @ts-check
// A category: its topics (pinned first, then the most recently active), each with the reader's
// unread count, pages kept in the address, and the form to start a topic. The list is live:
// an event on `category:<id>` (a new topic, a reply, a pin …) reads the page again, since each
// reader's unread counts are their own; bursts are read once.
import { api, busy } from "../common.js";
import { LinliClient, socketUrl } from "../client.js";
import { formatTime, t } from "../i18n.js";
import { withBell } from "../lib/bell.js";
import { byId, node } from "../lib/dom.js";
import { categoryName, forumError, newClientId, pictureInput } from "./lib.js";

/**
 * @typedef {{id: number, title: string, author: {id: number, name: string}, posts: number,
 *   last_post_at: number, pinned: boolean, closed: boolean, solved_post_id: number | null,
 *   unread: number}} TopicRow
 */

const section = byId("category");
const categoryId = Number(section.dataset.categoryId);
const page = Number(new URLSearchParams(location.search).get("page") || "1");

async function load() {
  /** @type {import("../types.js").ApiResult<any>} */
  const result = await api("GET", `/api/forum/categories/${categoryId}/topics?page=${page}`);
  if (!result.ok) {
    byId("category-name").textContent = forumError(result.error);
    return;
  }
  const { category, topics, pages } = result.data;
  byId("category-name").textContent = categoryName(category);
  byId("category-description").textContent = category.description;
  document.title = `${categoryName(category)} · ${t("forum.title")}`;
  /** @type {TopicRow[]} */
  const rows = topics;
  const list = byId("topics");
  list.replaceChildren(
    ...rows.map((topic) => {
      const item = node("li");
      item.style.setProperty("--colour", category.colour);
      const link = node("a", "", topic.title);
      link.setAttribute("href", `/forum/t/${topic.id}`);
      item.append(link);
      if (topic.unread) item.append(node("span", "forum-unread", t("forum.unread_count", { n: topic.unread })));
      const flags = [];
      if (topic.pinned) flags.push(t("forum.pinned"));
      if (topic.closed) flags.push(t("forum.closed"));
      if (topic.solved_post_id) flags.push(t("forum.solved"));
      if (flags.length) item.append(node("p", "forum-flags", flags.join(" · ")));
      item.append(node("p", "forum-meta", t("forum.topic_meta", {
        name: topic.author.name, n: topic.posts, time: formatTime(topic.last_post_at),
      })));
      return item;
    }),
  );
  if (!rows.length) list.append(node("li", "", t("forum.no_topics")));
  const nav = byId("topics-pages");
  nav.replaceChildren();
  for (let n = 1; pages > 1 && n <= pages; n++) {
    const a = node("a", "", String(n));
    a.setAttribute("href", `?page=${n}`);
    a.setAttribute("aria-label", t("forum.page_n", { n }));
    if (n === page) a.setAttribute("aria-current", "page");
    nav.append(a);
  }
  byId("new-topic").hidden = !category.may_start;
}

const form = byId("new-topic", HTMLFormElement);
let clientId = newClientId();
const pictures = pictureInput(byId("topic-pictures", HTMLInputElement), byId("topic-pictures-status"));
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = byId("topic-error");
  const title = byId("topic-title", HTMLInputElement).value;
  const text = byId("topic-text", HTMLTextAreaElement).value;
  const button = /** @type {HTMLButtonElement} */ (form.querySelector("button[type=submit]"));
  await busy(button, async () => {
    const result = await api("POST", `/api/forum/categories/${categoryId}/topics`, {
      title, text, client_id: clientId, images: pictures.ids(),
    });
    if (!result.ok) {
      error.textContent = forumError(result.error);
      error.hidden = false;
      return;
    }
    clientId = newClientId();
    if (result.status === 202) {
      // Kept for a moderator's review: the topic appears in the list once approved.
      error.hidden = true;
      form.reset();
      byId("topic-held").hidden = false;
      return;
    }
    location.assign(`/forum/t/${result.data.topic.id}`);
  });
});

// -- live ---------------------------------------------------------------------------------------

/** Events closer together than this are read once (a busy evening's replies). */
const RELOAD_DELAY_MS = 300;
/** @type {number | undefined} */
let reloadTimer;
function reloadSoon() {
  if (reloadTimer !== undefined) return;
  reloadTimer = window.setTimeout(() => {
    reloadTimer = undefined;
    void load();
  }, RELOAD_DELAY_MS);
}

const client = new LinliClient(socketUrl(), withBell({
  pub: () => reloadSoon(),
  subscribed: (_channel, _reply, how) => {
    if (how.reload) reloadSoon();
  },
}));
window.linliClient = client;
client.start();
client.subscribe(`category:${categoryId}`);
void load();

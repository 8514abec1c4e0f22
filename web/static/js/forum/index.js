// @ts-check
// The forum's front page: the categories the reader may read, with topics and unread counts
// (counted on the server from the stored posts; a list never marks anything read).
import { api } from "../common.js";
import { t } from "../i18n.js";
import { byId, node } from "../lib/dom.js";
import { categoryName } from "./lib.js";

/**
 * @typedef {{id: number, slug: string, name_zh: string, name_en: string, description: string,
 *   colour: string, topics: number, unread_topics: number, unread_posts: number}} ForumCategory
 */

async function load() {
  const status = byId("forum-status");
  /** @type {import("../types.js").ApiResult<{categories: ForumCategory[], questions_answered: number}>} */
  const result = await api("GET", "/api/forum/categories");
  if (!result.ok) {
    status.textContent = t("forum.load_failed");
    return;
  }
  const { categories, questions_answered } = result.data;
  status.textContent = categories.length ? "" : t("forum.no_categories");
  byId("forum-categories").replaceChildren(
    ...categories.map((c) => {
      const item = node("li");
      item.style.setProperty("--colour", c.colour);
      const link = node("a", "", categoryName(c));
      link.setAttribute("href", `/forum/c/${c.id}`);
      item.append(link);
      if (c.unread_posts) {
        item.append(node("span", "forum-unread", t("forum.unread_count", { n: c.unread_posts })));
      }
      if (c.description) item.append(node("p", "forum-meta", c.description));
      item.append(node("p", "forum-meta", t("forum.topic_count", { n: c.topics })));
      return item;
    }),
  );
  byId("forum-answered").textContent = t("forum.questions_answered", { n: questions_answered });
}

load();

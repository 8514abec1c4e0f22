// @ts-check
// A forum post turned into a request: "Make a request" on the post (its author's own, or staff
// who handle a category), a small form with the post's text filled in, and on every post the
// requests made from it that the reader may see ("Request #12 · received"). The server checks
// everything again (POST /api/requests with source_post; GET /api/requests/from-topic).
import { api, busy } from "../common.js";
import { errorText, t } from "../i18n.js";
import { node } from "../lib/dom.js";

/** @type {Record<string, {id: number, status: string}[]>} by post number */
let linked = {};
/** @type {string[]} the categories the reader handles (staff) */
let handled = [];
const CATEGORIES = ["repair", "question", "suggestion", "complaint", "feedback"];

/**
 * The requests made from this topic's posts, as the reader may see them.
 * @param {number} topicId
 */
export async function loadTopicRequests(topicId) {
  const result = await api("GET", `/api/requests/from-topic?topic=${topicId}`);
  if (!result.ok) return;
  linked = result.data.requests;
  handled = result.data.handled;
}

/**
 * Links to the requests made from a post, or null.
 * @param {number} number  the post's number in its topic
 * @returns {HTMLElement | null}
 */
export function postRequests(number) {
  const found = linked[String(number)] ?? [];
  if (!found.length) return null;
  const box = node("p", "forum-request-links");
  for (const r of found) {
    const a = node("a", "", t("requests.forum.linked", { id: r.id, status: t(`requests.status.${r.status}`) }));
    a.href = `/requests/${r.id}`;
    box.append(a, " ");
  }
  return box;
}

/**
 * Whether the reader may make a request of this post: its author, or staff.
 * @param {{author: {id: number}}} post
 * @param {number} me
 */
export function mayMakeRequest(post, me) {
  return post.author.id === me || handled.length > 0;
}

/**
 * The form under a post: category, private or not, the text (the post's, to edit).
 * @param {{id: number, number: number, author: {id: number, name: string}}} post
 * @param {number} me
 * @param {string} text  the post's text as shown
 * @param {HTMLElement} after  the post's tool bar: the form goes after it
 * @param {() => void} done  called once the request is made (re-render)
 */
export function requestForm(post, me, text, after, done) {
  after.parentElement?.querySelector(".forum-request-form")?.remove();
  const form = node("form", "forum-request-form");
  form.noValidate = true;
  const id = `req-from-${post.id}`;
  const choices = post.author.id === me ? CATEGORIES : handled;
  const category = node("select");
  category.id = `${id}-category`;
  for (const c of choices) {
    const option = node("option", "", t(`requests.category.${c}`));
    option.value = c;
    category.append(option);
  }
  const area = node("textarea");
  area.id = `${id}-text`;
  area.rows = 4;
  area.maxLength = 2000;
  area.value = text.trim().slice(0, 2000);
  const privacy = node("input");
  privacy.type = "checkbox";
  privacy.id = `${id}-private`;
  const error = node("p", "error");
  error.setAttribute("role", "alert");
  error.hidden = true;
  for (const [control, key] of /** @type {const} */ ([[category, "requests.new.category"], [area, "requests.new.text"]])) {
    const field = node("div", "field");
    const label = node("label", "", t(key));
    label.htmlFor = control.id;
    field.append(label, control);
    form.append(field);
  }
  const check = node("label", "check");
  check.append(privacy, ` ${t("requests.new.private")}`);
  form.append(check);
  if (post.author.id !== me) {
    form.append(node("p", "hint", t("requests.forum.for_author", { name: post.author.name })));
  }
  const send = node("button", "button-primary", t("requests.forum.send"));
  send.type = "submit";
  form.append(error, send);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(send, async () => {
      error.hidden = true;
      const result = await api("POST", "/api/requests", {
        category: category.value, text: area.value, private: privacy.checked, source_post: post.id,
      });
      if (!result.ok) {
        error.textContent = errorText(result.error?.code, result.error?.field);
        error.hidden = false;
        return;
      }
      const made = result.data.request;
      (linked[String(post.number)] ??= []).push({ id: made.id, status: made.status });
      form.remove();
      done();
    });
  });
  after.after(form);
  category.focus();
}

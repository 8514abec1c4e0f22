// @ts-check
// "Make a request" beside a chat message: a link to the new-request form with the message's
// room and number, which the server checks (the reader may read that room) and uses to fill in
// the text and keep a link back to the message. Tap it, then Send: two taps.
import { t } from "../i18n.js";
import { node } from "../lib/dom.js";

/**
 * @param {string} channel  the room, e.g. "building:1"
 * @param {number} offset  the message's number in the room
 * @param {string} author  whose message it is (for the link's accessible name)
 * @returns {HTMLAnchorElement}
 */
export function requestLink(channel, offset, author) {
  const link = node("a", "request-link", t("requests.chat.make"));
  // The chat page's stylesheet is the core's: a finger-sized target set here (CSSOM, which the
  // pages' CSP allows, unlike a style attribute).
  Object.assign(link.style, { display: "inline-block", padding: "0.35rem 0.5rem", minHeight: "2.2rem" });
  link.href = `/requests?${new URLSearchParams({ channel, offset: String(offset) })}`;
  link.setAttribute("aria-label", t("requests.chat.make_label", { name: author }));
  return link;
}

// @ts-check
// What the bell, the inbox and the settings page say about notifications: each kind's word and
// icon, the line of text in the page's language, a time in words ("3 minutes ago"), and the
// in-app address a notification may link to. No side effects on import.
import { formatTime, lang, t } from "../i18n.js";

/** @typedef {import("../types.js").NotificationKind} NotificationKind */

/** The kinds in the order the settings page lists them (persistence/notifications Kind). */
export const KINDS = /** @type {const} */ ([
  "notice",
  "urgent",
  "mention",
  "request",
  "event",
  "survey",
  "poll",
  "moderation",
  "chat",
]);

/** An icon beside each kind's word (never alone: screen readers skip it, the word says it).
 * Drawn as SVG paths (24×24, after Material Design's icons, Apache 2.0) rather than emoji, which
 * a computer without an emoji font shows as empty boxes. */
const ICONS = {
  // a megaphone
  notice: "M18 11v2h4v-2h-4zm-2 6.61c.96.71 2.21 1.65 3.2 2.39.4-.53.8-1.07 1.2-1.6-.99-.74-2.24-1.68-3.2-2.4-.4.54-.8 1.08-1.2 1.61zM20.4 5.6c-.4-.53-.8-1.07-1.2-1.6-.99.74-2.24 1.68-3.2 2.4.4.53.8 1.07 1.2 1.6.96-.72 2.21-1.65 3.2-2.4zM4 9c-1.1 0-2 .9-2 2v2c0 1.1.9 2 2 2h1v4h2v-4h1l5 3V6L8 9H4zm11.5 3c0-1.33-.58-2.53-1.5-3.35v6.69c.92-.81 1.5-2.01 1.5-3.34z",
  // a warning triangle
  urgent: "M1 21h22L12 2 1 21zm12-3h-2v-2h2v2zm0-4h-2v-4h2v4z",
  // a speech bubble
  mention: "M20 2H4c-1.1 0-1.99.9-1.99 2L2 22l4-4h14c1.1 0 2-.9 2-2V4c0-1.1-.9-2-2-2zM6 9h12v2H6V9zm8 5H6v-2h8v2zm4-6H6V6h12v2z",
  // a spanner
  request: "M22.7 19l-9.1-9.1c.9-2.3.4-5-1.5-6.9-2-2-5-2.4-7.4-1.3L9 6 6 9 1.6 4.7C.4 7.1.9 10.1 2.9 12.1c1.9 1.9 4.6 2.4 6.9 1.5l9.1 9.1c.4.4 1 .4 1.4 0l2.3-2.3c.5-.4.5-1.1.1-1.4z",
  // a calendar
  event: "M17 12h-5v5h5v-5zM16 1v2H8V1H6v2H5c-1.11 0-1.99.9-1.99 2L3 19c0 1.1.89 2 2 2h14c1.1 0 2-.9 2-2V5c0-1.1-.9-2-2-2h-1V1h-2zm3 18H5V8h14v11z",
  // a clipboard
  survey: "M19 3h-4.18C14.4 1.84 13.3 1 12 1c-1.3 0-2.4.84-2.82 2H5c-1.1 0-2 .9-2 2v14c0 1.1.9 2 2 2h14c1.1 0 2-.9 2-2V5c0-1.1-.9-2-2-2zm-7 0c.55 0 1 .45 1 1s-.45 1-1 1-1-.45-1-1 .45-1 1-1zm2 14H7v-2h7v2zm3-4H7v-2h10v2zm0-4H7V7h10v2z",
  // bars
  poll: "M19 3H5c-1.1 0-2 .9-2 2v14c0 1.1.9 2 2 2h14c1.1 0 2-.9 2-2V5c0-1.1-.9-2-2-2zM9 17H7v-7h2v7zm4 0h-2V7h2v10zm4 0h-2v-4h2v4z",
  // two speech bubbles
  chat: "M21 6h-2v9H6v2c0 .55.45 1 1 1h11l4 4V7c0-.55-.45-1-1-1zm-4 6V3c0-.55-.45-1-1-1H3c-.55 0-1 .45-1 1v14l4-4h10c.55 0 1-.45 1-1z",
  // a shield
  moderation: "M12 1L3 5v6c0 5.55 3.84 10.74 9 12 5.16-1.26 9-6.45 9-12V5l-9-4z",
};
/** A bell, for a kind this page does not know yet. */
const BELL = "M12 22c1.1 0 2-.9 2-2h-4c0 1.1.89 2 2 2zm6-6v-5c0-3.07-1.64-5.64-4.5-6.32V4c0-.83-.67-1.5-1.5-1.5s-1.5.67-1.5 1.5v.68C7.63 5.36 6 7.92 6 11v5l-2 2v1h16v-1l-2-2z";
const SVG = "http://www.w3.org/2000/svg";

/**
 * The kind's icon, hidden from screen readers (the word beside it says what it is).
 * @param {string} kind
 * @returns {SVGSVGElement}
 */
export function kindIcon(kind) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.classList.add("kind-svg", `kind-svg-${kind}`);
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("fill", "currentColor");
  path.setAttribute("d", ICONS[/** @type {NotificationKind} */ (kind)] ?? BELL);
  svg.append(path);
  return svg;
}

/**
 * The kind as a word ("投票" / "Poll"); an urgent notification of any kind is "urgent".
 * @param {string} kind
 * @param {boolean} [urgent]
 */
export function kindWord(kind, urgent = false) {
  return t(`notify.kind.${urgent ? "urgent" : kind}`);
}

/**
 * The notification's one line in the page's language, the other one when it has none.
 * @param {{"zh-Hant": string, en: string}} text
 */
export function lineOf(text) {
  return lang === "en" ? text.en || text["zh-Hant"] : text["zh-Hant"] || text.en;
}

/**
 * A link of a notification, if it stays in Linli ("/polls/3", "/#building:1"); anything else
 * (another site, "//host", "/\host", which browsers read as another site) goes to the inbox.
 * @param {string} link
 */
export function safeLink(link) {
  return /^\/(?![/\\])/.test(link) ? link : "/inbox";
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const relative = new Intl.RelativeTimeFormat(lang, { numeric: "auto" });

/**
 * A time in words, as people say it: "just now", "5 minutes ago", "yesterday"; after a week the
 * date and time.
 * @param {number} ms  milliseconds since the Unix epoch
 * @param {number} [now]
 */
export function timeInWords(ms, now = Date.now()) {
  const ago = Math.max(0, now - ms);
  if (ago < MINUTE) return t("notify.time.now");
  if (ago < HOUR) return relative.format(-Math.floor(ago / MINUTE), "minute");
  if (ago < DAY) return relative.format(-Math.floor(ago / HOUR), "hour");
  if (ago < 7 * DAY) return relative.format(-Math.round(ago / DAY), "day");
  return formatTime(ms);
}

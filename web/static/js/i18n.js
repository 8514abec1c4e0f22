// @ts-check
// The page's message catalogue (rendered into the page by the server in the reader's language)
// and the few helpers every script uses to speak it. No user-facing string lives in a script.

import { byId } from "./lib/dom.js";

/** @typedef {import("./types.js").PageFacts} PageFacts */

/** @type {Record<string, string>} */
const catalogue =
  // Pages from base.html load it as /i18n/<wording>.js (web/catalogue_script.py); the
  // projector pages still carry it inline.
  /** @type {{linliCatalogue?: Record<string, string>}} */ (globalThis).linliCatalogue ??
  JSON.parse(byId("linli-i18n", HTMLScriptElement).text);
/** @type {PageFacts} */
export const page = JSON.parse(byId("linli-page", HTMLScriptElement).text);
/** The language ("zh-Hant" or "en"), whatever the regional wording. */
export const lang = page.lang || "zh-Hant";
/** The catalogue the page is in: the language or its regional wording ("zh-Hant-HK"). */
const wording = page.wording || lang;

const LANG_KEY = "linli.lang";
const LANG_COOKIE = "linli_lang";
const ONE_YEAR = 365 * 24 * 3600;

/**
 * The catalogue entry `key` with `{name}` placeholders filled from `values`.
 * @param {string} key
 * @param {Record<string, string | number>} [values]
 * @returns {string}
 */
export function t(key, values = {}) {
  const text = catalogue[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

/**
 * A friendly sentence for an error code from the HTTP API or the protocol; `field` picks a more
 * precise one for form fields when the catalogue has it.
 * @param {string | undefined} code
 * @param {string} [field]
 * @returns {string}
 */
export function errorText(code, field) {
  if (field && catalogue[`errors.${code}.${field}`]) return t(`errors.${code}.${field}`);
  if (catalogue[`errors.${code}`]) return t(`errors.${code}`, { min: page.min_password });
  return t("errors.generic");
}

// Intl picks the reader's conventions (24-hour clock in zh-Hant-HK, 12-hour in en-US, …); the
// browser's own locale refines the catalogue language when they agree, else the page's region.
function intlLocale() {
  const nav = navigator.language || "";
  if (lang === "en") return nav.toLowerCase().startsWith("en") ? nav : "en";
  return nav.toLowerCase().startsWith("zh-hant") || /^zh-(hk|tw|mo)/i.test(nav)
    ? nav
    : document.documentElement.lang || "zh-Hant-TW";
}
const timeFormat = new Intl.DateTimeFormat(intlLocale(), { hour: "numeric", minute: "2-digit" });
const dateTimeFormat = new Intl.DateTimeFormat(intlLocale(), {
  month: "short", day: "numeric", hour: "numeric", minute: "2-digit",
});
const fullFormat = new Intl.DateTimeFormat(intlLocale(), { dateStyle: "full", timeStyle: "short" });

/**
 * A message time as a reader expects it: only the time for today, the date too otherwise.
 * @param {number} ms  milliseconds since the Unix epoch
 */
export function formatTime(ms) {
  const date = new Date(ms);
  const now = new Date();
  if (date.toDateString() === now.toDateString()) return timeFormat.format(date);
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (date.toDateString() === yesterday.toDateString()) {
    return `${t("time.yesterday")} ${timeFormat.format(date)}`;
  }
  return dateTimeFormat.format(date);
}

const dayFormat = new Intl.DateTimeFormat(intlLocale(), { month: "long", day: "numeric", weekday: "short" });
const dayYearFormat = new Intl.DateTimeFormat(intlLocale(), { dateStyle: "full" });

/**
 * A day as a date line in the chat says it: the date, with the year only when it is not this one.
 * @param {number} ms  milliseconds since the Unix epoch
 */
export function formatDay(ms) {
  const date = new Date(ms);
  return (date.getFullYear() === new Date().getFullYear() ? dayFormat : dayYearFormat).format(date);
}

/** @param {number} ms  milliseconds since the Unix epoch */
export function formatFullTime(ms) {
  return fullFormat.format(new Date(ms));
}

/** @param {string} name */
function readCookie(name) {
  const match = document.cookie.match(new RegExp(`(?:^|; )${name}=([^;]*)`));
  return match ? decodeURIComponent(match[1]) : null;
}

/** @param {string} code */
function rememberLanguage(code) {
  try {
    localStorage.setItem(LANG_KEY, code);
  } catch {
    // Private mode or storage full: the cookie still carries the choice.
  }
  document.cookie = `${LANG_COOKIE}=${encodeURIComponent(code)}; path=/; max-age=${ONE_YEAR}; samesite=lax`;
}

/**
 * Switch the interface language: remembered in localStorage and in a cookie (so the server
 * renders the next page in it), then the page is rendered again.
 * @param {string} code
 */
export function switchLanguage(code) {
  rememberLanguage(code);
  location.reload();
}

// A choice remembered in localStorage but without the cookie (cookie cleared, or expired) is
// restored; a first visit follows navigator.language when the server's guess from
// Accept-Language differs. Reload only when the cookie really stuck, so a browser refusing
// cookies cannot loop.
(function syncLanguage() {
  const supported = ["zh-Hant", "zh-Hant-HK", "en"];
  /** @type {string | null} */
  let wanted = null;
  try {
    wanted = localStorage.getItem(LANG_KEY);
  } catch {
    wanted = null;
  }
  if (readCookie(LANG_COOKIE)) return;
  if (wanted === null || !supported.includes(wanted)) {
    const nav = (navigator.language || "").toLowerCase();
    // As the server reads Accept-Language (web/pages.py negotiate_wording).
    wanted = /^(zh-(hant-)?(hk|mo)|yue)/.test(nav)
      ? "zh-Hant-HK"
      : nav.startsWith("zh") ? "zh-Hant" : nav.startsWith("en") ? "en" : null;
  }
  if (!wanted || wanted === wording) return;
  rememberLanguage(wanted);
  if (readCookie(LANG_COOKIE) === wanted) location.reload();
})();

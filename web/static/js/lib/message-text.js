// @ts-check
// A message's text as the reader sees it: plain text with its web addresses made links, and its
// language where the script tells it. Built as DOM nodes from the text — never innerHTML of user
// text — so <img src=x onerror=alert(1)> stays the characters it is.
//
// Links: only http and https (a `javascript:` or `data:` address is never a link: the pattern
// needs "http(s)://", and the URL parser must agree on the scheme); rel="noopener nofollow ugc"
// (no window.opener for the page opened, no ranking for spammers, marked as user content) and a
// new tab, so the room stays open. Nothing is fetched for a preview, by the page or the server.

/** An address: http(s):// then anything but spaces, quotes, angle brackets and CJK text (a
 * Chinese sentence often runs on right after an address). */
const ADDRESS = /\bhttps?:\/\/[^\s<>"'`\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]+/gi;
/** Punctuation that ends a sentence rather than the address it follows. */
const TRAILING = /[.,;:!?'")\]}]+$/;

/** @param {string} raw @returns {string | null} the address to link to, if it is a web one */
function webAddress(raw) {
  try {
    const url = new URL(raw);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

/**
 * The language of `text` where its script says it plainly: kana is Japanese, Hangul Korean, and
 * Han characters without either are Chinese (繁體, as the neighbourhood writes it). Latin letters
 * say nothing (English, Tagalog and Indonesian are all written with them): null, and the
 * element keeps no `lang` of its own.
 * @param {string} text
 * @returns {string | null}
 */
export function languageOf(text) {
  if (/[\u3040-\u30ff]/.test(text)) return "ja";
  if (/[\uac00-\ud7af]/.test(text)) return "ko";
  if (/\p{Script=Han}/u.test(text)) return "zh-Hant";
  return null;
}

/**
 * Show `text` in `element`: text nodes and links, and its language.
 * @param {HTMLElement} element
 * @param {string} text
 */
export function setMessageText(element, text) {
  element.replaceChildren();
  let at = 0;
  for (const match of text.matchAll(ADDRESS)) {
    const start = match.index ?? 0;
    let raw = match[0];
    const trailing = TRAILING.exec(raw);
    if (trailing) raw = raw.slice(0, raw.length - trailing[0].length);
    // A closing parenthesis that the address itself opened stays (Wikipedia's addresses).
    if (trailing?.[0].startsWith(")") && raw.includes("(")) raw += ")";
    const href = webAddress(raw);
    if (!href) continue;
    if (start > at) element.append(text.slice(at, start));
    const link = document.createElement("a");
    link.href = href;
    link.textContent = raw;
    link.rel = "noopener nofollow ugc";
    link.target = "_blank";
    element.append(link);
    at = start + raw.length;
  }
  if (at < text.length) element.append(text.slice(at));
  setLanguage(element, text);
}

/**
 * Mark `element` with the language of `text` (none when unknown: it then speaks the page's).
 * @param {HTMLElement} element
 * @param {string | null} text  null: the element now holds the page's own words
 */
export function setLanguage(element, text) {
  const lang = text === null ? null : languageOf(text);
  if (lang) element.lang = lang;
  else element.removeAttribute("lang");
}

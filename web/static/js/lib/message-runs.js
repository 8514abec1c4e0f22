// @ts-check
// The log read as a conversation: a date line (今天, 昨天, then the date) where the day changes,
// and the author's name and initial once per run of their consecutive messages. The initial sits
// on a colour picked from the user id, so a neighbour keeps their colour on every device.
//
// groupRuns walks the list after each change and touches only what changed: a date line that is
// already right stays (the log is a live region: a line put back would be read out again).
import { formatDay, t } from "../i18n.js";
import { node } from "./dom.js";

/** The number of avatar colours in linli.css (.avatar-c0 … .avatar-c7), each with white text at
 * 4.5:1 or more. */
const COLOURS = 8;

/**
 * A colour for `key` (a user id, or a name where the id is not known), the same every time.
 * @param {string} key
 * @returns {number}
 */
export function colourOf(key) {
  let hash = 2166136261; // FNV-1a: small, stable, spreads ids that differ by one
  for (const char of key) {
    hash ^= char.codePointAt(0) ?? 0;
    hash = Math.imul(hash, 16777619) >>> 0;
  }
  return hash % COLOURS;
}

/**
 * The initial-avatar of `name` (its first character), hidden from screen readers: the name is
 * said by the author line.
 * @param {string} name
 * @param {string} key  the user id (or the name)
 */
export function avatar(name, key) {
  const first = [...name.trim()][0] ?? "?";
  const face = node("span", `avatar avatar-c${colourOf(key)}`, first.toLocaleUpperCase());
  face.setAttribute("aria-hidden", "true");
  return face;
}

/** @param {number} ms */
function dayOf(ms) {
  const date = new Date(ms);
  return `${date.getFullYear()}-${date.getMonth() + 1}-${date.getDate()}`;
}

/** @param {number} ms */
function dayLabel(ms) {
  const day = dayOf(ms);
  const now = new Date();
  if (day === dayOf(now.getTime())) return t("chat.today");
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (day === dayOf(yesterday.getTime())) return t("time.yesterday");
  return formatDay(ms);
}

/** @param {number} ms */
function dayLine(ms) {
  const line = node("li", "day-sep");
  line.dataset.day = dayOf(ms);
  const time = node("time", "", dayLabel(ms));
  const date = new Date(ms);
  time.dateTime = `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, "0")}-${String(date.getDate()).padStart(2, "0")}`;
  line.append(time);
  return line;
}

/**
 * Put the date lines and the runs right in `list` (items: li.message with data-ts and
 * data-author-key, as lib/message-list.js makes them).
 * @param {HTMLElement} list
 */
export function groupRuns(list) {
  /** @type {string | null} */
  let day = null;
  /** @type {string | null} */
  let author = null;
  /** A date line met and not yet known to be in its place. @type {HTMLElement | null} */
  let line = null;
  for (const child of [...list.children]) {
    if (!(child instanceof HTMLElement)) continue;
    if (child.classList.contains("day-sep")) {
      line?.remove();
      line = child;
      continue;
    }
    if (!child.classList.contains("message")) continue;
    const ts = Number(child.dataset.ts ?? Date.now());
    const today = dayOf(ts);
    if (today !== day) {
      if (line?.dataset.day !== today) {
        line?.remove();
        child.before(dayLine(ts));
      }
      day = today;
      author = null;
    } else {
      line?.remove();
    }
    line = null;
    const key = child.dataset.authorKey ?? null;
    const continues = key !== null && key === author;
    child.classList.toggle("run-cont", continues);
    child.classList.toggle("run-start", !continues);
    author = key;
  }
  line?.remove();
}

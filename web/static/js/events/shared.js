// @ts-check
// What the event pages share: the API's shapes, times in the reader's language, the live counts
// (kept per session by version: a higher version is newer, however it came), and error texts.
import { errorText, t } from "../i18n.js";

/**
 * @typedef {{ id: number, label: string, starts_at: number, ends_at: number, capacity: number }} Session
 * @typedef {{ text: string, choices: string[] | null }} Question
 * @typedef {{
 *   id: number, title: string, body: string, body_html: string, place: string,
 *   starts_at: number, ends_at: number, audience: string, counting: "person" | "household",
 *   max_seats: number, questions: Question[], cost_note: string, signup_opens: number,
 *   signup_closes: number, cancel_until: number | null, confirm_hours: number | null,
 *   remind_hours: number | null, room: string | null, training: boolean, state: "open" | "cancelled",
 *   sessions: Session[]
 * }} EventInfo
 * @typedef {{
 *   session_id: number, version: number, capacity: number, taken: number, confirmed: number,
 *   offered: number, waitlisted: number, checked_in: number, free: number
 * }} Counts
 * @typedef {{
 *   id: number, session_id: number, event_id: number, state: string, seats: number,
 *   answers: string[], position: number | null, code: string | null,
 *   offered_until: number | null, created_at: number, checked_in_at: number | null,
 *   attendance: string | null
 * }} Signup
 * @typedef {{ kind: "counts", event_id: number, state: string, sessions: Counts[] }} CountsData
 */

const dateTime = new Intl.DateTimeFormat(document.documentElement.lang === "en" ? "en" : "zh-Hant-HK", {
  weekday: "short", month: "short", day: "numeric", hour: "numeric", minute: "2-digit",
});

/** @param {number} ms */
export function when(ms) {
  return dateTime.format(new Date(ms));
}

/** @param {Session} session */
export function sessionTime(session) {
  return `${when(session.starts_at)} – ${when(session.ends_at)}`;
}

/** @param {Counts} c */
export function countsText(c) {
  return t("events.counts", { taken: c.taken, capacity: c.capacity, waitlisted: c.waitlisted });
}

/** @param {Signup} s */
export function signupText(s) {
  if (s.state === "waitlisted") return t("events.mine.waitlisted", { position: s.position ?? "?" });
  if (s.state === "offered") {
    return t("events.mine.offered", { until: s.offered_until ? when(s.offered_until) : "" });
  }
  return t(`events.mine.${s.state}`, { seats: s.seats });
}

/**
 * The sentence for an API error: the events' own, else the general one.
 * @param {{ code?: string, field?: string, by?: string, at?: number, max?: number }} error
 */
export function eventError(error) {
  const key = `events.error.${error.code}`;
  const text = t(key, {
    by: error.by ?? "?", at: error.at ? when(error.at) : "", max: error.max ?? "",
  });
  return text === key ? errorText(error.code, error.field) : text;
}

/** Keeps the newest counts of each session (by version). */
export class LiveCounts {
  constructor() {
    /** @type {Map<number, Counts>} */
    this.bySession = new Map();
  }

  /**
   * Take `counts` if newer; true when something changed.
   * @param {Counts[]} counts
   */
  apply(counts) {
    let changed = false;
    for (const c of counts) {
      const old = this.bySession.get(c.session_id);
      if (!old || c.version > old.version) {
        this.bySession.set(c.session_id, c);
        changed = true;
      }
    }
    return changed;
  }
}

/** A fresh idempotency key for one sign-up (a retry of the same tap reuses it). */
export function requestKey() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

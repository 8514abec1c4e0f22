// @ts-check
/// <reference lib="webworker" />
// Linli's service worker (served at /sw.js so its scope is the whole site; design 0013): shows
// the pushes the delivery worker sends (workers/deliver_push.py; the payload is in
// docs/protocol.md, "The push payload") and opens the right page when one is tapped. It has no
// fetch handler: pages always come from the network, so it can never serve a stale one.
//
// A classic script, not a module: every browser that has Web Push runs those. Type-checked on its
// own (tsconfig.sw.json), because the worker's globals clash with the pages' DOM ones.

const sw = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));

/** Where the pages leave the reader's language and the device's label for this worker: a
 * Cache Storage entry (both sides can reach it; a worker has no localStorage or cookies). The
 * URL is only a key, never fetched. Keep in step with lib/push.js. */
const PREFS_CACHE = "linli-prefs";
const PREFS_KEY = "/__linli/prefs";
const LANGUAGES = ["zh-Hant", "en"];
const BADGE = "/static/icons/badge-96.png";
const ICON = "/static/icons/icon-192.png";
/** The product's name, the same in both languages: the title of a push that came without one. */
const APP_NAME = "鄰里 Linli";

/**
 * @typedef {object} PushPayload
 * @property {number} id  the notification's id: the tag, so a second copy replaces the first
 * @property {string} kind
 * @property {boolean} urgent
 * @property {Record<string, string>} title  by language
 * @property {Record<string, string>} body  by language
 * @property {string} link  an in-app path ("/polls/3")
 * @property {string} icon
 */

/** @typedef {{lang?: string, label?: string}} Prefs */

sw.addEventListener("install", () => {
  // A new version takes over at once: it has no caches to migrate.
  void sw.skipWaiting();
});

sw.addEventListener("activate", (event) => {
  event.waitUntil(sw.clients.claim());
});

/** @returns {Promise<Prefs>} */
async function readPrefs() {
  try {
    const stored = await (await caches.open(PREFS_CACHE)).match(PREFS_KEY);
    return stored ? /** @type {Prefs} */ (await stored.json()) : {};
  } catch {
    return {};
  }
}

/**
 * The reader's language: what the pages last used, else the browser's (Chinese of any kind reads
 * 繁體中文, the only Chinese catalogue; anything but English too, as on the pages).
 * @returns {Promise<string>}
 */
async function language() {
  const { lang } = await readPrefs();
  if (lang && LANGUAGES.includes(lang)) return lang;
  return (navigator.language || "").toLowerCase().startsWith("en") ? "en" : "zh-Hant";
}

/**
 * @param {PushMessageData | null} data
 * @returns {PushPayload | null}
 */
function parse(data) {
  if (!data) return null;
  try {
    const payload = data.json();
    return payload && typeof payload === "object" && typeof payload.id === "number" ? payload : null;
  } catch {
    return null;
  }
}

/**
 * @param {Record<string, string> | undefined} texts
 * @param {string} lang
 */
function pick(texts, lang) {
  if (!texts) return "";
  return texts[lang] ?? texts["zh-Hant"] ?? texts.en ?? "";
}

/** @param {PushMessageData | null} data */
async function show(data) {
  const payload = parse(data);
  const lang = await language();
  if (!payload) {
    // A push must show something (userVisibleOnly); one we cannot read says only where from.
    await sw.registration.showNotification(APP_NAME, { icon: ICON, badge: BADGE, lang });
    return;
  }
  await sw.registration.showNotification(pick(payload.title, lang) || APP_NAME, {
    body: pick(payload.body, lang),
    icon: payload.icon || ICON,
    badge: BADGE,
    tag: String(payload.id),
    data: { link: payload.link },
    lang,
    // An urgent notice stays on screen until it is seen.
    requireInteraction: payload.urgent === true,
  });
}

sw.addEventListener("push", (event) => {
  event.waitUntil(show(event.data));
});

/**
 * The in-app URL of a link (anything else opens the home page: a push never sends anyone away).
 * @param {unknown} link
 */
function inApp(link) {
  const origin = sw.location.origin;
  try {
    const url = new URL(typeof link === "string" ? link : "/", origin);
    return url.origin === origin ? url.href : `${origin}/`;
  } catch {
    return `${origin}/`;
  }
}

/** @param {string} href */
async function focusOrOpen(href) {
  const windows = await sw.clients.matchAll({ type: "window", includeUncontrolled: true });
  const same = windows.find((w) => w.url === href);
  if (same) {
    await same.focus();
    return;
  }
  // Another Linli page is open: bring it forward and take it to the link.
  for (const w of windows) {
    if (new URL(w.url).origin !== sw.location.origin) continue;
    try {
      const focused = await w.focus();
      await focused.navigate(href);
      return;
    } catch {
      // Not ours to steer (not controlled yet): open a window instead.
    }
  }
  await sw.clients.openWindow(href);
}

sw.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const data = /** @type {{link?: unknown} | null} */ (event.notification.data);
  event.waitUntil(focusOrOpen(inApp(data?.link)));
});

/**
 * The browser replaced the subscription (it expired, or keys were renewed): subscribe again with
 * the server's key and tell the server, so pushes keep coming without the reader doing anything.
 */
async function resubscribe() {
  const answer = await fetch("/api/push/key", { credentials: "same-origin" });
  if (!answer.ok) return;
  const { public_key: key } = await answer.json();
  const subscription = await sw.registration.pushManager.subscribe({
    userVisibleOnly: true,
    applicationServerKey: fromBase64Url(key),
  });
  const { label } = await readPrefs();
  await fetch("/api/push/subscriptions", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ ...subscription.toJSON(), label: label || "" }),
  });
}

sw.addEventListener("pushsubscriptionchange", (event) => {
  /** @type {ExtendableEvent} */ (event).waitUntil(resubscribe().catch(() => undefined));
});

/**
 * @param {string} text  base64url, unpadded
 * @returns {Uint8Array<ArrayBuffer>}
 */
function fromBase64Url(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  const raw = atob(base64);
  const bytes = new Uint8Array(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

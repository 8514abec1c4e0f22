// @ts-check
// Web Push on this device (docs/design/0013-web-push.md): whether the browser can have it, whether
// it is on, turning it on (permission, a subscription with the server's VAPID key, the server told
// of it) and off. The banner on the chat page (lib/push-offer.js) and the settings page use it;
// the device list is the server's (GET /api/push/subscriptions, docs/protocol.md).
import { api } from "../common.js";

/** @typedef {import("../types.js").PushDevice} PushDevice */
/** @typedef {"unsupported" | "denied" | "off" | "on"} PushState */

const SW_URL = "/sw.js";
/** Shared with sw.js, which reads the language and label from here (it has no localStorage). */
const PREFS_CACHE = "linli-prefs";
const PREFS_KEY = "/__linli/prefs";

/**
 * Whether this browser can receive pushes here: a service worker, the Push and Notification APIs,
 * and a secure context (https, or localhost). iPhones and iPads have them only in a web app added
 * to the home screen.
 * @returns {boolean}
 */
export function pushSupported() {
  return (
    window.isSecureContext &&
    "serviceWorker" in navigator &&
    "PushManager" in window &&
    "Notification" in window
  );
}

/**
 * Remember what the service worker needs to show a push in the reader's language.
 * @param {{lang?: string, label?: string}} changes
 */
export async function rememberForServiceWorker(changes) {
  if (!("caches" in window)) return;
  try {
    const cache = await caches.open(PREFS_CACHE);
    const stored = await cache.match(PREFS_KEY);
    const prefs = stored ? await stored.json() : {};
    const body = JSON.stringify({ ...prefs, ...changes });
    await cache.put(PREFS_KEY, new Response(body, { headers: { "Content-Type": "application/json" } }));
  } catch {
    // Storage refused (private mode, quota): the worker falls back to navigator.language.
  }
}

/**
 * Register the service worker (every resident page does, quietly: it shows pushes and does
 * nothing else) and leave it the page's language.
 * @param {string} lang
 * @returns {Promise<ServiceWorkerRegistration | null>}
 */
export async function registerServiceWorker(lang) {
  if (!window.isSecureContext || !("serviceWorker" in navigator)) return null;
  try {
    const registration = await navigator.serviceWorker.register(SW_URL, { scope: "/" });
    await rememberForServiceWorker({ lang });
    return registration;
  } catch {
    return null;
  }
}

/** @returns {Promise<PushSubscription | null>} */
async function currentSubscription() {
  const registration = await navigator.serviceWorker.getRegistration("/");
  return registration ? registration.pushManager.getSubscription() : null;
}

/** @returns {Promise<PushDevice[] | null>}  null when the server could not be asked */
async function devices() {
  const answer = await api("GET", "/api/push/subscriptions");
  return answer.ok ? answer.data.subscriptions : null;
}

/**
 * Where push stands on this device: "unsupported", "denied" (the reader or the browser blocked
 * notifications: only the browser's settings can undo it), "off", or "on" (permission, a
 * subscription, and the server still has it — it forgets one the push service said is gone).
 * @returns {Promise<PushState>}
 */
export async function pushState() {
  if (!pushSupported()) return "unsupported";
  if (Notification.permission === "denied") return "denied";
  if (Notification.permission !== "granted") return "off";
  const subscription = await currentSubscription();
  if (!subscription) return "off";
  const known = await devices();
  if (known && !known.some((d) => d.endpoint === subscription.endpoint)) return "off";
  return "on";
}

/**
 * A name for this device in the reader's list ("Android Chrome", "iPhone Safari"): browser and
 * system, which is what people recognise; names of products are the same in both languages.
 * @returns {string}
 */
export function deviceLabel() {
  const ua = navigator.userAgent;
  const system = /Android/.test(ua)
    ? "Android"
    : /iPhone/.test(ua)
      ? "iPhone"
      : /iPad/.test(ua)
        ? "iPad"
        : /Windows/.test(ua)
          ? "Windows"
          : /Mac OS X/.test(ua)
            ? "Mac"
            : /CrOS/.test(ua)
              ? "ChromeOS"
              : /Linux/.test(ua)
                ? "Linux"
                : "";
  const browser = /Edg\//.test(ua)
    ? "Edge"
    : /SamsungBrowser/.test(ua)
      ? "Samsung Internet"
      : /Firefox\//.test(ua)
        ? "Firefox"
        : /Chrome\/|Chromium\//.test(ua)
          ? "Chrome"
          : /Safari\//.test(ua)
            ? "Safari"
            : "";
  return [system, browser].filter(Boolean).join(" ");
}

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

/**
 * @param {ArrayBuffer | null} a
 * @param {Uint8Array} b
 */
function sameKey(a, b) {
  if (!a || a.byteLength !== b.length) return false;
  const bytes = new Uint8Array(a);
  return bytes.every((value, i) => value === b[i]);
}

/**
 * Turn push on for this device. Call it from a click or a tap: browsers ask for permission only
 * then. Resolves to the state afterwards ("on"; "denied" or "off" when the reader said no or
 * closed the question); rejects with an Error when subscribing or telling the server failed.
 * @param {string} [label]  how the device is listed (deviceLabel() when not given)
 * @returns {Promise<PushState>}
 */
export async function enablePush(label = deviceLabel()) {
  if (!pushSupported()) return "unsupported";
  const permission = await Notification.requestPermission();
  if (permission !== "granted") return permission === "denied" ? "denied" : "off";
  await registerServiceWorker(document.documentElement.lang.startsWith("en") ? "en" : "zh-Hant");
  // The registration with an active worker: a push manager needs one to subscribe.
  const registration = await navigator.serviceWorker.ready;
  const keyAnswer = await api("GET", "/api/push/key");
  if (!keyAnswer.ok) throw new Error(`push key: ${keyAnswer.error?.code ?? keyAnswer.status}`);
  const key = fromBase64Url(keyAnswer.data.public_key);
  let subscription = await registration.pushManager.getSubscription();
  if (subscription && !sameKey(subscription.options.applicationServerKey, key)) {
    // Made with another key (the server's key was changed): it cannot carry our pushes.
    await subscription.unsubscribe();
    subscription = null;
  }
  subscription ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  await rememberForServiceWorker({ label });
  const saved = await api("POST", "/api/push/subscriptions", { ...subscription.toJSON(), label });
  if (!saved.ok) throw new Error(`push subscription: ${saved.error?.code ?? saved.status}`);
  return "on";
}

/**
 * Turn push off for this device: the browser's subscription is dropped and the server forgets
 * the device. Resolves to "off" (or "unsupported").
 * @returns {Promise<PushState>}
 */
export async function disablePush() {
  if (!pushSupported()) return "unsupported";
  const subscription = await currentSubscription();
  if (!subscription) return "off";
  const endpoint = subscription.endpoint;
  await subscription.unsubscribe();
  const known = await devices();
  const mine = known?.find((d) => d.endpoint === endpoint);
  if (mine) await api("POST", `/api/push/subscriptions/${mine.id}/delete`, {});
  return "off";
}

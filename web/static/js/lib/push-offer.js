// @ts-check
// The chat page's offer to turn on notifications (the #push-offer banner in chat.html). Not on
// the first visit: a question before the reader knows what Linli is for gets a "no" that the
// browser keeps for good. It comes once the reader has been active — after their first message
// here, or after a few minutes with the page in front of them — and never when push is
// unsupported, blocked or already on. "Not now" is remembered on this device.
import { busy } from "../common.js";
import { t } from "../i18n.js";
import { byId, part } from "./dom.js";
import { deviceLabel, enablePush, pushState } from "./push.js";

const DISMISSED_KEY = "linli.push.offer.dismissed";
/** Minutes of the page being visible before the offer comes without a message sent. */
const ACTIVE_MS = 3 * 60_000;
/** How long "notifications are on" stays before the banner goes. */
const DONE_MS = 6_000;

function dismissed() {
  try {
    return localStorage.getItem(DISMISSED_KEY) !== null;
  } catch {
    return false;
  }
}

function rememberDismissed() {
  try {
    localStorage.setItem(DISMISSED_KEY, String(Date.now()));
  } catch {
    // Storage refused: the offer may come again on the next visit, which is harmless.
  }
}

export class PushOffer {
  /**
   * @param {{activeMs?: number}} [options]  activeMs: for tests and demos
   */
  constructor({ activeMs = ACTIVE_MS } = {}) {
    this.banner = byId("push-offer");
    this.enable = part(this.banner, "#push-offer-enable", HTMLButtonElement);
    this.dismiss = part(this.banner, "#push-offer-dismiss", HTMLButtonElement);
    this.status = part(this.banner, "#push-offer-status");
    /** Whether the offer was made (or ruled out) on this page already. */
    this.decided = dismissed();
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined;
    this.visibleSince = document.visibilityState === "visible" ? Date.now() : null;
    this.activeLeft = activeMs;
    this.enable.addEventListener("click", () => void this.turnOn());
    this.dismiss.addEventListener("click", () => {
      rememberDismissed();
      this.hide();
    });
    document.addEventListener("visibilitychange", () => this.countVisibleTime());
    this.countVisibleTime();
  }

  /** The reader did something (sent a message): a good moment to offer. */
  activity() {
    void this.offer();
  }

  /** Time counts only while the page is visible; when enough has passed, offer. */
  countVisibleTime() {
    if (this.decided) return;
    clearTimeout(this.timer);
    if (document.visibilityState === "visible") {
      this.visibleSince = Date.now();
      this.timer = setTimeout(() => void this.offer(), Math.max(this.activeLeft, 0));
    } else if (this.visibleSince !== null) {
      this.activeLeft -= Date.now() - this.visibleSince;
      this.visibleSince = null;
    }
  }

  async offer() {
    if (this.decided) return;
    this.decided = true;
    clearTimeout(this.timer);
    if ((await pushState()) !== "off") return;
    this.banner.hidden = false;
  }

  async turnOn() {
    this.say("");
    /** @type {import("./push.js").PushState} */
    let state;
    try {
      state = await busy(this.enable, () => enablePush(deviceLabel()));
    } catch {
      this.say(t("push.offer.failed"));
      return;
    }
    if (state === "on") {
      this.enable.hidden = this.dismiss.hidden = true;
      this.say(t("push.offer.done"));
      setTimeout(() => this.hide(), DONE_MS);
    } else if (state === "denied") {
      rememberDismissed();
      this.enable.hidden = true;
      this.say(t("push.offer.denied"));
    }
    // "off": the question was closed without an answer; the buttons stay for another try.
  }

  /** @param {string} text */
  say(text) {
    this.status.textContent = text;
    this.status.hidden = !text;
  }

  hide() {
    this.banner.hidden = true;
  }
}

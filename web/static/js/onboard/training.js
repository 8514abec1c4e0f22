// @ts-check
// The next training sessions on the onboarding pages (onboard/_training.html): "sign up" is the
// events feature's own sign-up (POST /api/events/<id>/sessions/<id>/signups: its capacity, its
// waitlist, its idempotency key), never a second system.
import { api, busy } from "../common.js";
import { errorText, t } from "../i18n.js";

/** A fresh idempotency key: a retried click after a lost reply takes no second place. */
function requestKey() {
  return `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
}

/**
 * The sentence for a refused sign-up: the training's own words, else the general one.
 * @param {{ code?: string, field?: string }} error
 */
function refusal(error) {
  const key = `onboard.training.error.${error.code}`;
  const text = t(key);
  return text === key ? errorText(error.code, error.field) : text;
}

for (const item of document.querySelectorAll(".training-item")) {
  if (!(item instanceof HTMLElement)) continue;
  const button = item.querySelector(".training-signup");
  const state = item.querySelector(".training-state");
  const error = item.querySelector(".training-error");
  if (!(button instanceof HTMLButtonElement) || !(state instanceof HTMLElement) || !(error instanceof HTMLElement)) continue;
  let key = requestKey();
  button.addEventListener("click", () => busy(button, async () => {
    const path = `/api/events/${item.dataset.event}/sessions/${item.dataset.session}/signups`;
    /** @type {import("../types.js").ApiResult<{ signup: { state: string, position: number | null } }>} */
    const result = await api("POST", path, { request_key: key, seats: 1, answers: [] });
    if (!result.ok) {
      if (result.error.code !== "network") key = requestKey(); // a lost reply: the same key again
      error.textContent = refusal(result.error);
      error.hidden = false;
      return;
    }
    error.hidden = true;
    const signup = result.data.signup;
    state.textContent = t(`onboard.training.mine.${signup.state}`, { position: signup.position ?? "?" });
    button.hidden = true;
  }));
}
